"""Sales ingest, end to end, against its ceiling and the old system's path (`make bench`).

All in one run, on one generated data set:

* **batch**: orders POSTed 500 per request to /api/fls/sales on the real intake
  (pserve), committed to the inbox, queued on Redis, stored by RQ workers
  (`rattail fls-worker`) into the shards; timed until every sale is stored;
* **single**: one order per request on /sales/enqueue_sales/ (double-encoded),
  as today's clients send them, 16 clients, same path;
* **ceiling**: COPY of the very same rows straight into the same shard tables;
* **naive**: one forking RQ job per order writing row by row (the old path).

All four paths write into the same shard storage (native partitions or TimescaleDB
hypertables).  Prints sale lines per second for each, the ratios, and the peak RSS of the workers
and the intake, with their RSS after the first quarter of the batch run against the end (flat: ~1.0);
the CPU time the batch cost the intake and the workers, and for the single orders the CPU each sale
cost them (on a shared machine CPU time moves less than the rates).
Also a sequential client (one order at a time, requests/s).  Sizes are quick by default
(`make bench`), the issue's with BENCH_SIZE=full.  Options: --orders N (batch path),
--single N, --sequential N, --naive N, --workers N, --server waitress|gunicorn (the intake
server, see the README), --scale (batch and single paths for 1, 2, 4 workers x 1, 4 shards,
then into empty shards against shards already holding --history-lines N lines, loaded with COPY;
--scale-orders N, --scale-single N), --storage partitions|timescaledb|both (default: what the
server supports; `both` runs each on the same server and prints them side by side).
"""

import argparse
import concurrent.futures
import datetime
import http.client
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

import redis
import simplejson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fls_dev import benchsize, benchstorage, db as devdb  # noqa: E402
from fls_dev.server import BIN, SERVERS, start_intake  # noqa: E402
from fls_dev.loopback.shops import make_order  # noqa: E402
from rattail_fls.sales.auth import create_token  # noqa: E402

REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
SHOPS = list(range(701, 711))


def orders_for(count, seed, prefix):
    rng = random.Random(seed)
    days = [datetime.date.today() - datetime.timedelta(days=d) for d in range(1, 8)]
    result = []
    for n in range(count):
        order = make_order(rng, SHOPS[n % len(SHOPS)], days[n % len(days)], n)
        order['sale_num'] = f"{prefix}-{n}"
        result.append(order)
    return result


def lines_of(orders):
    return sum(len(o['sale_line_ids']) for o in orders)


def validated(orders):
    """The normalised sales of ``orders``, as the door makes them."""
    from rattail_fls.sales import contract
    rules, today = contract.Rules(max_past_days=30), datetime.date.today()
    return [contract.validate_sale(contract.decode_body(simplejson.dumps(o, use_decimal=True)), rules, today)
            for o in orders]


def lines_of_sales(sales):
    return sum(len(s['lines']) for s in sales)


def stored_sales(engines):
    total = 0
    for engine, schema in engines:
        with engine.connect() as conn:
            total += conn.execute(sa.text(f"SELECT count(*) FROM {schema}.sale")).scalar()
    return total


def wait_stored(engines, expected, timeout=900):
    deadline = time.monotonic() + timeout
    while stored_sales(engines) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stored_sales(engines)} of {expected} sales stored in {timeout}s")
        time.sleep(0.05)


def post_all(url, token, bodies, path, clients):
    """POST every body, ``clients`` at a time; returns the CPU seconds the posting cost this process.

    A lean keep-alive client (``http.client``, one connection per client thread): the client
    shares the two cores with the intake, the workers and PostgreSQL, and ``requests`` cost
    about as much CPU per request as the intake itself, which the single-order figures then
    paid for.  It reconnects when the server closes (gunicorn's sync workers do).
    """
    target = urllib.parse.urlsplit(url)
    headers = {'Authorization': f'Token {token}', 'Content-Type': 'application/json'}
    local = threading.local()

    def post(body):
        if not hasattr(local, 'conn'):
            local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        local.conn.request('POST', path, body=body.encode('utf-8'), headers=headers)
        answer = local.conn.getresponse()
        text = answer.read()
        if answer.will_close:
            local.conn.close()
        if answer.status not in (200, 202):
            raise RuntimeError(f"{answer.status}: {text[:300]!r}")

    started = time.process_time()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, bodies))
    return time.process_time() - started


def start_workers(config_path, count, env=None, timeout=120):
    """``count`` workers, returned once all of them listen on Redis (their start-up is not timed)."""
    from rq import Worker
    processes = [subprocess.Popen([str(BIN / 'rattail'), '-c', str(config_path), 'fls-worker',
                                   '--queue', 'sales_processing'], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]
    connection = redis.Redis.from_url(f'{REDIS_URL}/14')
    deadline = time.monotonic() + timeout
    while Worker.count(connection=connection) < count:
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            stop(processes)
            raise RuntimeError(f"the {count} workers did not all start within {timeout}s")
        time.sleep(0.1)
    return processes


def rss_mb(pid, field='VmRSS'):
    """``field`` of ``/proc/<pid>/status`` in MB (``VmHWM``: the peak); 0 once the process is gone."""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
        return int(next(l for l in status.splitlines() if l.startswith(field)).split()[1]) / 1024
    except (OSError, StopIteration):
        return 0


def peak_rss_mb(pids):
    return max((rss_mb(pid, 'VmHWM') for pid in pids), default=0)


class RssSampler(threading.Thread):
    """Samples the largest RSS of each group of processes while a run goes on: memory that
    grows with the data shows as a last sample well above the one a quarter of the way through."""

    def __init__(self, groups, every=0.25):
        super().__init__(daemon=True)
        self.groups, self.every = groups, every
        self.samples = []  # (seconds, {group: MB})
        self.done = threading.Event()

    def run(self):
        start = time.perf_counter()
        while not self.done.wait(self.every):
            self.samples.append((time.perf_counter() - start,
                                 {name: max((rss_mb(pid) for pid in pids()), default=0)
                                  for name, pids in self.groups.items()}))

    def stop(self):
        self.done.set()
        self.join()

    def growth(self, name):
        """(RSS a quarter of the way through, RSS at the end) of group ``name``, MB."""
        if not self.samples:
            return 0, 0
        total = self.samples[-1][0]
        quarter = next(mb[name] for t, mb in self.samples if t >= total / 4)
        return quarter, self.samples[-1][1][name]


def machine_cpu_seconds():
    """CPU seconds the whole machine has been busy (``/proc/stat``): with the processes' own, what
    the rest cost (PostgreSQL, Redis, and whatever else runs on the machine)."""
    fields = [int(v) for v in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf('SC_CLK_TCK')  # less idle and iowait


def cpu_seconds(pids):
    """User + system CPU time used so far by ``pids`` (robust to other load on the machine)."""
    ticks = os.sysconf('SC_CLK_TCK')
    total = 0
    for pid in pids:
        try:
            fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
    return total


def stop(processes):
    for p in processes:
        p.terminate()
    for p in processes:
        p.wait()


#: Bench sizes: the default is quick (`make bench`); BENCH_SIZE=full gives the issue's.
SIZES = {
    benchsize.QUICK: {'orders': 6000, 'single': 1500, 'sequential': 500, 'naive': 150, 'scale_orders': 2000,
                      'scale_single': 500, 'history_lines': 300_000},
    benchsize.FULL: {'orders': 100_000, 'single': 3000, 'sequential': 2000, 'naive': 600, 'scale_orders': 10000,
                     'scale_single': 2000, 'history_lines': 10_000_000},
}
#: Days of history (before the 7 days the bench posts) the stored lines are spread over.
HISTORY_DAYS = 60
SCALE_WORKERS = (1, 2, 4)
SCALE_SHARDS = (1, 4)


def main():
    size = SIZES[benchsize.bench_size()]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--orders', type=int, default=size['orders'])
    parser.add_argument('--single', type=int, default=size['single'])
    parser.add_argument('--sequential', type=int, default=size['sequential'],
                        help="orders posted one at a time by one client (requests/s)")
    parser.add_argument('--naive', type=int, default=size['naive'])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--server', choices=SERVERS, default=SERVERS[0],
                        help=f"intake server: waitress threads, gunicorn or granian processes (default {SERVERS[0]}; see the README)")
    parser.add_argument('--scale', action='store_true',
                        help=f"batch and single paths for {SCALE_WORKERS} workers x {SCALE_SHARDS} shards")
    parser.add_argument('--scale-orders', type=int, default=size['scale_orders'])
    parser.add_argument('--scale-single', type=int, default=size['scale_single'])
    parser.add_argument('--history-lines', type=int, default=size['history_lines'],
                        help="lines already stored in the shards for the last rows of --scale")
    benchstorage.add_argument(parser)
    args = parser.parse_args()
    benchstorage.run(args, scale if args.scale else measure)


class Bench:
    """Fresh databases with ``shard_count`` shards (spread over two databases), ten shops and a token."""

    def __init__(self, storage, pg_server, shard_count=2):
        self.storage, self.pg_server = storage, pg_server
        tmp = Path(tempfile.mkdtemp(prefix='fls-bench-'))
        # the process id in the names: benches run side by side on one server never drop each other's
        base = f'fls_bench_ingest_{storage}_{os.getpid()}'
        self.names = (base, f'{base}_shards2')
        self.days = [datetime.date.today() - datetime.timedelta(days=d) for d in range(0, 9)]
        urls = [devdb.create_database(pg_server, n) for n in self.names]
        names = [f's{n:02d}' for n in range(1, shard_count + 1)]
        extra = {('rattail_fls', 'storage'): storage, ('rattail_fls', 'shards'): ' '.join(names)}
        for n, name in enumerate(names[1:], 2):  # odd shards in the main DB, even ones in the second
            extra.update({('rattail_fls', f'shard.{name}.engine'): 'shards2' if n % 2 == 0 else 'default',
                          ('rattail_fls', f'shard.{name}.schema'): f'fls_{name}',
                          ('rattail_fls', f'shard.{name}.accept_new'): 'true'})
        self.config_path = devdb.write_app_config(tmp / 'rattail.conf', *urls, f'{REDIS_URL}/14', extra)
        devdb.migrate(self.config_path)
        redis.Redis.from_url(f'{REDIS_URL}/14').flushdb()

        from rattail.config import make_config
        self.config = make_config([str(self.config_path)], versioning=True)
        app = self.config.get_app()
        self.shards = app.get_fls_handler().shards
        session = app.make_session()
        self.shards.upgrade(session)
        model = app.model
        user = model.User(username='benchshop', active=True)
        session.add(user)
        self.shop_shards = {rp: names[n % len(names)] for n, rp in enumerate(SHOPS)}
        for rp, shard in self.shop_shards.items():
            point = model.FlsRetailPoint(retail_point_id=rp, name=f'Bench {rp}')
            session.add(point)
            session.flush()
            self.shards.assign(session, point, shard)
        _, self.token = create_token(session, user, SHOPS, 'bench')
        session.commit()
        session.close()
        self.engines = [(self.shards.engine(spec.engine_key), spec.schema) for spec in self.shards.specs.values()]
        # partitions for the days used, so no path pays for DDL while timed (TimescaleDB: none)
        from rattail_fls.db import storage as st
        for name in self.shards.specs:
            with self.shards.begin(name) as conn:
                st.premake_days(conn, storage, self.days)

    def load_history(self, lines):
        """Store about ``lines`` sale lines in the shards, over HISTORY_DAYS days before the bench's
        own, with COPY (not timed): sales of the bench's own kind, with their identities.  Then
        VACUUM (ANALYZE) and CHECKPOINT, also with ``lines`` 0, so both cases start alike: with
        the planner's statistics, nothing left for autovacuum, nothing dirty to write."""
        from rattail_fls.db import storage as st
        from rattail_fls.sales.store import COPY_COLUMNS, TABLES, copy_text, render_sales

        templates = validated(orders_for(2000, 5, 'T'))
        per_day = max(0, round(lines / HISTORY_DAYS / (lines_of_sales(templates) / len(templates))))
        days = [self.days[-1] - datetime.timedelta(days=d) for d in range(1, HISTORY_DAYS + 1)]
        sale_id = {name: 0 for name in self.shards.specs}
        stored = 0
        for n, day in enumerate(days):
            by_shard = defaultdict(list)
            for i in range(per_day):
                sale = dict(templates[(n * per_day + i) % len(templates)], sale_date=day,
                            sale_num=f"H{day:%Y%m%d}-{i}")
                shard = self.shop_shards[sale['retail_point_id']]
                sale_id[shard] += 1
                by_shard[shard].append((sale_id[shard], None, sale))
            for shard, to_write in by_shard.items():
                idents = ''.join(f"{s['retail_point_id']}\t{s['sale_num']}\t{i}\t{day}\t{s['content_hash']}\n"
                                 for i, _, s in to_write)
                with self.shards.begin(shard) as conn:
                    st.premake_days(conn, self.storage, [day])
                    copy_text(conn, 'sale_ident', ['retail_point_id', 'sale_num', 'sale_id', 'sale_date',
                                                   'content_hash'], idents)
                    for table, columns, text in zip(TABLES, COPY_COLUMNS,
                                                    render_sales(to_write, defaultdict(lambda: [0, 0]))):
                        copy_text(conn, table, columns, text)
                stored += lines_of_sales([s for _, _, s in to_write])
            if (n + 1) % 10 == 0:
                print(f"history: day {n + 1}/{len(days)}, {stored:,} lines stored", file=sys.stderr)
        for shard, last in sale_id.items():
            if last:
                with self.shards.begin(shard) as conn:
                    conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('sale_ident', 'sale_id'), :n)"),
                                 {'n': last})
            # A fresh load is vacuumed by autovacuum a minute later, and its checkpoint is still to
            # be written: both are done now, as production's history has long been, so that neither
            # runs during the measurement (a run without them gave 0.57 of the empty case, the
            # next with them 1.07: see the README).
            with self.shards.begin(shard, isolation_level='AUTOCOMMIT') as conn:
                conn.execute(sa.text("VACUUM (ANALYZE)"))
                conn.execute(sa.text("CHECKPOINT"))
        return stored

    def ingest(self, batch_orders, single_orders, workers, server, sequential_orders=()):
        """Batch, then single orders, then one sequential client, through the real intake and
        ``workers`` workers; returns the timings."""
        intake, url = start_intake(self.config_path, kind=server)
        processes = start_workers(self.config_path, workers)
        sampler = RssSampler({'worker': lambda: [p.pid for p in processes],
                              'intake': lambda: [intake.pid, *children(intake.pid)]})
        timings = {}
        try:
            sampler.start()
            bodies = [simplejson.dumps(batch_orders[i:i + 500], use_decimal=True)
                      for i in range(0, len(batch_orders), 500)]
            intake_pids, worker_pids = [intake.pid, *children(intake.pid)], [p.pid for p in processes]
            cpu = cpu_seconds(intake_pids), cpu_seconds(worker_pids), machine_cpu_seconds()
            start = time.perf_counter()
            post_all(url, self.token, bodies, '/api/fls/sales', clients=4)
            timings['accepted'] = time.perf_counter() - start
            wait_stored(self.engines, len(batch_orders))
            timings['batch'] = time.perf_counter() - start
            timings['batch_cpu'] = (cpu_seconds(intake_pids) - cpu[0], cpu_seconds(worker_pids) - cpu[1],
                                    machine_cpu_seconds() - cpu[2])
            sampler.stop()
            timings['rss_growth'] = {name: sampler.growth(name) for name in ('worker', 'intake')}

            for key, orders, clients in (('single', single_orders, 16), ('sequential', sequential_orders, 1)):
                if not orders:
                    continue
                before = stored_sales(self.engines)
                bodies = [simplejson.dumps(simplejson.dumps(o, use_decimal=True)) for o in orders]
                cpu = cpu_seconds(intake_pids), cpu_seconds(worker_pids), machine_cpu_seconds()
                start = time.perf_counter()
                timings[f'{key}_client_ms'] = post_all(url, self.token, bodies, '/sales/enqueue_sales/',
                                                       clients=clients) * 1000 / len(orders)
                timings[f'{key}_accepted'] = time.perf_counter() - start
                wait_stored(self.engines, before + len(orders))
                timings[key] = time.perf_counter() - start
                timings[f'{key}_cpu'] = [(cpu_seconds(p) - c) * 1000 / len(orders)
                                         for p, c in zip((intake_pids, worker_pids), cpu)]
                timings[f'{key}_machine_ms'] = (machine_cpu_seconds() - cpu[2]) * 1000 / len(orders)
            timings['worker_rss'] = peak_rss_mb([p.pid for p in processes])
            timings['intake_rss'] = peak_rss_mb([intake.pid, *children(intake.pid)])
        finally:
            sampler.done.set()
            stop(processes + [intake])
        return timings

    def close(self):
        self.config.appdb_engine.dispose()
        for engine, _ in self.engines:
            engine.dispose()
        for name in self.names:
            devdb.drop_database(self.pg_server, name)


def children(pid):
    """The server's worker processes (gunicorn forks them)."""
    try:
        return [int(child) for child in Path(f'/proc/{pid}/task/{pid}/children').read_text().split()]
    except OSError:
        return []


def measure(storage, pg_server, args):
    """All four paths on shards of ``storage`` on ``pg_server`` (a PostgreSQL URL); returns the figures."""
    bench = Bench(storage, pg_server)
    batch_orders = orders_for(args.orders, 1, 'B')
    single_orders = orders_for(args.single, 2, 'S')
    sequential_orders = orders_for(args.sequential, 4, 'Q')
    print(f"data ({storage}): {len(batch_orders)} orders / {lines_of(batch_orders)} lines (batch), "
          f"{len(single_orders)} orders / {lines_of(single_orders)} lines (single, 16 clients), "
          f"{len(sequential_orders)} orders (one sequential client), "
          f"{len(SHOPS)} retail points over 2 shards in 2 databases; {args.workers} workers; "
          f"intake: {args.server}", file=sys.stderr)
    t = bench.ingest(batch_orders, single_orders, args.workers, args.server, sequential_orders)
    ceiling_time = copy_ceiling(bench.shards, batch_orders, storage)
    naive_time, naive_orders = naive_path(bench.shards, bench.config, args.naive, args.workers, storage)
    bench.close()

    batch_rate = lines_of(batch_orders) / t['batch']
    single_rate = lines_of(single_orders) / t['single']
    ceiling_rate = lines_of(batch_orders) / ceiling_time
    naive_rate = lines_of(naive_orders) / naive_time
    return [
        ("batch (500 orders/request)", f"{batch_rate:,.0f} lines/s ({t['batch']:.1f}s; accepted {t['accepted']:.1f}s)"),
        ("batch CPU intake / workers / all", f"{t['batch_cpu'][0]:.1f}s / {t['batch_cpu'][1]:.1f}s / "
                                             f"{t['batch_cpu'][2]:.1f}s of {os.cpu_count() * t['batch']:.1f}s"),
        ("single (1 order/request)", f"{single_rate:,.0f} lines/s, {len(single_orders) / t['single']:,.0f} "
                                     f"sales/s stored ({t['single']:.1f}s; "
                                     f"{len(single_orders) / t['single_accepted']:,.0f} req/s accepted; "
                                     f"{cpu_per_sale(t, 'single')})"),
        ("sequential client", f"{len(sequential_orders) / t['sequential_accepted']:,.0f} req/s "
                              f"({cpu_per_sale(t, 'sequential')})" if sequential_orders else "not run"),
        ("ceiling (COPY same rows)", f"{ceiling_rate:,.0f} lines/s ({ceiling_time:.1f}s)"),
        ("naive (fork/job, row by row)", f"{naive_rate:,.0f} lines/s ({len(naive_orders)} orders, "
                                         f"{naive_time:.1f}s)"),
        ("peak RSS worker / intake", f"{t['worker_rss']:.0f} MB / {t['intake_rss']:.0f} MB"),
        ("RSS at 1/4 -> end of batch, worker / intake", "{:.0f} -> {:.0f} MB / {:.0f} -> {:.0f} MB".format(
            *t['rss_growth']['worker'], *t['rss_growth']['intake'])),
        ("batch/ceiling", f"{batch_rate / ceiling_rate:.2f}"),
        ("single/ceiling", f"{single_rate / ceiling_rate:.2f}"),
        ("batch/naive", f"{batch_rate / naive_rate:.1f}x"),
        ("single/naive", f"{single_rate / naive_rate:.1f}x"),
        ("RSS end / 1/4 worker, intake", "{:.2f}, {:.2f}".format(
            *(end / quarter if quarter else 0 for quarter, end in t['rss_growth'].values()))),
    ]


def cpu_per_sale(timings, key):
    """The CPU each sale cost the intake, the workers and the bench's client: figures the machine's
    noise moves less than the rates."""
    ms, client = timings[f'{key}_cpu'], timings[f'{key}_client_ms']
    return (f"CPU per sale: intake {ms[0]:.1f} ms, workers {ms[1]:.1f} ms, client {client:.2f} ms, "
            f"the rest {timings[f'{key}_machine_ms'] - ms[0] - ms[1] - client:.1f} ms")


def scale(storage, pg_server, args):
    """The batch and single paths for each number of workers and shards; one table, ratios last."""
    batch_orders = orders_for(args.scale_orders, 1, 'B')
    rows, ratios = [], []
    print(f"scale ({storage}): {len(batch_orders)} orders / {lines_of(batch_orders)} lines (batch), "
          f"{args.scale_single} single orders (16 clients) per cell", file=sys.stderr)
    for shard_count in SCALE_SHARDS:
        for workers in SCALE_WORKERS:
            bench = Bench(storage, pg_server, shard_count)
            single_orders = orders_for(args.scale_single, 2, f'S{workers}')
            t = bench.ingest(batch_orders, single_orders, workers, args.server)
            ceiling_time = copy_ceiling(bench.shards, batch_orders, storage)
            bench.close()
            ratio = ceiling_time / t['batch']
            rows.append((f"{shard_count} shard(s), {workers} worker(s)",
                         f"batch {lines_of(batch_orders) / t['batch']:>7,.0f} lines/s = {ratio:.3f} x COPY; "
                         f"single {len(single_orders) / t['single']:>5,.0f} sales/s"))
            ratios.append((f"batch/ceiling {shard_count}s x {workers}w", f"{ratio:.3f}"))
    history_rows, history_ratios = on_history(storage, pg_server, args, batch_orders)
    return rows + history_rows + ratios + history_ratios


def on_history(storage, pg_server, args, batch_orders):
    """The same batch and single orders into empty shards, then into shards already holding
    ``args.history_lines`` lines (2 shards, ``args.workers`` workers); rows and ratios."""
    single_orders = orders_for(args.scale_single, 2, 'SH')
    rates = {}
    for label, lines in (('empty', 0), ('stored', args.history_lines)):
        bench = Bench(storage, pg_server)
        stored = bench.load_history(lines)
        t = bench.ingest(batch_orders, single_orders, args.workers, args.server)
        bench.close()
        rates[label] = (lines_of(batch_orders) / t['batch'], len(single_orders) / t['single'], stored)
    rows = [(f"2 shards, {args.workers} workers, {stored:,} lines stored",
             f"batch {batch:>7,.0f} lines/s; single {single:>5,.0f} sales/s")
            for batch, single, stored in rates.values()]
    (empty_batch, empty_single, _), (batch, single, stored) = rates['empty'], rates['stored']
    return rows, [(f"batch into {stored:,} lines / into empty", f"{batch / empty_batch:.2f}"),
                  (f"single into {stored:,} lines / into empty", f"{single / empty_single:.2f}")]


def copy_ceiling(shards, orders, storage):
    """COPY the same sales, lines and lots, pre-rendered, into a fresh shard schema of the same
    storage: the physical ceiling (only the COPY is timed)."""
    from rattail_fls.db import shard_migrations, storage as st
    from rattail_fls.sales.store import COPY_COLUMNS, TABLES, copy_text, render_sales

    sales = validated(orders)
    texts = render_sales([(i, i, sale) for i, sale in enumerate(sales, 1)], defaultdict(lambda: [0, 0]))
    engine = shards.engine('default')
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS fls_ceiling CASCADE"))
        shard_migrations.upgrade_schema(conn, 'fls_ceiling', storage, 7)
        st.premake_days(conn, storage, {s['sale_date'] for s in sales})
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL search_path TO fls_ceiling"))
        start = time.perf_counter()
        for table, columns, text in zip(TABLES, COPY_COLUMNS, texts):
            copy_text(conn, table, columns, text)
        elapsed = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA fls_ceiling CASCADE"))
    return elapsed


def naive_path(shards, config, count, workers, storage):
    """One forking RQ job per order, row-by-row INSERTs, into a scratch schema of the same storage."""
    from rq import Queue
    from rattail_fls.db import shard_migrations, storage as st

    orders = orders_for(count, 3, 'N')
    engine = shards.engine('default')
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS fls_naive CASCADE"))
        shard_migrations.upgrade_schema(conn, 'fls_naive', storage, 7)
        st.premake_days(conn, storage, {datetime.date.fromisoformat(o['sale_date']) for o in orders})
    connection = redis.Redis.from_url(f'{REDIS_URL}/14')
    queue = Queue('naive_bench', connection=connection)
    for n, order in enumerate(orders, 1):
        queue.enqueue('naive_jobs.store_order', simplejson.dumps(order, use_decimal=True), n, result_ttl=0)
    env = dict(os.environ, PYTHONPATH=str(ROOT / 'bench'), NAIVE_SCHEMA='fls_naive',
               NAIVE_DSN=engine.url.render_as_string(hide_password=False))
    start = time.perf_counter()
    procs = [subprocess.Popen([str(BIN / 'rq'), 'worker', '--burst', '--url', f'{REDIS_URL}/14', 'naive_bench'],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    for p in procs:
        p.wait()
    elapsed = time.perf_counter() - start
    with engine.begin() as conn:
        done = conn.execute(sa.text("SELECT count(*) FROM fls_naive.sale")).scalar()
        conn.execute(sa.text("DROP SCHEMA fls_naive CASCADE"))
    if done != len(orders):
        raise RuntimeError(f"naive path stored {done} of {len(orders)} orders")
    return elapsed, orders


if __name__ == '__main__':
    main()

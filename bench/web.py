"""Web grids at scale (`make bench`): time to first byte of each grid page and of the Shards page,
at a small and a big size, through the real web app (waitress, on loopback).

Each size gets fresh databases (a main DB and a second one for shard s02), loaded with COPY:
sales with their lines in the shards, and inbox rows, business days, day closes and summaries
in the main DB; then VACUUM ANALYZE (what autovacuum does in production).  Each page is
fetched once to warm up, then ``--repeat`` times; the median is reported.

Sizes: big = 1M sale lines and 100k inbox rows (about two minutes), or with
``BENCH_SIZE=full`` 10M lines and 1M inbox rows; small = a hundredth of big.  The last lines
print, per page, the big size's milliseconds and the ratio big / small.
"""

import argparse
import datetime
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fls_dev import benchsize, benchstorage, db as devdb  # noqa: E402
from rattail_fls.web.app import main as make_web_app  # noqa: E402  (before versioning, as under pserve)

REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
FULL = benchsize.bench_size() == benchsize.FULL
LINES_PER_SALE = 4
#: size -> (sale lines, inbox rows, shops, days)
SIZES = {
    'big': (10_000_000 if FULL else 1_000_000, 1_000_000 if FULL else 100_000, 400, 100),
    'small': (100_000 if FULL else 10_000, 10_000 if FULL else 1_000, 40, 10),
}
PASSWORD = 'bench-pass'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--size', choices=list(SIZES), help=argparse.SUPPRESS)  # one size, in a child
    benchstorage.add_argument(parser)
    args = parser.parse_args()
    if args.size:
        measure_size(args)
        return
    benchstorage.run(args, measure)


def measure(storage, pg_server, args):
    """Both sizes, each in its own process (Tailbone's app is built once per process)."""
    results = {}
    for size in ('small', 'big'):
        out = subprocess.run([sys.executable, __file__, '--size', size, '--repeat', str(args.repeat),
                              '--storage', storage], stdout=subprocess.PIPE, text=True)
        if out.returncode:
            sys.exit(out.returncode)
        results[size] = dict(line.split('\t') for line in out.stdout.strip().splitlines()
                             if line.count('\t') == 1)
    figures = []
    for page, big in results['big'].items():
        small = float(results['small'][page])
        figures.append((page, f"{float(big):.0f} ms at big size, {float(big) / small:.2f} x small ({small:.0f} ms)"))
    return figures


def measure_size(args):
    """Load one size, serve it, time the pages; prints ``page<TAB>median ms`` lines."""
    storage = benchstorage.server_and_storages(args.storage)
    server, storage = storage[0], storage[1][0]
    lines, inbox_rows, shops, days = SIZES[args.size]
    names = (f'fls_bench_web_{args.size}', f'fls_bench_web_{args.size}_shards2')
    urls = [devdb.create_database(server, n) for n in names]
    tmp = Path(tempfile.mkdtemp(prefix='fls-bench-web-'))
    config_path = devdb.write_app_config(tmp / 'rattail.conf', *urls, f'{REDIS_URL}/13',
                                         {('rattail_fls', 'storage'): storage})
    devdb.migrate(config_path)
    from rattail.config import make_config
    config = make_config([str(config_path)], versioning=True)
    app = config.get_app()
    started = time.perf_counter()
    shop, day = load(app, lines, inbox_rows, shops, days)
    print(f"{args.size}: {lines:,} sale lines, {inbox_rows:,} inbox rows, {shops} shops x {days} days "
          f"({storage}) loaded in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    process, base = serve(config, config_path)
    try:
        browser = log_in(base)
        pages = {
            'shards': '/fls/shards/',
            'inbox (rejected, default)': '/fls/inbox/',
            'inbox (done: most rows)': '/fls/inbox/?status=done&status.verb=equal',
            'summaries': '/fls/summaries/',
            'business days': '/fls/business-days/',
            'day closes': '/fls/day-closes/',
            'sales (one shop, 7 days)': f'/fls/sales/?retail_point_id={shop}&date_from='
                                        f'{day - datetime.timedelta(days=6)}&date_to={day}',
        }
        for label, path in pages.items():
            print(f"{label}\t{first_byte_ms(browser, base + path, args.repeat):.1f}", flush=True)
    finally:
        process.close()
        for name in names:
            devdb.drop_database(server, name)  # WITH (FORCE): this process's pools go too


# -- loading -----------------------------------------------------------------------------------

def copy_rows(raw, table, columns, rows, chunk=200_000):
    """COPY ``rows`` (tuples of text values) into ``table``, ``chunk`` rows per buffer."""
    cursor = raw.cursor()
    buffer, count = io.StringIO(), 0
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"

    def flush():
        buffer.seek(0)
        cursor.copy_expert(sql, buffer)
        buffer.seek(0)
        buffer.truncate()
    for row in rows:
        buffer.write('\t'.join(row))
        buffer.write('\n')
        count += 1
        if count % chunk == 0:
            flush()
    flush()
    cursor.close()


def load(app, lines, inbox_rows, shops, days):
    """The data set: ``lines`` sale lines over ``shops`` x ``days`` in both shards, and the main
    DB's rows for them (a business day and a close per shop and day, four summaries each).
    Returns a shop and its last day, for the sales page."""
    from rattail_fls.db import storage as st
    model = app.model
    shards = app.get_fls_handler().shards
    session = app.make_session()
    shards.upgrade(session)
    auth = app.get_auth_handler()
    user = auth.make_user(session, username='bench')
    auth.set_user_password(user, PASSWORD)
    user.roles.append(auth.get_role_administrator(session))
    placed = {}
    for rp in range(1001, 1001 + shops):
        point = model.FlsRetailPoint(retail_point_id=rp, name=f"Bench shop {rp}")
        session.add(point)
        placed[rp] = shards.assign(session, point).name
        session.flush()
    session.commit()
    session.close()

    today = datetime.date.today()
    day_list = [today - datetime.timedelta(days=d) for d in range(days, 0, -1)]
    per_day = max(1, lines // LINES_PER_SALE // (shops * days))
    for name in shards.specs:
        spec = shards.spec(name)
        engine = shards.engine(spec.engine_key)
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL search_path TO {spec.schema}"))
            st.premake_days(conn, st.detect_storage(conn), day_list)
        mine = [rp for rp, shard in placed.items() if shard == name]
        raw = engine.raw_connection()
        try:
            def sales(mine=mine):
                sale_id = 0
                for day in day_list:
                    for rp in mine:
                        for n in range(per_day):
                            sale_id += 1
                            yield day.isoformat(), str(sale_id), str(rp), f"{day:%Y%m%d}-{rp}-{n}", str(1 + n % 2), str(11 + n % 2)

            copy_rows(raw, f'{spec.schema}.sale_ident', ['sale_date', 'sale_id', 'retail_point_id', 'sale_num',
                                                          'content_hash', 'revision'],
                      ((d, i, rp, num, '0' * 64, '1') for d, i, rp, num, _, _ in sales()))
            copy_rows(raw, f'{spec.schema}.sale', ['sale_date', 'sale_id', 'retail_point_id', 'sale_num',
                                                    'sale_counter_id', 'payment_journal_id',
                                                    'total_including_miscellaneous'],
                      (row + ('400.0000',) for row in sales()))
            copy_rows(raw, f'{spec.schema}.sale_line', ['sale_date', 'sale_id', 'retail_point_id', 'line_no',
                                                         'product_id', 'product_uom_qty', 'price_unit'],
                      ((d, i, rp, str(n), str(100 + n), '1.0000', '100.0000')
                       for d, i, rp, _, _, _ in sales() for n in range(LINES_PER_SALE)))
            raw.commit()
        finally:
            raw.close()

    engine = app.config.appdb_engine
    with engine.begin() as conn:
        st.ensure_day_partitions(conn, day_list, tables=('fls_inbox',), column='received_on')
    raw = engine.raw_connection()
    try:
        points = list(placed)
        keys = [(rp, day) for day in day_list for rp in points]
        copy_rows(raw, 'fls_business_day', ['retail_point_id', 'sale_date', 'sale_count', 'line_count',
                                            'changed_at', 'change_count'],
                  ((str(rp), day.isoformat(), str(per_day), str(per_day * LINES_PER_SALE),
                    f'{day}T20:00:00+00:00', '1') for rp, day in keys))
        copy_rows(raw, 'fls_day_close', ['uuid', 'retail_point_id', 'sale_date', 'closes', 'closed_at',
                                         'change_count_seen', 'requested_by', 'sale_count', 'summary_count'],
                  ((uuid.uuid4().hex, str(rp), day.isoformat(), '1', f'{day}T21:00:00+00:00', '1', 'shop',
                    str(per_day), '4') for rp, day in keys))
        copy_rows(raw, 'fls_summary', ['uuid', 'sale_num', 'version', 'retail_point_id', 'sale_date',
                                       'sale_counter_id', 'payment_journal_id', 'status', 'payload',
                                       'total_including_miscellaneous', 'amount_total', 'total_cess',
                                       'sale_count', 'line_count', 'reconciled', 'reconciliation',
                                       'forced', 'attempts'],
                  ((uuid.uuid4().hex, f"{day:%Y%m%d}/{rp}/{c}/{j}", '1', str(rp), day.isoformat(), str(c), str(j),
                    'sent', '{}', '1000.0000', '1000.0000', '0.0000', str(per_day // 4 or 1),
                    str(per_day), 't', '[]', 'f', '1')
                   for rp, day in keys for c in (1, 2) for j in (11, 12)))
        body = '{"retail_point_id": %d, "sale_num": "%s", "sale_line_ids": [' + ', '.join(
            ['{"product_id": 101, "product_uom_qty": 1, "price_unit": 100}'] * LINES_PER_SALE) + ']}'

        def inbox():
            for n in range(inbox_rows):
                rp, day = keys[n % len(keys)]
                status = 'rejected' if n % 100 == 7 else 'dead' if n % 200 == 9 else 'done'
                errors = '[{"field": "sale_date", "reason": "bench"}]' if status != 'done' else '\\N'
                num = f"{day:%Y%m%d}-{rp}-i{n}"
                yield (day.isoformat(), f'{day}T12:00:00+00:00', 'sale', 'http', str(rp), num, day.isoformat(),
                       body % (rp, num), status, '1', errors)
        copy_rows(raw, 'fls_inbox', ['received_on', 'received_at', 'kind', 'source', 'retail_point_id',
                                     'sale_num', 'sale_date', 'body', 'status', 'attempts', 'errors'], inbox())
        raw.commit()
    finally:
        raw.close()
    for name in shards.specs:
        vacuum_analyze(shards.engine(shards.spec(name).engine_key))
    vacuum_analyze(engine)
    return points[0], day_list[-1]


def vacuum_analyze(engine):
    with engine.connect().execution_options(isolation_level='AUTOCOMMIT') as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


# -- serving and timing ------------------------------------------------------------------------

def serve(config, config_path):
    """The web app our factory builds (as ``pserve`` would from a web.conf including the
    config), served by waitress on a loopback port in this process."""
    import threading
    from waitress.server import create_server
    web_conf = Path(config_path).parent / 'web.ini'
    web_conf.write_text(f"[rattail.config]\ninclude = {config_path}\n")
    app = make_web_app({}, **{'rattail_config': config, 'rattail.config': str(web_conf),
                          'beaker.session.type': 'memory', 'beaker.session.key': 'fls_bench_web',
                          'beaker.session.secret': uuid.uuid4().hex})
    server = create_server(app, host='127.0.0.1', port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f'http://127.0.0.1:{server.effective_port}'


def log_in(base):
    browser = requests.Session()
    page = browser.get(base + '/login', timeout=30)
    csrf = re.search(r'name="_csrf" type="hidden" value="([^"]+)"', page.text).group(1)
    answer = browser.post(base + '/login', data={'_csrf': csrf, 'username': 'bench', 'password': PASSWORD},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.status_code
    browser.get(base + '/root/yes', timeout=30)
    return browser


def first_byte_ms(browser, url, repeat):
    """Median milliseconds from sending the request to its first body byte (after one warm-up)."""
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        with browser.get(url, stream=True, timeout=120) as answer:
            if answer.status_code != 200:
                text = re.sub(r'<[^>]+>|\s+', ' ', answer.text)
                raise RuntimeError(f"{url}: HTTP {answer.status_code}: {text[-1500:]}")
            next(answer.iter_content(1))
            elapsed = time.perf_counter() - start
            answer.content  # noqa: B018 - read the rest, so the connection is reused
        if i:
            times.append(elapsed * 1000)
    return statistics.median(times)


if __name__ == '__main__':
    main()

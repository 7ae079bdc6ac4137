"""Odoo export at scale: 1,000 summaries (5,000 with BENCH_SIZE=full) pushed to a loopback Odoo-compatible receiver (`make bench`).

The receiver (fls_dev.loopback.odoo, not a real Odoo) answers each push in
20 ms and creates a record per successful POST, never deduplicating, like the
real endpoint.  10% of its answers are failures, spread at random over the
first pass: a quarter each of HTTP 502, ``Failed``, the JSON-RPC ``error``
envelope (all definite: retried by the pusher), and an answer lost after the
record was created (ambiguous: the pusher holds it instead of pushing it again).
The summaries are pushed through the real path (SummaryPusher: claims, push
log, backoff) with bounded concurrency, then pushed again until nothing is due.
The receiver runs in a child process, as a remote Odoo would, so that it does
not compete with the pusher for the GIL.

Prints summaries/s against the ceiling (workers / answer time; workers / request time as the
pusher measured it; and workers / answer time as a bare ``http.client`` client sees it at the
same concurrency, on a receiver of its own, which is the latency this loopback really has, its
own parsing included), and what the receiver holds:
duplicates (must be 0) and summaries without a record (0); last, the ratio to the ceiling.
Options: --summaries N, --workers N, --delay SECONDS, --failures FRACTION, --keep.
"""

import argparse
import datetime
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fls_dev import benchsize, db as devdb  # noqa: E402
from fls_dev.loopback.odoo import LoopbackOdoo  # noqa: E402

#: Summaries pushed: `make bench`'s, and BENCH_SIZE=full's.
SUMMARIES = {benchsize.QUICK: 1000, benchsize.FULL: 5000}

PG_URL = os.environ.get('FLS_PG_URL', 'postgresql://postgres@127.0.0.1:5432').rstrip('/')
REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
DAY = datetime.date.today() - datetime.timedelta(days=1)
FAILURES = ('bad_gateway', 'failed', 'error', 'success_lost')


def summary_rows(count):
    """``count`` summaries: 100 retail points x counters, in the contract's payload shape."""
    from rattail_fls.jsontext import dumps  # as the day close stores payloads
    rows = []
    for i in range(count):
        rp, counter, journal = 2001 + i % 100, 1 + i // 100, 11
        sale_num = f"{DAY:%Y%m%d}/{rp}/{counter}/{journal}"
        amount = Decimal(1000 + i) / 4
        payload = {
            'local_retail_point_db_id': rp, 'retail_point_id': rp, 'sale_date': DAY.isoformat(),
            'payment_journal_id': journal, 'sale_num': sale_num, 'name': sale_num,
            'sale_counter_id': counter, 'customer_name': 'Walk-in', 'is_default_customer': True,
            'total_including_miscellaneous': amount, 'total_cess': Decimal('0'), 'amount_total': amount,
            'confirmed_on': f'{DAY} 23:59:00', 'store_type': 'FLS',
            'sale_line_ids': [[0, 0, {'product_id': 5000 + n, 'name': f'P{5000 + n}',
                                      'product_uom_qty': Decimal('1'), 'price_unit': amount / 8,
                                      'taxes_ids': [], 'lot_details_ids': [[0, 0, {'lot_id': n, 'quantity': 1}]]}]
                              for n in range(8)],
            'miscellaneous_lot_details_ids': [],
        }
        rows.append({'sale_num': sale_num, 'version': 1, 'retail_point_id': rp, 'sale_date': DAY,
                     'sale_counter_id': counter, 'payment_journal_id': journal, 'status': 'pending',
                     'payload': dumps(payload), 'total_including_miscellaneous': amount,
                     'amount_total': amount, 'total_cess': 0, 'sale_count': 10, 'line_count': 8,
                     'reconciled': True, 'reconciliation': '[]', 'forced': False, 'attempts': 0})
    return rows


def serve(conn, delay, answers):
    """Child process: run the receiver until told to stop, then report what it holds."""
    with LoopbackOdoo(delay=delay) as odoo:
        odoo.queue_behaviours(answers)  # in arrival order; then every answer is a success
        conn.send(odoo.url)
        conn.recv()
        conn.send({'requests': odoo.requests,
                   'sale_nums': [r['sale_num'] for r in odoo.records.values()]})


class Receiver:
    """The loopback Odoo-compatible receiver in a child process."""

    def __init__(self, delay, answers):
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context('spawn').Process(
            target=serve, args=(child, delay, answers), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def stop(self):
        """Stop it; returns ``{'requests': n, 'sale_nums': [one per record created]}``."""
        self.conn.send('stop')
        result = self.conn.recv()
        self.process.join(10)
        return result


def bare_answer_time(args, body, requests_each=50):
    """The receiver's answer time as a bare client sees it (``http.client``, ``--workers`` at
    once, on a receiver of its own with the same delay): the latency "Odoo" really has here,
    its own parsing and the loopback's included, against which the pusher's own work shows."""
    import http.client
    import threading
    import urllib.parse
    receiver = Receiver(args.delay, [])
    target = urllib.parse.urlsplit(receiver.url)
    times = []

    def client():
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        for n in range(requests_each + 5):
            t0 = time.perf_counter()
            conn.request('POST', target.path, body=body, headers={'Content-Type': 'application/json'})
            conn.getresponse().read()
            if n >= 5:  # after a warm-up
                times.append(time.perf_counter() - t0)
        conn.close()
    try:
        threads = [threading.Thread(target=client) for _ in range(args.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        receiver.stop()
    return sum(times) / len(times)


def injected_answers(args):
    rng = random.Random(7)
    failed = round(args.summaries * args.failures)
    injected = [FAILURES[i % len(FAILURES)] for i in range(failed)]
    answers = injected + ['success'] * (args.summaries - failed)
    rng.shuffle(answers)
    return injected, answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--summaries', type=int, default=SUMMARIES[benchsize.bench_size()])
    parser.add_argument('--workers', type=int, default=4, help="pushes at once (odoo.concurrency)")
    parser.add_argument('--delay', type=float, default=0.020, help="receiver's answer time, seconds")
    parser.add_argument('--failures', type=float, default=0.10, help="fraction of failed answers")
    parser.add_argument('--keep', action='store_true', help="keep the bench databases")
    args = parser.parse_args()

    base = f'fls_bench_export_{os.getpid()}'  # benches run side by side never drop each other's
    names = (base, f'{base}_shards2')
    urls = [devdb.create_database(PG_URL, n) for n in names]
    injected, answers = injected_answers(args)
    receiver = Receiver(args.delay, answers)
    try:
        config_path = devdb.write_app_config(
            Path(tempfile.mkdtemp()) / 'rattail.conf', *urls, f'{REDIS_URL}/14', {
                ('rattail_fls', 'odoo.url'): receiver.url,
                ('rattail_fls', 'odoo.concurrency'): str(args.workers),
                ('rattail_fls', 'odoo.retry_base_seconds'): '0',  # retry at once
            })
        devdb.migrate(config_path)
        return run(args, config_path, receiver, injected)
    finally:
        if receiver.process.is_alive():
            receiver.process.terminate()
        if args.keep:
            print(f"kept the databases {', '.join(names)}", file=sys.stderr)
        else:
            for name in names:
                devdb.drop_database(PG_URL, name)


def run(args, config_path, receiver, injected):
    from rattail.config import make_config
    config = make_config([str(config_path)], versioning=True)  # before any model is imported
    from rattail_fls.db.model.summaries import FlsSummary
    from rattail_fls.summaries.push import SummaryPusher, favour_senders
    favour_senders()  # as export-odoo-summary and a send_summary worker do (the bare client too)

    rows = summary_rows(args.summaries)
    with config.appdb_engine.begin() as conn:
        conn.execute(FlsSummary.__table__.insert(), rows)
    from rattail_fls.odoo.client import dumps
    from rattail_fls.jsontext import loads
    bare = bare_answer_time(args, dumps(loads(rows[0]['payload'])))

    failed = len(injected)
    print(f"Odoo export bench: {args.summaries} summaries, {args.workers} workers, answers in "
          f"{args.delay * 1000:.0f} ms from a loopback Odoo-compatible receiver (not a real Odoo)")
    counts = Counter(injected)
    print(f"injected failures: {failed} ({counts['bad_gateway']} HTTP 502, {counts['failed']} Failed, "
          f"{counts['error']} error envelope, {counts['success_lost']} answer lost after the record "
          f"was created)")

    ceiling = args.workers / args.delay
    passes, sent, held = [], 0, 0
    started = time.perf_counter()
    with SummaryPusher(config, workers=args.workers) as pusher:
        while True:
            t0 = time.perf_counter()
            report = pusher.run()
            elapsed = time.perf_counter() - t0
            c = report.counts()
            attempted = c['sent'] + len(report.by('failed')) + len(report.by('held'))
            if not attempted:
                break
            passes.append((attempted, elapsed))
            sent += c['sent']
            held += len(report.by('held'))
            if len(passes) == 1:
                print(f"first pass: {attempted} pushes in {elapsed:.2f}s = {attempted / elapsed:.0f} "
                      f"summaries/s; ceiling {args.workers} / {args.delay * 1000:.0f} ms = {ceiling:.0f}/s; "
                      f"ratio {attempted / elapsed / ceiling:.2f}")
            else:
                print(f"retry pass {len(passes) - 1}: {attempted} pushes in {elapsed:.2f}s")
            if len(passes) > 10:
                break
    total = time.perf_counter() - started

    received = receiver.stop()
    per_sale_num = Counter(received['sale_nums'])
    duplicates = sum(n - 1 for n in per_sale_num.values())
    with config.appdb_engine.connect() as conn:
        import sqlalchemy as sa
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM fls_summary GROUP BY 1")).all())
        request_time = conn.execute(sa.text("SELECT avg(elapsed) FROM fls_push_log")).scalar()
        sale_nums = [r for (r,) in conn.execute(sa.text("SELECT sale_num FROM fls_summary"))]
    missing = sum(1 for s in sale_nums if s not in per_sale_num)
    print(f"overall: {sent} sent + {held} held (outcome unknown) in {total:.2f}s = "
          f"{sent / total:.0f} summaries/s sent ({(sent + held) / total:.0f}/s settled); "
          f"{received['requests']} requests; statuses {dict(sorted(statuses.items()))}")
    first, first_elapsed = passes[0]
    print(f"requests took {request_time * 1000:.1f} ms on average as the client saw them (push log), "
          f"so {args.workers} at a time allow {args.workers / request_time:.0f}/s: first pass at "
          f"{first / first_elapsed / (args.workers / request_time):.2f} of that")
    print(f"receiver: {len(received['sale_nums'])} records for {len(per_sale_num)} sale_nums: "
          f"duplicates {duplicates} (must be 0), summaries without a record {missing}; a client "
          f"retrying every failure would have made {counts['success_lost']} duplicates")
    print(f"a bare client (http.client, {args.workers} at once) saw answers in {bare * 1000:.1f} ms: "
          f"{args.workers} at a time allow {args.workers / bare:.0f}/s")
    print(f"ratio first pass / bare-client ceiling (in flight / answer time as a bare client sees it): "
          f"{first / first_elapsed / (args.workers / bare):.2f}")
    print(f"ratio first pass / concurrency ceiling (in flight / answer time): {first / first_elapsed / ceiling:.2f}")
    return 1 if duplicates or missing else 0


if __name__ == '__main__':
    sys.exit(main())

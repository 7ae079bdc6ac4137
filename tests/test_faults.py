"""Faults with a stream of sales running, on private servers this test may break: Redis flushed,
then stopped and restarted empty; PostgreSQL restarted; a worker killed with SIGKILL.  Each ends
with accepted = stored, no duplicates, nothing lost, and every worker still running."""

import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import simplejson
import sqlalchemy as sa

from fls_dev import db as devdb
from fls_dev.loopback.shops import generate_orders, recent_days
from fls_dev.services import PrivatePostgres, PrivateRedis

from conftest import another_config, make_shop

SHOPS = {981: 's01', 982: 's02'}
BIN = Path(sys.executable).parent


@pytest.fixture(scope='module')
def stack(tmp_path_factory):
    """Private PostgreSQL and Redis, a migrated app on them, shards, two shops, the intake."""
    from waitress.server import create_server
    from rattail_fls.web.intake import make_wsgi_app

    with PrivatePostgres() as pg, PrivateRedis() as rds:
        main, second = devdb.create_database(pg.url, 'fls_faults'), devdb.create_database(pg.url, 'fls_faults2')
        path = devdb.write_app_config(tmp_path_factory.mktemp('faults') / 'rattail.conf', main, second, rds.url, {
            ('rattail_fls', 'storage'): 'partitions',
            ('rattail_fls', 'intake.sweep_after_seconds'): '2',
            ('rattail_fls', 'intake.retry_base_seconds'): '1',
            ('rattail_fls', 'intake.retry_max_seconds'): '2',
            ('rattail_fls', 'intake.batch_size'): '50'})
        devdb.migrate(path)
        config = another_config(path)
        app = config.get_app()
        router = app.get_fls_handler().shards
        session = app.make_session(bind=config.appdb_engine)
        router.upgrade(session)
        session.commit()
        session.close()
        tokens = {rp: make_shop(app, router, rp, shard) for rp, shard in SHOPS.items()}
        server = create_server(make_wsgi_app(config), host='127.0.0.1', port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        yield {'pg': pg, 'redis': rds, 'config': config, 'path': path, 'router': router, 'tokens': tokens,
               'url': f'http://127.0.0.1:{server.effective_port}'}
        server.close()
        config.appdb_engine.dispose()
        for engine in router.engines():
            engine.dispose()


class Stream(threading.Thread):
    """A shop posting one order per request, retrying what was not answered 2xx (as Odoo does)."""

    def __init__(self, url, tokens, orders):
        super().__init__(daemon=True)
        self.url, self.tokens, self.orders = url, tokens, orders
        self.accepted, self.retries, self.sent, self.unexpected = set(), 0, 0, []

    def run(self):
        try:
            self._post_all()
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.unexpected.append(repr(error))

    def _post_all(self):
        for order in self.orders:
            while True:
                try:
                    answer = requests.post(self.url + '/sales/enqueue_sales/', timeout=30,
                                           data=simplejson.dumps(order, use_decimal=True),
                                           headers={'Authorization': f"Token {self.tokens[order['retail_point_id']]}",
                                                    'Content-Type': 'application/json'})
                except requests.ConnectionError:
                    answer = None
                if answer is not None and answer.status_code == 202:
                    self.accepted.add((order['retail_point_id'], order['sale_num']))
                    self.sent += 1
                    break
                if answer is not None and answer.status_code != 503:
                    self.unexpected.append(f"{answer.status_code} {answer.text[:300]}")
                    return
                self.retries += 1
                time.sleep(0.2)


def start_worker(stack):
    log = open(Path(stack['path']).parent / f'worker-{time.monotonic_ns()}.log', 'w')  # noqa: SIM115
    proc = subprocess.Popen([str(BIN / 'rattail'), '-c', str(stack['path']), 'fls-worker', '--sweep-every', '1'],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log.name
    return proc


def tail(proc):
    return Path(proc.log_path).read_text()[-8000:]


def stored(stack):
    rows = set()
    total = 0
    for shard in ('s01', 's02'):
        for attempt in range(20):
            try:
                with stack['router'].begin(shard) as conn:
                    found = conn.execute(sa.text("SELECT retail_point_id, sale_num FROM sale")).all()
                break
            except sa.exc.OperationalError:
                time.sleep(0.5)
        rows.update(map(tuple, found))
        total += len(found)
    return rows, total


def settle(stack, accepted, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows, total = stored(stack)
        if accepted <= rows:
            return rows, total
        time.sleep(1)
    return stored(stack)


def run_with_fault(stack, index, inject, workers=1):
    """Each fault gets days of its own, so its sales are new."""
    end = datetime.date.today() - datetime.timedelta(days=1 + 2 * index)
    orders = generate_orders(list(SHOPS), recent_days(2, end), 60, seed=index)
    procs = [start_worker(stack) for _ in range(workers)]
    try:
        stream = Stream(stack['url'], stack['tokens'], orders)
        stream.start()
        while stream.sent < len(orders) // 3 and stream.is_alive():
            time.sleep(0.05)
        procs = inject(stack, procs) or procs
        stream.join(300)
        assert not stream.is_alive(), "the stream did not finish"
        assert not stream.unexpected, stream.unexpected
        rows, total = settle(stack, stream.accepted)
        alive = [p.poll() is None for p in procs]
        assert all(alive), "a worker died:\n" + '\n'.join(tail(p) for p in procs if p.poll() is not None)
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"a worker did not stop on SIGTERM:\n{tail(proc)}") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    lost = stream.accepted - rows
    mine = {r for r in rows if (r[0], r[1]) in {(o['retail_point_id'], o['sale_num']) for o in orders}}
    duplicates = total - len(rows)
    print(f"\n{inject.__name__}: sent {len(orders)}, accepted {len(stream.accepted)}, stored {len(mine)}, "
          f"duplicates {duplicates}, lost {len(lost)}, client retries {stream.retries}, workers alive {alive}")
    assert len(stream.accepted) == len(orders)
    assert not lost, f"{len(lost)} accepted sales were lost"
    assert duplicates == 0
    assert len(mine) == len(stream.accepted)


def redis_flushed_then_restarted_empty(stack, procs):
    import redis
    redis.Redis.from_url(stack['redis'].url).flushall()
    time.sleep(1)
    stack['redis'].restart(down_seconds=3)


def postgres_restarted(stack, procs):
    stack['pg'].restart()


def worker_killed(stack, procs):
    os.killpg(procs[0].pid, signal.SIGKILL)
    procs[0].wait()
    return [start_worker(stack)]


FAULTS = [redis_flushed_then_restarted_empty, postgres_restarted, worker_killed]


@pytest.mark.parametrize('inject', FAULTS, ids=lambda f: f.__name__)
def test_fault_with_a_stream_running(stack, inject):
    run_with_fault(stack, FAULTS.index(inject), inject)

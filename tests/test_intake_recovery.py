"""Nothing accepted is lost or doubled: a worker killed mid-batch, then the sweeper."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
import simplejson
import sqlalchemy as sa

from fls_dev.loopback.shops import generate_orders, recent_days
from rattail_fls.queue.sweeper import sweep

from conftest import make_shop, run_workers, write_test_config


def shard_sales(shards, rp):
    with shards.begin('s01') as conn:
        return conn.execute(sa.text("SELECT count(*), count(DISTINCT sale_num) FROM sale "
                                    "WHERE retail_point_id = :r"), {'r': rp}).one()


def test_worker_killed_mid_batch(config, app, shards, databases, intake_url, redis_conn, tmp_path):
    token = make_shop(app, shards, 351, 's01')
    orders = generate_orders([351], recent_days(4), 500, seed=7)
    for start in range(0, len(orders), 500):
        answer = requests.post(intake_url + '/api/fls/sales', timeout=60,
                               data=simplejson.dumps(orders[start:start + 500], use_decimal=True),
                               headers={'Authorization': f'Token {token}'})
        assert answer.json()['accepted'] == 500

    slow = write_test_config(tmp_path / 'worker.conf', databases['main_url'], databases['shards2_url'],
                             {('rattail_fls', 'intake.batch_size'): '25'})
    worker = subprocess.Popen([str(Path(sys.executable).parent / 'rattail'), '-c', str(slow),
                               'fls-worker', '--queue', 'sales_processing'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while shard_sales(shards, 351)[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    stored_at_kill = shard_sales(shards, 351)[0]
    assert 0 < stored_at_kill < len(orders), "the worker should have died mid-way"

    redis_conn.flushdb()  # its jobs are gone too
    with config.appdb_engine.begin() as conn:
        conn.execute(sa.text("UPDATE fls_inbox SET received_at = received_at - interval '1 hour' "
                             "WHERE status = 'pending'"))
    sweep(config)
    run_workers(config)

    total, distinct = shard_sales(shards, 351)
    assert total == distinct == len(orders)
    with config.appdb_engine.connect() as conn:
        statuses = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM fls_inbox WHERE retail_point_id = 351 GROUP BY status")).all())
        lines = conn.execute(sa.text("SELECT sum(line_count) FROM fls_business_day "
                                     "WHERE retail_point_id = 351")).scalar()
    assert statuses == {'done': len(orders)}
    with shards.begin('s01') as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sale_line WHERE retail_point_id = 351")).scalar() \
            == lines == sum(len(o['sale_line_ids']) for o in orders)

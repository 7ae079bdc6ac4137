"""Backups as the README describes them: dumps taken while sales stream in (main DB first, then each
shard database), restored into new databases; the restored system resumes: the sweeper re-enqueues
the pending rows, the workers store them, and nothing is doubled."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
import simplejson
import sqlalchemy as sa

from fls_dev.loopback.shops import make_order, recent_days

from conftest import REDIS_URL, RUN_ID, create_database, drop_database, make_shop, rattail, run_workers, \
    write_test_config

BIN = Path(sys.executable).parent


def dump(url, path):
    subprocess.run(['pg_dump', '--format=custom', f'--file={path}', f'--dbname={url}'], check=True)


def restore(path, url):
    subprocess.run(['pg_restore', '--no-owner', '--exit-on-error', f'--dbname={url}', str(path)], check=True)


def rows(url, sql):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()
    finally:
        engine.dispose()


def test_restore_of_a_dump_taken_mid_stream(config, app, shards, databases, intake_url, tmp_path):
    tokens = {rp: make_shop(app, shards, rp, shard) for rp, shard in [(431, 's01'), (432, 's02')]}
    slow = write_test_config(tmp_path / 'slow.conf', databases['main_url'], databases['shards2_url'],
                             {('rattail_fls', 'intake.batch_size'): '7'})
    worker = subprocess.Popen([str(BIN / 'rattail'), '-c', str(slow), 'fls-worker', '--queue', 'sales_processing'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stop, errors, day = threading.Event(), [], recent_days(1)[0]

    def stream():
        rng, number = random.Random(5), 0
        try:
            while not stop.is_set():
                for rp, token in tokens.items():
                    orders = [make_order(rng, rp, day, number + n) for n in range(20)]
                    answer = requests.post(intake_url + '/api/fls/sales', headers={'Authorization': f'Token {token}'},
                                           data=simplejson.dumps(orders, use_decimal=True), timeout=60)
                    assert answer.json()['accepted'] == 20
                number += 20
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    streamer = threading.Thread(target=stream)
    streamer.start()
    names = {'main': f'fls_test_{RUN_ID}_restored', 'shards2': f'fls_test_{RUN_ID}_restored_shards2'}
    try:
        while not rows(databases['main_url'], "SELECT 1 FROM fls_inbox WHERE retail_point_id = 432 "
                                              "AND status = 'done' LIMIT 1"):
            time.sleep(0.1)  # until the stream is flowing and being processed
        dump(databases['main_url'], tmp_path / 'main.dump')          # the main DB first: it is the cut
        dump(databases['shards2_url'], tmp_path / 'shards2.dump')   # then every shard database
    finally:
        stop.set()
        streamer.join()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    assert not errors, errors

    urls = {key: create_database(name) for key, name in names.items()}
    try:
        restore(tmp_path / 'main.dump', urls['main'])
        restore(tmp_path / 'shards2.dump', urls['shards2'])
        restored = write_test_config(tmp_path / 'restored.conf', urls['main'], urls['shards2'], {
            ('rattail_fls', 'redis.url'): f'{REDIS_URL}/14',  # an empty Redis: its queues were lost
            ('rattail_fls', 'intake.sweep_after_seconds'): '1'})
        pending = rows(urls['main'], "SELECT count(*) FROM fls_inbox WHERE status = 'pending' "
                                     "AND retail_point_id IN (431, 432)")[0][0]
        assert pending > 0, "the dump should have caught rows not processed yet"

        swept = rattail(restored, 'fls-sweep').stdout
        assert f"re-enqueued {pending} overdue rows" in swept
        rattail(restored, 'fls-worker', '--queue', 'sales_processing', '--burst')

        assert rows(urls['main'], "SELECT status, count(*) FROM fls_inbox WHERE retail_point_id IN (431, 432) "
                                  "GROUP BY status") == [('done', rows(urls['main'], """
            SELECT count(*) FROM fls_inbox WHERE retail_point_id IN (431, 432)""")[0][0])]
        cut = rows(urls['main'], "SELECT max(id) FROM fls_inbox")[0][0]
        for rp, url, schema in [(431, urls['main'], 'fls_s01'), (432, urls['shards2'], 'fls_s02')]:
            total, distinct, after_cut = rows(url, f"""
                SELECT count(*), count(DISTINCT sale_num), count(*) FILTER (WHERE inbox_id > {cut})
                FROM {schema}.sale WHERE retail_point_id = {rp}""")[0]
            assert total == distinct, "nothing doubled"
            accepted = rows(urls['main'], f"SELECT count(*) FROM fls_inbox WHERE retail_point_id = {rp}")[0][0]
            counted = rows(urls['main'], f"SELECT coalesce(sum(sale_count), 0) FROM fls_business_day "
                                         f"WHERE retail_point_id = {rp}")[0][0]
            # every sale the restored inbox holds is stored once; a shard dumped after the cut may
            # also hold sales accepted after it (kept: they are real sales)
            assert total - after_cut == accepted == counted
    finally:
        for name in names.values():
            drop_database(name)
        run_workers(config)  # what the stream left pending in the live system: not other tests' work

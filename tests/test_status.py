"""``rattail fls-status``: the figures, the levels they give, the Nagios exit codes, Redis down."""

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import simplejson
import sqlalchemy as sa

from fls_dev.server import free_port
from fls_dev.loopback.shops import generate_orders, recent_days
from rattail_fls import status
from rattail_fls.config import ConfigError

from conftest import make_shop, rattail, run_workers, write_test_config

LIMITS = status.Thresholds(queue_warn=10, queue_critical=100, pending_age_warn_seconds=60,
                           pending_age_critical_seconds=600, rejected_window_hours=24, quiet_minutes=120,
                           business_hours=(datetime.time(9), datetime.time(21)), min_workers=1)
WORKER = {'name': 'w1'}


def shop(rp, pending=0, age=None, rejected=0):
    return {'retail_point_id': rp, 'pending': pending, 'oldest_pending_seconds': age, 'retrying': 0,
            'rejected': rejected, 'dead_lettered': 0, 'recent_rejected': rejected}


def queue(queued=0, failed=0):
    return {'kind': 'sales_processing', 'name': 'sales_processing', 'queued': queued, 'started': 0,
            'scheduled': 0, 'failed': failed}


@pytest.mark.parametrize('figures, expected', [
    ({'queues': [queue()], 'workers': [WORKER], 'inbox': []}, []),
    ({'queues': [queue(queued=10)], 'workers': [WORKER]}, [('warning', 'queue')]),
    ({'queues': [queue(queued=100)], 'workers': [WORKER]}, [('critical', 'queue')]),
    ({'queues': [queue(failed=2)], 'workers': [WORKER]}, [('warning', 'failed_jobs')]),
    ({'queues': [queue()], 'workers': []}, [('critical', 'workers')]),
    ({'errors': {'redis': 'Connection refused'}}, [('critical', 'redis')]),
    ({'inbox': [shop(1, pending=3, age=59)]}, []),
    ({'inbox': [shop(1, pending=3, age=60)]}, [('warning', 'pending')]),
    ({'inbox': [shop(1, pending=3, age=601)]}, [('critical', 'pending')]),
    ({'inbox': [shop(1, rejected=1)]}, [('warning', 'rejected')]),
    ({'quiet_shops': [{'retail_point_id': 1, 'last_sale': 'x', 'quiet_minutes': 200}]}, [('warning', 'quiet')]),
    ({'days': {'unclosed': 4, 'stale': 0}}, []),
    ({'days': {'unclosed': 0, 'stale': 2}}, [('warning', 'stale_days')]),
    ({'summaries': {'sent': 9, 'pending': 3}}, []),
    ({'summaries': {'failed': 1, 'held': 1, 'superseded_live': 1}}, [('warning', 'summaries')] * 3),
    ({'timescaledb': [{'shard': 's01', 'failed_jobs': 1, 'uncompressed_past_policy': 0}]},
     [('warning', 'timescaledb')]),
    ({'timescaledb': [{'shard': 's01', 'failed_jobs': 0, 'uncompressed_past_policy': 3}]},
     [('warning', 'timescaledb')]),
    ({'moves': [{'retail_point_id': 1, 'source': 's01', 'target': 's02', 'state': 'paused'}]},
     [('warning', 'moves')]),
])
def test_evaluate(figures, expected):
    problems = status.evaluate(figures, LIMITS)
    assert [(p['level'], p['check']) for p in problems] == expected
    assert status.overall(problems) == (max((e[0] for e in expected), key=status.LEVELS.index)
                                        if expected else 'ok')


def test_zero_threshold_means_never():
    limits = status.Thresholds(**{**LIMITS.__dict__, 'queue_warn': 0, 'queue_critical': 0, 'min_workers': 0})
    assert status.evaluate({'queues': [queue(queued=10 ** 6)], 'workers': []}, limits) == []


@pytest.mark.parametrize('text, expected', [
    ('09:00-21:00', (datetime.time(9), datetime.time(21))),
    (' 07:30 - 23:59 ', (datetime.time(7, 30), datetime.time(23, 59))),
])
def test_parse_hours(text, expected):
    assert status.parse_hours(text) == expected


@pytest.mark.parametrize('text', ['', '9-5', '21:00-09:00', '09:00', 'x-y'])
def test_parse_hours_refuses(text):
    with pytest.raises(ConfigError, match='status.business_hours'):
        status.parse_hours(text)


def test_in_business_hours():
    hours = (datetime.time(9), datetime.time(21))
    assert status.in_business_hours(datetime.datetime(2026, 1, 1, 9, 0), hours)
    assert not status.in_business_hours(datetime.datetime(2026, 1, 1, 21, 0), hours)
    assert not status.in_business_hours(datetime.datetime(2026, 1, 1, 3, 0), hours)


# -- end to end -------------------------------------------------------------------------------

def test_status_end_to_end(config, app, shards, databases, intake_url, redis_conn, tmp_path):
    rp, quiet_rp = 441, 442
    token = make_shop(app, shards, rp, 's01')
    make_shop(app, shards, quiet_rp, 's02')
    orders = generate_orders([rp], recent_days(1), 3, seed=4)
    headers = {'Authorization': f'Token {token}'}
    requests.post(intake_url + '/api/fls/sales', data=simplejson.dumps(orders, use_decimal=True),
                  headers=headers, timeout=30)
    bad = dict(orders[0], sale_num='BAD-1', total_including_miscellaneous='999999.00')
    assert requests.post(intake_url + '/api/fls/sales', data=simplejson.dumps([bad], use_decimal=True),
                         headers=headers, timeout=30).json()['rejected'] == 1
    run_workers(config)
    with config.appdb_engine.begin() as conn:
        # one pending row half an hour old, and a shop whose last sale is a day old
        conn.execute(sa.text("UPDATE fls_inbox SET status = 'pending', received_at = now() - interval '31 minutes' "
                             "WHERE retail_point_id = :r AND sale_num = :n"), {'r': rp, 'n': orders[0]['sale_num']})
        conn.execute(sa.text("INSERT INTO fls_business_day (retail_point_id, sale_date, sale_count, line_count, "
                             "changed_at) VALUES (:r, CURRENT_DATE - 1, 1, 1, now() - interval '1 day')"),
                     {'r': quiet_rp})
    all_day = write_test_config(tmp_path / 'status.conf', databases['main_url'], databases['shards2_url'],
                                {('rattail_fls', 'status.business_hours'): '00:00-23:59:59'})

    result = rattail(all_day, 'fls-status', '--json', check=False)
    assert result.returncode == 2, result.stderr  # no worker alive, a pending row past the critical age
    figures = json.loads(result.stdout)
    assert figures['status'] == 'critical'
    queues = {q['kind']: q for q in figures['queues']}
    assert set(queues) == {'sales_processing', 'day_close', 'send_summary'}
    inbox = {s['retail_point_id']: s for s in figures['inbox']}
    assert inbox[rp]['pending'] == 1 and 1800 < inbox[rp]['oldest_pending_seconds'] < 3600
    assert inbox[rp]['rejected'] == 1 and inbox[rp]['recent_rejected'] == 1
    assert quiet_rp in [s['retail_point_id'] for s in figures['quiet_shops']]
    assert {s['shard'] for s in figures['shards']} == {'s01', 's02'}
    assert all(s['bytes'] > 0 and s['storage'] == 'partitions' for s in figures['shards'])
    checks = {(p['level'], p['check']) for p in figures['problems']}
    assert {('critical', 'pending'), ('critical', 'workers'), ('warning', 'rejected'),
            ('warning', 'quiet')} <= checks

    text = rattail(all_day, 'fls-status', check=False)
    assert text.returncode == 2
    assert "status: CRITICAL" in text.stdout and f"retail point {rp}: 1 pending, oldest" in text.stdout

    worker = subprocess.Popen([str(Path(sys.executable).parent / 'rattail'), '-c', str(all_day), 'fls-worker',
                               '--queue', 'day_close'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        figures = None
        for _ in range(300):  # until the worker has registered itself
            figures = json.loads(rattail(all_day, 'fls-status', '--json', check=False).stdout)
            if figures['workers']:
                break
            time.sleep(0.2)
        assert [w['queues'] for w in figures['workers'] if w['pid'] == worker.pid] == [['day_close']]
        assert ('critical', 'workers') not in {(p['level'], p['check']) for p in figures['problems']}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()

    with config.appdb_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM fls_inbox WHERE retail_point_id = :r"), {'r': rp})
        conn.execute(sa.text("DELETE FROM fls_business_day WHERE retail_point_id = :r"), {'r': quiet_rp})


def test_status_with_redis_down(databases, tmp_path):
    down = write_test_config(tmp_path / 'down.conf', databases['main_url'], databases['shards2_url'],
                             {('rattail_fls', 'redis.url'): f'redis://127.0.0.1:{free_port()}/0'})
    result = rattail(down, 'fls-status', '--json', check=False)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    figures = json.loads(result.stdout)
    assert 'redis' in figures['errors'] and 'queues' not in figures
    assert 'inbox' in figures and 'shards' in figures  # the rest is still reported
    assert [p for p in figures['problems'] if p['check'] == 'redis'][0]['level'] == 'critical'
    text = rattail(down, 'fls-status', check=False)
    assert text.returncode == 2 and "CRITICAL: redis unavailable" in text.stdout

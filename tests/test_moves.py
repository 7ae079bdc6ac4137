"""``fls-shards move``: a shop's sales move between shards in two databases, under a live stream,
and a move killed at every step resumes to the same end state."""

import datetime
import json
import os
import random
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import simplejson
import sqlalchemy as sa

from fls_dev.loopback.shops import generate_orders, make_order, recent_days
from rattail_fls.db import moves

from conftest import ROOT, make_shop, rattail, run_workers


# -- pure decisions ---------------------------------------------------------------------

D1, D2 = datetime.date(2026, 3, 1), datetime.date(2026, 3, 2)


@pytest.mark.parametrize('source, target, expected', [
    ({}, {}, []),
    ({('sale', D1): (2, Decimal('10'))}, {('sale', D1): (2, Decimal('10'))}, []),
    ({('sale', D1): (2, Decimal('10'))}, {('sale', D1): (2, Decimal('10.0001'))}, [('sale', D1)]),
    ({('sale', D1): (2, Decimal('10'))}, {}, [('sale', D1)]),
    ({}, {('sale_line', D2): (1, Decimal('1'))}, [('sale_line', D2)]),
    ({('sale', D2): (1, 1), ('sale', D1): (1, 1)}, {('sale', D2): (2, 1), ('sale', D1): (0, 1)},
     [('sale', D1), ('sale', D2)]),
])
def test_differences(source, target, expected):
    assert moves.differences(source, target) == expected


def test_summarize_per_day():
    figures = {('sale', D1): (2, Decimal('30')), ('sale_line', D1): (5, Decimal('1')),
               ('sale_lot', D1): (3, 1), ('sale_misc_lot', D1): (1, 1), ('sale_ident', D2): (1, 1)}
    assert moves.summarize(figures) == [
        {'sale_date': D1, 'sales': 2, 'lines': 5, 'lots': 4, 'total': Decimal('30')},
        {'sale_date': D2, 'sales': 0, 'lines': 0, 'lots': 0, 'total': 0}]


# -- helpers -----------------------------------------------------------------------------

def post(intake_url, token, orders):
    answer = requests.post(intake_url + '/api/fls/sales', timeout=60,
                           data=simplejson.dumps(orders, use_decimal=True),
                           headers={'Authorization': f'Token {token}'})
    assert answer.status_code == 200, answer.text
    assert answer.json()['accepted'] == len(orders), answer.text
    return len(orders)


def figures(shards, shard, rp):
    with shards.begin(shard) as conn:
        return moves.day_figures(conn, rp)


def stored(shards, shard, rp):
    with shards.begin(shard) as conn:
        return conn.execute(sa.text("SELECT count(*), count(DISTINCT sale_num) FROM sale "
                                    "WHERE retail_point_id = :r"), {'r': rp}).one()


def inbox_statuses(config, rp):
    with config.appdb_engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT status, count(*) FROM fls_inbox WHERE retail_point_id = :r "
                                         "AND kind = 'sale' GROUP BY status"), {'r': rp}).all())


def shard_of(config, rp):
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.text("SELECT s.name FROM fls_retail_point p JOIN fls_shard s "
                                    "ON s.uuid = p.shard_uuid WHERE p.retail_point_id = :r"), {'r': rp}).scalar()


def shard_versions(config, rp):
    """Shard names in the retail point's version history (Continuum), oldest first."""
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT s.name FROM fls_retail_point_version v JOIN fls_shard s ON s.uuid = v.shard_uuid "
            "WHERE v.retail_point_id = :r ORDER BY v.transaction_id"), {'r': rp}).scalars().all()


def move_cmd(config_path, rp, shard, *extra, kill_at=None):
    env = dict(os.environ)
    env.pop(moves.KILL_AT_ENV, None)
    if kill_at:
        env[moves.KILL_AT_ENV] = kill_at
    return subprocess.run([str(Path(sys.executable).parent / 'rattail'), '-c', str(config_path),
                           'fls-shards', 'move', str(rp), shard, *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env)


def assert_moved(config, shards, rp, expected_sales, before, source='s01', target='s02'):
    assert stored(shards, source, rp) == (0, 0)
    assert stored(shards, target, rp) == (expected_sales, expected_sales)
    assert figures(shards, target, rp) == before
    assert shard_of(config, rp) == target
    assert shard_versions(config, rp)[-2:] == [source, target]


# -- crash at every step ---------------------------------------------------------------------

@pytest.mark.parametrize('step', moves.CHECKPOINTS)
def test_move_killed_at_each_step_resumes(step, config, app, shards, databases, intake_url, redis_conn):
    rp = 370 + moves.CHECKPOINTS.index(step)
    token = make_shop(app, shards, rp, 's01')
    post(intake_url, token, generate_orders([rp], recent_days(3), 15, seed=rp))
    run_workers(config)
    before = figures(shards, 's01', rp)
    assert {t for t, _ in before} == set(moves.SUMMED)

    killed = move_cmd(databases['config_path'], rp, 's02', kill_at=step)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    with config.appdb_engine.connect() as conn:
        paused = moves.states.PAUSING_STATES
        state = conn.execute(sa.text("SELECT state FROM fls_shard_move WHERE retail_point_id = :r"),
                             {'r': rp}).scalar()
        from rattail_fls.db.shards import paused_retail_points
        assert (rp in paused_retail_points(conn)) == (state in paused)
    assert state == {'paused': 'paused', 'copy': 'paused', 'copied': 'copied', 'verified': 'verified',
                     'flipped': 'flipped', 'delete': 'flipped'}[step]

    resumed = move_cmd(databases['config_path'], rp, 's02')
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming the move of retail point {rp} s01 -> s02 at state {state}" in resumed.stdout
    assert "moved retail point" in resumed.stdout
    assert_moved(config, shards, rp, 45, before)

    again = move_cmd(databases['config_path'], rp, 's02')
    assert again.returncode == 0 and "already in shard s02; nothing to move" in again.stdout
    assert stored(shards, 's02', rp) == (45, 45)


def test_paused_shop_waits_in_the_inbox_others_do_not(config, app, shards, databases, intake_url, redis_conn):
    moving, other = 380, 381
    tokens = {rp: make_shop(app, shards, rp, 's01') for rp in (moving, other)}
    days = recent_days(2)
    for rp in (moving, other):
        post(intake_url, tokens[rp], generate_orders([rp], days, 10, seed=rp))
    run_workers(config)

    killed = move_cmd(databases['config_path'], moving, 's02', kill_at='paused')
    assert killed.returncode == -signal.SIGKILL
    listed = rattail(databases['config_path'], 'fls-shards', 'moves', '--retail-point', str(moving)).stdout
    assert listed.splitlines()[1].split()[:4] == [str(moving), 's01', 's02', 'paused']
    rng = random.Random(3)
    # more than a batch of the paused shop first, so a batch could fill up with them
    post(intake_url, tokens[moving], [make_order(rng, moving, days[-1], 100 + n) for n in range(30)])
    post(intake_url, tokens[other], [make_order(rng, other, days[-1], 100 + n) for n in range(5)])
    run_workers(config)
    assert inbox_statuses(config, other) == {'done': 25}
    assert inbox_statuses(config, moving) == {'done': 20, 'pending': 30}
    assert stored(shards, 's01', moving) == (20, 20)

    # a row claimed by id while paused is left pending with the reason
    with config.appdb_engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM fls_inbox WHERE retail_point_id = :r AND status = 'pending' "
                                   "ORDER BY id LIMIT 3"), {'r': moving}).scalars().all()
    from rattail_fls.sales.processor import leave_paused_pending
    from rattail_fls.sales.store import StoredSale
    from rattail_fls.db.shards import paused_retail_points
    with config.appdb_engine.connect() as conn:
        paused = paused_retail_points(conn)
    assert "moving from shard s01 to s02" in paused[moving]
    row = type('Row', (), {'received_on': days[0], 'id': ids[0]})
    settled, kept = leave_paused_pending([], {'s01': [(row, StoredSale(moving, 'M-1', days[0]))]}, paused)
    assert kept == {} and settled[0][2] == 'pending'
    assert json.loads(settled[0][3]) == [{'field': 'retail_point_id', 'reason': paused[moving]}]

    resumed = move_cmd(databases['config_path'], moving, 's02')
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    run_workers(config)
    assert inbox_statuses(config, moving) == {'done': 50}
    assert stored(shards, 's02', moving) == (50, 50) and stored(shards, 's01', moving) == (0, 0)
    assert stored(shards, 's01', other) == (25, 25)


def test_dry_run_prints_and_changes_nothing(config, app, shards, databases, intake_url, redis_conn):
    rp = 385
    token = make_shop(app, shards, rp, 's01')
    orders = generate_orders([rp], recent_days(2), 4, seed=rp)
    post(intake_url, token, orders)
    run_workers(config)
    result = rattail(databases['config_path'], 'fls-shards', 'move', str(rp), 's02', '--dry-run')
    assert f"would move retail point {rp} from shard s01 to s02: 8 sales, " \
           f"{sum(len(o['sale_line_ids']) for o in orders)} lines, 2 days" in result.stdout
    for day in recent_days(2):
        total = sum(o['total_including_miscellaneous'] for o in orders if o['sale_date'] == day.isoformat())
        assert f"{day}  4      " in result.stdout and f"{total:.4f}" in result.stdout
    assert stored(shards, 's01', rp) == (8, 8) and shard_of(config, rp) == 's01'
    with config.appdb_engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT count(*) FROM fls_shard_move WHERE retail_point_id = :r"),
                                {'r': rp}).scalar()

    for args, message in [((str(rp), 's09'), "shard 's09' is not in [rattail_fls] shards"),
                          (('424242', 's02'), "retail point 424242 does not exist")]:
        bad = rattail(databases['config_path'], 'fls-shards', 'move', *args, check=False)
        assert bad.returncode == 1 and message in bad.stderr and 'Traceback' not in bad.stderr


# -- a live stream --------------------------------------------------------------------------------

def test_move_across_databases_under_a_live_stream(config, app, shards, databases, intake_url, redis_conn,
                                                   tmp_path):
    moving, others = 390, (391, 392)
    tokens = {rp: make_shop(app, shards, rp, shard) for rp, shard in
              [(moving, 's01'), (391, 's01'), (392, 's02')]}
    days = recent_days(5)
    sent = {rp: post(intake_url, tokens[rp], generate_orders([rp], days, 40, seed=rp)) for rp in tokens}
    run_workers(config)

    worker = subprocess.Popen([str(Path(sys.executable).parent / 'rattail'), '-c', str(databases['config_path']),
                               'fls-worker', '--queue', 'sales_processing', '--sweep-every', '2'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stop = threading.Event()
    errors = []

    def stream():
        rng, number = random.Random(11), 1000
        try:
            while not stop.is_set():
                for rp in tokens:
                    sent[rp] += post(intake_url, tokens[rp],
                                     [make_order(rng, rp, days[number % len(days)], number + n) for n in range(5)])
                number += 5
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        result = move_cmd(databases['config_path'], moving, 's02')
    finally:
        stop.set()
        streamer.join()
    assert not errors, errors
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        with config.appdb_engine.begin() as conn:  # let the worker's sweeper pick up at once
            conn.execute(sa.text("UPDATE fls_inbox SET received_at = received_at - interval '1 hour' "
                                 "WHERE status = 'pending'"))
        from rattail_fls.queue.enqueue import wake
        wake(config, 'sales_processing')
        wait_until_settled(config, tokens)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()

    assert sent[moving] > 200, "the stream should have run during the move"
    assert stored(shards, 's01', moving) == (0, 0)
    assert stored(shards, 's02', moving) == (sent[moving], sent[moving])
    assert stored(shards, 's01', 391) == (sent[391], sent[391])
    assert stored(shards, 's02', 392) == (sent[392], sent[392])
    for rp in tokens:
        assert inbox_statuses(config, rp) == {'done': sent[rp]}
    with config.appdb_engine.connect() as conn:
        days_counts = dict(conn.execute(sa.text(
            "SELECT sale_date, sale_count FROM fls_business_day WHERE retail_point_id = :r"), {'r': moving}).all())
    in_target = moves.summarize(figures(shards, 's02', moving))
    assert {d['sale_date']: d['sales'] for d in in_target} == days_counts
    assert shard_versions(config, moving)[-2:] == ['s01', 's02']


def wait_until_settled(config, tokens):
    """Poll (not a timed assert: the deadline only stops a hung test) until no row is pending."""
    import time
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pending = sum(inbox_statuses(config, rp).get('pending', 0) for rp in tokens)
        if not pending:
            return
        time.sleep(0.2)
    raise AssertionError(f"{pending} rows still pending")

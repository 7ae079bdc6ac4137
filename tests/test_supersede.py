"""Supersede in Odoo (version and replaced record in every body, retiring through the external
JSON-RPC API or listing for the operator), sent summaries gone on a re-close, resend by selection,
and a worker that stops within the Odoo timeouts on SIGTERM."""

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from fls_dev.loopback.odoo import LoopbackOdoo
from rattail_fls.db.model.summaries import FlsSummary, PushAction
from rattail_fls.odoo.api import OdooApiClient, make_odoo_api_client
from rattail_fls.odoo.client import APPLICATION, CONFIGURATION, TRANSIENT
from rattail_fls.summaries import supersede
from rattail_fls.summaries.closer import DayCloser
from rattail_fls.summaries.due import Selection

from conftest import ROOT, rattail, write_test_config
from test_export import DAY, make_summaries, new_rp, pusher_for, pushes, summary


@pytest.fixture
def odoo():
    with LoopbackOdoo(hang_seconds=5) as server:
        yield server


def api_for(odoo, login='fls-export', key='api-key', db='odoo'):
    return OdooApiClient(odoo.base_url, db, login, key, connect_timeout=1, read_timeout=2)


def supersede_sent(config, app, odoo, rp, api=None):
    """v1 sent, then a re-close made v2: push v2; returns (old uuid, new uuid, report)."""
    [old] = make_summaries(app, rp)
    with pusher_for(config, odoo, api_client=None) as pusher:
        pusher.run(Selection(retail_point_ids=[rp]))
    with config.appdb_engine.begin() as conn:  # what the closer does on late sales
        conn.execute(sa.text("UPDATE fls_summary SET status = 'superseded' WHERE uuid = :u"), {'u': old})
    [new] = make_summaries(app, rp, version=2)
    with pusher_for(config, odoo, api_client=api) as pusher:
        report = pusher.run(Selection(retail_point_ids=[rp]))
    return old, new, report


# -- the external API, as Odoo answers it --------------------------------------------------------

def rpc(odoo, service, method, *args):
    return requests.post(odoo.base_url + '/jsonrpc', json={
        'jsonrpc': '2.0', 'method': 'call', 'id': 7,
        'params': {'service': service, 'method': method, 'args': list(args)}}, timeout=5).json()


def test_loopback_jsonrpc_envelopes(odoo):
    assert rpc(odoo, 'common', 'authenticate', 'odoo', 'fls-export', 'api-key', {}) == \
        {'jsonrpc': '2.0', 'id': 7, 'result': 2}
    assert rpc(odoo, 'common', 'login', 'odoo', 'fls-export', 'wrong')['result'] is False
    denied = rpc(odoo, 'object', 'execute_kw', 'odoo', 2, 'wrong', 'cfed.local.data', 'write',
                 [[1], {'is_latest_data': False}])
    assert denied['error']['code'] == 200 and denied['error']['message'] == 'Odoo Server Error'
    assert denied['error']['data']['name'] == 'odoo.exceptions.AccessDenied'
    assert set(denied['error']['data']) == {'name', 'debug', 'message', 'arguments', 'context'}
    missing = rpc(odoo, 'object', 'execute_kw', 'odoo', 2, 'api-key', 'cfed.local.data', 'write',
                  [[99], {'is_latest_data': False}])
    assert missing['error']['data']['name'] == 'odoo.exceptions.MissingError'
    assert 'Record does not exist or has been deleted.' in missing['error']['data']['message']


@pytest.mark.parametrize('setup, kind, text', [
    (lambda odoo: None, None, 'retired'),
    (lambda odoo: odoo.users.update({'fls-export': (2, 'rotated', True)}), CONFIGURATION, 'refused the login'),
    (lambda odoo: odoo.users.update({'fls-export': (2, 'api-key', False)}), CONFIGURATION, 'AccessError'),
    (lambda odoo: odoo.records.clear(), APPLICATION, 'MissingError'),
    (lambda odoo: setattr(odoo, 'db', 'other'), CONFIGURATION, 'does not exist'),
    (lambda odoo: odoo.queue_behaviours(['bad_gateway']), TRANSIENT, '502'),
    (lambda odoo: odoo.queue_behaviours(['not_found']), CONFIGURATION, '404'),
])
def test_retire_success_and_each_failure(odoo, setup, kind, text):
    odoo._create({'sale_num': 'X/1', 'retail_point_id': 1})
    setup(odoo)
    client = api_for(odoo)
    result = client.retire(1)
    assert (result.ok, result.failure) == (kind is None, kind)
    assert text in result.message
    if kind is None:
        assert odoo.records[1]['is_latest_data'] is False
    client.close()


def test_access_denied_after_login_is_configuration(odoo):
    odoo._create({'sale_num': 'X/1'})
    client = api_for(odoo)
    assert client.authenticate() is None and client.uid == 2
    odoo.users['fls-export'] = (2, 'rotated', True)  # the key was revoked meanwhile
    result = client.retire(1)
    assert (result.ok, result.failure) == (False, CONFIGURATION) and 'AccessDenied' in result.message
    assert client.uid is None  # logs in again next time
    odoo.users['fls-export'] = (2, 'api-key', True)
    assert client.retire(1).ok


def test_api_settings(config):
    assert make_odoo_api_client(config) is None  # none set: list, do not retire
    from rattail_fls.config import ConfigError
    config.setdefault('rattail_fls.odoo.api.url', 'https://odoo.example.com')
    try:
        with pytest.raises(ConfigError, match='odoo.api.db, odoo.api.login, odoo.api.key not set'):
            make_odoo_api_client(config)
    finally:
        config.defaults.pop('rattail_fls.odoo.api.url', None)


# -- through the pusher -------------------------------------------------------------------------

def test_version_and_replaced_record_travel_in_the_body_and_odoo_retires_it(config, app, odoo):
    rp = new_rp()
    old, new, report = supersede_sent(config, app, odoo, rp, api=api_for(odoo))
    first, second = odoo.records[1], odoo.records[2]
    assert first['data']['version'] == 1 and 'replaces_local_data_id' not in first['data']
    assert (second['data']['version'], second['data']['replaces_local_data_id']) == (2, 1)
    assert summary(config, new).replaces_local_data_id == 1
    assert [r['outcome'] for r in report.retired if r['uuid'] == old] == ['sent']
    assert first['is_latest_data'] is False and second['is_latest_data'] is True
    assert summary(config, old).retired_at is not None
    [retire] = [p for p in pushes(config, old) if p.action == PushAction.RETIRE]
    assert (retire.ok, retire.local_data_id) == (True, 1)
    with config.appdb_engine.connect() as conn:
        assert old not in {p['uuid'] for p in supersede.to_retire(conn)}


def test_retire_failure_is_logged_and_retried(config, app, odoo):
    rp = new_rp()
    odoo.users['fls-export'] = (2, 'api-key', False)  # may not write cfed.local.data
    old, new, report = supersede_sent(config, app, odoo, rp, api=api_for(odoo))
    [failed] = [r for r in report.retired if r['uuid'] == old]
    assert (failed['outcome'], failed['failure_class']) == ('failed', CONFIGURATION) and not report.ok
    assert summary(config, old).retired_at is None
    [log] = [p for p in pushes(config, old) if p.action == PushAction.RETIRE]
    assert (log.ok, log.failure_class) == (False, CONFIGURATION)
    odoo.users['fls-export'] = (2, 'api-key', True)  # the operator granted the right
    with pusher_for(config, odoo, api_client=api_for(odoo)) as pusher:
        again = pusher.run(Selection(retail_point_ids=[rp]))
    assert [r['outcome'] for r in again.retired if r['uuid'] == old] == ['sent']
    assert odoo.records[1]['is_latest_data'] is False


def test_without_credentials_pairs_are_listed_and_counted(config, app, odoo):
    rp = new_rp()
    with config.appdb_engine.connect() as conn:
        before = supersede.count_to_retire(conn)
    old, new, report = supersede_sent(config, app, odoo, rp)
    [pair] = [p for p in report.to_retire if p['uuid'] == old]
    assert (pair['local_data_id'], pair['new_local_data_id'], pair['new_version']) == (1, 2, 2)
    assert 'Odoo record 1 (v1) is superseded by record 2 (v2)' in supersede.describe(pair)
    with config.appdb_engine.connect() as conn:
        assert supersede.count_to_retire(conn) == before + 1
    assert odoo.records[1]['is_latest_data'] is True  # nothing told Odoo


# -- a sent summary gone on a re-close ----------------------------------------------------------

def test_sent_summary_gone_on_reclose_is_held_not_superseded(config, app, odoo):
    rp = new_rp()
    [sent] = make_summaries(app, rp, status='sent', local_data_id=41)
    [unsent] = make_summaries(app, rp, status='pending', day=DAY - datetime.timedelta(days=1))
    closer = DayCloser(config)
    session = app.make_session()
    result = closer._store(session, DAY, {rp: []})[rp]  # the re-close found no sales for it
    gone = closer._store(session, DAY - datetime.timedelta(days=1), {rp: []})[rp]
    session.commit()
    session.close()
    assert (result['gone'], result['superseded']) == (1, 0) and gone['superseded'] == 1
    row = summary(config, sent)
    assert row.status == 'held' and row.hold_reason.startswith('gone on re-close')
    assert 'Odoo record 41 is still live' in row.hold_reason
    assert summary(config, unsent).status == 'superseded'  # never sent: nothing in Odoo
    with pusher_for(config, odoo) as pusher:  # even an explicit resend never brings it back
        assert pusher.run(Selection(retail_point_ids=[rp]), resend=True).outcomes == []
    assert odoo.requests == 0


# -- resend by selection ------------------------------------------------------------------------

def test_resend_by_status_and_failure_class(config, app, odoo):
    rp = new_rp()
    [config_failed] = make_summaries(app, rp, status='failed', failure_class=CONFIGURATION, attempts=1)
    [transient] = make_summaries(app, rp, status='failed', failure_class=TRANSIENT, attempts=1,
                                 day=DAY - datetime.timedelta(days=1),
                                 next_attempt_at=datetime.datetime(2999, 1, 1, tzinfo=datetime.timezone.utc))
    [held] = make_summaries(app, rp, status='held', hold_reason='reconciliation mismatch: x',
                            day=DAY - datetime.timedelta(days=2))
    selection = Selection(retail_point_ids=[rp], statuses=['failed'], failure_classes=['configuration'])
    with pusher_for(config, odoo) as pusher:
        dry = pusher.run(selection, resend=True, dry_run=True)
        assert [o['uuid'] for o in dry.outcomes] == [config_failed] and odoo.requests == 0
        report = pusher.run(selection, resend=True)
        assert [(o['uuid'], o['outcome']) for o in report.outcomes] == [(config_failed, 'sent')]
        assert summary(config, transient).status == 'failed' and summary(config, held).status == 'held'
        report = pusher.run(Selection(retail_point_ids=[rp], statuses=['held']), resend=True)
        assert [(o['uuid'], o['outcome']) for o in report.outcomes] == [(held, 'sent')]
    assert summary(config, held).forced is True
    with pytest.raises(ValueError):
        Selection(statuses=['nonsense'])


@pytest.fixture(scope='module')
def slow_odoo():
    with LoopbackOdoo(hang_seconds=30) as server:
        yield server


@pytest.fixture(scope='module')
def slow_config(databases, slow_odoo, tmp_path_factory):
    path = tmp_path_factory.mktemp('supersede') / 'rattail.conf'
    return write_test_config(path, databases['main_url'], databases['shards2_url'], {
        ('rattail_fls', 'odoo.url'): slow_odoo.url,
        ('rattail_fls', 'odoo.read_timeout'): '10',
        ('rattail_fls', 'odoo.concurrency'): '2',
    })


def test_cli_resend_by_selection_warns_and_lists(config, app, slow_config, slow_odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp, status='failed', failure_class=CONFIGURATION, attempts=1)
    args = ('export-odoo-summary', '--resend', '--status', 'failed', '--failure-class', 'configuration',
            '--retail-point', str(rp), '--no-close')
    dry = rattail(slow_config, *args, '--dry-run', check=False)
    assert dry.returncode == 0, dry.stderr
    assert 'warning: --resend' in dry.stderr and 'dry run: would send 1' in dry.stdout
    assert '(failed, configuration)' in dry.stdout and summary(config, uuid).status == 'failed'
    bad = rattail(slow_config, 'export-odoo-summary', '--status', 'lost', check=False)
    assert bad.returncode == 1 and "--status 'lost': expected one of pending" in bad.stderr
    sent = rattail(slow_config, *args, check=False)
    assert sent.returncode == 0 and 'sent 1, failed 0' in sent.stdout
    listed = rattail(slow_config, 'export-odoo-summary', '--superseded', check=False)
    assert listed.returncode == 0 and 'superseded records still marked latest in Odoo' in listed.stdout


# -- SIGTERM ------------------------------------------------------------------------------------

def test_worker_stops_within_the_read_timeout_on_sigterm(config, app, slow_config, slow_odoo, redis_conn):
    """A batch of 20 summaries, Odoo slow (2 s each, 2 at a time): SIGTERM ends the worker after
    the pushes in flight; nothing is left sending, and the rest is still due for the next run."""
    from rattail_fls.queue import enqueue
    rp = new_rp()
    uuids = make_summaries(app, rp, count=20)
    queue = enqueue.get_queue(config, 'send_summary')
    queue.empty()
    slow_odoo.delay = 2
    before = slow_odoo.requests
    try:
        proc = subprocess.Popen([str(Path(sys.executable).parent / 'rattail'), '-c', str(slow_config),
                                 'fls-worker', '--queue', 'send_summary'],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert enqueue.enqueue(config, 'send_summary', uuids)
        deadline = time.monotonic() + 60
        while slow_odoo.requests == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow_odoo.requests > before, "the worker never reached Odoo"
        os.kill(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
        in_flight = slow_odoo.requests - before
    finally:
        slow_odoo.delay = 0
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    # only what was in flight went out (at most odoo.concurrency per claim round), not the batch
    assert in_flight < 20
    with config.appdb_engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(FlsSummary.status, sa.func.count())
                                     .where(FlsSummary.uuid.in_(uuids)).group_by(FlsSummary.status)).all())
    assert 'sending' not in statuses, statuses
    assert statuses.get('sent', 0) == in_flight and statuses.get('pending', 0) == 20 - in_flight
    queue.empty()

"""Odoo export: the push path, the send_summary queue, the sweeper and ``export-odoo-summary``.

Every push goes over HTTP to the loopback Odoo-compatible receiver, which
records what the real controller would create, so "exactly once" is checked
where it matters: records on the Odoo side.  Summaries are made directly as
``fls_summary`` rows (payload per the JSON contract), so these tests do not
depend on the day closer, except the end-to-end CLI test.
"""

import dataclasses
import datetime
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import simplejson
import sqlalchemy as sa

from rattail_fls.db.model.summaries import FailureClass, FlsPushLog, FlsSummary
from fls_dev.loopback.odoo import LoopbackOdoo
from rattail_fls.odoo.client import APPLICATION, CONFIGURATION, TRANSIENT, OdooSummaryClient
from rattail_fls import jsontext
from rattail_fls.retry import RetryPolicy
from rattail_fls.summaries import due as due_rules, pushstate
from rattail_fls.summaries.due import Selection
from rattail_fls.summaries.push import SummaryPusher

from conftest import ROOT, rattail, write_test_config

DAY = datetime.date.today() - datetime.timedelta(days=2)
_points = itertools.count(91000)


def new_rp():
    """A retail point id no other test uses, to keep each test's summaries apart."""
    return next(_points)


def summary_payload(rp, counter, journal, amount, day=DAY):
    sale_num = f"{day:%Y%m%d}/{rp}/{counter}/{journal}"
    amount = Decimal(amount)
    return {
        'local_retail_point_db_id': rp, 'retail_point_id': rp, 'sale_date': day.isoformat(),
        'payment_journal_id': journal, 'debtors_account_id': 31, 'sale_journal_id': 32,
        'miscelleneous_sale_price': Decimal('5.00'), 'miscellaneous_product_id': 9001,
        'miscellaneous_qty': Decimal('1'), 'miscellaneous_invoice_num': f'MISC/{sale_num}',
        'sale_num': sale_num, 'name': sale_num, 'miscellaneous_name': 'Carry Bag',
        'sale_counter_id': counter, 'customer_name': 'Walk-in', 'is_default_customer': True,
        'total_including_miscellaneous': amount + Decimal('5.00'), 'total_cess': Decimal('2.50'),
        'amount_total': amount, 'confirmed_on': f'{day} 23:59:00', 'store_type': 'FLS',
        'sale_line_ids': [[0, 0, {
            'product_id': 5001, 'name': 'P5001', 'product_uom_qty': Decimal('2'), 'product_uom': 1,
            'vat_percent': Decimal('18'), 'price_unit': amount / 2, 'account_id': 400,
            'retail_sale_mrp': amount / 2, 'cess_id': 7, 'taxes_ids': [], 'cess_amount': Decimal('1.25'),
            'total_cess': Decimal('2.50'), 'qty_available': Decimal('5'), 'sale_type': 'retail',
            'lot_details_ids': [[0, 0, {'lot_id': 11, 'quantity': Decimal('2')}]]}]],
        'miscellaneous_lot_details_ids': [[0, 0, {'lot_id': 91, 'quantity': Decimal('1')}]],
    }


def make_summaries(app, rp, count=1, status='pending', day=DAY, **values):
    """``count`` summaries of one retail point and day (counters 1..count); returns their uuids."""
    session = app.make_session()
    rows = []
    for counter in range(1, count + 1):
        body = summary_payload(rp, counter, 11, f'{100 * counter}.50', day)
        row = FlsSummary(sale_num=body['sale_num'], version=1, retail_point_id=rp, sale_date=day,
                         sale_counter_id=counter, payment_journal_id=11, status=status,
                         payload=jsontext.dumps(body), amount_total=body['amount_total'],
                         total_including_miscellaneous=body['total_including_miscellaneous'],
                         total_cess=body['total_cess'], sale_count=3, line_count=4,
                         reconciled=status != 'held', reconciliation='[]', forced=False, attempts=0)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        rows.append(row)
    session.commit()
    uuids = [r.uuid for r in rows]
    session.close()
    return uuids


def summary(config, uuid):
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.select(FlsSummary.__table__).where(FlsSummary.__table__.c.uuid == uuid)).first()


def pushes(config, uuid):
    table = FlsPushLog.__table__
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.select(table).where(table.c.summary_uuid == uuid).order_by(table.c.id)).all()


def records_per_sale_num(odoo):
    return Counter(record['sale_num'] for record in odoo.records.values())


@pytest.fixture
def odoo():
    with LoopbackOdoo(hang_seconds=5) as server:
        yield server


def pusher_for(config, odoo, workers=2, read_timeout=0.5, retry_base=None, max_attempts=None, **kwargs):
    """A pusher whose per-thread clients talk to the loopback (short timeouts); ``retry_base``
    and ``max_attempts`` override the configured retry policy."""
    pusher = SummaryPusher(config, workers=workers, client_factory=lambda cfg: OdooSummaryClient(
        odoo.url, connect_timeout=1, read_timeout=read_timeout), **kwargs)
    if retry_base is not None:
        pusher.policy = dataclasses.replace(pusher.policy, base_seconds=retry_base)
    if max_attempts is not None:
        pusher.policy = dataclasses.replace(pusher.policy, max_attempts=max_attempts)
    return pusher


def run(config, odoo, rp, resend=False, dry_run=False, **settings):
    with pusher_for(config, odoo, **settings) as pusher:
        return pusher.run(Selection(retail_point_ids=[rp]), resend=resend, dry_run=dry_run)


# -- success -----------------------------------------------------------------

def test_success_records_everything(config, app, odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    report = run(config, odoo, rp)
    assert report.counts() == {'sent': 1, 'failed': 0, 'held': 0, 'skipped': 0, 'would_send': 0}
    assert report.ok
    row = summary(config, uuid)
    assert (row.status, row.local_data_id, row.attempts, row.failure_class, row.last_error) == \
        ('sent', 1, 1, None, None)
    assert row.sent_at is not None
    [log] = pushes(config, uuid)
    assert (log.ok, log.http_status, log.failure_class, log.local_data_id) == (True, 200, None, 1)
    assert '"Success"' in log.excerpt and log.elapsed >= 0
    # The stored payload is the body, as the top-level object, decimals exact.
    [record] = odoo.records.values()
    stored = json.loads(row.payload)
    assert record['data'] == dict(stored, version=1)  # version 1 replaces nothing
    assert (record['sale_num'], record['retail_point_id'], record['date']) == \
        (stored['sale_num'], rp, DAY.isoformat())
    assert record['liquor_amount_total'] == 100.5 and record['total_including_miscellaneous'] == 105.5


def test_encrypted_sale_num_is_sent_when_a_secret_is_set(config, app):
    rp = new_rp()
    make_summaries(app, rp)
    with LoopbackOdoo(secret='s3cret') as odoo:
        with SummaryPusher(config, workers=1, client_factory=lambda cfg: OdooSummaryClient(
                odoo.url, secret='s3cret', read_timeout=2, secret_rounds=4)) as pusher:
            assert pusher.run(Selection(retail_point_ids=[rp])).counts()['sent'] == 1
        assert 'encrypted_sale_num' in odoo.received[0]


# -- each failure class, recorded in the push log ----------------------------

@pytest.mark.parametrize('behaviour, failure_class, http_status, text', [
    ('failed', APPLICATION, 200, 'simulated failure'),
    ('error', APPLICATION, 200, 'simulated server error'),
    ('no_result', APPLICATION, 200, 'without a result'),
    ('bad_gateway', TRANSIENT, 502, '502 Bad Gateway'),
])
def test_definite_retryable_failures(config, app, odoo, behaviour, failure_class, http_status, text):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    odoo.set_behaviour(behaviour)
    report = run(config, odoo, rp)
    [outcome] = report.outcomes
    assert (outcome['outcome'], outcome['failure_class']) == ('failed', failure_class)
    # base 60 s, with jitter: between 30 and 60 s
    delay = int(re.search(r'retry in (\d+)s', outcome['message']).group(1))
    assert 30 <= delay <= 60
    assert not report.ok
    row = summary(config, uuid)
    assert (row.status, row.failure_class, row.attempts, row.local_data_id) == ('failed', failure_class, 1, None)
    assert text in row.last_error
    assert row.next_attempt_at > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=25)
    [log] = pushes(config, uuid)
    assert (log.ok, log.failure_class, log.http_status) == (False, failure_class, http_status)
    assert log.excerpt and text in (log.message + log.excerpt)
    assert odoo.records == {}
    # Not due before next_attempt_at: another run leaves it alone (and reports it).
    again = run(config, odoo, rp)
    assert again.outcomes == [] and [w['uuid'] for w in again.waiting] == [uuid]
    assert 'retry due at' in again.waiting[0]['why']


@pytest.mark.parametrize('behaviour, http_status, text', [
    ('bad_request', 400, 'Invalid JSON data'),
    ('not_found', 404, '<html>'),
    ('unsupported', 415, 'Unsupported Media Type'),
])
def test_configuration_failures_wait_for_an_operator(config, app, odoo, behaviour, http_status, text):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    odoo.set_behaviour(behaviour)
    [outcome] = run(config, odoo, rp).outcomes
    assert outcome['outcome'] == 'failed' and 'waits for an operator' in outcome['message']
    row = summary(config, uuid)
    assert (row.status, row.failure_class, row.next_attempt_at) == ('failed', CONFIGURATION, None)
    assert text in row.last_error
    [log] = pushes(config, uuid)
    assert (log.failure_class, log.http_status) == (CONFIGURATION, http_status)
    assert text in log.excerpt or text in log.message
    odoo.set_behaviour('success')
    report = run(config, odoo, rp)
    assert report.outcomes == [] and 'waits for an operator' in report.waiting[0]['why']
    assert odoo.requests == 1
    # The operator fixed it: an explicit resend pushes it.
    assert run(config, odoo, rp, resend=True).counts()['sent'] == 1
    assert summary(config, uuid).status == 'sent'


def test_connection_refused_is_retried(config, app):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{sock.getsockname()[1]}/api/sales-summary'
    with SummaryPusher(config, workers=1, client_factory=lambda cfg: OdooSummaryClient(
            url, connect_timeout=1, read_timeout=1)) as pusher:
        [outcome] = pusher.run(Selection(retail_point_ids=[rp])).outcomes
    assert outcome['outcome'] == 'failed' and outcome['maybe_delivered'] is False
    row = summary(config, uuid)
    assert (row.status, row.failure_class) == ('failed', TRANSIENT)
    assert row.next_attempt_at is not None and 'could not reach Odoo' in row.last_error


@pytest.mark.parametrize('behaviour', ['hang', 'success_lost'])
def test_unknown_outcome_is_held_not_retried(config, app, odoo, behaviour):
    """A timeout or a lost answer may hide a created record: hold, never push blindly again."""
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    odoo.queue_behaviours([behaviour])
    [outcome] = run(config, odoo, rp, read_timeout=0.3, retry_base=0).outcomes
    assert outcome['outcome'] == 'held' and outcome['maybe_delivered']
    row = summary(config, uuid)
    assert row.status == 'held'
    assert row.hold_reason == f"outcome unknown: check Odoo for sale_num {row.sale_num} before resending"
    assert row.failure_class == TRANSIENT and row.attempts == 1 and row.next_attempt_at is None
    [log] = pushes(config, uuid)
    assert (log.ok, log.failure_class) == (False, TRANSIENT)
    created = len(odoo.records)
    assert created == (1 if behaviour == 'success_lost' else 0)
    report = run(config, odoo, rp, retry_base=0)
    assert report.outcomes == [] and report.counts()['held'] == 1 and not report.ok
    assert odoo.requests == 1 and len(odoo.records) == created


def test_bad_stored_payload_is_an_application_failure(config, app, odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp, payload='{not json')
    [outcome] = run(config, odoo, rp).outcomes
    assert outcome['outcome'] == 'failed' and 'could not build the request' in outcome['message']
    assert odoo.requests == 0
    assert [log.failure_class for log in pushes(config, uuid)] == [APPLICATION]


# -- retries -----------------------------------------------------------------

def test_retry_then_success_creates_exactly_one_record(config, app, odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    odoo.queue_behaviours(['bad_gateway', 'failed', 'error'])
    outcomes = [run(config, odoo, rp, retry_base=0).outcomes[0]['outcome'] for _ in range(4)]
    assert outcomes == ['failed', 'failed', 'failed', 'sent']
    assert records_per_sale_num(odoo) == {summary(config, uuid).sale_num: 1}
    row = summary(config, uuid)
    assert (row.status, row.attempts, row.local_data_id) == ('sent', 4, 1)
    assert [(log.ok, log.http_status) for log in pushes(config, uuid)] == \
        [(False, 502), (False, 200), (False, 200), (True, 200)]
    assert run(config, odoo, rp, retry_base=0).outcomes == []  # sent: never again
    assert odoo.requests == 4


def test_backoff_doubles_and_attempts_are_bounded(config, app, odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    odoo.set_behaviour('bad_gateway')
    delays = []
    for _ in range(3):
        started = datetime.datetime.now(datetime.timezone.utc)
        run(config, odoo, rp, retry_base=10, max_attempts=3)
        row = summary(config, uuid)
        if row.next_attempt_at is not None:
            delays.append(round((row.next_attempt_at - started).total_seconds()))
        with config.appdb_engine.begin() as conn:  # make it due now
            conn.execute(sa.text("UPDATE fls_summary SET next_attempt_at = now() WHERE uuid = :u "
                                 "AND next_attempt_at IS NOT NULL"), {'u': uuid})
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20  # doubling, with jitter
    row = summary(config, uuid)
    assert (row.status, row.attempts, row.next_attempt_at) == ('failed', 3, None)
    report = run(config, odoo, rp, retry_base=10, max_attempts=3)
    assert report.outcomes == [] and 'gave up after 3 attempts' in report.waiting[0]['why']
    assert odoo.requests == 3
    assert RetryPolicy(60, 21600, jitter=False).delay(30) == 21600


# -- what is never pushed, and what only an operator pushes ------------------

def test_sent_is_never_pushed_again_unless_resent(config, app, odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    assert run(config, odoo, rp).counts()['sent'] == 1
    with pusher_for(config, odoo) as pusher:
        assert [o['outcome'] for o in pusher.push_many([uuid] * 3)] == ['skipped']  # each once
    assert run(config, odoo, rp).outcomes == []
    assert odoo.requests == 1
    # Explicit resend (an operator's decision): Odoo gets a second record.
    report = run(config, odoo, rp, resend=True)
    assert report.counts()['sent'] == 1
    row = summary(config, uuid)
    assert (row.status, row.local_data_id, row.forced) == ('sent', 2, False)
    assert len(pushes(config, uuid)) == 2
    with pytest.raises(ValueError, match='resending needs a selection'):
        with pusher_for(config, odoo) as pusher:
            pusher.run(Selection(), resend=True)


def test_superseded_is_never_pushed(config, app, odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp, status='superseded')
    assert run(config, odoo, rp).outcomes == []
    assert run(config, odoo, rp, resend=True).outcomes == []
    with pusher_for(config, odoo) as pusher:
        assert pusher.push_many([uuid], resend=True)[0]['outcome'] == 'skipped'
    assert odoo.requests == 0


def test_newer_version_is_pushed_after_the_sent_one(config, app, odoo):
    rp = new_rp()
    [old] = make_summaries(app, rp)
    run(config, odoo, rp)
    with config.appdb_engine.begin() as conn:  # what the closer does on late sales
        conn.execute(sa.text("UPDATE fls_summary SET status = 'superseded' WHERE uuid = :u"), {'u': old})
    [new] = make_summaries(app, rp, version=2)
    assert run(config, odoo, rp).counts()['sent'] == 1
    assert summary(config, new).local_data_id == 2
    assert [r['data']['sale_num'] for r in odoo.records.values()] == [summary(config, old).sale_num] * 2


def test_held_for_reconciliation_is_pushed_only_when_forced(config, app, odoo):
    rp = new_rp()
    [uuid] = make_summaries(app, rp, status='held', hold_reason='reconciliation mismatch: amount_total')
    report = run(config, odoo, rp)
    assert report.outcomes == [] and report.counts()['held'] == 1 and not report.ok
    assert report.waiting[0]['why'] == 'reconciliation mismatch: amount_total'
    assert odoo.requests == 0
    report = run(config, odoo, rp, resend=True)
    assert report.counts()['sent'] == 1
    row = summary(config, uuid)
    assert (row.status, row.forced, row.hold_reason) == ('sent', True, 'reconciliation mismatch: amount_total')


def test_dry_run_sends_and_changes_nothing(config, app, odoo):
    rp = new_rp()
    uuids = make_summaries(app, rp, count=2)
    report = run(config, odoo, rp, dry_run=True)
    assert report.counts()['would_send'] == 2 and report.counts()['sent'] == 0
    assert odoo.requests == 0
    assert {summary(config, u).status for u in uuids} == {'pending'}
    assert all(pushes(config, u) == [] for u in uuids)


def backdate_claims(config, uuids, seconds=3600):
    """Time passes: claims made now look as old as ``seconds``."""
    with config.appdb_engine.begin() as conn:
        conn.execute(sa.text("UPDATE fls_summary SET claimed_at = claimed_at - make_interval(secs => :s) "
                             "WHERE uuid = ANY(:u)"), {'s': seconds, 'u': list(uuids)})


def test_interrupted_push_is_held(config, app, odoo):
    """A pusher killed between request and commit leaves the summary sending: never push again blindly."""
    rp = new_rp()
    [uuid] = make_summaries(app, rp, status='sending', attempts=1,
                            claimed_at=datetime.datetime.now(datetime.timezone.utc))
    with config.appdb_engine.begin() as conn:
        conn.execute(FlsPushLog.__table__.insert().values(
            summary_uuid=uuid, ok=False, failure_class=FailureClass.IN_FLIGHT, message='in flight'))
    # Not older than a claim can last: it may still be on its way (another run's), so it waits,
    # skipped by this run, not its failure.
    report = run(config, odoo, rp)
    assert report.outcomes == [] and 'being sent' in report.waiting[0]['why']
    assert report.counts()['skipped'] == 1 and report.ok
    backdate_claims(config, [uuid])
    [outcome] = run(config, odoo, rp).outcomes
    assert outcome['outcome'] == 'held'
    assert odoo.requests == 0
    row = summary(config, uuid)
    assert (row.status, row.claimed_at) == ('held', None)
    assert row.hold_reason == f"outcome unknown: check Odoo for sale_num {row.sale_num} before resending"
    assert [log.failure_class for log in pushes(config, uuid)] == [FailureClass.INTERRUPTED]


def test_outcome_lost_to_a_database_error_is_held(config, app, odoo, monkeypatch):
    """The request went out but recording its outcome failed: reported, then held, never re-pushed."""
    rp = new_rp()
    first, second = make_summaries(app, rp, count=2)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    with pusher_for(config, odoo) as pusher:
        monkeypatch.setattr(pushstate, 'record', broken)
        [outcome] = pusher.run(Selection(uuids=[first])).outcomes
        assert outcome['outcome'] == 'failed' and 'database went away' in outcome['message']
        with pytest.raises(RuntimeError):  # the queue job's way: RQ retries the job
            pusher.push_many([second])
    assert odoo.requests == 2
    assert {summary(config, u).status for u in (first, second)} == {'sending'}  # committed before
    backdate_claims(config, [first, second])
    report = run(config, odoo, rp)
    assert [o['outcome'] for o in report.outcomes] == ['held', 'held'] and odoo.requests == 2
    for uuid in (first, second):
        assert [log.failure_class for log in pushes(config, uuid)] == [FailureClass.INTERRUPTED]


def test_outcomes_of_every_kind_recorded_together(config, app, odoo):
    """Four senders, their outcomes recorded (several per transaction) each on its own summary."""
    rp = new_rp()
    uuids = make_summaries(app, rp, count=12)
    odoo.delay = 0.02
    odoo.queue_behaviours(['success', 'failed', 'bad_gateway', 'success_lost'] * 3)
    with pusher_for(config, odoo, workers=4, read_timeout=5, retry_base=0) as pusher:
        outcomes = {o['uuid']: o for o in pusher.push_many(uuids)}
    assert Counter(o['outcome'] for o in outcomes.values()) == {'sent': 3, 'failed': 6, 'held': 3}
    records = {r['sale_num']: local_data_id for local_data_id, r in odoo.records.items()}
    for uuid in uuids:
        row, [log] = summary(config, uuid), pushes(config, uuid)
        assert (row.status, row.claimed_at, outcomes[uuid]['status']) == (outcomes[uuid]['outcome'], None, row.status)
        assert (log.ok, log.failure_class, log.local_data_id) == (row.status == 'sent', row.failure_class,
                                                                 row.local_data_id)
        if row.status == 'sent':
            assert (row.local_data_id, row.last_error, row.next_attempt_at) == (records[row.sale_num], None, None)
        elif row.status == 'held':  # the record was made, its answer lost
            assert row.sale_num in records and row.local_data_id is None
            assert row.hold_reason.startswith('outcome unknown') and row.next_attempt_at is None
        else:
            assert row.sale_num not in records and row.next_attempt_at is not None and row.last_error
    assert odoo.requests == 12


def sending(config, uuids):
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(FlsSummary.uuid.in_(uuids),
                                                            FlsSummary.status == 'sending')).scalar()


def test_stop_releases_a_claim_never_sent(config, app, odoo):
    """Stopping while a summary is claimed, waiting for the sender: it is put back as it was
    (status, attempts, no push log row), never sent; nothing is left sending."""
    rp = new_rp()
    first, second, third = uuids = make_summaries(app, rp, count=3, status='failed', failure_class='transient',
                                                  attempts=2, last_error='HTTP 502')
    stop = threading.Event()

    class StopOnceTheNextIsClaimed(OdooSummaryClient):
        def push(self, data):
            deadline = time.monotonic() + 30  # (a guard: the next claim comes at once)
            while sending(config, uuids) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            stop.set()
            return super().push(data)

    with SummaryPusher(config, workers=1, stop=stop, client_factory=lambda cfg: StopOnceTheNextIsClaimed(
            odoo.url, connect_timeout=1, read_timeout=5)) as pusher:
        outcomes = {o['uuid']: o['outcome'] for o in pusher.push_many(uuids)}
    assert outcomes == {first: 'sent', second: 'skipped', third: 'skipped'}
    assert odoo.requests == 1
    for uuid in (second, third):
        row = summary(config, uuid)
        assert (row.status, row.attempts, row.claimed_at, row.forced) == ('failed', 2, None, False)
        assert pushes(config, uuid) == []
    assert summary(config, first).status == 'sent'


# -- concurrency ---------------------------------------------------------------

def test_concurrent_exporters_create_each_record_once(config, app, odoo):
    rp = new_rp()
    uuids = make_summaries(app, rp, count=40)
    odoo.delay = 0.02
    barrier = threading.Barrier(2)
    reports = [None, None]

    def exporter(i):
        with pusher_for(config, odoo, workers=4, read_timeout=5) as pusher:
            barrier.wait()
            reports[i] = pusher.run(Selection(retail_point_ids=[rp]))

    threads = [threading.Thread(target=exporter, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = [r.counts()['sent'] for r in reports]
    assert sum(sent) == 40 and all(sent), sent  # both really pushed, side by side
    # each saw what the other had claimed or sent: skipped, never pushed again
    assert {o['outcome'] for r in reports for o in r.outcomes} == {'sent', 'skipped'}
    per_sale_num = records_per_sale_num(odoo)
    assert len(per_sale_num) == 40 and set(per_sale_num.values()) == {1}
    assert odoo.requests == 40
    assert {summary(config, u).status for u in uuids} == {'sent'}


# -- the send_summary queue and the sweeper -------------------------------------

@pytest.fixture
def send_queue(config, redis_conn):
    from rq.registry import ScheduledJobRegistry
    from rattail_fls.queue import enqueue
    queue = enqueue.get_queue(config, 'send_summary')
    registry = ScheduledJobRegistry(queue=queue)

    def clear():
        queue.empty()
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)

    clear()
    yield queue, registry
    clear()


def work_send_queue(config, odoo, **settings):
    from rattail_fls.queue import jobs
    from rattail_fls.queue.worker import make_worker
    worker = make_worker(config, ['send_summary'])
    jobs._state['pusher'] = pusher_for(config, odoo, **settings)  # after make_worker's configure()
    try:
        worker.work(burst=True, with_scheduler=False)
    finally:
        jobs._state.pop('pusher').close()


def test_queue_job_retries_then_succeeds_once(config, app, odoo, send_queue):
    from rattail_fls.queue import enqueue, sweeper
    queue, scheduled = send_queue
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    [held] = make_summaries(app, new_rp(), status='held', hold_reason='reconciliation mismatch: x')
    odoo.queue_behaviours(['bad_gateway'])
    assert enqueue.enqueue(config, 'send_summary', [uuid, held])
    work_send_queue(config, odoo, retry_base=0)
    row = summary(config, uuid)
    assert (row.status, row.attempts) == ('failed', 1)
    # One retry mechanism: nothing scheduled in RQ, no RQ retry; the sweeper enqueues it once due.
    assert scheduled.get_job_ids() == [] and len(queue) == 0
    assert summary(config, held).status == 'held'  # a job never pushes a held summary
    result = sweeper.sweep(config)
    assert result.get('send_summary', 0) >= 1
    for kind in ('sales_processing', 'day_close'):  # keep other tests' queues as they were
        enqueue.get_queue(config, kind).empty()
    work_send_queue(config, odoo, retry_base=0)
    assert summary(config, uuid).status == 'sent'
    # (the sweep may also have enqueued other tests' due summaries: count only ours)
    assert records_per_sale_num(odoo)[row.sale_num] == 1
    created = len(odoo.records)
    # Enqueued again (e.g. twice by the sweeper): nothing more is pushed.
    enqueue.enqueue(config, 'send_summary', [uuid])
    work_send_queue(config, odoo)
    assert len(odoo.records) == created and records_per_sale_num(odoo)[row.sale_num] == 1


def test_sweepable_summaries(config, app):
    rp = new_rp()
    [fresh] = make_summaries(app, rp)
    [old] = make_summaries(app, new_rp())
    [due] = make_summaries(app, new_rp(), status='failed', failure_class=TRANSIENT, attempts=1,
                           next_attempt_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc))
    [later] = make_summaries(app, new_rp(), status='failed', failure_class=TRANSIENT, attempts=1,
                             next_attempt_at=datetime.datetime(2999, 1, 1, tzinfo=datetime.timezone.utc))
    [operator] = make_summaries(app, new_rp(), status='failed', failure_class=CONFIGURATION, attempts=1)
    [held] = make_summaries(app, new_rp(), status='held')
    with config.appdb_engine.begin() as conn:
        conn.execute(sa.text("UPDATE fls_summary SET created = now() - interval '1 hour' "
                             "WHERE uuid = :u"), {'u': old})
        found = set(due_rules.sweepable(conn, config))
    assert {old, due} <= found
    assert not {fresh, later, operator, held} & found


# -- the command ----------------------------------------------------------------

@pytest.fixture(scope='module')
def cli_odoo():
    with LoopbackOdoo(hang_seconds=30) as server:
        yield server


@pytest.fixture(scope='module')
def cli_config(databases, cli_odoo, tmp_path_factory):
    """A config file like the test app's, with odoo.url at the loopback and short timeouts."""
    path = tmp_path_factory.mktemp('export') / 'rattail.conf'
    return write_test_config(path, databases['main_url'], databases['shards2_url'], {
        ('rattail_fls', 'odoo.url'): cli_odoo.url,
        ('rattail_fls', 'odoo.read_timeout'): '20',
        ('rattail_fls', 'odoo.retry_base_seconds'): '0',
    })


@pytest.fixture
def loop(cli_odoo):
    cli_odoo.set_behaviour('success')
    cli_odoo.delay = 0
    yield cli_odoo
    cli_odoo.set_behaviour('success')
    cli_odoo._queue.clear()
    cli_odoo.delay = 0


def export(cli_config, *args, check=False):
    return rattail(cli_config, 'export-odoo-summary', *args, check=check)


def test_cli_pushes_and_reports(config, app, cli_config, loop):
    rp = new_rp()
    uuids = make_summaries(app, rp, count=2)
    before = loop.requests
    dry = export(cli_config, '--retail-point', str(rp), '--dry-run')
    assert dry.returncode == 0, dry.stderr
    assert 'dry run: would send 2' in dry.stdout and f'would send {DAY:%Y%m%d}/{rp}/1/11 v1' in dry.stdout
    assert loop.requests == before
    result = export(cli_config, '--retail-point', str(rp), '--workers', '2')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'sent 2, failed 0, held 0, skipped 0' in result.stdout
    assert {summary(config, u).status for u in uuids} == {'sent'}
    again = export(cli_config, '--retail-point', str(rp))
    assert again.returncode == 0 and 'sent 0, failed 0, held 0, skipped 0' in again.stdout
    assert loop.requests == before + 2
    # --date selects one business date (and closes due days up to it only).
    other_day = DAY - datetime.timedelta(days=1)
    [other] = make_summaries(app, rp, day=other_day)
    wrong_day = export(cli_config, '--retail-point', str(rp), '--date', DAY.isoformat())
    assert 'sent 0,' in wrong_day.stdout and summary(config, other).status == 'pending'
    right_day = export(cli_config, '--retail-point', str(rp), '--date', other_day.isoformat())
    assert 'sent 1,' in right_day.stdout and summary(config, other).status == 'sent'


def test_cli_exit_code_on_failure_and_resend(config, app, cli_config, loop):
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    loop.set_behaviour('not_found')
    result = export(cli_config, '--retail-point', str(rp), '--no-close')
    assert result.returncode == 1
    assert 'sent 0, failed 1, held 0, skipped 0' in result.stdout
    assert 'HTTP 404' in result.stdout and 'waits for an operator' in result.stdout
    loop.set_behaviour('success')
    waiting = export(cli_config, '--retail-point', str(rp), '--no-close')
    assert waiting.returncode == 1 and 'failed (not pushed)' in waiting.stdout
    refused = export(cli_config, '--resend')
    assert refused.returncode == 1 and '--resend needs' in refused.stderr
    sale_num = summary(config, uuid).sale_num
    resent = export(cli_config, '--resend', '--sale-num', sale_num, '--no-close')
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert 'sent 1, failed 0' in resent.stdout
    assert summary(config, uuid).status == 'sent'


def test_cli_closes_due_days_then_pushes(config, app, shards, cli_config, loop):
    """End to end: sales stored in a shard, the export closes their day and pushes its summary."""
    from conftest import make_shop
    from rattail_fls.sales import inbox

    rp = new_rp()
    make_shop(app, shards, rp)
    orders = [{
        'retail_point_id': rp, 'sale_counter_id': 1, 'payment_journal_id': 11, 'sale_num': f'EX-{rp}-{n}',
        'sale_date': DAY.isoformat(), 'confirmed_on': f'{DAY} 10:0{n}:00', 'store_type': 'FLS',
        'customer_name': 'Walk-in', 'total_including_miscellaneous': Decimal('200.00'),
        'total_cess': Decimal('0'), 'miscellaneous_product_id': 0, 'miscellaneous_qty': 0,
        'miscelleneous_sale_price': 0, 'lot_details_ids': [], 'miscellaneous_lot_details_ids': [],
        'sale_line_ids': [{'sl_no': 1, 'product_id': 5001, 'name': 'P5001', 'product_uom_qty': 2,
                           'price_unit': Decimal('100.00'), 'product_uom': 1, 'vat_percent': 18,
                           'total_cess': 0, 'cess_amount': 0, 'cess_id': 7, 'account_id': 400,
                           'retail_sale_mrp': Decimal('100.00'), 'sale_type': 'retail', 'qty_available': 5}],
    } for n in (1, 2)]
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, [{'body': simplejson.dumps(o, use_decimal=True)} for o in orders],
                            'sale', 'file')
    assert config.get_app().get_fls_handler().get_processor().drain([k[1] for k in keys])['done'] == 2
    before = len(loop.records)
    result = export(cli_config, '--retail-point', str(rp))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'closed 1 business days: 1 new summaries' in result.stdout
    assert 'sent 1, failed 0, held 0, skipped 0' in result.stdout
    [record] = list(loop.records.values())[before:]
    assert record['sale_num'] == f'{DAY:%Y%m%d}/{rp}/1/11'
    assert Decimal(str(record['data']['amount_total'])) == Decimal('400.00')
    again = export(cli_config, '--retail-point', str(rp))  # closed and sent: nothing to do
    assert 'closed' not in again.stdout and 'sent 0' in again.stdout
    assert len(loop.records) == before + 1


def test_cli_concurrent_exporters(config, app, cli_config, loop):
    rp = new_rp()
    uuids = make_summaries(app, rp, count=30)
    loop.delay = 0.05
    before = len(loop.records)
    command = [str(Path(sys.executable).parent / 'rattail'), '-c', str(cli_config), 'export-odoo-summary',
               '--retail-point', str(rp), '--no-close', '--workers', '3']
    procs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    created = list(loop.records.values())[before:]
    assert len(created) == 30
    assert set(Counter(r['sale_num'] for r in created).values()) == {1}
    assert {summary(config, u).status for u in uuids} == {'sent'}


def test_cli_killed_with_a_claim_waiting_holds_it_too(config, app, cli_config, loop):
    """kill -9 while one summary is at Odoo and the next is claimed for the sender: both are held
    (the outcome of the second is unknown to the next run too), the third is pushed."""
    rp = new_rp()
    first, second, third = uuids = make_summaries(app, rp, count=3)
    loop.queue_behaviours(['hang'])
    before = loop.requests
    proc = subprocess.Popen([str(Path(sys.executable).parent / 'rattail'), '-c', str(cli_config),
                             'export-odoo-summary', '--retail-point', str(rp), '--no-close', '--workers', '1'],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (loop.requests == before or sending(config, uuids) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop.requests == before + 1 and sending(config, uuids) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    backdate_claims(config, [first, second])
    result = export(cli_config, '--retail-point', str(rp), '--no-close')
    assert 'sent 1, failed 0, held 2' in result.stdout
    assert loop.requests == before + 2
    assert [summary(config, u).status for u in uuids] == ['held', 'held', 'sent']
    for uuid in (first, second):
        assert [log.failure_class for log in pushes(config, uuid)] == [FailureClass.INTERRUPTED]


def test_cli_killed_mid_push_is_held_not_pushed_twice(config, app, cli_config, loop):
    """kill -9 while the request is at Odoo: the next run must not push it again."""
    rp = new_rp()
    [uuid] = make_summaries(app, rp)
    loop.queue_behaviours(['hang'])
    before = loop.requests
    proc = subprocess.Popen([str(Path(sys.executable).parent / 'rattail'), '-c', str(cli_config),
                             'export-odoo-summary', '--retail-point', str(rp), '--no-close'],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while loop.requests == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop.requests == before + 1, "the exporter never reached Odoo"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert summary(config, uuid).status == 'sending'  # committed before the request left
    backdate_claims(config, [uuid])  # older than the Odoo timeouts: its outcome is unknown
    result = export(cli_config, '--retail-point', str(rp), '--no-close')
    assert result.returncode == 1
    assert 'held 1' in result.stdout and 'outcome unknown' in result.stdout
    assert loop.requests == before + 1
    row = summary(config, uuid)
    assert row.status == 'held'
    assert [log.failure_class for log in pushes(config, uuid)] == [FailureClass.INTERRUPTED]


def test_pushing_processes_favour_their_senders():
    """export-odoo-summary and a send_summary worker shorten the thread switch interval (a sender
    whose answer arrived waits less for the GIL), never lengthen it; other workers leave it."""
    from rattail_fls.queue import jobs
    from rattail_fls.summaries.push import SENDERS_SWITCH_INTERVAL, favour_senders
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        jobs.warm_up([])
        assert sys.getswitchinterval() == pytest.approx(0.005)
        jobs.warm_up(['send_summary'])
        assert sys.getswitchinterval() == pytest.approx(SENDERS_SWITCH_INTERVAL)
        sys.setswitchinterval(SENDERS_SWITCH_INTERVAL / 2)
        favour_senders()
        assert sys.getswitchinterval() == pytest.approx(SENDERS_SWITCH_INTERVAL / 2)
    finally:
        sys.setswitchinterval(before)

"""The push of one summary as committed states (the pattern of OCA ``queue_job``).

1. **Claim**, one short transaction: a conditional ``UPDATE`` moves the summary
   to ``sending`` only if it is still due (or resendable), counts the attempt
   and writes an "in flight" push log row, and commits.  Two pushers never
   push one summary: the second one's ``UPDATE`` waits for the first commit,
   then no longer matches.
2. **Request**, with no transaction or row lock open (up to the Odoo timeouts).
3. **Record**, another short transaction: ``sent | failed | held`` and the
   push log row's outcome.

Odoo has no idempotency key, so an unknown outcome is held, never retried
blindly: a read timeout, a connection lost after the request was sent, a 504
(``PushResult.maybe_delivered``); and a summary still ``sending`` longer than
a request can take, whose pusher stopped (killed, or its database connection
broke) before step 3.  Definite failures are retried by the sweeper at
``next_attempt_at`` (``odoo.retry_*``: exponential backoff with jitter, at most
``odoo.max_attempts``), never by the queue.
"""

import datetime
import logging

import sqlalchemy as sa

from rattail_fls.db.model.summaries import FailureClass, FlsPushLog, FlsSummary, PushOutcome, SummaryStatus
from rattail_fls.jsontext import loads
from rattail_fls.odoo.client import PushResult
from rattail_fls.summaries.due import RETRYABLE, stale_sending_condition
from rattail_fls.summaries.report import outcome

log = logging.getLogger(__name__)

SUMMARY = FlsSummary.__table__
PUSH_LOG = FlsPushLog.__table__


#: ``hold_reason`` of an unknown outcome (``%s``: the sale_num), in Python and in SQL.
UNKNOWN_REASON = "outcome unknown: check Odoo for sale_num %s before resending"


def hold_reason_unknown(sale_num):
    return (UNKNOWN_REASON % sale_num)[:255]


def claim(conn, uuid, condition, resend=False):
    """Step 1 (``conn`` in its own transaction): the claimed row as a dict, or None if not claimable."""
    earlier = SUMMARY.alias('earlier')
    replaces = (sa.select(earlier.c.local_data_id)
                .where(earlier.c.sale_num == SUMMARY.c.sale_num, earlier.c.version < SUMMARY.c.version,
                       earlier.c.local_data_id.isnot(None))
                .order_by(earlier.c.version.desc()).limit(1).scalar_subquery())
    row = conn.execute(
        SUMMARY.update().where(SUMMARY.c.uuid == uuid).where(condition).values(
            status=SummaryStatus.SENDING, claimed_at=sa.func.now(),
            attempts=(0 if resend else sa.func.coalesce(SUMMARY.c.attempts, 0)) + 1,
            forced=SUMMARY.c.forced | (SUMMARY.c.status == SummaryStatus.HELD),
            replaces_local_data_id=replaces)
        .returning(*SUMMARY.c)).first()
    if row is None:
        return None
    row = dict(row._mapping)
    row['log_id'] = conn.execute(PUSH_LOG.insert().values(
        summary_uuid=uuid, ok=False, failure_class=FailureClass.IN_FLIGHT,
        message="in flight").returning(PUSH_LOG.c.id)).scalar_one()
    return row


def body(row):
    """What is posted: the stored payload, its ``version`` and, from version 2, what it replaces."""
    data = loads(row['payload'])
    if not isinstance(data, dict):
        raise TypeError("the stored payload is not a JSON object")
    data['version'] = row['version']
    if row['version'] > 1:
        data['replaces_local_data_id'] = row['replaces_local_data_id']
    return data


def send(client, row):
    """Step 2: the request (no transaction open); a PushResult, also when the body cannot be built."""
    try:
        data = body(row)
    except (ValueError, TypeError) as error:
        return PushResult(ok=False, local_data_id=None, failure=FailureClass.APPLICATION, http_status=None,
                          message=f"could not build the request: {error}"[:255], excerpt='', elapsed=0.0)
    return client.push(data)


def record(conn, row, result, policy):
    """Step 3 (``conn`` in its own transaction): the outcome of a claimed push; an outcome dict.

    The update is keyed on this claim (``claimed_at``): a summary the closer
    superseded meanwhile keeps that status but gets the ``local_data_id``, so
    its Odoo record is retired once the newer version is sent.
    """
    conn.execute(PUSH_LOG.update().where(PUSH_LOG.c.id == row['log_id']).values(
        ok=result.ok, http_status=result.http_status, failure_class=result.failure,
        message=result.message[:255], excerpt=result.excerpt, elapsed=result.elapsed,
        local_data_id=result.local_data_id))
    attempts = row['attempts']
    values = {'claimed_at': None}
    if result.ok:
        status, what, message = SummaryStatus.SENT, PushOutcome.SENT, f"local_data_id {result.local_data_id}"
        values.update(local_data_id=result.local_data_id, sent_at=sa.func.now(), failure_class=None,
                      last_error=None, next_attempt_at=None)
    else:
        values.update(failure_class=result.failure,
                      last_error=result.message + (f"\n{result.excerpt}" if result.excerpt else ''))
        if result.maybe_delivered:
            status, what = SummaryStatus.HELD, PushOutcome.HELD
            values.update(hold_reason=hold_reason_unknown(row['sale_num']), next_attempt_at=None)
            message = f"{values['hold_reason']} ({result.message})"
        else:
            status, what = SummaryStatus.FAILED, PushOutcome.FAILED
            if result.failure in RETRYABLE and not policy.exhausted(attempts):
                delay = policy.delay(attempts)
                values['next_attempt_at'] = sa.func.now() + datetime.timedelta(seconds=delay)
                message = f"{result.failure}: {result.message}; retry in {delay:.0f}s"
            else:
                values['next_attempt_at'] = None
                why = f"gave up after {attempts} attempts" if result.failure in RETRYABLE else "not retried"
                message = f"{result.failure}: {result.message}; {why}, waits for an operator (--resend)"
    values['status'] = sa.case((SUMMARY.c.status == SummaryStatus.SENDING, status), else_=SUMMARY.c.status)
    stored = conn.execute(SUMMARY.update().where(SUMMARY.c.uuid == row['uuid'])
                          .where(SUMMARY.c.claimed_at == row['claimed_at']).values(**values)
                          .returning(SUMMARY.c.status, SUMMARY.c.next_attempt_at)).first()
    if stored is None:  # held as stale meanwhile (a request longer than the timeouts)
        log.warning("summary %s: outcome %s recorded in the push log only", row['sale_num'], what)
        return outcome(row, what, message, status=None, result=result, attempts=attempts)
    return outcome(row, what, message, status=stored.status, result=result,
                   next_attempt_at=stored.next_attempt_at, attempts=attempts)


def hold_stale(conn, after_seconds):
    """Hold every summary ``sending`` for longer than ``after_seconds`` (its outcome is unknown).

    Returns their outcome dicts; their in-flight push log rows become ``interrupted``.
    """
    rows = [dict(r._mapping) for r in conn.execute(
        SUMMARY.update().where(stale_sending_condition(after_seconds)).values(
            status=SummaryStatus.HELD, claimed_at=None, next_attempt_at=None,
            hold_reason=sa.func.left(sa.func.format(UNKNOWN_REASON, SUMMARY.c.sale_num), 255),
            last_error="the pusher stopped after the request may have been sent")
        .returning(*SUMMARY.c))]
    if rows:
        conn.execute(PUSH_LOG.update().where(PUSH_LOG.c.summary_uuid.in_([r['uuid'] for r in rows]))
                     .where(PUSH_LOG.c.failure_class == FailureClass.IN_FLIGHT).values(
                         failure_class=FailureClass.INTERRUPTED,
                         message="interrupted: the pusher stopped before recording the outcome"))
        for row in rows:
            log.warning("summary %s was left sending: held, outcome unknown", row['sale_num'])
    return [outcome(r, PushOutcome.HELD, r['hold_reason'], status=SummaryStatus.HELD) for r in rows]

"""The push of one summary as committed states (the pattern of OCA ``queue_job``).

1. **Claim**, committed before the request leaves: one statement moves the
   summaries to ``sending`` only if still due (or resendable) and not locked
   by another transaction, counts the attempt and writes an "in flight" push
   log row each.  Two pushers never push one summary: the second one skips a
   row the first has locked, and no longer matches it once committed.
2. **Request**, with no transaction or row lock open (up to the Odoo timeouts).
3. **Record**, one statement: ``sent | failed | held`` and the push log row's
   outcome; the pusher records several pushes and the next claims in one
   short transaction.  A claim never sent (the pusher is stopping) is
   **released**: the summary as it was, its push log row gone.

Odoo has no idempotency key, so an unknown outcome is held, never retried
blindly: a read timeout, a connection lost after the request was sent, a 504
(``PushResult.maybe_delivered``); and a summary still ``sending`` longer than
a claim can last (:func:`~rattail_fls.summaries.due.claim_seconds`), whose
pusher stopped (killed, or its database connection broke) before step 3.  Definite failures are retried by the sweeper at
``next_attempt_at`` (``odoo.retry_*``: exponential backoff with jitter, at most
``odoo.max_attempts``), never by the queue.
"""

import datetime
import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from rattail_fls.db.model.summaries import FailureClass, FlsPushLog, FlsSummary, PushOutcome, SummaryStatus
from rattail_fls.jsontext import loads
from rattail_fls.odoo.client import PushResult
from rattail_fls.summaries.due import RETRYABLE, due_condition, resend_condition, stale_sending_condition
from rattail_fls.summaries.report import outcome

log = logging.getLogger(__name__)

SUMMARY = FlsSummary.__table__
PUSH_LOG = FlsPushLog.__table__


#: ``hold_reason`` of an unknown outcome (``%s``: the sale_num), in Python and in SQL.
UNKNOWN_REASON = "outcome unknown: check Odoo for sale_num %s before resending"


def hold_reason_unknown(sale_num):
    return (UNKNOWN_REASON % sale_num)[:255]


def _claim_statement(resend):
    """The claim of the summaries in ``:uuids`` that are due (``:max_attempts``) or, with
    ``resend``, resendable: one statement, the conditional ``UPDATE`` and the push log rows.

    A row another transaction has locked (a pusher claiming it, the closer
    superseding it) is skipped, not waited for.  Each row comes back with its
    push log row's ``log_id`` and, in ``prior_*``, what the claim changed.
    """
    condition = resend_condition() if resend else due_condition(sa.bindparam('max_attempts'))
    earlier = SUMMARY.alias('earlier')
    replaces = (sa.select(earlier.c.local_data_id)
                .where(earlier.c.sale_num == SUMMARY.c.sale_num, earlier.c.version < SUMMARY.c.version,
                       earlier.c.local_data_id.isnot(None))
                .order_by(earlier.c.version.desc()).limit(1).scalar_subquery())
    prior = (sa.select(SUMMARY.c.uuid, SUMMARY.c.status, SUMMARY.c.attempts, SUMMARY.c.forced)
             .where(SUMMARY.c.uuid.in_(sa.bindparam('uuids', expanding=True))).where(condition)
             .order_by(SUMMARY.c.uuid).with_for_update(skip_locked=True).cte('prior'))
    claimed = (SUMMARY.update().where(SUMMARY.c.uuid == prior.c.uuid).values(
        status=SummaryStatus.SENDING, claimed_at=sa.func.now(),
        attempts=(0 if resend else sa.func.coalesce(SUMMARY.c.attempts, 0)) + 1,
        forced=SUMMARY.c.forced | (SUMMARY.c.status == SummaryStatus.HELD),
        replaces_local_data_id=replaces)
        .returning(*SUMMARY.c, prior.c.status.label('prior_status'), prior.c.attempts.label('prior_attempts'),
                   prior.c.forced.label('prior_forced')).cte('claimed'))
    logged = (PUSH_LOG.insert().from_select(
        ['summary_uuid', 'ok', 'failure_class', 'message'],
        sa.select(claimed.c.uuid, sa.false(), sa.literal(FailureClass.IN_FLIGHT.value), sa.literal("in flight")))
        .returning(PUSH_LOG.c.id, PUSH_LOG.c.summary_uuid).cte('logged'))
    return sa.select(claimed, logged.c.id.label('log_id')).join(logged, logged.c.summary_uuid == claimed.c.uuid)


def _param(name, **kwargs):
    """A parameter of the statements below (SQLAlchemy keeps the column names for its own in a SET)."""
    return sa.bindparam(f'p_{name}', **kwargs)


def _params(**values):
    return {f'p_{name}': value for name, value in values.items()}


#: What :func:`record` writes per push, each a parameter holding one array for all the pushes.
OUTCOME = {'log_id': sa.BigInteger(), 'uuid': sa.String(), 'claimed_at': sa.DateTime(timezone=True),
           'status': sa.String(), 'ok': sa.Boolean(), 'http_status': sa.Integer(), 'failure_class': sa.String(),
           'message': sa.String(), 'excerpt': sa.Text(), 'elapsed': sa.Float(), 'local_data_id': sa.Integer(),
           'last_error': sa.Text(), 'retry_after': sa.Interval(), 'hold_reason': sa.String()}


def _record_statement():
    """Several outcomes, one statement: the push log rows and the summaries, each keyed on its claim."""
    pushed = (sa.func.unnest(*[sa.cast(_param(name), postgresql.ARRAY(type_)) for name, type_ in OUTCOME.items()])
              .table_valued(*[sa.column(name, type_) for name, type_ in OUTCOME.items()])
              .render_derived(name='pushed'))
    push_log = PUSH_LOG.update().where(PUSH_LOG.c.id == pushed.c.log_id).values(
        **{name: pushed.c[name] for name in ('ok', 'http_status', 'failure_class', 'message', 'excerpt',
                                             'elapsed', 'local_data_id')})
    return (SUMMARY.update().where(SUMMARY.c.uuid == pushed.c.uuid, SUMMARY.c.claimed_at == pushed.c.claimed_at)
            .values(status=sa.case((SUMMARY.c.status == SummaryStatus.SENDING, pushed.c.status),
                                   else_=SUMMARY.c.status),
                    claimed_at=None, failure_class=pushed.c.failure_class, last_error=pushed.c.last_error,
                    next_attempt_at=sa.func.now() + pushed.c.retry_after,
                    local_data_id=sa.func.coalesce(pushed.c.local_data_id, SUMMARY.c.local_data_id),
                    sent_at=sa.case((pushed.c.ok, sa.func.now()), else_=SUMMARY.c.sent_at),
                    hold_reason=sa.func.coalesce(pushed.c.hold_reason, SUMMARY.c.hold_reason))
            .returning(SUMMARY.c.uuid, SUMMARY.c.status, SUMMARY.c.next_attempt_at)
            .add_cte(push_log.cte('push_log')))


# Built once: pushes are many, and building (and cache-keying) these takes longer than running them.
CLAIM = {resend: _claim_statement(resend) for resend in (False, True)}
RECORD = _record_statement()
#: Undo a claim never sent: the summary as it was (unless superseded meanwhile), its push log row gone.
RELEASE = (SUMMARY.update().where(SUMMARY.c.uuid == _param('uuid'), SUMMARY.c.claimed_at == _param('claimed_at'))
           .values(status=sa.case((SUMMARY.c.status == SummaryStatus.SENDING, _param('status')),
                                  else_=SUMMARY.c.status),
                   claimed_at=None, attempts=_param('attempts'), forced=_param('forced'))
           .add_cte(PUSH_LOG.delete().where(PUSH_LOG.c.id == _param('log_id')).cte('push_log')))


def claim(conn, uuids, resend, max_attempts):
    """Step 1 for ``uuids`` (in ``conn``'s transaction, committed before any is sent): the rows
    claimed, as dicts in the order of ``uuids``, with ``log_id`` and ``prior_*`` (for :func:`release`)."""
    rows = conn.execute(CLAIM[resend], {'uuids': list(uuids), 'max_attempts': max_attempts})
    order = {uuid: i for i, uuid in enumerate(uuids)}
    return sorted((dict(r._mapping) for r in rows), key=lambda row: order[row['uuid']])


def release(conn, row):
    """Undo the claim of ``row``, never sent (the pusher is stopping): as it was, its push log row gone."""
    conn.execute(RELEASE, _params(uuid=row['uuid'], claimed_at=row['claimed_at'], log_id=row['log_id'],
                                  status=row['prior_status'], attempts=row['prior_attempts'],
                                  forced=row['prior_forced']))


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


def record(conn, pushed, policy):
    """Step 3, one statement for the ``(row, result)`` pairs in ``pushed`` (in ``conn``'s
    transaction, which may claim more): the outcomes of claimed pushes; an outcome dict each.

    Each update is keyed on its claim (``claimed_at``): a summary the closer
    superseded meanwhile keeps that status but gets the ``local_data_id``, so
    its Odoo record is retired once the newer version is sent.
    """
    written = [_outcome(row, result, policy) for row, result in pushed]
    stored = {r.uuid: r for r in conn.execute(RECORD, _params(**{
        name: [values[name] for _, values in written] for name in OUTCOME}))}
    outcomes = []
    for (row, result), (reported, values) in zip(pushed, written):
        what, message = reported
        if row['uuid'] not in stored:  # held as stale meanwhile (a claim longer than claim_seconds)
            log.warning("summary %s: outcome %s recorded in the push log only", row['sale_num'], what)
            outcomes.append(outcome(row, what, message, status=None, result=result, attempts=row['attempts']))
        else:
            outcomes.append(outcome(row, what, message, status=stored[row['uuid']].status, result=result,
                                    next_attempt_at=stored[row['uuid']].next_attempt_at, attempts=row['attempts']))
    return outcomes


def _outcome(row, result, policy):
    """``((outcome, message), values)``: what one push's result means, and what :func:`record` writes."""
    attempts = row['attempts']
    values = dict(log_id=row['log_id'], uuid=row['uuid'], claimed_at=row['claimed_at'], ok=result.ok,
                  http_status=result.http_status, failure_class=result.failure, message=result.message[:255],
                  excerpt=result.excerpt, elapsed=result.elapsed, local_data_id=result.local_data_id,
                  last_error=None, retry_after=None, hold_reason=None)
    if result.ok:
        values['status'], what, message = SummaryStatus.SENT, PushOutcome.SENT, f"local_data_id {result.local_data_id}"
    else:
        values['last_error'] = result.message + (f"\n{result.excerpt}" if result.excerpt else '')
        if result.maybe_delivered:
            values['status'], what = SummaryStatus.HELD, PushOutcome.HELD
            values['hold_reason'] = hold_reason_unknown(row['sale_num'])
            message = f"{values['hold_reason']} ({result.message})"
        else:
            values['status'], what = SummaryStatus.FAILED, PushOutcome.FAILED
            if result.failure in RETRYABLE and not policy.exhausted(attempts):
                delay = policy.delay(attempts)
                values['retry_after'] = datetime.timedelta(seconds=delay)
                message = f"{result.failure}: {result.message}; retry in {delay:.0f}s"
            else:
                why = f"gave up after {attempts} attempts" if result.failure in RETRYABLE else "not retried"
                message = f"{result.failure}: {result.message}; {why}, waits for an operator (--resend)"
    return (what, message), values


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

"""Pushing day summaries to Odoo: the one path behind ``export-odoo-summary`` and the
``send_summary`` queue.

Odoo creates a ``cfed.local.data`` record on every successful POST and has no
idempotency key, so "exactly once" is ours to keep:

* **Which summaries are due.** Status ``pending``; or ``failed`` with a
  *definite* failure of class ``transient`` or ``application``, fewer than
  ``[rattail_fls] odoo.max_attempts`` attempts, and ``next_attempt_at`` passed.
  ``configuration`` failures (400, 404, 415, redirects, TLS, bad URL) are not
  retried automatically: they wait for an operator to fix the setting and
  resend.  ``held`` summaries (reconciliation mismatch, or an unknown outcome,
  see below) are pushed only when an operator resends them (``forced`` is then
  set).  ``sent`` summaries are pushed again only when explicitly resent;
  ``superseded`` ones never (their newer version is pushed instead).
* **One pusher per summary.** A summary is claimed with ``SELECT ... FOR NO KEY
  UPDATE SKIP LOCKED`` (re-checking that it is still due) and its row lock is held
  during the HTTP call until the outcome is committed, so two workers or
  exporters can never push the same summary at the same time; the second one
  skips it and, once the first has committed, no longer finds it due.
* **Ambiguous outcomes are held, not retried.** A read timeout, a connection
  lost after the request was sent, or a 504 means Odoo may have created the
  record (``PushResult.maybe_delivered``).  Such a summary goes to ``held`` with
  ``hold_reason`` "outcome unknown: check Odoo for sale_num ... before
  resending".  Definite failures (connection refused, 4xx, 500/502/503,
  ``Failed``, ``error`` envelope) are retried with exponential backoff:
  ``odoo.retry_base_seconds * 2^(attempts-1)``, capped at ``odoo.retry_max_seconds``.
* **A pusher that dies mid-push is noticed.** Every attempt is written to
  ``fls_push_log`` *before* the request leaves, committed on a second
  connection, as "in flight"; the outcome then replaces it in the same
  transaction that updates the summary.  If the process is killed (or its
  database connection breaks) between the request and that commit, the summary
  is still due but has an in-flight attempt: the next pusher holds it as an
  unknown outcome instead of pushing it a second time.  For the same reason the
  outcome's commit does not wait for the disk (``synchronous_commit = off``,
  one fsync per push instead of two): a PostgreSQL crash that loses it leaves
  the durable in-flight attempt, and the summary is held, not re-pushed.

Every attempt, successful or not, stays in the push log.
"""

import datetime
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.db.model.summaries import (FAILED, HELD, PENDING, SENT, SUPERSEDED,
                                            FlsPushLog, FlsSummary)
from rattail_fls.odoo.client import APPLICATION, TRANSIENT, PushResult, make_odoo_client
from rattail_fls.jsontext import loads

log = logging.getLogger(__name__)

SUMMARY = FlsSummary.__table__
PUSH_LOG = FlsPushLog.__table__

#: ``fls_push_log.failure_class`` of an attempt whose request may be on the
#: wire; replaced by the outcome, or by ``interrupted`` if its pusher died.
IN_FLIGHT = 'in_flight'
INTERRUPTED = 'interrupted'

#: Outcomes of one summary in a run.
OUT_SENT, OUT_FAILED, OUT_HELD, OUT_SKIPPED, OUT_WOULD_SEND = 'sent', 'failed', 'held', 'skipped', 'would_send'

RETRYABLE = (TRANSIENT, APPLICATION)


def hold_reason_unknown(sale_num):
    return f"outcome unknown: check Odoo for sale_num {sale_num} before resending"[:255]


@dataclass
class Selection:
    """Which summaries a run looks at (all given filters apply; none = all)."""

    uuids: list = None
    retail_point_ids: list = None
    sale_nums: list = None
    start_date: datetime.date = None
    end_date: datetime.date = None

    def where(self, query):
        if self.uuids is not None:
            query = query.where(SUMMARY.c.uuid.in_(list(self.uuids)))
        if self.retail_point_ids:
            query = query.where(SUMMARY.c.retail_point_id.in_(list(self.retail_point_ids)))
        if self.sale_nums:
            query = query.where(SUMMARY.c.sale_num.in_(list(self.sale_nums)))
        if self.start_date:
            query = query.where(SUMMARY.c.sale_date >= self.start_date)
        if self.end_date:
            query = query.where(SUMMARY.c.sale_date <= self.end_date)
        return query

    @property
    def narrowed(self):
        """Whether anything restricts it (``--resend`` refuses to resend everything)."""
        return bool(self.uuids or self.retail_point_ids or self.sale_nums
                    or self.start_date or self.end_date)


@dataclass
class Report:
    """What a run did: one outcome dict per summary looked at, plus those waiting."""

    outcomes: list = field(default_factory=list)
    #: Live summaries in the selection that this run did not push and that are
    #: not delivered: held ones, and failed ones not due (yet, or ever).
    waiting: list = field(default_factory=list)

    def by(self, outcome):
        return [o for o in self.outcomes if o['outcome'] == outcome]

    def counts(self):
        """``{'sent', 'failed', 'held', 'skipped', 'would_send'}``: failed and held include waiting ones."""
        counts = {name: len(self.by(name)) for name in
                  (OUT_SENT, OUT_FAILED, OUT_HELD, OUT_SKIPPED, OUT_WOULD_SEND)}
        for row in self.waiting:
            counts[OUT_HELD if row['status'] == HELD else OUT_FAILED] += 1
        return counts

    @property
    def ok(self):
        counts = self.counts()
        return not counts[OUT_FAILED] and not counts[OUT_HELD]


def due_condition(max_attempts):
    """SQL: a summary the pusher sends without being asked (see the module doc)."""
    return sa.or_(
        SUMMARY.c.status == PENDING,
        sa.and_(SUMMARY.c.status == FAILED,
                SUMMARY.c.failure_class.in_(RETRYABLE),
                SUMMARY.c.attempts < max_attempts,
                sa.or_(SUMMARY.c.next_attempt_at.is_(None), SUMMARY.c.next_attempt_at <= sa.func.now())))


def resend_condition():
    """SQL: what an explicit resend may push: every live version, sent ones included."""
    return SUMMARY.c.status != SUPERSEDED


def backoff_seconds(attempts, base, cap):
    """Delay before attempt ``attempts + 1``: ``base * 2^(attempts-1)``, capped."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


def sweepable(conn, config):
    """uuids the sweeper should enqueue: pending ones older than ``odoo.sweep_after_seconds``
    and failed ones whose next attempt is due."""
    after = fls_config.get_number(config, 'odoo.sweep_after_seconds', int, 0)
    max_attempts = fls_config.get_number(config, 'odoo.max_attempts', int, 1)
    query = sa.select(SUMMARY.c.uuid).where(due_condition(max_attempts)).where(sa.or_(
        SUMMARY.c.status != PENDING,
        SUMMARY.c.created <= sa.func.now() - datetime.timedelta(seconds=after)))
    return list(conn.execute(query.order_by(SUMMARY.c.created)).scalars())


class SummaryPusher:
    """Pushes summaries with at most ``workers`` requests to Odoo at a time.

    Twice as many threads as ``workers`` do the work, each with its own DB
    connections and Odoo client, so that claiming a summary and recording an
    outcome overlap with other summaries' requests; a semaphore keeps the
    requests in flight (from recording the attempt to the answer) within
    ``workers``.  Use as a context manager or call :meth:`close`.
    ``client_factory(config)`` makes one Odoo client per thread (default
    :func:`make_odoo_client`).
    """

    def __init__(self, config, workers=None, client_factory=None):
        self.config = config
        self.workers = workers or fls_config.get_number(config, 'odoo.concurrency', int, 1)
        if self.workers < 1:
            raise fls_config.ConfigError("the number of push workers must be at least 1")
        self.max_attempts = fls_config.get_number(config, 'odoo.max_attempts', int, 1)
        self.retry_base = fls_config.get_number(config, 'odoo.retry_base_seconds', float, 0)
        self.retry_max = fls_config.get_number(config, 'odoo.retry_max_seconds', float, 0)
        self.client_factory = client_factory or make_odoo_client
        self.threads = 2 * self.workers
        self._slots = threading.BoundedSemaphore(self.workers)
        # Each thread holds two connections: the claimed row's transaction and
        # the autocommit one that records the attempt before the request leaves.
        self.engine = sa.create_engine(config.appdb_engine.url, pool_size=2 * self.threads,
                                       max_overflow=0)
        self._local = threading.local()
        self._clients = []
        self._lock = threading.Lock()
        self._client()  # a bad [rattail_fls] odoo.* setting fails here, before any claim

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for client in self._clients:
            client.close()
        self._clients = []
        self.engine.dispose()

    def _client(self):
        client = getattr(self._local, 'client', None)
        if client is None:
            client = self._local.client = self.client_factory(self.config)
            with self._lock:
                self._clients.append(client)
        return client

    # -- selecting -------------------------------------------------------------

    def candidates(self, selection, resend=False):
        """Summaries the run will try, oldest business date first (read without locks)."""
        condition = resend_condition() if resend else due_condition(self.max_attempts)
        query = selection.where(sa.select(SUMMARY.c.uuid, SUMMARY.c.sale_num, SUMMARY.c.version,
                                          SUMMARY.c.status, SUMMARY.c.retail_point_id,
                                          SUMMARY.c.sale_date, SUMMARY.c.amount_total,
                                          SUMMARY.c.total_including_miscellaneous)
                                .where(condition))
        query = query.order_by(SUMMARY.c.sale_date, SUMMARY.c.retail_point_id, SUMMARY.c.sale_num)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def waiting(self, selection):
        """Live, undelivered summaries in ``selection`` that are not due now (need an operator, or later)."""
        query = selection.where(
            sa.select(SUMMARY.c.uuid, SUMMARY.c.sale_num, SUMMARY.c.version, SUMMARY.c.status,
                      SUMMARY.c.failure_class, SUMMARY.c.attempts, SUMMARY.c.next_attempt_at,
                      SUMMARY.c.hold_reason, SUMMARY.c.last_error)
            .where(SUMMARY.c.status.in_((HELD, FAILED)))
            .where(sa.not_(due_condition(self.max_attempts))))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.order_by(SUMMARY.c.sale_num))]
        for row in rows:
            if row['status'] == HELD:
                row['why'] = row['hold_reason'] or 'held'
            elif row['failure_class'] not in RETRYABLE:
                row['why'] = f"{row['failure_class']} failure: waits for an operator (--resend)"
            elif row['attempts'] >= self.max_attempts:
                row['why'] = f"gave up after {row['attempts']} attempts: waits for an operator (--resend)"
            else:
                row['why'] = f"retry due at {row['next_attempt_at']:%Y-%m-%d %H:%M:%S %Z}"
        return rows

    # -- running ---------------------------------------------------------------

    def run(self, selection=None, resend=False, dry_run=False, progress=None):
        """Push what ``selection`` holds that is due (or everything live, with ``resend``).

        Returns a :class:`Report`.  ``dry_run`` sends nothing and changes
        nothing: it reports what would be sent.
        """
        selection = selection or Selection()
        if resend and not selection.narrowed:
            raise fls_config.ConfigError("resending needs a selection (date, retail point, sale_num "
                                         "or summary): it would push every summary again")
        candidates = self.candidates(selection, resend)
        report = Report()
        if dry_run:
            for row in candidates:
                report.outcomes.append(dict(row, outcome=OUT_WOULD_SEND,
                                            message=f"would send ({row['status']})"))
        else:
            report.outcomes = self.push_many([row['uuid'] for row in candidates], resend, progress,
                                             raise_errors=False)
        if not resend:
            tried = {o['uuid'] for o in report.outcomes}
            report.waiting = [w for w in self.waiting(selection) if w['uuid'] not in tried]
        return report

    def push_many(self, uuids, resend=False, progress=None, raise_errors=True):
        """Push ``uuids`` (each only if still claimable) with the thread pool; returns outcome dicts.

        An error pushing one summary (database trouble: the push path itself
        failed, not the push) does not stop the others.  With ``raise_errors``
        the first such error is raised once all are done (the queue job: RQ
        retries it); otherwise it becomes a ``failed`` outcome.  Either way a
        summary whose attempt was recorded as in flight will be held, not
        pushed again, by the next pusher.
        """
        outcomes, errors = [], []
        if not uuids:
            return outcomes
        bar = progress(f"Pushing {len(uuids)} summaries to Odoo", len(uuids)) if progress else None
        with ThreadPoolExecutor(max_workers=min(self.threads, len(uuids)),
                                thread_name_prefix='odoo-push') as pool:
            futures = {pool.submit(self.push_one, uuid, resend): uuid for uuid in uuids}
            for i, future in enumerate(as_completed(futures), 1):
                try:
                    outcomes.append(future.result())
                except Exception as error:  # noqa: BLE001 - reported below
                    log.exception("pushing summary %s failed", futures[future])
                    errors.append(error)
                    outcomes.append({'uuid': futures[future], 'sale_num': futures[future], 'version': '?',
                                     'outcome': OUT_FAILED, 'status': None,
                                     'message': f"error: {type(error).__name__}: {error}"[:500]})
                if bar:
                    bar.update(i)
        if bar:
            bar.finish()
        if errors and raise_errors:
            raise errors[0]
        return outcomes

    def push_one(self, uuid, resend=False):
        """Claim one summary, push it, record the outcome; returns an outcome dict.

        Never pushes a summary another pusher holds (``skipped``) or that is no
        longer due (``skipped``), unless ``resend``, which still skips
        superseded summaries and ones being pushed right now.
        """
        condition = resend_condition() if resend else due_condition(self.max_attempts)
        self._client()  # made before claiming: an attempt is only recorded when it can be sent
        with self.engine.connect() as conn:
            with conn.begin():
                # NO KEY UPDATE: excludes other pushers (and the closer's updates) but
                # not the push log's foreign-key check, made on the second connection.
                in_flight = sa.exists().where(PUSH_LOG.c.summary_uuid == SUMMARY.c.uuid)\
                                       .where(PUSH_LOG.c.failure_class == IN_FLIGHT)
                row = conn.execute(sa.select(SUMMARY, in_flight.label('in_flight'))
                                   .where(SUMMARY.c.uuid == uuid).where(condition)
                                   .with_for_update(skip_locked=True, key_share=True, of=SUMMARY)).first()
                if row is None:
                    return {'uuid': uuid, 'outcome': OUT_SKIPPED,
                            'message': "being pushed by another worker, or no longer due"}
                row = row._mapping
                if row['in_flight']:
                    self._mark_interrupted(conn, row)
                    if not resend:
                        return self._hold_interrupted(conn, row)
                # The outcome's commit need not wait for the disk: the attempt
                # recorded before sending is durable, so if a crash loses the
                # outcome, the next pusher holds the summary (never re-pushes it).
                conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
                with self._slots:
                    log_id = self._begin_attempt(row['uuid'])
                    result = self._push(row)
                return self._record(conn, row, log_id, result, resend)

    @staticmethod
    def _mark_interrupted(conn, row):
        """Earlier attempts left in flight: their pusher died before recording the outcome."""
        count = conn.execute(PUSH_LOG.update().where(PUSH_LOG.c.summary_uuid == row['uuid'])
                             .where(PUSH_LOG.c.failure_class == IN_FLIGHT).values(
                                 failure_class=INTERRUPTED,
                                 message="interrupted: the pusher stopped before recording the outcome")
                             ).rowcount
        log.warning("summary %s: %d earlier push(es) never recorded an outcome", row['sale_num'], count)

    def _hold_interrupted(self, conn, row):
        reason = hold_reason_unknown(row['sale_num'])
        conn.execute(SUMMARY.update().where(SUMMARY.c.uuid == row['uuid']).values(
            status=HELD, hold_reason=reason, next_attempt_at=None,
            last_error="an earlier push was interrupted after the request may have been sent"))
        return self._outcome(row, OUT_HELD, reason, status=HELD)

    def _begin_attempt(self, summary_uuid):
        """Record the attempt, committed, before the request leaves (see the module doc)."""
        with self.engine.connect().execution_options(isolation_level='AUTOCOMMIT') as conn:
            return conn.execute(PUSH_LOG.insert().values(
                summary_uuid=summary_uuid, ok=False, failure_class=IN_FLIGHT,
                message="in flight").returning(PUSH_LOG.c.id)).scalar_one()

    def _push(self, row):
        try:
            body = loads(row['payload'])
            return self._client().push(body)
        except (ValueError, TypeError) as error:
            # The body could not be built (bad stored payload): nothing was sent.
            return PushResult(ok=False, local_data_id=None, failure=APPLICATION, http_status=None,
                              message=f"could not build the request: {error}"[:255],
                              excerpt='', elapsed=0.0)

    def _record(self, conn, row, log_id, result, resend):
        conn.execute(PUSH_LOG.update().where(PUSH_LOG.c.id == log_id).values(
            ok=result.ok, http_status=result.http_status, failure_class=result.failure,
            message=result.message[:255], excerpt=result.excerpt, elapsed=result.elapsed,
            local_data_id=result.local_data_id))
        attempts = (0 if resend else row['attempts'] or 0) + 1
        was_held = row['status'] == HELD
        values = {'attempts': attempts}
        if was_held:
            values['forced'] = True
        if result.ok:
            values.update(status=SENT, local_data_id=result.local_data_id, sent_at=sa.func.now(),
                          failure_class=None, last_error=None, next_attempt_at=None)
            outcome, message = OUT_SENT, f"local_data_id {result.local_data_id}"
        else:
            error = result.message + (f"\n{result.excerpt}" if result.excerpt else '')
            values.update(failure_class=result.failure, last_error=error)
            if result.maybe_delivered:
                values.update(status=HELD, hold_reason=hold_reason_unknown(row['sale_num']),
                              next_attempt_at=None)
                outcome, message = OUT_HELD, f"{values['hold_reason']} ({result.message})"
            else:
                values['status'] = FAILED
                if result.failure in RETRYABLE and attempts < self.max_attempts:
                    delay = backoff_seconds(attempts, self.retry_base, self.retry_max)
                    values['next_attempt_at'] = sa.func.now() + datetime.timedelta(seconds=delay)
                    message = f"{result.failure}: {result.message}; retry in {delay:g}s"
                else:
                    values['next_attempt_at'] = None
                    why = ("gave up after {} attempts".format(attempts) if result.failure in RETRYABLE
                           else "not retried")
                    message = f"{result.failure}: {result.message}; {why}, waits for an operator (--resend)"
                outcome = OUT_FAILED
        next_at = conn.execute(SUMMARY.update().where(SUMMARY.c.uuid == row['uuid']).values(**values)
                               .returning(SUMMARY.c.next_attempt_at)).scalar()
        return self._outcome(row, outcome, message, status=values['status'], result=result,
                             next_attempt_at=next_at, attempts=attempts)

    @staticmethod
    def _outcome(row, outcome, message, status, result=None, **extra):
        data = {'uuid': row['uuid'], 'sale_num': row['sale_num'], 'version': row['version'],
                'retail_point_id': row['retail_point_id'], 'sale_date': row['sale_date'],
                'amount_total': row['amount_total'],
                'total_including_miscellaneous': row['total_including_miscellaneous'],
                'outcome': outcome, 'status': status, 'message': message}
        if result is not None:
            data.update(failure_class=result.failure, http_status=result.http_status,
                        local_data_id=result.local_data_id, maybe_delivered=result.maybe_delivered)
        data.update(extra)
        return data


def schedule_retries(config, outcomes):
    """Schedule a ``send_summary`` job at each failed outcome's ``next_attempt_at``.

    Returns how many were scheduled; Redis trouble is logged and left to the
    sweeper, which enqueues failed summaries once they are due.
    """
    import redis
    from rattail_fls.queue import enqueue

    scheduled = 0
    for outcome in outcomes:
        when = outcome.get('next_attempt_at')
        if when is None:
            continue
        try:
            enqueue.get_queue(config, 'send_summary').enqueue_at(
                when, enqueue.JOBS['send_summary'], [outcome['uuid']], retry=enqueue.RETRY,
                result_ttl=enqueue.RESULT_TTL, failure_ttl=enqueue.FAILURE_TTL)
            scheduled += 1
        except redis.exceptions.RedisError as error:
            log.warning("could not schedule the retry of %s (the sweeper will): %s",
                        outcome.get('sale_num'), error)
            break
    return scheduled


def push_summaries(config, selection=None, resend=False, dry_run=False, workers=None, progress=None):
    """One run with a fresh :class:`SummaryPusher`; returns its :class:`Report`."""
    with SummaryPusher(config, workers=workers) as pusher:
        return pusher.run(selection, resend=resend, dry_run=dry_run, progress=progress)

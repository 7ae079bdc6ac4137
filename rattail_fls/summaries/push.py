"""Pushing day summaries to Odoo: the one runner behind ``export-odoo-summary`` and the
``send_summary`` queue.

What is due is in :mod:`~rattail_fls.summaries.due`, the claim / request /
record states of one push in :mod:`~rattail_fls.summaries.pushstate`,
retiring superseded Odoo records in :mod:`~rattail_fls.summaries.supersede`
and the run's report in :mod:`~rattail_fls.summaries.report`.  This module runs
them: at most ``odoo.concurrency`` pushes at a time, each thread with its own
Odoo client, and no database connection held during a request.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.db.model.summaries import PushOutcome, SummaryStatus
from rattail_fls.odoo.api import make_odoo_api_client
from rattail_fls.odoo.client import make_odoo_client
from rattail_fls.retry import RetryPolicy
from rattail_fls.summaries import pushstate, supersede
from rattail_fls.summaries.due import (SUMMARY, Selection, due_condition, request_seconds,
                                       resend_condition, why_waiting)
from rattail_fls.summaries.report import Report

log = logging.getLogger(__name__)


class SummaryPusher:
    """Pushes summaries with at most ``workers`` requests to Odoo at a time.

    ``client_factory(config)`` makes one Odoo client per thread (default
    :func:`make_odoo_client`); ``api_client`` retires superseded records
    (default: from ``odoo.api.*``, None when not configured).  Once ``stop``
    (an Event) is set, no further push starts: the ones in flight end within
    the Odoo timeouts and are recorded, the rest stay due.  Use as a context
    manager or call :meth:`close`.
    """

    def __init__(self, config, workers=None, client_factory=None, api_client=False, stop=None):
        self.config = config
        self.workers = workers or fls_config.get_number(config, 'odoo.concurrency', int, 1)
        if self.workers < 1:
            raise fls_config.ConfigError("the number of push workers must be at least 1")
        self.policy = RetryPolicy.from_config(config, 'odoo')
        self.stale_after = request_seconds(config)
        self.client_factory = client_factory or make_odoo_client
        self.api_client = make_odoo_api_client(config) if api_client is False else api_client
        self.stop = stop or threading.Event()
        self.engine = sa.create_engine(config.appdb_engine.url, pool_size=self.workers + 1, max_overflow=0)
        self._local = threading.local()
        self._clients = []
        self._lock = threading.Lock()
        self._client()  # a bad [rattail_fls] odoo.* setting fails here, before any claim

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for client in self._clients + ([self.api_client] if self.api_client else []):
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

    def _condition(self, resend):
        return resend_condition() if resend else due_condition(self.policy.max_attempts)

    # -- selecting -------------------------------------------------------------

    def candidates(self, selection, resend=False):
        """Summaries the run will try, oldest business date first."""
        query = selection.where(sa.select(SUMMARY.c.uuid, SUMMARY.c.sale_num, SUMMARY.c.version,
                                          SUMMARY.c.status, SUMMARY.c.failure_class,
                                          SUMMARY.c.retail_point_id, SUMMARY.c.sale_date,
                                          SUMMARY.c.amount_total, SUMMARY.c.total_including_miscellaneous)
                                .where(self._condition(resend)))
        query = query.order_by(SUMMARY.c.sale_date, SUMMARY.c.retail_point_id, SUMMARY.c.sale_num)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def waiting(self, selection):
        """Live, undelivered summaries in ``selection`` that are not due now (need an operator, or later)."""
        query = selection.where(
            sa.select(SUMMARY.c.uuid, SUMMARY.c.sale_num, SUMMARY.c.version, SUMMARY.c.status,
                      SUMMARY.c.failure_class, SUMMARY.c.attempts, SUMMARY.c.next_attempt_at,
                      SUMMARY.c.hold_reason, SUMMARY.c.last_error, SUMMARY.c.claimed_at)
            .where(SUMMARY.c.status.in_((SummaryStatus.HELD, SummaryStatus.FAILED, SummaryStatus.SENDING)))
            .where(sa.not_(due_condition(self.policy.max_attempts))))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.order_by(SUMMARY.c.sale_num))]
        for row in rows:
            row['why'] = why_waiting(row, self.policy.max_attempts)
        return rows

    # -- running ---------------------------------------------------------------

    def run(self, selection=None, resend=False, dry_run=False, progress=None):
        """Push what ``selection`` holds that is due (or everything live, with ``resend``).

        First holds summaries left ``sending`` by a pusher that stopped; last,
        retires (or lists) superseded records.  Returns a :class:`Report`.
        ``dry_run`` sends nothing and changes nothing: it reports what would be sent.
        """
        selection = selection or Selection()
        if resend and not selection.narrowed:
            raise fls_config.ConfigError("resending needs a selection (date, retail point, sale_num, "
                                         "status or summary): it would push every summary again")
        report = Report()
        if not dry_run:
            report.outcomes.extend(self.hold_stale())
        candidates = self.candidates(selection, resend)
        if dry_run:
            for row in candidates:
                report.outcomes.append(dict(row, outcome=PushOutcome.WOULD_SEND,
                                            message=f"would send ({row['status']})"))
        else:
            report.outcomes.extend(self.push_many([row['uuid'] for row in candidates], resend, progress,
                                                  raise_errors=False))
        if not resend:
            tried = {o['uuid'] for o in report.outcomes}
            report.waiting = [w for w in self.waiting(selection) if w['uuid'] not in tried]
        self.supersede(report, dry_run)
        return report

    def hold_stale(self):
        """Hold the summaries left ``sending`` longer than a request can take; their outcome dicts."""
        with self.engine.begin() as conn:
            return pushstate.hold_stale(conn, self.stale_after)

    def supersede(self, report=None, dry_run=False):
        """Retire superseded Odoo records (API configured, not a dry run), else list them on ``report``."""
        report = report or Report()
        with self.engine.connect() as conn:
            pairs = supersede.to_retire(conn)
        if self.api_client is None or dry_run:
            report.to_retire = pairs
        elif pairs and not self.stop.is_set():
            report.retired = supersede.retire(self.engine, self.api_client, pairs)
        return report

    def push_many(self, uuids, resend=False, progress=None, raise_errors=True):
        """Push ``uuids`` (each only if still claimable) with the thread pool; returns outcome dicts.

        An error pushing one summary (database trouble: the push path itself
        failed, not the push) does not stop the others.  With ``raise_errors``
        the first such error is raised once all are done; otherwise it becomes
        a ``failed`` outcome.  Either way a summary left ``sending`` is held,
        never pushed again blindly, by a later run.
        """
        outcomes, errors = [], []
        if not uuids:
            return outcomes
        bar = progress(f"Pushing {len(uuids)} summaries to Odoo", len(uuids)) if progress else None
        with ThreadPoolExecutor(max_workers=min(self.workers, len(uuids)),
                                thread_name_prefix='odoo-push') as pool:
            futures = {pool.submit(self.push_one, uuid, resend): uuid for uuid in uuids}
            for i, future in enumerate(as_completed(futures), 1):
                try:
                    outcomes.append(future.result())
                except Exception as error:  # noqa: BLE001 - reported below
                    log.exception("pushing summary %s failed", futures[future])
                    errors.append(error)
                    outcomes.append({'uuid': futures[future], 'sale_num': futures[future], 'version': '?',
                                     'outcome': PushOutcome.FAILED, 'status': None,
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

        ``skipped`` when another pusher has it, it is no longer due (or, with
        ``resend``, superseded or being sent), or the pusher is stopping.
        """
        if self.stop.is_set():
            return {'uuid': uuid, 'outcome': PushOutcome.SKIPPED, 'message': "stopping: left for the next run"}
        client = self._client()  # made before claiming: a claim is only made when it can be sent
        with self.engine.begin() as conn:
            row = pushstate.claim(conn, uuid, self._condition(resend), resend)
        if row is None:
            return {'uuid': uuid, 'outcome': PushOutcome.SKIPPED,
                    'message': "being pushed by another worker, or no longer due"}
        result = pushstate.send(client, row)  # no transaction open
        return self._record(row, result)

    def _record(self, row, result):
        with self.engine.begin() as conn:
            return pushstate.record(conn, row, result, self.policy)


def push_summaries(config, selection=None, resend=False, dry_run=False, workers=None, progress=None):
    """One run with a fresh :class:`SummaryPusher`; returns its :class:`Report`."""
    with config.get_app().get_fls_handler().make_pusher(workers=workers) as pusher:
        return pusher.run(selection, resend=resend, dry_run=dry_run, progress=progress)

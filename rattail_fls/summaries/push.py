"""Pushing day summaries to Odoo: the one runner behind ``export-odoo-summary`` and the
``send_summary`` queue.

What is due is in :mod:`~rattail_fls.summaries.due`, the claim / request /
record states of one push in :mod:`~rattail_fls.summaries.pushstate`,
retiring superseded Odoo records in :mod:`~rattail_fls.summaries.supersede`
and the run's report in :mod:`~rattail_fls.summaries.report`.  This module runs
them: at most ``odoo.concurrency`` pushes at a time, each sender thread with its
own Odoo client (kept alive between runs), and the database work on the calling
thread, off the requests' way: one transaction records the pushes that ended
and claims the next ones.
"""

import collections
import logging
import queue
import sys
import threading

import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.db.model.summaries import PushOutcome, SummaryStatus
from rattail_fls.odoo.api import make_odoo_api_client
from rattail_fls.odoo.client import make_odoo_client
from rattail_fls.retry import RetryPolicy
from rattail_fls.summaries import pushstate, supersede
from rattail_fls.summaries.due import (SUMMARY, Selection, claim_seconds, due_condition,
                                       resend_condition, why_waiting)
from rattail_fls.summaries.report import Report

log = logging.getLogger(__name__)

#: Python's thread switch interval in a process whose work is pushing: a sender whose answer
#: has arrived waits for the GIL while another thread runs Python, up to the interval (5 ms by
#: default, a quarter of a 20 ms answer). 1 ms: 0.83-0.85 -> 0.87 of the concurrency ceiling
#: in three alternating rounds of bench/export.py.
SENDERS_SWITCH_INTERVAL = 0.001


def favour_senders():
    """Shorten the thread switch interval (never lengthen it): for the processes that push
    (``export-odoo-summary``, a ``send_summary`` worker), not for a library caller's."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SENDERS_SWITCH_INTERVAL))


class SummaryPusher:
    """Pushes summaries with at most ``workers`` requests to Odoo at a time.

    ``client_factory(config)`` makes one Odoo client per sender thread (default
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
        self.stale_after = claim_seconds(config)
        self.client_factory = client_factory or make_odoo_client
        self.api_client = make_odoo_api_client(config) if api_client is False else api_client
        self.stop = stop or threading.Event()
        # all database work runs on the calling thread (push_many's senders only talk to Odoo)
        self.engine = sa.create_engine(config.appdb_engine.url, pool_size=1, max_overflow=1)
        self._clients = []  # every client made, to close
        self._idle = queue.LifoQueue()  # clients not sending now, kept alive between runs
        self._lock = threading.Lock()
        self._idle.put(self._take_client())  # a bad [rattail_fls] odoo.* setting fails here, before any claim

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for client in self._clients + ([self.api_client] if self.api_client else []):
            client.close()
        self._clients = []
        self.engine.dispose()

    def _take_client(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            client = self.client_factory(self.config)
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
        """Hold the summaries left ``sending`` longer than a claim can last; their outcome dicts."""
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
        """Push ``uuids`` (each once, and only if still claimable); returns one outcome dict each.

        Up to ``workers`` sender threads each send one claimed summary at a
        time; this thread does the database work, one transaction per round:
        it records the outcomes handed back since the last round and claims
        enough summaries that a sender whose request ends finds the next one
        ready (at most ``workers`` claimed and not taken yet).  Once ``stop`` is
        set, no request starts: ready claims are released, the rest skipped.

        If a round's transaction fails, each outcome of it is recorded in a
        transaction of its own and its claims become ``failed`` outcomes (not
        claimed, still due), so that a summary's trouble harms only itself.
        With ``raise_errors`` the first error is raised once all are done;
        otherwise it is only a ``failed`` outcome.  Either way a summary left
        ``sending`` is held, never pushed again blindly, by a later run.
        """
        todo = collections.deque(dict.fromkeys(uuids))
        outcomes, errors = [], []
        if not todo:
            return outcomes
        bar = progress(f"Pushing {len(todo)} summaries to Odoo", len(todo)) if progress else None
        clients = [self._take_client() for _ in range(min(self.workers, len(todo)))]  # before any claim
        ready, events = queue.SimpleQueue(), queue.SimpleQueue()
        senders = [threading.Thread(target=self._send_each, args=(client, ready, events), name='odoo-push',
                                    daemon=True) for client in clients]
        for sender in senders:
            sender.start()
        waiting = claimed = 0  # claimed and not taken by a sender yet; claimed and not handed back yet
        try:
            while todo or claimed:
                handed = self._drain(events, wait=claimed and (
                    not todo or self.stop.is_set() or waiting == len(senders)))
                done = [(row, result) for row, result in handed if result is not TAKEN]
                waiting -= len(handed) - len(done)
                claimed -= len(done)
                if self.stop.is_set():
                    outcomes.extend(skipped(uuid, STOPPING) for uuid in todo)
                    todo.clear()
                batch = [todo.popleft() for _ in range(min(len(senders) - waiting, len(todo)))]
                if done or batch:
                    rows = self._round(done, batch, resend, outcomes, errors)
                    for row in rows:
                        ready.put(row)
                    waiting += len(rows)
                    claimed += len(rows)
                if bar:
                    bar.update(len(outcomes))
        finally:
            self._drain(ready, wait=False)  # after an error, claims not taken are not sent (held later)
            for _ in senders:
                ready.put(None)
            for sender in senders:
                sender.join()
            for client in clients:
                self._idle.put(client)
        if bar:
            bar.finish()
        if errors and raise_errors:
            raise errors[0]
        return outcomes

    def _send_each(self, client, ready, events):
        """A sender thread: takes each row from ``ready`` (until None) and sends it unless stopping.
        Puts ``(row, TAKEN)`` on ``events`` at once, then ``(row, result)``: a PushResult, None if
        not sent, or the exception the push raised."""
        for row in iter(ready.get, None):
            events.put((row, TAKEN))
            if self.stop.is_set():
                events.put((row, None))
                continue
            try:
                events.put((row, pushstate.send(client, row)))
            except Exception as error:  # noqa: BLE001 - reported; the summary stays sending, held later
                events.put((row, error))

    @staticmethod
    def _drain(items, wait):
        """What the queue ``items`` holds, taken out; with ``wait``, at least one."""
        taken = [items.get()] if wait else []
        while True:
            try:
                taken.append(items.get_nowait())
            except queue.Empty:
                return taken

    def _round(self, done, batch, resend, outcomes, errors):
        """One transaction: settle ``done``, claim ``batch``; appends to ``outcomes`` (and ``errors``)
        and returns the claimed rows, committed."""
        for row, result in done:
            if isinstance(result, Exception):
                outcomes.append(failure(row, result, errors))
        done = [(row, result) for row, result in done if not isinstance(result, Exception)]
        try:
            with self.engine.begin() as conn:
                settled = self._settle(conn, done)
                rows = pushstate.claim(conn, batch, resend, self.policy.max_attempts) if batch else []
        except Exception as error:  # noqa: BLE001 - reported below
            for pair in done:
                outcomes.extend(self._settle_alone(pair, errors))
            outcomes.extend(failure({'uuid': uuid}, error, errors) for uuid in batch)
            return []
        claimed = {row['uuid'] for row in rows}
        outcomes.extend(settled + [skipped(uuid, "being pushed by another worker, or no longer due")
                                   for uuid in batch if uuid not in claimed])
        return rows

    def _settle(self, conn, done):
        """Record the outcomes in ``done``, release the claims never sent (result None); outcome dicts."""
        for row, result in done:
            if result is None:
                pushstate.release(conn, row)
        pushed = [(row, result) for row, result in done if result is not None]
        return ((pushstate.record(conn, pushed, self.policy) if pushed else [])
                + [skipped(row['uuid'], STOPPING) for row, result in done if result is None])

    def _settle_alone(self, pair, errors):
        try:
            with self.engine.begin() as conn:
                return self._settle(conn, [pair])
        except Exception as error:  # noqa: BLE001 - reported
            return [failure(pair[0], error, errors)]


STOPPING = "stopping: left for the next run"

#: What a sender hands back first for a row it takes (then its result).
TAKEN = 'taken'



def skipped(uuid, why):
    return {'uuid': uuid, 'outcome': PushOutcome.SKIPPED, 'message': why}


def failure(row, error, errors):
    """The outcome of a push whose path failed (``error``, appended to ``errors``): it stays as it was
    (claimed ones ``sending``, held by a later run)."""
    log.error("pushing summary %s failed", row.get('sale_num', row['uuid']), exc_info=error)
    errors.append(error)
    return {'uuid': row['uuid'], 'sale_num': row.get('sale_num', row['uuid']), 'version': row.get('version', '?'),
            'outcome': PushOutcome.FAILED, 'status': None,
            'message': f"error: {type(error).__name__}: {error}"[:500]}


def push_summaries(config, selection=None, resend=False, dry_run=False, workers=None, progress=None):
    """One run with a fresh :class:`SummaryPusher`; returns its :class:`Report`."""
    with config.get_app().get_fls_handler().make_pusher(workers=workers) as pusher:
        return pusher.run(selection, resend=resend, dry_run=dry_run, progress=progress)

"""Which summaries a push run looks at, and which of them are due.

* **Due** (pushed without being asked): ``pending``; or ``failed`` with a
  *definite* failure of class ``transient`` or ``application``, fewer than
  ``odoo.max_attempts`` attempts, and ``next_attempt_at`` passed.
  ``configuration`` failures wait for an operator to fix the setting and
  resend; ``held`` summaries are pushed only when an operator resends them;
  ``sent`` ones only when explicitly resent; ``superseded`` ones never (their
  newer version is pushed instead), nor those ``sending`` right now.
* **Stale** ``sending``: claimed longer ago than a claim can last (twice the
  Odoo timeouts: waiting for a sender, then the request): its pusher stopped
  before recording the outcome, which is unknown, so it is held (see
  :mod:`rattail_fls.summaries.pushstate`).
"""

import datetime
from dataclasses import dataclass

import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.db.model.summaries import GONE_REASON, FailureClass, FlsSummary, SummaryStatus
from rattail_fls.odoo.client import odoo_timeouts

SUMMARY = FlsSummary.__table__

RETRYABLE = (FailureClass.TRANSIENT, FailureClass.APPLICATION)

#: What an operator is told before any resend (``export-odoo-summary --resend``, the web's Resend).
RESEND_WARNING = ("Resending pushes the selected summaries whatever their status: a sent one, "
                  "or one held with an unknown outcome, then has a second record in Odoo.")


@dataclass
class Selection:
    """Which summaries a run looks at (all given filters apply; none = all)."""

    uuids: list = None
    retail_point_ids: list = None
    sale_nums: list = None
    start_date: datetime.date = None
    end_date: datetime.date = None
    #: ``--status`` / ``--failure-class`` (a resend by selection).
    statuses: list = None
    failure_classes: list = None

    def __post_init__(self):
        self.statuses = [SummaryStatus(s) for s in self.statuses] if self.statuses else None
        self.failure_classes = ([FailureClass(f) for f in self.failure_classes]
                                if self.failure_classes else None)

    def where(self, query):
        for column, values in ((SUMMARY.c.uuid, self.uuids), (SUMMARY.c.retail_point_id, self.retail_point_ids),
                               (SUMMARY.c.sale_num, self.sale_nums), (SUMMARY.c.status, self.statuses),
                               (SUMMARY.c.failure_class, self.failure_classes)):
            if values is not None and (values or column is SUMMARY.c.uuid):
                query = query.where(column.in_(list(values)))
        if self.start_date:
            query = query.where(SUMMARY.c.sale_date >= self.start_date)
        if self.end_date:
            query = query.where(SUMMARY.c.sale_date <= self.end_date)
        return query

    @property
    def narrowed(self):
        """Whether anything restricts it (``--resend`` refuses to resend everything)."""
        return bool(self.uuids or self.retail_point_ids or self.sale_nums or self.start_date
                    or self.end_date or self.statuses or self.failure_classes)


def due_condition(max_attempts):
    """SQL: a summary the pusher sends without being asked (see the module doc)."""
    return sa.or_(
        SUMMARY.c.status == SummaryStatus.PENDING,
        sa.and_(SUMMARY.c.status == SummaryStatus.FAILED,
                SUMMARY.c.failure_class.in_(RETRYABLE),
                SUMMARY.c.attempts < max_attempts,
                sa.or_(SUMMARY.c.next_attempt_at.is_(None), SUMMARY.c.next_attempt_at <= sa.func.now())))


def resend_condition():
    """SQL: what an explicit resend may push: every live version not being sent, sent ones included,
    but never one gone on a re-close (pushing it would bring back a summary with no sales)."""
    return sa.and_(SUMMARY.c.status.notin_((SummaryStatus.SUPERSEDED, SummaryStatus.SENDING)),
                   sa.not_(sa.and_(SUMMARY.c.status == SummaryStatus.HELD,
                                   SUMMARY.c.hold_reason.startswith(GONE_REASON))))


def push_choice(conn, uuid, max_attempts):
    """What an operator can do with one summary now: ``'push'`` (it is due), ``'resend'``
    (only a resend pushes it: sent, held, or failed and not due), or None (superseded,
    being sent, gone on a re-close)."""
    due, resendable = conn.execute(sa.select(due_condition(max_attempts), resend_condition())
                                   .where(SUMMARY.c.uuid == uuid)).one()
    return 'push' if due else 'resend' if resendable else None


def stale_sending_condition(after_seconds):
    """SQL: ``sending`` for longer than a claim can last: its pusher stopped mid-push."""
    return sa.and_(SUMMARY.c.status == SummaryStatus.SENDING,
                   SUMMARY.c.claimed_at < sa.func.now() - datetime.timedelta(seconds=after_seconds))


def claim_seconds(config):
    """How long a claim can last before its outcome is recorded: twice connect plus read timeout
    (a claimed summary may wait for a sender's request to end, then its own request runs)."""
    return 2 * sum(odoo_timeouts(config))


def sweepable(conn, config):
    """uuids the sweeper should enqueue: pending ones older than ``odoo.sweep_after_seconds``
    and failed ones whose next attempt is due."""
    after = fls_config.get_number(config, 'odoo.sweep_after_seconds', int, 0)
    max_attempts = fls_config.get_number(config, 'odoo.max_attempts', int, 1)
    query = sa.select(SUMMARY.c.uuid).where(due_condition(max_attempts)).where(sa.or_(
        SUMMARY.c.status != SummaryStatus.PENDING,
        SUMMARY.c.created <= sa.func.now() - datetime.timedelta(seconds=after)))
    return list(conn.execute(query.order_by(SUMMARY.c.created)).scalars())


def why_waiting(row, max_attempts):
    """Why a live, undelivered summary was not pushed by this run (one line for the operator)."""
    if row['status'] == SummaryStatus.HELD:
        return row['hold_reason'] or 'held'
    if row['status'] == SummaryStatus.SENDING:
        return f"being sent (claimed at {row['claimed_at']:%Y-%m-%d %H:%M:%S %Z})"
    if row['failure_class'] not in RETRYABLE:
        return f"{row['failure_class']} failure: waits for an operator (--resend)"
    if row['attempts'] >= max_attempts:
        return f"gave up after {row['attempts']} attempts: waits for an operator (--resend)"
    return f"retry due at {row['next_attempt_at']:%Y-%m-%d %H:%M:%S %Z}"

"""Day closes, the summaries they produce, and every push of a summary to Odoo.

A summary is identified by its deterministic ``sale_num``
(``YYYYMMDD/<retail point>/<counter>/<journal>``); each re-close that changes
it adds a new ``version`` and supersedes the old one, so at most one version
per ``sale_num`` is live (not superseded) and the operator sees them all.
"""

import enum

import sqlalchemy as sa
from sqlalchemy import orm

from rattail.db import model

__all__ = ['FlsDayClose', 'FlsSummary', 'FlsPushLog']


class SummaryStatus(enum.StrEnum):
    """``fls_summary.status``.

    ``sending``: claimed by a pusher, committed before its request leaves (one
    pusher per summary); ``held``: not pushed (reconciliation mismatch, an
    unknown outcome, or gone on a re-close) until an operator resends it.
    """
    PENDING = 'pending'
    SENDING = 'sending'
    SENT = 'sent'
    FAILED = 'failed'
    HELD = 'held'
    SUPERSEDED = 'superseded'


class FailureClass(enum.StrEnum):
    """Why Odoo did not take a request (``failure_class`` of summaries and the push log).

    ``in_flight`` and ``interrupted`` mark a push log row whose request may be
    on the wire, or was when its pusher stopped before recording the outcome.
    """
    TRANSIENT = 'transient'
    CONFIGURATION = 'configuration'
    APPLICATION = 'application'
    IN_FLIGHT = 'in_flight'
    INTERRUPTED = 'interrupted'


class PushOutcome(enum.StrEnum):
    """What one run did with one summary (reports and the CLI)."""
    SENT = 'sent'
    FAILED = 'failed'
    HELD = 'held'
    SKIPPED = 'skipped'
    WOULD_SEND = 'would_send'


class PushAction(enum.StrEnum):
    """``fls_push_log.action``: the summary's POST, or retiring its Odoo record (external API)."""
    PUSH = 'push'
    RETIRE = 'retire'


PENDING, SENDING, SENT, FAILED, HELD, SUPERSEDED = SummaryStatus

#: A held summary whose sales left its day on a re-close: its Odoo record stays live.
GONE_REASON = "gone on re-close"


class FlsDayClose(model.Base):
    """The close of one business date of one retail point."""
    __tablename__ = 'fls_day_close'
    __table_args__ = (
        sa.UniqueConstraint('retail_point_id', 'sale_date', name='fls_day_close_uq_day'),
        sa.Index('fls_day_close_ix_date', 'sale_date', 'uuid'),  # the web grid's order
    )
    model_title = "Day Close"

    uuid = model.uuid_column()
    retail_point_id = sa.Column(sa.Integer(), nullable=False)
    sale_date = sa.Column(sa.Date(), nullable=False)
    closes = sa.Column(sa.Integer(), nullable=False, default=0, doc="How many times it was (re)closed.")
    closed_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    sales_changed_at = sa.Column(sa.DateTime(timezone=True), nullable=True, doc="""
    The business day's ``changed_at`` the last close saw (for display).
    """)
    change_count_seen = sa.Column(sa.BigInteger(), nullable=True, doc="""
    The business day's ``change_count`` the last close saw; a higher count makes the close stale.
    """)
    requested_by = sa.Column(sa.String(length=20), nullable=True, doc="shop, cli or nightly.")
    sale_count = sa.Column(sa.Integer(), nullable=False, default=0)
    summary_count = sa.Column(sa.Integer(), nullable=False, default=0)

    def __str__(self):
        return f"{self.retail_point_id} {self.sale_date}"


class FlsSummary(model.Base):
    """One (retail point, date, sale counter, payment journal) summary, in Odoo's payload shape."""
    __tablename__ = 'fls_summary'
    __table_args__ = (
        sa.UniqueConstraint('sale_num', 'version', name='fls_summary_uq_version'),
        sa.Index('fls_summary_ix_live', 'sale_num', unique=True,
                 postgresql_where=sa.text("status <> 'superseded'")),
        sa.Index('fls_summary_ix_due', 'status', 'next_attempt_at'),
        sa.Index('fls_summary_ix_day', 'retail_point_id', 'sale_date'),
        sa.Index('fls_summary_ix_date', 'sale_date', 'uuid'),  # the web grid's order
    )
    model_title = "Summary"
    model_title_plural = "Summaries"

    uuid = model.uuid_column()
    sale_num = sa.Column(sa.String(length=100), nullable=False)
    version = sa.Column(sa.Integer(), nullable=False, default=1)
    retail_point_id = sa.Column(sa.Integer(), nullable=False)
    sale_date = sa.Column(sa.Date(), nullable=False)
    sale_counter_id = sa.Column(sa.Integer(), nullable=False)
    payment_journal_id = sa.Column(sa.Integer(), nullable=False)
    status = sa.Column(sa.String(length=20), nullable=False, default=PENDING)
    payload = sa.Column(sa.Text(), nullable=False, doc="""
    The summary as the day close built it; the body pushed adds ``version`` and,
    from version 2, ``replaces_local_data_id`` (and ``encrypted_sale_num``).
    """)
    total_including_miscellaneous = sa.Column(sa.Numeric(18, 4), nullable=False)
    amount_total = sa.Column(sa.Numeric(18, 4), nullable=False)
    total_cess = sa.Column(sa.Numeric(18, 4), nullable=False)
    sale_count = sa.Column(sa.Integer(), nullable=False)
    line_count = sa.Column(sa.Integer(), nullable=False)
    reconciled = sa.Column(sa.Boolean(), nullable=False, doc="Whether every reconciliation check passed.")
    reconciliation = sa.Column(sa.Text(), nullable=False, doc="JSON list of checks: name, summary, sales, ok.")
    forced = sa.Column(sa.Boolean(), nullable=False, default=False, doc="Pushed despite a hold, by an operator.")
    hold_reason = sa.Column(sa.String(length=255), nullable=True)
    created = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    attempts = sa.Column(sa.Integer(), nullable=False, default=0)
    next_attempt_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    last_error = sa.Column(sa.Text(), nullable=True)
    failure_class = sa.Column(sa.String(length=20), nullable=True)
    sent_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    local_data_id = sa.Column(sa.Integer(), nullable=True, doc="Odoo's cfed.local.data id once sent.")
    claimed_at = sa.Column(sa.DateTime(timezone=True), nullable=True, doc="""
    When a pusher moved it to ``sending`` (committed before the request left).
    """)
    replaces_local_data_id = sa.Column(sa.Integer(), nullable=True, doc="""
    The Odoo record of the earlier version this one replaces, as sent in its body.
    """)
    retired_at = sa.Column(sa.DateTime(timezone=True), nullable=True, doc="""
    When Odoo was told (external API) that this superseded version's record is no longer the latest.
    """)

    def __str__(self):
        return f"{self.sale_num} v{self.version}"


class FlsPushLog(model.Base):
    """Every attempt to push a summary, successful or not."""
    __tablename__ = 'fls_push_log'
    __table_args__ = (
        sa.ForeignKeyConstraint(['summary_uuid'], ['fls_summary.uuid'], name='fls_push_log_fk_summary'),
        sa.Index('fls_push_log_ix_summary', 'summary_uuid'),
    )
    model_title = "Push Log"

    id = sa.Column(sa.BigInteger(), sa.Identity(), primary_key=True)
    summary_uuid = sa.Column(sa.String(length=32), nullable=False)
    action = sa.Column(sa.String(length=10), nullable=False, default=PushAction.PUSH,
                       server_default=PushAction.PUSH.value)
    summary = orm.relationship(FlsSummary, backref=orm.backref('pushes', order_by='FlsPushLog.id'))
    attempted_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    ok = sa.Column(sa.Boolean(), nullable=False)
    http_status = sa.Column(sa.Integer(), nullable=True)
    failure_class = sa.Column(sa.String(length=20), nullable=True)
    message = sa.Column(sa.String(length=255), nullable=True)
    excerpt = sa.Column(sa.Text(), nullable=True)
    elapsed = sa.Column(sa.Float(), nullable=True)
    local_data_id = sa.Column(sa.Integer(), nullable=True)

"""The inbox: every payload a shop sent us, kept durably before we answer.

A 2xx to a shop means its payload is a row here.  Workers move rows from
``pending`` to a final status; rejected rows keep their reasons and can be
fixed and replayed.  The table is partitioned by day on ``received_on``, so
pruning old days is dropping partitions (``rattail fls-inbox prune``).
"""

import enum

import sqlalchemy as sa

from rattail.db import model

__all__ = ['FlsInbox']

#: Statuses of an inbox row; only ``pending`` rows are (re)processed.  ``rejected``: the
#: contract or the database refused it (reasons in ``errors``); ``dead``: a shard fault
#: outlasted ``intake.max_attempts`` tries.  Both can be fixed and replayed.
class InboxStatus(enum.StrEnum):
    PENDING = 'pending'
    DONE = 'done'
    DUPLICATE = 'duplicate'
    REPLACED = 'replaced'
    SUPERSEDED = 'superseded'
    REJECTED = 'rejected'
    DEAD = 'dead'


PENDING, DONE, DUPLICATE, REPLACED, SUPERSEDED, REJECTED, DEAD = InboxStatus  # the members, by name
FINAL = (DONE, DUPLICATE, REPLACED, SUPERSEDED)
#: What an operator may replay (pending too: it clears a backoff).
REPLAYABLE = (REJECTED, DEAD, PENDING)


class FlsInbox(model.Base):
    """One received payload: a sale order or a day close."""
    __tablename__ = 'fls_inbox'
    __table_args__ = (
        sa.Index('fls_inbox_ix_pending', 'status', 'id', postgresql_where=sa.text(f"status = '{PENDING}'")),
        sa.Index('fls_inbox_ix_id', 'id'),
        sa.Index('fls_inbox_ix_status', 'status', 'id'),  # the web grid: a status, newest first
        sa.Index('fls_inbox_ix_sale', 'retail_point_id', 'sale_num'),
        {'postgresql_partition_by': 'RANGE (received_on)'},
    )
    model_title = "Inbox Row"
    model_title_plural = "Inbox"

    received_on = sa.Column(sa.Date(), primary_key=True, server_default=sa.text('CURRENT_DATE'))
    id = sa.Column(sa.BigInteger(), sa.Identity(), primary_key=True)
    received_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    kind = sa.Column(sa.String(length=20), nullable=False, doc="``sale`` or ``day_close``.")
    source = sa.Column(sa.String(length=20), nullable=False, doc="``http``, ``file`` or ``replay``.")
    user_uuid = sa.Column(sa.String(length=32), nullable=True, doc="User whose token submitted it.")
    retail_point_id = sa.Column(sa.Integer(), nullable=True)
    sale_num = sa.Column(sa.String(), nullable=True)
    sale_date = sa.Column(sa.Date(), nullable=True)
    body = sa.Column(sa.Text(), nullable=False, doc="The payload as JSON text, exactly as decoded.")
    sale = sa.Column(sa.Text(), nullable=True, doc="""
    The sale as the contract normalised it (JSON, column names), as the intake wrote it before
    ``sale_rows``; the workers still store such rows.  NULL otherwise.""")
    sale_rows = sa.Column(sa.Text(), nullable=True, doc="""
    The sale as the contract normalised it, rendered by the intake in COPY text format less the
    shard's keys (``rattail_fls.sales.store.sale_rows``); the workers add the keys and COPY it.
    NULL for rejected rows, day closes and rows stored before it (see ``sale``).""")
    status = sa.Column(sa.String(length=20), nullable=False, default=PENDING)
    attempts = sa.Column(sa.Integer(), nullable=False, default=0)
    errors = sa.Column(sa.Text(), nullable=True, doc="""
    JSON list of {field, reason}: why it was rejected or dead-lettered, or why it is still pending.""")
    next_attempt_at = sa.Column(sa.DateTime(timezone=True), nullable=True,
                                doc="A row left pending by a shard fault waits until then.")
    processed_at = sa.Column(sa.DateTime(timezone=True), nullable=True)

    def __str__(self):
        return f"#{self.id} {self.kind} {self.retail_point_id or ''} {self.sale_num or ''}".strip()


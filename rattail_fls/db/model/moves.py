"""Moves of a retail point's sales from one shard to another (``rattail fls-shards move``).

A move is a small state machine persisted here, in the main DB, so that a move
killed at any step resumes where it stopped when the command is run again.
While a move is before its flip, the shop's sales wait in the inbox.
"""

import sqlalchemy as sa

from rattail.db import model

__all__ = ['FlsShardMove']

#: Move states, in order.  ``paused``: the shop's sales wait in the inbox;
#: ``copied``: the target holds a full copy; ``verified``: counts and sums per
#: day match; ``flipped``: the assignment points at the target (processing
#: resumes); ``done``: the source rows are deleted.
PAUSED, COPIED, VERIFIED, FLIPPED, DONE = 'paused', 'copied', 'verified', 'flipped', 'done'
STATES = (PAUSED, COPIED, VERIFIED, FLIPPED, DONE)
#: States in which the shop's sales are not processed.
PAUSING_STATES = (PAUSED, COPIED, VERIFIED)


class FlsShardMove(model.Base):
    """One move of a retail point between shards; at most one unfinished per retail point."""
    __tablename__ = 'fls_shard_move'
    __table_args__ = (
        sa.Index('fls_shard_move_ix_unfinished', 'retail_point_id', unique=True,
                 postgresql_where=sa.text("state <> 'done'")),
    )
    model_title = "Shard Move"

    uuid = model.uuid_column()
    retail_point_id = sa.Column(sa.Integer(), nullable=False)
    source_shard = sa.Column(sa.String(length=31), nullable=False)
    target_shard = sa.Column(sa.String(length=31), nullable=False)
    state = sa.Column(sa.String(length=20), nullable=False, default=PAUSED)
    started = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated = sa.Column(sa.DateTime(timezone=True), nullable=True)
    finished = sa.Column(sa.DateTime(timezone=True), nullable=True)
    sales = sa.Column(sa.Integer(), nullable=True, doc="Sales copied (and verified).")
    lines = sa.Column(sa.Integer(), nullable=True, doc="Sale lines copied (and verified).")
    days = sa.Column(sa.Integer(), nullable=True, doc="Business dates copied.")
    last_error = sa.Column(sa.Text(), nullable=True)

    def __str__(self):
        return f"{self.retail_point_id}: {self.source_shard} -> {self.target_shard} ({self.state})"

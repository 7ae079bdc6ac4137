"""Business days: what a shop's date holds and when it last changed.

Workers bump a row per (retail point, sale_date) in the same transaction as the
inbox status, so day close can tell a stale close (sales changed after it)
without scanning the shards.
"""

import sqlalchemy as sa

from rattail.db import model

__all__ = ['FlsBusinessDay']


class FlsBusinessDay(model.Base):
    __tablename__ = 'fls_business_day'
    __table_args__ = (
        sa.Index('fls_business_day_ix_date', 'sale_date', 'retail_point_id'),  # the web grid's order
    )
    model_title = "Business Day"

    retail_point_id = sa.Column(sa.Integer(), primary_key=True)
    sale_date = sa.Column(sa.Date(), primary_key=True)
    sale_count = sa.Column(sa.Integer(), nullable=False, default=0)
    line_count = sa.Column(sa.Integer(), nullable=False, default=0)
    changed_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now(),
                           doc="Last time a sale of this day was stored, replaced or removed.")
    change_count = sa.Column(sa.BigInteger(), nullable=False, default=1, server_default='1', doc="""
    Changes so far; a close records the count it saw, so a sale stored by a transaction that
    began before the close (whatever its clock) still makes it stale.""")

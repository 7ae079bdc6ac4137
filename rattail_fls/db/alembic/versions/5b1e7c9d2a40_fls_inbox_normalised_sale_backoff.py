# -*- coding: utf-8; -*-
"""fls inbox: normalised sale, retry backoff, dead letters; business-day change counter

Revision ID: 5b1e7c9d2a40
Revises: 0c108692ba8c
Create Date: 2026-12-01

"""

# revision identifiers, used by Alembic.
revision = '5b1e7c9d2a40'
down_revision = '0c108692ba8c'
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    # inbox: the sale as the door normalised it (workers never parse or validate again),
    # and when a row left pending by a shard fault may be tried again
    op.add_column('fls_inbox', sa.Column('sale', sa.Text(), nullable=True))
    op.add_column('fls_inbox', sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    # business days: a counter of changes, so that a close knows exactly what it saw
    op.add_column('fls_business_day', sa.Column('change_count', sa.BigInteger(), nullable=False,
                                                server_default='1'))
    op.add_column('fls_day_close', sa.Column('change_count_seen', sa.BigInteger(), nullable=True))
    # a close that was current keeps being current; the others are due as before
    op.execute("""
        UPDATE fls_day_close c SET change_count_seen = 1 FROM fls_business_day d
        WHERE d.retail_point_id = c.retail_point_id AND d.sale_date = c.sale_date
          AND c.closed_at IS NOT NULL AND c.sales_changed_at >= d.changed_at""")


def downgrade():
    op.drop_column('fls_day_close', 'change_count_seen')
    op.drop_column('fls_business_day', 'change_count')
    op.drop_column('fls_inbox', 'next_attempt_at')
    op.drop_column('fls_inbox', 'sale')

# -*- coding: utf-8; -*-
"""fls grid indexes: the web grids' default sorts and filters read an index, not the table

Revision ID: a4c9e2f7b813
Revises: 9d3f6a1c7e52
Create Date: 2026-12-01

Each grid pages in its default order plus the primary key (a total order):
the inbox by id within a status (its default filter), summaries and day
closes by date then uuid, business days by date then retail point.  With
these indexes a page of a grid over 1M rows is an index range scan.
"""

# revision identifiers, used by Alembic.
revision = 'a4c9e2f7b813'
down_revision = '9d3f6a1c7e52'
branch_labels = None
depends_on = None

from alembic import op


INDEXES = [
    ('fls_inbox_ix_status', 'fls_inbox', ['status', 'id']),
    ('fls_summary_ix_date', 'fls_summary', ['sale_date', 'uuid']),
    ('fls_day_close_ix_date', 'fls_day_close', ['sale_date', 'uuid']),
    ('fls_business_day_ix_date', 'fls_business_day', ['sale_date', 'retail_point_id']),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)

# -*- coding: utf-8; -*-
"""fls summary: the sending state, and retiring superseded records in Odoo

Revision ID: 9d3f6a1c7e52
Revises: 5b1d7c2e9a40
Create Date: 2026-12-01

"""

# revision identifiers, used by Alembic.
revision = '9d3f6a1c7e52'
down_revision = '5b1d7c2e9a40'
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.add_column('fls_summary', sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('fls_summary', sa.Column('replaces_local_data_id', sa.Integer(), nullable=True))
    op.add_column('fls_summary', sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('fls_push_log', sa.Column('action', sa.String(length=10), nullable=False,
                                            server_default='push'))


def downgrade():
    op.drop_column('fls_push_log', 'action')
    op.drop_column('fls_summary', 'retired_at')
    op.drop_column('fls_summary', 'replaces_local_data_id')
    op.drop_column('fls_summary', 'claimed_at')

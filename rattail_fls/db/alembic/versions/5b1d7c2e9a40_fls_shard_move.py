# -*- coding: utf-8; -*-
"""fls shard move

Revision ID: 5b1d7c2e9a40
Revises: b7d41e9a2c63
Create Date: 2026-12-01

"""

# revision identifiers, used by Alembic.
revision = '5b1d7c2e9a40'
down_revision = 'b7d41e9a2c63'
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table('fls_shard_move',
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('retail_point_id', sa.Integer(), nullable=False),
    sa.Column('source_shard', sa.String(length=31), nullable=False),
    sa.Column('target_shard', sa.String(length=31), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('started', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sales', sa.Integer(), nullable=True),
    sa.Column('lines', sa.Integer(), nullable=True),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('uuid', name=op.f('pk_fls_shard_move'))
    )
    op.create_index('fls_shard_move_ix_unfinished', 'fls_shard_move', ['retail_point_id'], unique=True,
                    postgresql_where=sa.text("state <> 'done'"))


def downgrade():
    op.drop_index('fls_shard_move_ix_unfinished', table_name='fls_shard_move')
    op.drop_table('fls_shard_move')

# -*- coding: utf-8; -*-
"""fls shards and retail points

Revision ID: 2e6325a50b4f
Revises:
Create Date: 2026-11-22

"""

# revision identifiers, used by Alembic.
revision = '2e6325a50b4f'
down_revision = None
branch_labels = ('rattail_fls',)
# A concrete rattail revision (its head when this was written): a branch
# label here would resolve to rattail's *root* (see the plugin guide).
depends_on = 'c2ef84c99c93'

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table('fls_retail_point_version',
    sa.Column('uuid', sa.String(length=32), autoincrement=False, nullable=False),
    sa.Column('retail_point_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('name', sa.String(length=255), autoincrement=False, nullable=True),
    sa.Column('store_uuid', sa.String(length=32), autoincrement=False, nullable=True),
    sa.Column('timezone', sa.String(length=64), autoincrement=False, nullable=True),
    sa.Column('active', sa.Boolean(), autoincrement=False, nullable=True),
    sa.Column('shard_uuid', sa.String(length=32), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('end_transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('uuid', 'transaction_id', name=op.f('pk_fls_retail_point_version'))
    )
    op.create_index(op.f('ix_fls_retail_point_version_end_transaction_id'), 'fls_retail_point_version', ['end_transaction_id'], unique=False)
    op.create_index(op.f('ix_fls_retail_point_version_operation_type'), 'fls_retail_point_version', ['operation_type'], unique=False)
    op.create_index('ix_fls_retail_point_version_pk_transaction_id', 'fls_retail_point_version', ['uuid', sa.literal_column('transaction_id DESC')], unique=False)
    op.create_index('ix_fls_retail_point_version_pk_validity', 'fls_retail_point_version', ['uuid', 'transaction_id', 'end_transaction_id'], unique=False)
    op.create_index(op.f('ix_fls_retail_point_version_transaction_id'), 'fls_retail_point_version', ['transaction_id'], unique=False)
    op.create_table('fls_shard',
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=31), nullable=False),
    sa.Column('schema_name', sa.String(length=63), nullable=False),
    sa.Column('engine_key', sa.String(length=50), nullable=False),
    sa.Column('storage', sa.String(length=20), nullable=True),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('accept_new', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('upgraded', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('uuid', name=op.f('pk_fls_shard')),
    sa.UniqueConstraint('name', name='fls_shard_uq_name')
    )
    op.create_table('fls_retail_point',
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('retail_point_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('store_uuid', sa.String(length=32), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('shard_uuid', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['shard_uuid'], ['fls_shard.uuid'], name='fls_retail_point_fk_shard'),
    sa.ForeignKeyConstraint(['store_uuid'], ['store.uuid'], name='fls_retail_point_fk_store'),
    sa.PrimaryKeyConstraint('uuid', name=op.f('pk_fls_retail_point')),
    sa.UniqueConstraint('retail_point_id', name='fls_retail_point_uq_retail_point_id')
    )


def downgrade():
    op.drop_table('fls_retail_point')
    op.drop_table('fls_shard')
    op.drop_table('fls_retail_point_version')

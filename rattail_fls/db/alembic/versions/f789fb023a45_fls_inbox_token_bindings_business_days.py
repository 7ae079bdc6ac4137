# -*- coding: utf-8; -*-
"""fls inbox, token bindings, business days

Revision ID: f789fb023a45
Revises: 2e6325a50b4f
Create Date: 2026-11-22

"""

# revision identifiers, used by Alembic.
revision = 'f789fb023a45'
down_revision = '2e6325a50b4f'
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table('fls_business_day',
    sa.Column('retail_point_id', sa.Integer(), nullable=False),
    sa.Column('sale_date', sa.Date(), nullable=False),
    sa.Column('sale_count', sa.Integer(), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('retail_point_id', 'sale_date', name=op.f('pk_fls_business_day'))
    )
    op.create_table('fls_inbox',
    sa.Column('received_on', sa.Date(), server_default=sa.text('CURRENT_DATE'), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('user_uuid', sa.String(length=32), nullable=True),
    sa.Column('retail_point_id', sa.Integer(), nullable=True),
    sa.Column('sale_num', sa.String(), nullable=True),
    sa.Column('sale_date', sa.Date(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Text(), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('received_on', 'id', name=op.f('pk_fls_inbox')),
    postgresql_partition_by='RANGE (received_on)'
    )
    op.create_index('fls_inbox_ix_id', 'fls_inbox', ['id'], unique=False)
    op.create_index('fls_inbox_ix_pending', 'fls_inbox', ['status', 'id'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('fls_inbox_ix_sale', 'fls_inbox', ['retail_point_id', 'sale_num'], unique=False)
    op.create_table('fls_token_retail_point',
    sa.Column('token_uuid', sa.String(length=32), nullable=False),
    sa.Column('retail_point_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['token_uuid'], ['user_api_token.uuid'], name='fls_token_retail_point_fk_token', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_uuid', 'retail_point_id', name=op.f('pk_fls_token_retail_point'))
    )
    # Rows of days without their own partition yet land here; creating that
    # day's partition moves them (rattail_fls.db.storage.ensure_day_partitions).
    op.execute("CREATE TABLE fls_inbox_default PARTITION OF fls_inbox DEFAULT")


def downgrade():
    op.drop_table('fls_token_retail_point')
    op.drop_table('fls_inbox')
    op.drop_table('fls_business_day')

# -*- coding: utf-8; -*-
"""fls day closes, summaries, push log

Revision ID: 0c108692ba8c
Revises: f789fb023a45
Create Date: 2026-11-22

"""

# revision identifiers, used by Alembic.
revision = '0c108692ba8c'
down_revision = 'f789fb023a45'
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table('fls_day_close',
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('retail_point_id', sa.Integer(), nullable=False),
    sa.Column('sale_date', sa.Date(), nullable=False),
    sa.Column('closes', sa.Integer(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sales_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('requested_by', sa.String(length=20), nullable=True),
    sa.Column('sale_count', sa.Integer(), nullable=False),
    sa.Column('summary_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('uuid', name=op.f('pk_fls_day_close')),
    sa.UniqueConstraint('retail_point_id', 'sale_date', name='fls_day_close_uq_day')
    )
    op.create_table('fls_summary',
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('sale_num', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('retail_point_id', sa.Integer(), nullable=False),
    sa.Column('sale_date', sa.Date(), nullable=False),
    sa.Column('sale_counter_id', sa.Integer(), nullable=False),
    sa.Column('payment_journal_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('total_including_miscellaneous', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('amount_total', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('total_cess', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('sale_count', sa.Integer(), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('reconciled', sa.Boolean(), nullable=False),
    sa.Column('reconciliation', sa.Text(), nullable=False),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.Column('hold_reason', sa.String(length=255), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failure_class', sa.String(length=20), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('local_data_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('uuid', name=op.f('pk_fls_summary')),
    sa.UniqueConstraint('sale_num', 'version', name='fls_summary_uq_version')
    )
    op.create_index('fls_summary_ix_day', 'fls_summary', ['retail_point_id', 'sale_date'], unique=False)
    op.create_index('fls_summary_ix_due', 'fls_summary', ['status', 'next_attempt_at'], unique=False)
    op.create_index('fls_summary_ix_live', 'fls_summary', ['sale_num'], unique=True, postgresql_where=sa.text("status <> 'superseded'"))
    op.create_table('fls_push_log',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('summary_uuid', sa.String(length=32), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('failure_class', sa.String(length=20), nullable=True),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('excerpt', sa.Text(), nullable=True),
    sa.Column('elapsed', sa.Float(), nullable=True),
    sa.Column('local_data_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['summary_uuid'], ['fls_summary.uuid'], name='fls_push_log_fk_summary'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fls_push_log'))
    )
    op.create_index('fls_push_log_ix_summary', 'fls_push_log', ['summary_uuid'], unique=False)


def downgrade():
    op.drop_table('fls_push_log')
    op.drop_table('fls_summary')
    op.drop_table('fls_day_close')

# -*- coding: utf-8; -*-
"""fls inbox: the normalised sale rendered for COPY at the door

Revision ID: c3e8b5a1d974
Revises: a4c9e2f7b813
Create Date: 2026-12-01

The door stores each accepted sale as the rows COPY needs (``sale_rows``), so the
workers neither parse JSON nor format values.  Rows stored before keep their JSON
``sale`` (or none, older still); the workers handle all three.
"""

# revision identifiers, used by Alembic.
revision = 'c3e8b5a1d974'
down_revision = 'a4c9e2f7b813'
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.add_column('fls_inbox', sa.Column('sale_rows', sa.Text(), nullable=True))


def downgrade():
    # pending rows written since then are validated again from their body by older workers
    op.drop_column('fls_inbox', 'sale_rows')

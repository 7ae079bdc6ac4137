# -*- coding: utf-8; -*-
"""fls api tokens, hashed: move the shops' tokens out of user_api_token

Revision ID: b7d41e9a2c63
Revises: 5b1e7c9d2a40
Create Date: 2026-12-01

Every token bound to a retail point moves to ``fls_api_token`` as its SHA-256
(the same id, so the shops keep working), its bindings move with it
(``fls_token_retail_point`` becomes ``fls_api_token_retail_point``), and the
plaintext goes: the moved rows leave ``user_api_token``, and
``user_api_token_version`` (rattail versions that table) loses the token
string of every version row.  Tokens without a binding are Tailbone API
tokens, not the intake's, and stay where they are.

Downgrading cannot give the tokens back (only hashes are kept): it drops them
and their bindings; the shops then need new tokens.
"""

# revision identifiers, used by Alembic.
revision = 'b7d41e9a2c63'
down_revision = '5b1e7c9d2a40'
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table('fls_api_token',
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('user_uuid', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=8), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by_uuid', sa.String(length=32), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_uuid', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['user_uuid'], ['user.uuid'], name='fls_api_token_fk_user'),
    sa.ForeignKeyConstraint(['created_by_uuid'], ['user.uuid'], name='fls_api_token_fk_created_by'),
    sa.ForeignKeyConstraint(['revoked_by_uuid'], ['user.uuid'], name='fls_api_token_fk_revoked_by'),
    sa.PrimaryKeyConstraint('uuid', name=op.f('pk_fls_api_token')),
    sa.UniqueConstraint('token_hash', name='fls_api_token_uq_token_hash'),
    )
    # hint and hash as rattail_fls.sales.auth makes them (HINT_LENGTH, token_hash)
    op.execute("""
        INSERT INTO fls_api_token (uuid, user_uuid, description, token_hash, hint, created)
        SELECT t.uuid, t.user_uuid, t.description,
               encode(sha256(convert_to(t.token_string, 'UTF8')), 'hex'),
               left(t.token_string, 8), t.created AT TIME ZONE 'UTC'
        FROM user_api_token t
        WHERE t.uuid IN (SELECT token_uuid FROM fls_token_retail_point)""")
    op.drop_constraint('fls_token_retail_point_fk_token', 'fls_token_retail_point', type_='foreignkey')
    op.rename_table('fls_token_retail_point', 'fls_api_token_retail_point')
    op.execute("ALTER TABLE fls_api_token_retail_point "
               "RENAME CONSTRAINT pk_fls_token_retail_point TO pk_fls_api_token_retail_point")
    op.create_foreign_key('fls_api_token_retail_point_fk_token', 'fls_api_token_retail_point',
                          'fls_api_token', ['token_uuid'], ['uuid'], ondelete='CASCADE')
    op.execute("DELETE FROM user_api_token WHERE uuid IN (SELECT uuid FROM fls_api_token)")
    op.execute("UPDATE user_api_token_version SET token_string = NULL WHERE token_string IS NOT NULL")


def downgrade():
    op.drop_constraint('fls_api_token_retail_point_fk_token', 'fls_api_token_retail_point',
                       type_='foreignkey')
    op.execute("DELETE FROM fls_api_token_retail_point")
    op.execute("ALTER TABLE fls_api_token_retail_point "
               "RENAME CONSTRAINT pk_fls_api_token_retail_point TO pk_fls_token_retail_point")
    op.rename_table('fls_api_token_retail_point', 'fls_token_retail_point')
    op.create_foreign_key('fls_token_retail_point_fk_token', 'fls_token_retail_point',
                          'user_api_token', ['token_uuid'], ['uuid'], ondelete='CASCADE')
    op.drop_table('fls_api_token')

"""Shops' API tokens for the intake: a hash of each token, never the token, and its bindings.

The plugin keeps its own table instead of rattail's ``user_api_token``, which
stores the token itself and is versioned (so every token, revoked ones too,
would also sit in ``user_api_token_version``).

Not versioned: the row is its own audit record (who made it and when, who
revoked it and when; rows are never deleted), its bindings are fixed at
creation (to change them, make a new token and revoke the old one), and
``last_used_at`` changes far too often to be history.
"""

import sqlalchemy as sa
from sqlalchemy import orm

from rattail.db import model

__all__ = ['FlsApiToken', 'FlsApiTokenRetailPoint']


class FlsApiToken(model.Base):
    """A token a shop's Odoo sends as ``Authorization: Token <key>``; it acts as ``user``."""
    __tablename__ = 'fls_api_token'
    __table_args__ = (
        sa.ForeignKeyConstraint(['user_uuid'], ['user.uuid'], name='fls_api_token_fk_user'),
        sa.ForeignKeyConstraint(['created_by_uuid'], ['user.uuid'], name='fls_api_token_fk_created_by'),
        sa.ForeignKeyConstraint(['revoked_by_uuid'], ['user.uuid'], name='fls_api_token_fk_revoked_by'),
        sa.UniqueConstraint('token_hash', name='fls_api_token_uq_token_hash'),
    )
    model_title = "Shop API Token"

    uuid = model.uuid_column()
    user_uuid = sa.Column(sa.String(length=32), nullable=False)
    user = orm.relationship(model.User, foreign_keys=[user_uuid], doc="User the token acts as.")
    description = sa.Column(sa.String(length=255), nullable=False)
    token_hash = sa.Column(sa.String(length=64), nullable=False, doc="""
    Hex SHA-256 of the token (see :mod:`rattail_fls.sales.auth`); the token itself is never stored.
    """)
    hint = sa.Column(sa.String(length=8), nullable=False, doc="""
    The token's first characters, so an operator can tell which token a shop holds.
    """)
    created = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    created_by_uuid = sa.Column(sa.String(length=32), nullable=True)
    created_by = orm.relationship(model.User, foreign_keys=[created_by_uuid])
    last_used_at = sa.Column(sa.DateTime(timezone=True), nullable=True, doc="""
    Last accepted request, to the minute (written at most once a minute per token).
    """)
    revoked_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    revoked_by_uuid = sa.Column(sa.String(length=32), nullable=True)
    revoked_by = orm.relationship(model.User, foreign_keys=[revoked_by_uuid])
    bindings = orm.relationship('FlsApiTokenRetailPoint', cascade='all, delete-orphan',
                                order_by='FlsApiTokenRetailPoint.retail_point_id')

    @property
    def retail_point_ids(self):
        return [binding.retail_point_id for binding in self.bindings]

    def __str__(self):
        return f"{self.hint}… {self.description}"


class FlsApiTokenRetailPoint(model.Base):
    """A retail point a token may submit sales and day closes for."""
    __tablename__ = 'fls_api_token_retail_point'
    __table_args__ = (
        sa.ForeignKeyConstraint(['token_uuid'], ['fls_api_token.uuid'],
                                name='fls_api_token_retail_point_fk_token', ondelete='CASCADE'),
    )

    token_uuid = sa.Column(sa.String(length=32), primary_key=True)
    retail_point_id = sa.Column(sa.Integer(), primary_key=True)

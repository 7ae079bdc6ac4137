"""Retail points: the shops whose Odoo sends us sales, and their shard assignment."""

import sqlalchemy as sa
from sqlalchemy import orm

from rattail.db import model

from .shards import FlsShard


__all__ = ['FlsRetailPoint']


class FlsRetailPoint(model.Base):
    """A shop ("retail point") as Odoo knows it, routed to one shard.

    Versioned, so a shard move or a rename is visible in its history.
    """
    __tablename__ = 'fls_retail_point'
    __table_args__ = (
        sa.ForeignKeyConstraint(['store_uuid'], ['store.uuid'], name='fls_retail_point_fk_store'),
        sa.ForeignKeyConstraint(['shard_uuid'], ['fls_shard.uuid'], name='fls_retail_point_fk_shard'),
        sa.UniqueConstraint('retail_point_id', name='fls_retail_point_uq_retail_point_id'),
    )
    __versioned__ = {}
    model_title = "Retail Point"

    uuid = model.uuid_column()

    retail_point_id = sa.Column(sa.Integer(), nullable=False, doc="Odoo ``retail_point_id``; the routing key.")
    name = sa.Column(sa.String(length=255), nullable=False)
    store_uuid = sa.Column(sa.String(length=32), nullable=True)
    store = orm.relationship(model.Store, doc="Rattail store this retail point is, if any.")
    timezone = sa.Column(sa.String(length=64), nullable=True, doc="""
    IANA time zone of the shop (e.g. ``Asia/Kolkata``); the app default when empty.
    """)
    active = sa.Column(sa.Boolean(), nullable=False, default=True)
    shard_uuid = sa.Column(sa.String(length=32), nullable=True)
    shard = orm.relationship(FlsShard, doc="Shard holding this retail point's sales.",
                             backref=orm.backref('retail_points', cascade_backrefs=False))

    def __str__(self):
        return f"{self.retail_point_id} {self.name or ''}".strip()

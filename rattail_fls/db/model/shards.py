"""The shard registry: which shard schemas exist, where, and how they store sales."""

import sqlalchemy as sa

from rattail.db import model


__all__ = ['FlsShard']


class FlsShard(model.Base):
    """A shard: a schema holding the sales hypertables (or partitioned tables).

    Rows are created and kept in step with ``[rattail_fls] shards`` by
    ``rattail fls-shards upgrade``; retail points point at one of them.
    """
    __tablename__ = 'fls_shard'
    __table_args__ = (
        sa.UniqueConstraint('name', name='fls_shard_uq_name'),
    )
    model_title = "FLS Shard"

    uuid = model.uuid_column()

    name = sa.Column(sa.String(length=31), nullable=False, doc="Shard name from config, e.g. ``s01``.")
    schema_name = sa.Column(sa.String(length=63), nullable=False, doc="PostgreSQL schema holding the tables.")
    engine_key = sa.Column(sa.String(length=50), nullable=False, default='default', doc="""
    Engine key of the database holding the schema (``default`` = the main DB).
    """)
    storage = sa.Column(sa.String(length=20), nullable=True, doc="""
    ``timescaledb`` (hypertables) or ``partitions`` (native daily partitions); set at creation.
    """)
    schema_version = sa.Column(sa.Integer(), nullable=False, default=0, doc="""
    Last shard migration applied to the schema's tables.
    """)
    accept_new = sa.Column(sa.Boolean(), nullable=False, default=True, doc="""
    Whether new retail points may be assigned here by the assignment policy.
    """)
    created = sa.Column(sa.DateTime(), nullable=False, default=sa.func.now())
    upgraded = sa.Column(sa.DateTime(), nullable=True, doc="When ``fls-shards upgrade`` last touched it.")

    def __str__(self):
        return self.name or ''

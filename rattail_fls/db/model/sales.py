"""Sales tables of one shard: one set of classes, placed per shard by ``schema_translate_map``.

The tables are declared in the placeholder schema :data:`SHARD_SCHEMA`; a
connection or session routed to a shard translates it to the shard's real
schema (``fls_s01``...).  They live outside the main DB's metadata: alembic
never sees them, ``rattail_fls.db.shard_migrations`` creates and evolves them.

Every table carries the business date ``sale_date`` (the partitioning column)
and every primary key includes it, as TimescaleDB and native partitioning
require.  A sale's identity ``(retail_point_id, sale_num)`` cannot be a
unique index on a partitioned table, so it is kept in the small, unpartitioned
:class:`SaleIdent` table, which also hands out the ``sale_id`` used as the
join key by the other tables.
"""

import sqlalchemy as sa
from sqlalchemy import orm

SHARD_SCHEMA = 'fls_shard'

metadata = sa.MetaData(schema=SHARD_SCHEMA)
Base = orm.declarative_base(metadata=metadata)

Money = sa.Numeric(18, 4)
Quantity = sa.Numeric(18, 4)


class SaleIdent(Base):
    """Identity of every sale in the shard: enforces one sale per (retail point, sale_num)."""
    __tablename__ = 'sale_ident'
    __table_args__ = (
        sa.UniqueConstraint('sale_id', name='sale_ident_uq_sale_id'),
    )

    retail_point_id = sa.Column(sa.Integer(), primary_key=True)
    sale_num = sa.Column(sa.String(), primary_key=True)
    sale_id = sa.Column(sa.BigInteger(), sa.Identity(), nullable=False)
    sale_date = sa.Column(sa.Date(), nullable=False, doc="Date the stored version is filed under.")
    content_hash = sa.Column(sa.String(64), nullable=False, doc="SHA-256 of the canonical payload.")
    inbox_id = sa.Column(sa.BigInteger(), doc="Inbox row of the stored version; orders resends.")
    revision = sa.Column(sa.Integer(), nullable=False, default=1, doc="1 + replacements by changed resends.")
    stored_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class Sale(Base):
    """A sale order header, every field of the shops' JSON contract."""
    __tablename__ = 'sale'
    __table_args__ = (
        sa.Index('sale_ix_retail_point_date', 'retail_point_id', 'sale_date'),
    )

    sale_date = sa.Column(sa.Date(), primary_key=True)
    sale_id = sa.Column(sa.BigInteger(), primary_key=True)
    retail_point_id = sa.Column(sa.Integer(), nullable=False)
    sale_num = sa.Column(sa.String(), nullable=False)
    sale_counter_id = sa.Column(sa.Integer(), nullable=False)
    payment_journal_id = sa.Column(sa.Integer(), nullable=False)
    total_including_miscellaneous = sa.Column(Money, nullable=False)
    name = sa.Column(sa.String())
    confirmed_on = sa.Column(sa.DateTime(), doc="Shop-local time of confirmation, as sent (no zone).")
    retail_point_name = sa.Column(sa.String())
    sale_counter_name = sa.Column(sa.String())
    payment_method_name = sa.Column(sa.String())
    confirmed_by_name = sa.Column(sa.String())
    customer_name = sa.Column(sa.String())
    remarks = sa.Column(sa.String())
    store_type = sa.Column(sa.String())
    local_retail_point_db_id = sa.Column(sa.Integer())
    sale_journal_id = sa.Column(sa.Integer())
    partner_id = sa.Column(sa.Integer())
    debtors_account_id = sa.Column(sa.Integer())
    confirmed_by = sa.Column(sa.Integer())
    is_default_customer = sa.Column(sa.Boolean())
    total_cess = sa.Column(Money)
    miscellaneous_product_id = sa.Column(sa.Integer())
    miscellaneous_qty = sa.Column(Quantity)
    miscellaneous_sale_price = sa.Column(Money, doc="JSON ``miscelleneous_sale_price`` (sic).")
    miscellaneous_invoice_num = sa.Column(sa.String())
    inbox_id = sa.Column(sa.BigInteger(), doc="Inbox row the sale came from (provenance).")
    stored_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class SaleLine(Base):
    """A line of a sale; ``line_no`` is its position in ``sale_line_ids``."""
    __tablename__ = 'sale_line'
    __table_args__ = (
        sa.Index('sale_line_ix_retail_point_date', 'retail_point_id', 'sale_date'),
    )

    sale_date = sa.Column(sa.Date(), primary_key=True)
    sale_id = sa.Column(sa.BigInteger(), primary_key=True)
    line_no = sa.Column(sa.SmallInteger(), primary_key=True)
    retail_point_id = sa.Column(sa.Integer(), nullable=False)
    sl_no = sa.Column(sa.Integer())
    product_id = sa.Column(sa.Integer(), nullable=False)
    name = sa.Column(sa.String())
    product_uom_qty = sa.Column(Quantity, nullable=False)
    product_uom = sa.Column(sa.Integer())
    vat_percent = sa.Column(sa.Numeric(9, 4))
    price_unit = sa.Column(Money, nullable=False)
    account_id = sa.Column(sa.Integer())
    retail_sale_mrp = sa.Column(Money)
    cess_id = sa.Column(sa.Integer())
    cess_amount = sa.Column(Money)
    total_cess = sa.Column(Money)
    sale_type = sa.Column(sa.String())
    qty_available = sa.Column(Quantity)


class _LotColumns:
    """Columns shared by the two lot tables (lots of lines, lots of the misc item)."""

    sale_date = sa.Column(sa.Date(), primary_key=True)
    sale_id = sa.Column(sa.BigInteger(), primary_key=True)
    lot_no = sa.Column(sa.SmallInteger(), primary_key=True)
    retail_point_id = sa.Column(sa.Integer(), nullable=False)
    lot_id = sa.Column(sa.Integer())
    product_id = sa.Column(sa.Integer())
    lot_name = sa.Column(sa.String())
    product_name = sa.Column(sa.String())
    quantity = sa.Column(Quantity, nullable=False)


class SaleLot(_LotColumns, Base):
    """A lot (batch) issued for the sale's lines (``lot_details_ids``)."""
    __tablename__ = 'sale_lot'


class SaleMiscLot(_LotColumns, Base):
    """A lot issued for the sale's miscellaneous item (``miscellaneous_lot_details_ids``)."""
    __tablename__ = 'sale_misc_lot'


#: Tables partitioned by day on ``sale_date`` (everything but the identity table).
PARTITIONED_TABLES = (Sale.__table__, SaleLine.__table__, SaleLot.__table__, SaleMiscLot.__table__)

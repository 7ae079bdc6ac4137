"""CORE's ``office_op`` member tables in a real MariaDB/MySQL database, for the loopback CORE-POS.

rattail-corepos lists members over SQL (``custdata`` through pyCOREPOS's
office_op model) before asking the API for each card, so the member importers
need a real CORE database beside the loopback API.  This builds one from the
same :class:`~fls_dev.loopback.corepos.CoreStore` the API serves, so the
two always agree.  Used by the tests, ``make demo`` and ``bench/corepos.py``.
"""

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from fls_dev.loopback.corepos import OFFICE_OP_TABLES


def recreate_database(server_url, name):
    """Drop and create database ``name`` on the MySQL server at ``server_url``; its URL."""
    url = make_url(server_url).set(database=None)
    engine = sa.create_engine(url, isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS `{name}`'))
            conn.execute(sa.text(f'CREATE DATABASE `{name}` CHARACTER SET utf8mb4'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(server_url, name):
    engine = sa.create_engine(make_url(server_url).set(database=None), isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS `{name}`'))
    finally:
        engine.dispose()


def load_office_op(url, store):
    """Create CORE's member tables (pyCOREPOS's model) in the database at ``url`` and fill
    them from ``store.office_op_rows()``, replacing what was there.  Returns row counts."""
    from corepos.db.office_op.model import Base     # pyCOREPOS maps these on import

    # Parents before children: custdata refers to memtype, Customers to CustomerAccounts.
    tables = [t for t in Base.metadata.sorted_tables if t.name in OFFICE_OP_TABLES]
    rows = store.office_op_rows()
    engine = sa.create_engine(url)
    try:
        Base.metadata.drop_all(engine, tables=tables)
        Base.metadata.create_all(engine, tables=tables)
        with engine.begin() as conn:
            # pyCOREPOS's model declares foreign keys CORE's own tables do not have: a real
            # custdata holds member types without a memtype row.
            conn.execute(sa.text('SET FOREIGN_KEY_CHECKS = 0'))
            for table in tables:
                if rows[table.name]:
                    conn.execute(table.insert(), rows[table.name])
    finally:
        engine.dispose()
    return {table.name: len(rows[table.name]) for table in tables}

"""Citus schema-based sharding: the few things the plugin does differently when Citus is installed.

Each shard schema becomes a *distributed schema*: its tables (daily
partitions included) are colocated on one worker, and queries that stay in
the schema are routed there.  Everything here is behind :func:`installed`;
the decisions are pure functions (unit-tested), the SQL is small.

* ``fls-shards upgrade`` turns on ``citus.enable_schema_based_sharding`` for
  its own transaction before creating a shard schema (without it the schema
  silently stays an ordinary local one), and distributes an existing local
  shard schema, then drops the coordinator's local copy of its rows
  (``truncate_local_data_after_distributing_table``), which would otherwise
  make the next day's partition fail on the default partition's constraint.
* Under Citus, sales tables are native partitions: a hypertable there would
  only be made on the coordinator's empty table.
* ``fls-shards place SHARD --node HOST:PORT`` moves a whole shard between
  workers (``citus_schema_move``).
"""

import sqlalchemy as sa

from rattail_fls.config import ConfigError
from rattail_fls.db import storage as st
from rattail_fls.db.model.sales import metadata as shard_metadata

ENABLE, DISTRIBUTE, TRUNCATE_LOCAL = 'enable_schema_sharding', 'distribute', 'truncate_local'


def installed(conn):
    return bool(conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).scalar())


def storage_preference(citus, preference):
    """The storage to ask for: under Citus ``auto`` means partitions and ``timescaledb`` is refused."""
    if not citus:
        return preference
    if preference == st.TIMESCALEDB:
        raise ConfigError("[rattail_fls] storage = timescaledb cannot work under Citus (a hypertable would "
                          "exist only on the coordinator's empty table: no chunks, no compression); "
                          "set storage = auto or partitions")
    return st.PARTITIONS


def plan_upgrade(citus, schema_exists, distributed):
    """Citus steps of an upgrade of one shard schema, in order."""
    if not citus or distributed:
        return []
    if not schema_exists:
        return [ENABLE]
    return [ENABLE, DISTRIBUTE, TRUNCATE_LOCAL]


def parse_node(text):
    """``'HOST:PORT'`` -> ``(host, port)``."""
    host, _, port = (text or '').rpartition(':')
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--node {text!r}: expected HOST:PORT of a Citus worker")
    return host, int(port)


def _is_distributed(conn, schema):
    return bool(conn.execute(sa.text("SELECT 1 FROM citus_schemas WHERE schema_name = CAST(:s AS regnamespace)"),
                             {'s': schema}).scalar())


def prepare(conn, schema):
    """Before the shard migrations (Citus installed): the Citus steps planned for ``schema``."""
    exists = bool(conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {'s': schema}).scalar())
    steps = plan_upgrade(True, exists, exists and _is_distributed(conn, schema))
    if ENABLE in steps:
        conn.execute(sa.text("SET LOCAL citus.enable_schema_based_sharding TO on"))
    return steps


def finish(conn, schema, steps):
    """After the shard migrations: distribute an existing local schema and drop its local rows."""
    if DISTRIBUTE in steps:
        conn.execute(sa.text("SELECT citus_schema_distribute(CAST(:s AS regnamespace))"), {'s': schema})
    if TRUNCATE_LOCAL in steps:
        for table in shard_metadata.sorted_tables:
            conn.execute(sa.text("SELECT truncate_local_data_after_distributing_table(CAST(:t AS regclass))"),
                         {'t': f'"{schema}".{table.name}'})


def placement(conn, schema):
    """``{'distributed': bool, 'node': 'host:port' or None}``; None without Citus."""
    if not installed(conn):
        return None
    row = conn.execute(sa.text("""
        SELECT s.nodename, s.nodeport FROM citus_schemas c
        JOIN citus_shards s ON s.colocation_id = c.colocation_id
        WHERE c.schema_name = CAST(:s AS regnamespace) LIMIT 1"""), {'s': schema}).first()
    return {'distributed': row is not None, 'node': f'{row.nodename}:{row.nodeport}' if row else None}


def place(conn, schema, node):
    """Move the distributed shard schema to the worker ``node`` (``HOST:PORT``)."""
    host, port = parse_node(node)
    if not installed(conn):
        raise ConfigError("Citus is not installed in this shard's database: nothing to place")
    if not _is_distributed(conn, schema):
        raise ConfigError(f"schema {schema} is not a distributed schema: run `rattail fls-shards upgrade` first")
    conn.execute(sa.text("SELECT citus_schema_move(CAST(:s AS regnamespace), :h, :p)"),
                 {'s': schema, 'h': host, 'p': port})

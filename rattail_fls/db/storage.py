"""The two ways a shard stores sales by day: TimescaleDB hypertables or native partitions.

This is the only code that differs between the two; everything else (models,
writes, queries) is the same SQL on both.  All statements here run with the
shard's schema first on the ``search_path`` (see ``shard_migrations``), so no
schema name is spliced into SQL.
"""

import datetime
import logging

import sqlalchemy as sa

from rattail_fls.db.model.sales import PARTITIONED_TABLES

log = logging.getLogger(__name__)

TIMESCALEDB = 'timescaledb'
PARTITIONS = 'partitions'


def timescaledb_state(conn):
    """``'installed'``, ``'available'`` or ``None`` for the database behind ``conn``."""
    if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).scalar():
        return 'installed'
    if conn.execute(sa.text(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).scalar():
        return 'available'
    return None


def choose_storage(conn, preference):
    """Storage for a new shard: TimescaleDB when usable (or required), else partitions."""
    state = timescaledb_state(conn)
    if state == 'available' and 'timescaledb' not in conn.execute(
            sa.text("SHOW shared_preload_libraries")).scalar():
        # CREATE EXTENSION would end the connection (FATAL "must be preloaded")
        log.warning("timescaledb is installed but not in shared_preload_libraries: not using it")
        state = 'not preloaded'
    if state == 'available' and preference in ('auto', TIMESCALEDB):
        try:
            with conn.begin_nested():
                # In public, not in the first schema on the search path (the shard's own):
                # there its functions would be invisible to the other shards, and dropped
                # with the shard's schema.
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA public"))
            state = 'installed'
        except sa.exc.DBAPIError as error:
            log.warning("timescaledb is available but cannot be created: %s",
                        str(error.orig).strip())
    if state == 'installed' and preference in ('auto', TIMESCALEDB):
        return TIMESCALEDB
    if preference == TIMESCALEDB:
        raise RuntimeError("[rattail_fls] storage = timescaledb, but the TimescaleDB extension "
                           "cannot be used in this database (install it and add it to "
                           "shared_preload_libraries, or set storage = auto)")
    return PARTITIONS


def detect_storage(conn):
    """Storage of the existing tables of the shard on the search path, or None."""
    if conn.execute(sa.text(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('sale')")).scalar():
        return PARTITIONS
    if timescaledb_state(conn) == 'installed' and conn.execute(sa.text(
            "SELECT 1 FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = current_schema() AND hypertable_name = 'sale'")).scalar():
        return TIMESCALEDB
    return None


def partition_clause(storage):
    """Suffix of CREATE TABLE for the partitioned tables."""
    return ' PARTITION BY RANGE (sale_date)' if storage == PARTITIONS else ''


def finish_tables(conn, storage):
    """After CREATE TABLE: default partitions, or hypertables with 1-day chunks."""
    for table in PARTITIONED_TABLES:
        if storage == PARTITIONS:
            conn.execute(sa.text(
                f"CREATE TABLE IF NOT EXISTS {table.name}_default PARTITION OF {table.name} DEFAULT"))
        else:
            conn.execute(sa.text(
                "SELECT create_hypertable(CAST(:t AS regclass), 'sale_date', "
                "chunk_time_interval => INTERVAL '1 day', if_not_exists => true)"),
                {'t': table.name})


def apply_policies(conn, storage, compress_after_days):
    """Compression of old chunks (TimescaleDB only); re-applied on every upgrade."""
    if storage != TIMESCALEDB:
        return
    for table in PARTITIONED_TABLES:
        conn.execute(sa.text(
            f"ALTER TABLE {table.name} SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'retail_point_id', "
            "timescaledb.compress_orderby = 'sale_id')"))
        conn.execute(sa.text("SELECT remove_compression_policy(CAST(:t AS regclass), if_exists => true)"),
                     {'t': table.name})
        conn.execute(sa.text(
            "SELECT add_compression_policy(CAST(:t AS regclass), "
            "compress_after => make_interval(days => :days))"),
            {'t': table.name, 'days': compress_after_days})


def day_partition_name(table_name, day):
    return f"{table_name}_p{day:%Y%m%d}"


#: The shard tables partitioned by day, and their partitioning column.
SHARD_TABLES = tuple(t.name for t in PARTITIONED_TABLES)


def ensure_day_partitions(conn, days, tables=SHARD_TABLES, column='sale_date'):
    """Create the daily partitions of ``days`` that ``tables`` lack; returns the days made.

    Used for the shards' sales tables (native partitions only) and for the
    main DB's inbox.  Concurrency safe: creators serialise on an advisory lock,
    and rows that already fell into the default partition for such a day are
    moved into the new partition in the same transaction.
    """
    def exists(day):
        return conn.execute(sa.text("SELECT to_regclass(:name)"),
                            {'name': day_partition_name(tables[0], day)}).scalar()

    missing = [d for d in sorted(set(days)) if not exists(d)]
    if not missing:
        return []
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || :t))"),
                 {'t': '.partitions.' + tables[0]})
    created = []
    for day in missing:
        if exists(day):
            continue  # another worker made it while we waited for the lock
        bounds = {'lo': day, 'hi': day + datetime.timedelta(days=1)}
        for table in tables:
            stray = f"{table}_stray"
            conn.execute(sa.text(
                f"CREATE TEMP TABLE {stray} ON COMMIT DROP AS "
                f"WITH moved AS (DELETE FROM {table}_default "
                f"WHERE {column} >= :lo AND {column} < :hi RETURNING *) SELECT * FROM moved"), bounds)
            conn.execute(sa.text(
                f"CREATE TABLE {day_partition_name(table, day)} PARTITION OF {table} "
                f"FOR VALUES FROM ('{day.isoformat()}') TO ('{bounds['hi'].isoformat()}')"))
            conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM {stray}"))
            conn.execute(sa.text(f"DROP TABLE {stray}"))
        created.append(day)
    log.info("created daily partitions of %s for %s", ', '.join(tables),
             ', '.join(d.isoformat() for d in created))
    return created


def count_day_stores(conn, storage):
    """Number of daily partitions or chunks of the ``sale`` table."""
    if storage == PARTITIONS:
        return conn.execute(sa.text(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('sale') "
            "AND inhrelid <> to_regclass('sale_default')")).scalar()
    if storage == TIMESCALEDB:
        return conn.execute(sa.text(
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_schema = current_schema() AND hypertable_name = 'sale'")).scalar()
    return 0

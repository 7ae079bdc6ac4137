"""The two ways a shard stores sales by day: TimescaleDB hypertables or native partitions.

This is the only code that differs between the two; everything else (models,
writes, queries) is the same SQL on both.  All statements here run with the
shard's schema first on the ``search_path`` (see ``shard_migrations``), so no
schema name is spliced into SQL.
"""

import datetime
import logging
from dataclasses import dataclass

import sqlalchemy as sa

from rattail_fls.config import ConfigError
from rattail_fls.db.model.sales import PARTITIONED_TABLES

log = logging.getLogger(__name__)

TIMESCALEDB = 'timescaledb'
PARTITIONS = 'partitions'


class StorageError(ConfigError):
    """The configured storage cannot be used on this server; the message says what to set."""


@dataclass(frozen=True)
class TimescaleFacts:
    """What a PostgreSQL server says about TimescaleDB, asked without loading it."""
    available: bool   #: in ``pg_available_extensions``: the files are installed on the server
    installed: bool   #: in ``pg_extension``: created in this database
    preloaded: bool   #: its loader is in ``shared_preload_libraries`` (running in the server)


def preload_lists_timescaledb(setting):
    """True if a ``shared_preload_libraries`` value names TimescaleDB's loader."""
    for entry in (setting or '').split(','):
        name = entry.strip().strip('"').rsplit('/', 1)[-1]
        if name.endswith('.so'):
            name = name[:-3]
        if name == 'timescaledb':
            return True
    return False


def timescaledb_facts(conn):
    """Ask the server (catalogs and settings only: a server that has TimescaleDB installed but
    not preloaded answers ``CREATE EXTENSION`` with a FATAL error that drops the connection).

    Loaded means: ``shared_preload_libraries`` names it, or a setting that exists only once
    TimescaleDB is loaded is there -- its loader's (a preloaded server, also for roles that may
    not read ``shared_preload_libraries``), or its library's (already loaded in this backend,
    as on an embedded server such as PGlite, which has no preloading).  A server that does not
    preload TimescaleDB cannot load it at all, so neither setting exists there.
    """
    row = conn.execute(sa.text("""
        SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
               EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),
               (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'),
               EXISTS (SELECT 1 FROM pg_settings
                       WHERE name IN ('timescaledb.max_background_workers', 'timescaledb.license'))
    """)).one()
    available, installed, preload, loaded = row
    return TimescaleFacts(available=available or installed, installed=installed,
                          preloaded=bool(loaded or preload_lists_timescaledb(preload)))


NOT_PRELOADED = ("TimescaleDB is installed on this PostgreSQL server but not preloaded: add "
                 "shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL")


def decide_storage(preference, facts):
    """``(storage, warning or None)`` for a new shard; raises :class:`StorageError` when
    ``storage = timescaledb`` cannot be had.  Pure: the facts come from :func:`timescaledb_facts`."""
    if preference == PARTITIONS:
        return PARTITIONS, None
    if facts.available and facts.preloaded:
        return TIMESCALEDB, None
    if preference == TIMESCALEDB:
        if facts.available:
            raise StorageError(f"[rattail_fls] storage = timescaledb, but {NOT_PRELOADED} "
                               "(or set storage = auto to use native partitions)")
        raise StorageError("[rattail_fls] storage = timescaledb, but the TimescaleDB extension is not "
                           "installed on this PostgreSQL server: install it, preload it "
                           "(shared_preload_libraries = 'timescaledb') and restart PostgreSQL, "
                           "or set storage = auto")
    if facts.available:
        return PARTITIONS, f"{NOT_PRELOADED}; using native partitions for new shards until then"
    return PARTITIONS, None


def choose_storage(conn, preference):
    """``(storage, warning or None)`` for a new shard, creating the extension when it is used."""
    storage, warning = decide_storage(preference, timescaledb_facts(conn))
    if storage == TIMESCALEDB:
        try:
            with conn.begin_nested():
                # In public, not in the first schema on the search path (the shard's own):
                # there its functions would be invisible to the other shards, and dropped
                # with the shard's schema.
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA public"))
        except sa.exc.DBAPIError as error:
            reason = str(error.orig).strip().splitlines()[0]
            if preference == TIMESCALEDB:
                raise StorageError(f"[rattail_fls] storage = timescaledb, but CREATE EXTENSION "
                                   f"timescaledb failed: {reason}") from None
            return PARTITIONS, f"TimescaleDB cannot be created in this database ({reason}); " \
                               "using native partitions"
    return storage, warning


def detect_storage(conn):
    """Storage of the existing tables of the shard whose schema is first on the search path,
    or None when it has none."""
    kind = conn.execute(sa.text(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = 'sale'")).scalar()
    if kind is None:
        return None
    if kind == 'p':
        return PARTITIONS
    # A plain table: the root of a hypertable, which only a loaded TimescaleDB can serve.
    if not timescaledb_facts(conn).preloaded:
        raise StorageError(f"shard schema {current_schema(conn)} holds TimescaleDB hypertables, but "
                           f"{NOT_PRELOADED}")
    return TIMESCALEDB


def current_schema(conn):
    return conn.execute(sa.text("SELECT current_schema()")).scalar()


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
        # pg_class read with the statement's snapshot, not to_regclass(): its lookup goes
        # through the backend's catalog cache, which waiting on an advisory lock does not
        # refresh, so a partition another worker committed meanwhile could look absent.
        return conn.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = :name "
            "AND relnamespace = CAST(current_schema() AS regnamespace))"),
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


def premake_days(conn, storage, days):
    """Daily partitions of the sales tables for ``days`` (native partitions; TimescaleDB makes
    its chunks by itself); returns the days made."""
    if storage != PARTITIONS:
        return []
    return ensure_day_partitions(conn, days)


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


# Rows of a table from the catalog (no scan): each leaf of its inheritance tree (partitions, or
# TimescaleDB's chunks, which inherit from the hypertable too) counts its ``reltuples`` scaled to
# its size now, as the planner does; a leaf never analyzed (autovacuum skips small ones) counts
# its pages at the density of its analyzed siblings, or of the column widths; an empty heap
# counts nothing (a compressed chunk's rows are in TimescaleDB's catalog, _COMPRESSED_ROWS).
_ESTIMATE_ROWS = """
WITH RECURSIVE tree(oid) AS (
    SELECT CAST(to_regclass(:table) AS oid)
    UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid),
leaf AS (
    SELECT c.reltuples, c.relpages,
           pg_relation_size(c.oid) / current_setting('block_size')::int AS pages
    FROM tree JOIN pg_class c ON c.oid = tree.oid WHERE c.relkind = 'r'),
analyzed AS (
    SELECT sum(reltuples) / nullif(sum(relpages), 0) AS per_page
    FROM leaf WHERE reltuples >= 0 AND relpages > 0),
widths AS (
    SELECT (current_setting('block_size')::int - 24)
           / (28.0 + sum(CASE WHEN a.attlen > 0 THEN a.attlen ELSE 32 END)) AS per_page
    FROM pg_attribute a WHERE a.attrelid = to_regclass(:table) AND a.attnum > 0 AND NOT a.attisdropped)
SELECT CAST(round(coalesce(sum(CASE
    WHEN pages = 0 THEN 0
    WHEN reltuples >= 0 AND relpages > 0 THEN reltuples / relpages * pages
    ELSE pages * coalesce((SELECT per_page FROM analyzed), (SELECT per_page FROM widths)) END), 0))
    AS bigint)
FROM leaf
"""

# Rows of a hypertable's compressed chunks, as counted when they were compressed.
_COMPRESSED_ROWS = """
SELECT coalesce(sum(s.numrows_pre_compression), 0)
FROM _timescaledb_catalog.compression_chunk_size s
JOIN _timescaledb_catalog.chunk c ON c.id = s.chunk_id
JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id
WHERE h.schema_name = current_schema() AND h.table_name = :table
"""


def estimate_rows(conn, table, storage):
    """Rows of ``table`` (in the shard's schema) as the catalog estimates them, over all its
    partitions or chunks: for pages shown on every request, where a ``count(*)`` would read the
    whole table."""
    rows = conn.execute(sa.text(_ESTIMATE_ROWS), {'table': table}).scalar()
    if storage == TIMESCALEDB:
        rows += conn.execute(sa.text(_COMPRESSED_ROWS), {'table': table}).scalar()
    return rows


# -- TimescaleDB compression -------------------------------------------------------------------

# Chunks of the shard's hypertables (schema first on the search path).  A chunk written to
# after compression is "partially compressed" (status bit 8): compressing it again folds the
# new rows in, so it is due as well.
_CHUNKS = """
SELECT format('%I.%I', c.chunk_schema, c.chunk_name) AS chunk, c.hypertable_name, c.range_start,
       c.is_compressed, (coalesce(k.status, 0) & 8) <> 0 AS partial,
       c.range_end <= now() - make_interval(days => :days) AS old
FROM timescaledb_information.chunks c
LEFT JOIN _timescaledb_catalog.chunk k ON k.schema_name = c.chunk_schema AND k.table_name = c.chunk_name
WHERE c.hypertable_schema = current_schema()
"""
_DUE = f"SELECT chunk FROM ({_CHUNKS}) x WHERE old AND (NOT is_compressed OR partial) " \
       "ORDER BY range_start, hypertable_name"

_JOBS = """
SELECT count(*) AS jobs, max(s.last_run_started_at) AS last_run,
       count(*) FILTER (WHERE s.last_run_status = 'Failed') AS failing,
       coalesce(sum(s.total_failures), 0) AS failures, coalesce(sum(s.total_runs), 0) AS runs
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
WHERE j.proc_name = 'policy_compression' AND j.hypertable_schema = current_schema()
"""


def compression_status(conn, compress_after_days):
    """Figures of a TimescaleDB shard's compression, for ``fls-shards list`` and status checks:
    chunks, compressed chunks, chunks due (older than ``compress_after_days`` and not, or only
    partially, compressed), and the compression jobs' runs (``timescaledb_information.job_stats``):
    last run, how many jobs failed their last run, total failures.  ``job_status`` is
    ``never run``, ``failed`` (a job's last run failed) or ``ok``.
    """
    params = {'days': compress_after_days}
    chunks = conn.execute(sa.text(
        f"SELECT count(*), count(*) FILTER (WHERE is_compressed), "
        f"count(*) FILTER (WHERE old AND (NOT is_compressed OR partial)) FROM ({_CHUNKS}) x"),
        params).one()
    jobs = conn.execute(sa.text(_JOBS)).one()
    if jobs.failing:
        status = 'failed'
    elif not jobs.runs:
        status = 'never run'
    else:
        status = 'ok'
    return {'chunks': chunks[0], 'compressed': chunks[1], 'due': chunks[2], 'jobs': jobs.jobs,
            'job_last_run': jobs.last_run, 'job_status': status, 'jobs_failing': jobs.failing,
            'job_failures': jobs.failures}


def due_chunks(conn, older_than_days):
    """Chunks to compress (see :func:`compression_status`), oldest first."""
    return list(conn.execute(sa.text(_DUE), {'days': older_than_days}).scalars())


def compress_chunk(conn, chunk):
    """Compress one chunk (or fold the rows written since into its compressed data)."""
    conn.execute(sa.text("SELECT compress_chunk(CAST(:c AS regclass), if_not_compressed => true)"),
                 {'c': chunk})

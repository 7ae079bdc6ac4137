"""Shard map and routing: retail point -> shard -> (engine, schema).

Shards are configured in ``[rattail_fls]`` (``shards``, ``shard.<name>.*``);
their database is named by an engine key: ``default`` is the main Rattail DB,
any other key ``K`` is ``[rattail_fls.db] K.url``.  The registry rows
(:class:`FlsShard`) and the assignments of retail points live in the main DB.
Queries reach a shard's schema through ``schema_translate_map`` on one set of
model classes (``db/model/sales.py``).
"""

import contextlib
import datetime
import logging

import sqlalchemy as sa
from sqlalchemy import orm
from wuttjamaican.db.conf import make_engine_from_config

from rattail_fls import config as fls_config
from rattail_fls.config import ConfigError
from rattail_fls.db import citus, shard_migrations, storage as st
from rattail_fls.db.model.moves import FlsShardMove, PAUSING_STATES
from rattail_fls.db.model.retail_points import FlsRetailPoint
from rattail_fls.db.model.shards import FlsShard
from rattail_fls.db.model.sales import SHARD_SCHEMA, Sale, SaleLine

log = logging.getLogger(__name__)

#: What ``stats()`` tells of a TimescaleDB shard's compression (None for other shards).
COMPRESSION_KEYS = ('chunks', 'compressed', 'due', 'jobs', 'job_last_run', 'job_status', 'jobs_failing',
                    'job_failures')


def paused_retail_points(conn):
    """``{retail_point_id: reason}`` of the shops whose sales must wait in the inbox.

    A shop is paused while a move of its sales to another shard has not
    flipped its assignment yet (``rattail fls-shards move``); the processor
    leaves its rows pending and processes every other shop as usual.  One
    query on a tiny table (``conn``: connection or session).
    """
    rows = conn.execute(sa.select(FlsShardMove.retail_point_id, FlsShardMove.source_shard,
                                  FlsShardMove.target_shard)
                        .where(FlsShardMove.state.in_(PAUSING_STATES)))
    return {rp: f"retail point {rp} is moving from shard {source} to {target}; its sales wait "
                "in the inbox until the move flips"
            for rp, source, target in rows}


class ShardRouter:
    """Everything that needs to know where a shard is goes through one of these."""

    def __init__(self, config):
        self.config = config
        self.specs = {spec.name: spec for spec in fls_config.shard_specs(config)}
        self._engines = {}

    # -- where a shard lives --------------------------------------------------

    def spec(self, name):
        try:
            return self.specs[name]
        except KeyError:
            raise ConfigError(f"shard {name!r} is not in [rattail_fls] shards "
                              f"({', '.join(self.specs)})") from None

    def engine(self, engine_key):
        """Engine for an engine key; created once per process."""
        if engine_key == 'default':
            return self.config.appdb_engine
        if engine_key not in self._engines:
            settings = self.config.get_dict('rattail_fls.db')
            try:
                self._engines[engine_key] = make_engine_from_config(settings, prefix=f'{engine_key}.')
            except KeyError:
                raise ConfigError(f"shard engine {engine_key!r} has no URL: set "
                                  f"[rattail_fls.db] {engine_key}.url") from None
        return self._engines[engine_key]

    def engines(self):
        """Engines of the other databases created so far in this process."""
        return list(self._engines.values())

    def shard_engine(self, name):
        """Engine of shard ``name`` whose model classes resolve to its schema."""
        spec = self.spec(name)
        return self.engine(spec.engine_key).execution_options(
            schema_translate_map={SHARD_SCHEMA: spec.schema})

    @contextlib.contextmanager
    def begin(self, name, isolation_level=None):
        """A transaction on shard ``name``: models and plain SQL both reach its schema."""
        spec = self.spec(name)
        with self.shard_engine(name).connect() as conn:
            if isolation_level:
                conn = conn.execution_options(isolation_level=isolation_level)
            with conn.begin():
                conn.execute(sa.text(f'SET LOCAL search_path TO "{spec.schema}", public'))
                yield conn

    def session(self, name, **kwargs):
        """An ORM session on shard ``name`` (read paths such as web views)."""
        return orm.Session(bind=self.shard_engine(name), **kwargs)

    # -- routing ----------------------------------------------------------------

    def routes(self, conn, retail_point_ids):
        """``{retail_point_id: shard name}`` for the given ids; unknown, inactive or unassigned ones
        are absent.

        One query per call (``conn``: connection or session), so a worker sees a
        changed assignment at its next batch.
        """
        rows = conn.execute(sa.select(FlsRetailPoint.retail_point_id, FlsShard.name)
                            .join(FlsShard, FlsRetailPoint.shard_uuid == FlsShard.uuid)
                            .where(FlsRetailPoint.retail_point_id.in_(list(set(retail_point_ids))))
                            .where(FlsRetailPoint.active == sa.true()))
        return dict(rows.all())

    def storages(self, conn):
        """``{shard name: storage}`` from the registry."""
        return dict(conn.execute(sa.select(FlsShard.name, FlsShard.storage)).all())

    # -- registry and DDL ---------------------------------------------------------

    def upgrade(self, session, names=None, progress=None):
        """Create missing shard schemas, migrate all to the latest version, sync the registry.

        Idempotent; returns one dict per shard describing what was done.
        """
        compress_after = self.compress_after_days()
        preference = fls_config.get_choice(self.config, 'storage', fls_config.STORAGE_CHOICES)
        results, warned = [], set()
        for name in names or list(self.specs):
            spec = self.spec(name)
            with self.begin(name) as conn:
                is_citus = citus.installed(conn)
                steps = citus.prepare(conn, spec.schema) if is_citus else []
                storage, version, applied, warning = shard_migrations.upgrade_schema(
                    conn, spec.schema, citus.storage_preference(is_citus, preference), compress_after)
                citus.finish(conn, spec.schema, steps)
                premade = st.premake_days(conn, storage, self.premake_dates())
            if warning and warning not in warned:  # one per server answer, not one per shard
                warned.add(warning)
                log.warning("shard %s: %s", name, warning)
            shard = self.registry_row(session, name)
            shard.schema_name = spec.schema
            shard.engine_key = spec.engine_key
            shard.accept_new = spec.accept_new
            shard.storage = storage
            shard.schema_version = version
            shard.upgraded = datetime.datetime.utcnow()
            session.flush()
            results.append({'shard': name, 'storage': storage, 'version': version,
                            'applied': applied, 'premade': premade, 'warning': warning,
                            'compress_after_days': compress_after if storage == st.TIMESCALEDB else None})
            log.info("shard %s: %s, version %s (applied %s)", name, storage, version, applied or 'none')
        return results

    def premake_dates(self):
        """Today and the next ``partitions.premake_days`` days."""
        days = fls_config.get_number(self.config, 'partitions.premake_days', int, 0)
        today = datetime.date.today()
        return [today + datetime.timedelta(days=i) for i in range(days + 1)]

    def premake_partitions(self, conn):
        """Make the daily partitions of the coming days in every partitioned shard (the sweeper
        runs this, so the workers' hot path runs no DDL in steady state); ``{shard: days made}``."""
        made = {}
        for name, storage in sorted(self.storages(conn).items()):
            if name in self.specs and storage == st.PARTITIONS:
                with self.begin(name) as shard:
                    made[name] = st.premake_days(shard, storage, self.premake_dates())
        return made

    def registry_row(self, session, name, create=True):
        shard = session.query(FlsShard).filter(FlsShard.name == name).one_or_none()
        if shard is None and create:
            spec = self.spec(name)
            shard = FlsShard(name=name, schema_name=spec.schema, engine_key=spec.engine_key,
                             accept_new=spec.accept_new, schema_version=0)
            session.add(shard)
        return shard

    def stats(self, session, estimate=False):
        """One dict per configured shard, for ``fls-shards list`` and the web views; with
        ``estimate``, sales and lines are the catalog's estimates (:func:`storage.estimate_rows`),
        not counted."""
        def count(conn, table, storage):
            if estimate:
                return st.estimate_rows(conn, table.__tablename__, storage)
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()

        counts = dict(session.query(FlsRetailPoint.shard_uuid, sa.func.count())
                      .group_by(FlsRetailPoint.shard_uuid))
        result = []
        for name, spec in self.specs.items():
            shard = self.registry_row(session, name, create=False)
            info = {'shard': name, 'schema': spec.schema, 'engine': spec.engine_key,
                    'database': self.engine(spec.engine_key).url.render_as_string(hide_password=True),
                    'accept_new': spec.accept_new,
                    'retail_points': counts.get(shard.uuid, 0) if shard else 0,
                    'storage': None, 'version': None, 'sales': None, 'lines': None, 'days': None,
                    **dict.fromkeys(COMPRESSION_KEYS), 'citus': None}
            if shard and shard.schema_version:
                with self.begin(name) as conn:
                    placed = citus.placement(conn, spec.schema)
                    if placed is not None:
                        info['citus'] = placed['node'] if placed['distributed'] else 'local'
                    storage = st.detect_storage(conn)
                    info.update(storage=storage, version=shard.schema_version,
                                sales=count(conn, Sale, storage), lines=count(conn, SaleLine, storage),
                                days=st.count_day_stores(conn, storage))
                    if storage == st.TIMESCALEDB:
                        info.update(st.compression_status(conn, self.compress_after_days()))
            result.append(info)
        return result

    def compress_after_days(self):
        return fls_config.get_number(self.config, 'timescaledb.compress_after_days', int, 1)

    def compression_status(self, session):
        """``{shard: figures}`` of every TimescaleDB shard (see ``storage.compression_status``):
        for status checks, which report failing compression jobs and chunks left uncompressed."""
        result = {}
        for name, storage in sorted(self.storages(session).items()):
            if name in self.specs and storage == st.TIMESCALEDB:
                with self.begin(name) as conn:
                    result[name] = st.compression_status(conn, self.compress_after_days())
        return result

    def compress(self, session, older_than_days=None, names=None, progress=None):
        """Compress the due chunks of the TimescaleDB shards (all, or ``names``) now, one chunk per
        transaction, whether or not the server's background jobs run; ``{shard: chunks compressed}``
        (shards on native partitions are absent)."""
        days = self.compress_after_days() if older_than_days is None else older_than_days
        storages = self.storages(session)
        done = {}
        for name in names or list(self.specs):
            self.spec(name)
            if storages.get(name) != st.TIMESCALEDB:
                continue
            with self.begin(name) as conn:
                chunks = st.due_chunks(conn, days)

            def compress(chunk, i, name=name):
                with self.begin(name) as conn:
                    st.compress_chunk(conn, chunk)

            self.config.get_app().progress_loop(compress, chunks, progress,
                                                message=f"Compressing {len(chunks)} chunks of shard {name}")
            done[name] = chunks
            log.info("shard %s: compressed %d chunks older than %d days", name, len(chunks), days)
        return done

    def day_counts(self, name, retail_point_id=None):
        """Sales and lines per (retail point, sale_date) in shard ``name``, read from the shard itself."""
        with self.begin(name) as conn:
            rows = conn.execute(sa.text("""
                SELECT s.retail_point_id, s.sale_date, count(*) AS sales, sum(l.lines) AS lines
                FROM sale s JOIN (SELECT sale_date, sale_id, count(*) AS lines FROM sale_line
                                  GROUP BY sale_date, sale_id) l USING (sale_date, sale_id)
                WHERE CAST(:rp AS integer) IS NULL OR s.retail_point_id = :rp
                GROUP BY 1, 2 ORDER BY 2, 1"""), {'rp': retail_point_id})
            return [dict(r._mapping, shard=name) for r in rows]

    def place(self, name, node):
        """Move shard ``name`` (a Citus distributed schema) to the worker ``node`` = ``HOST:PORT``."""
        with self.begin(name) as conn:
            citus.place(conn, self.spec(name).schema, node)

    # -- assignment ----------------------------------------------------------------

    def choose_shard(self, session):
        """Assignment policy ``least_loaded``: the accepting shard with the fewest retail points.

        Only shards that ``fls-shards upgrade`` has created count; ties go to
        the shard listed first in ``[rattail_fls] shards``.
        """
        fls_config.get_choice(self.config, 'shard_policy', fls_config.SHARD_POLICIES)
        order = {name: i for i, name in enumerate(self.specs)}
        loads = session.query(FlsShard, sa.func.count(FlsRetailPoint.uuid))\
                       .outerjoin(FlsRetailPoint, FlsRetailPoint.shard_uuid == FlsShard.uuid)\
                       .filter(FlsShard.accept_new == sa.true())\
                       .filter(FlsShard.schema_version > 0)\
                       .filter(FlsShard.name.in_(list(self.specs)))\
                       .group_by(FlsShard.uuid).all()
        if not loads:
            raise ConfigError("no shard accepts new retail points: run `rattail fls-shards upgrade` "
                              "and check [rattail_fls] shard.<name>.accept_new")
        return min(loads, key=lambda pair: (pair[1], order[pair[0].name]))[0]

    def assign(self, session, retail_point, shard_name=None):
        """Assign ``retail_point`` to ``shard_name`` (or by policy); returns the shard.

        Without a shard name, a retail point that has a shard keeps it (the
        policy only places new ones).  Moving a retail point that already has
        sales would strand them, so that is refused here.
        """
        if not shard_name and retail_point.shard is not None:
            return retail_point.shard
        if shard_name:
            self.spec(shard_name)
            shard = self.registry_row(session, shard_name, create=False)
            if shard is None or not shard.schema_version:
                raise ConfigError(f"shard {shard_name!r} has not been created yet: "
                                  "run `rattail fls-shards upgrade` first")
        else:
            shard = self.choose_shard(session)
        current = retail_point.shard
        if current is not None and current is not shard and self.has_sales(current.name,
                                                                           retail_point.retail_point_id):
            raise ConfigError(f"retail point {retail_point.retail_point_id} has sales in shard "
                              f"{current.name}; move them with `rattail fls-shards move "
                              f"{retail_point.retail_point_id} {shard.name}`")
        retail_point.shard = shard
        session.flush()
        return shard

    def has_sales(self, name, retail_point_id):
        with self.begin(name) as conn:
            return bool(conn.execute(sa.text(
                "SELECT 1 FROM sale_ident WHERE retail_point_id = :r LIMIT 1"),
                {'r': retail_point_id}).scalar())

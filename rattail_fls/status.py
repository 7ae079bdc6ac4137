"""Health figures for people and monitoring: ``rattail fls-status`` and the web dashboard.

:func:`collect` reads the figures (plain dicts and lists, JSON-ready) from
PostgreSQL, the shards and Redis; a source that cannot be read becomes an
``error`` entry instead of an exception, so a Redis or shard outage is
reported, not crashed on.  :func:`evaluate` (pure) turns figures and
:class:`Thresholds` into problems with a level; the worst level gives the
Nagios exit code (0 ok, 1 warning, 2 critical).

Pending rows come from the inbox's partial index, rejected ones from a scan of
the inbox (bounded by ``fls-inbox prune``), the rest from small main-DB tables;
shard sizes are catalog estimates, never ``count(*)``.
"""

import datetime
import logging
import zoneinfo
from dataclasses import dataclass, fields

import redis
import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.db import storage as st
from rattail_fls.db.model.inbox import DEAD, PENDING, REJECTED
from rattail_fls.db.model.moves import DONE as MOVE_DONE
from rattail_fls.db.model.summaries import FAILED, HELD, SUPERSEDED

log = logging.getLogger(__name__)

OK, WARNING, CRITICAL = 'ok', 'warning', 'critical'
LEVELS = (OK, WARNING, CRITICAL)
EXIT_CODES = {OK: 0, WARNING: 1, CRITICAL: 2}


@dataclass(frozen=True)
class Thresholds:
    """Limits from ``[rattail_fls] status.*`` (defaults in ``config.DEFAULTS``)."""

    queue_warn: int
    queue_critical: int
    pending_age_warn_seconds: int
    pending_age_critical_seconds: int
    rejected_window_hours: int
    quiet_minutes: int
    business_hours: tuple
    min_workers: int

    @classmethod
    def from_config(cls, config):
        numbers = {f.name: fls_config.get_number(config, f'status.{f.name}', int, 0)
                   for f in fields(cls) if f.name != 'business_hours'}
        return cls(business_hours=parse_hours(fls_config.get_setting(config, 'status.business_hours')),
                   **numbers)


def parse_hours(text):
    """``'09:00-21:00'`` -> ``(time(9), time(21))``; a clear error names the setting."""
    try:
        start, end = (datetime.time.fromisoformat(part.strip()) for part in (text or '').split('-'))
    except ValueError:
        raise fls_config.ConfigError(f"[rattail_fls] status.business_hours must look like 09:00-21:00, "
                                     f"not {text!r}") from None
    if start >= end:
        raise fls_config.ConfigError(f"[rattail_fls] status.business_hours: {text!r} ends before it starts")
    return start, end


def in_business_hours(moment, hours):
    """Whether the (local) ``moment`` falls inside ``hours`` = (start, end)."""
    return hours[0] <= moment.time() < hours[1]


# -- evaluation (pure) ------------------------------------------------------------------

def _level_for(value, warn, critical):
    if critical and value >= critical:
        return CRITICAL
    if warn and value >= warn:
        return WARNING
    return OK


def evaluate(figures, limits):
    """``[{'level', 'check', 'message'}]`` for everything not ok in ``figures``."""
    problems = []

    def add(level, check, message):
        if level != OK:
            problems.append({'level': level, 'check': check, 'message': message})

    for source, error in figures.get('errors', {}).items():
        add(CRITICAL, source, f"{source} unavailable: {error}")
    for queue in figures.get('queues', []):
        add(_level_for(queue['queued'], limits.queue_warn, limits.queue_critical), 'queue',
            f"queue {queue['name']}: {queue['queued']} jobs waiting")
        if queue['failed']:
            add(WARNING, 'failed_jobs', f"queue {queue['name']}: {queue['failed']} failed RQ jobs")
    if 'workers' in figures and len(figures['workers']) < limits.min_workers:
        add(CRITICAL, 'workers', f"{len(figures['workers'])} RQ workers alive (want at least "
                                 f"{limits.min_workers})")
    for shop in figures.get('inbox', []):
        age = shop['oldest_pending_seconds']
        if age is not None:
            add(_level_for(age, limits.pending_age_warn_seconds, limits.pending_age_critical_seconds),
                'pending', f"retail point {shop['retail_point_id']}: {shop['pending']} pending, oldest "
                           f"{int(age)}s")
        if shop['recent_rejected']:
            add(WARNING, 'rejected', f"retail point {shop['retail_point_id']}: {shop['recent_rejected']} "
                                     f"rejected in the last {limits.rejected_window_hours}h")
    for shop in figures.get('quiet_shops', []):
        add(WARNING, 'quiet', f"retail point {shop['retail_point_id']}: no sale for "
                              f"{int(shop['quiet_minutes'])} min during business hours")
    stale = figures.get('days', {}).get('stale', 0)
    if stale:
        add(WARNING, 'stale_days', f"{stale} closed days changed since their close (before yesterday)")
    summaries = figures.get('summaries', {})
    for key, label in ((FAILED, 'failed'), (HELD, 'held'), ('superseded_live', 'superseded but live in Odoo')):
        if summaries.get(key):
            add(WARNING, 'summaries', f"{summaries[key]} summaries {label}")
    for shard in figures.get('timescaledb', []):
        if shard['failed_jobs']:
            add(WARNING, 'timescaledb', f"shard {shard['shard']}: {shard['failed_jobs']} TimescaleDB jobs "
                                        "failing")
        if shard['uncompressed_past_policy']:
            add(WARNING, 'timescaledb', f"shard {shard['shard']}: {shard['uncompressed_past_policy']} chunks "
                                        "past the compression policy are not compressed")
    for move in figures.get('moves', []):
        add(WARNING, 'moves', f"retail point {move['retail_point_id']}: move {move['source']} -> "
                              f"{move['target']} unfinished at {move['state']} (rerun fls-shards move)")
    return problems


def overall(problems):
    """The worst level among ``problems`` (``ok`` when there are none)."""
    return max((p['level'] for p in problems), key=LEVELS.index, default=OK)


# -- collection ----------------------------------------------------------------------------

def collect(config, now=None):
    """Every figure, plus ``problems`` and ``status``; never raises for an unreachable source."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    limits = Thresholds.from_config(config)
    figures = {'checked_at': now.isoformat(), 'errors': {}}
    readers = [('database', lambda: _main_db(config, figures, limits, now)),
               ('redis', lambda: _redis(config, figures))]
    for source, read in readers:
        try:
            read()
        except (sa.exc.DBAPIError, redis.exceptions.RedisError, OSError) as error:
            figures['errors'][source] = _one_line(error)
    if 'database' not in figures['errors']:
        _shards(config, figures)
    figures['problems'] = evaluate(figures, limits)
    figures['status'] = overall(figures['problems'])
    return figures


def _one_line(error):
    return str(getattr(error, 'orig', None) or error).strip().splitlines()[0]


def _redis(config, figures):
    from rq import Queue, Worker
    from rattail_fls.queue.enqueue import JOBS, redis_connection

    connection = redis_connection(config)
    connection.ping()
    queues = []
    for kind in JOBS:
        queue = Queue(fls_config.queue_name(config, kind), connection=connection)
        queues.append({'kind': kind, 'name': queue.name, 'queued': queue.count,
                       'started': queue.started_job_registry.count,
                       'scheduled': queue.scheduled_job_registry.count,
                       'failed': queue.failed_job_registry.count})
    figures['queues'] = queues
    names = {q['name'] for q in queues}
    workers = []
    for worker in Worker.all(connection=connection):
        if not names & set(worker.queue_names()):
            continue
        job = worker.get_current_job()
        workers.append({'name': worker.name, 'hostname': worker.hostname, 'pid': worker.pid,
                        'state': getattr(worker.get_state(), 'value', str(worker.get_state())), 'queues': worker.queue_names(),
                        'current_job': job.description if job else None,
                        'last_heartbeat': worker.last_heartbeat.isoformat() if worker.last_heartbeat else None})
    figures['workers'] = workers


def _main_db(config, figures, limits, now):
    with config.appdb_engine.connect() as conn:
        figures['inbox'] = _inbox(conn, limits, now)
        figures['quiet_shops'] = _quiet(conn, config, limits, now)
        figures['days'] = _days(conn, now)
        figures['summaries'] = _summaries(conn)
        figures['moves'] = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT retail_point_id, source_shard AS source, target_shard AS target, state, started "
            "FROM fls_shard_move WHERE state <> :done ORDER BY started"), {'done': MOVE_DONE})]
        for move in figures['moves']:
            move['started'] = move['started'].isoformat()


def _inbox(conn, limits, now):
    """Per retail point: pending (with oldest age), rejected (by the door or the shard), dead-lettered
    (a shard fault outlasted ``intake.max_attempts``)."""
    rows = conn.execute(sa.text("""
        SELECT retail_point_id,
               count(*) FILTER (WHERE status = :pending) AS pending,
               min(received_at) FILTER (WHERE status = :pending) AS oldest_pending,
               count(*) FILTER (WHERE status = :pending AND errors IS NOT NULL) AS retrying,
               count(*) FILTER (WHERE status = :rejected) AS rejected,
               count(*) FILTER (WHERE status = :dead) AS dead_lettered,
               count(*) FILTER (WHERE status = :rejected AND received_at >= :since) AS recent_rejected
        FROM fls_inbox WHERE status IN (:pending, :rejected, :dead)
        GROUP BY retail_point_id ORDER BY retail_point_id NULLS FIRST"""), {
        'pending': PENDING, 'rejected': REJECTED, 'dead': DEAD,
        'since': now - datetime.timedelta(hours=limits.rejected_window_hours)})
    result = []
    for r in rows:
        oldest = r.oldest_pending
        result.append({'retail_point_id': r.retail_point_id, 'pending': r.pending, 'retrying': r.retrying,
                       'rejected': r.rejected, 'dead_lettered': r.dead_lettered,
                       'recent_rejected': r.recent_rejected,
                       'oldest_pending_seconds': (now - oldest).total_seconds() if oldest else None})
    return result


def _quiet(conn, config, limits, now):
    """Active shops with sales before, none stored for ``quiet_minutes``, now inside business hours."""
    default_zone = config.get_app().get_timezone()
    rows = conn.execute(sa.text("""
        SELECT p.retail_point_id, p.timezone, max(d.changed_at) AS last_sale
        FROM fls_retail_point p JOIN fls_business_day d ON d.retail_point_id = p.retail_point_id
        WHERE p.active GROUP BY p.retail_point_id, p.timezone
        HAVING max(d.changed_at) < :before ORDER BY p.retail_point_id"""), {
        'before': now - datetime.timedelta(minutes=limits.quiet_minutes)})
    quiet = []
    for r in rows:
        zone = _zone(r.timezone) or default_zone
        if in_business_hours(now.astimezone(zone), limits.business_hours):
            quiet.append({'retail_point_id': r.retail_point_id, 'last_sale': r.last_sale.isoformat(),
                          'quiet_minutes': (now - r.last_sale).total_seconds() / 60})
    return quiet


def _zone(name):
    try:
        return zoneinfo.ZoneInfo(name) if name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("retail point time zone %r is unknown; using the default", name)
        return None


def _days(conn, now):
    """Business days never closed, and closed ones whose sales changed since (before yesterday)."""
    before = now.date() - datetime.timedelta(days=1)
    row = conn.execute(sa.text("""
        SELECT count(*) FILTER (WHERE c.uuid IS NULL) AS unclosed,
               count(*) FILTER (WHERE c.uuid IS NOT NULL AND d.changed_at > c.sales_changed_at) AS stale
        FROM fls_business_day d LEFT JOIN fls_day_close c
          ON c.retail_point_id = d.retail_point_id AND c.sale_date = d.sale_date
        WHERE d.sale_date < :before"""), {'before': before}).one()
    return {'unclosed': row.unclosed, 'stale': row.stale}


def _summaries(conn):
    counts = dict(conn.execute(sa.text("SELECT status, count(*) FROM fls_summary GROUP BY status")).all())
    counts['superseded_live'] = conn.execute(sa.text(
        "SELECT count(*) FROM fls_summary WHERE status = :s AND sent_at IS NOT NULL"),
        {'s': SUPERSEDED}).scalar()
    return counts


def _shards(config, figures):
    """Per shard: size and row estimates from the catalog; TimescaleDB jobs and compression."""
    router = config.get_app().get_fls_handler().shards
    compress_after = fls_config.get_number(config, 'timescaledb.compress_after_days', int, 1)
    with config.appdb_engine.connect() as conn:
        storages = router.storages(conn)
    figures['shards'], figures['timescaledb'] = [], []
    for name, spec in router.specs.items():
        storage = storages.get(name)
        if not storage:
            figures['shards'].append({'shard': name, 'storage': None, 'bytes': None, 'sales_estimate': None})
            continue
        try:
            with router.begin(name) as conn:
                figures['shards'].append(dict(shard=name, storage=storage, **shard_size(conn, storage)))
                if storage == st.TIMESCALEDB:
                    figures['timescaledb'].append(dict(shard=name, **timescaledb_health(conn, compress_after)))
        except (sa.exc.DBAPIError, OSError) as error:
            figures['errors'][f'shard {name}'] = _one_line(error)


def shard_size(conn, storage):
    """Bytes and estimated sales of the shard on the search path (catalog statistics only)."""
    if storage == st.TIMESCALEDB:
        row = conn.execute(sa.text("""
            SELECT (SELECT sum(hypertable_size(format('%I.%I', hypertable_schema, hypertable_name)::regclass))
                    FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema())
                   + pg_total_relation_size('sale_ident') AS bytes,
                   approximate_row_count('sale') AS sales""")).one()
    else:
        row = conn.execute(sa.text("""
            SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
                    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r') AS bytes,
                   (SELECT sum(greatest(c.reltuples, 0)) FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
                    WHERE h.inhparent = to_regclass('sale')) AS sales""")).one()
    return {'bytes': int(row.bytes or 0), 'sales_estimate': int(row.sales or 0)}


def timescaledb_health(conn, compress_after_days):
    """Failing background jobs of the shard's hypertables, and chunks the policy should have compressed.

    A chunk counts once its range ended more than ``compress_after_days`` plus
    one day ago (the policy runs daily).
    """
    failed = conn.execute(sa.text("""
        SELECT count(*) FROM timescaledb_information.job_stats
        WHERE hypertable_schema = current_schema() AND last_run_status = 'Failed'""")).scalar()
    late = conn.execute(sa.text("""
        SELECT count(*) FROM timescaledb_information.chunks
        WHERE hypertable_schema = current_schema() AND NOT is_compressed
          AND range_end < now() - make_interval(days => :days + 1)"""), {'days': compress_after_days}).scalar()
    return {'failed_jobs': failed, 'uncompressed_past_policy': late}

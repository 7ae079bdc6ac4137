"""Putting work on the RQ queues named in config."""

import logging
import uuid
from urllib.parse import unquote

import redis
from redis.sentinel import Sentinel
from rq import Queue, Retry

from rattail_fls import config as fls_config

log = logging.getLogger(__name__)

#: Job functions by queue kind (dotted paths: enqueuing never imports them).
JOBS = {
    'sales_processing': 'rattail_fls.queue.jobs.process_sales',
    'day_close': 'rattail_fls.queue.jobs.process_day_closes',
    'send_summary': 'rattail_fls.queue.jobs.send_summaries',
}
# RQ retries need the worker's scheduler (fls-worker starts it).  Not for send_summary: its
# one retry mechanism is the sweeper on next_attempt_at (rattail_fls.summaries.pushstate).
RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
NO_RQ_RETRY = frozenset({'send_summary'})
RESULT_TTL, FAILURE_TTL = 3600, 7 * 86400
# A wake flag outlives a lost drain job by at most this long (the sweeper covers the gap).
WAKE_TTL = 300

_connections = {}


def _cached(config, key, make):
    """Per-config memo of derived settings (config lookups cost ~0.2 ms each)."""
    cache = config.__dict__.setdefault('_fls_queue_cache', {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


SENTINEL_SCHEME = 'redis+sentinel://'
TIMEOUTS = {'socket_connect_timeout': 5, 'socket_timeout': 30}


def parse_sentinel_url(url):
    """``redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]`` ->
    ``(hosts, service, db, password)``; the password is the Redis master's."""
    rest = url[len(SENTINEL_SCHEME):]
    password = None
    if '@' in rest:
        auth, rest = rest.rsplit('@', 1)
        password = unquote(auth.split(':', 1)[-1]) or None
    where, _, path = rest.partition('/')
    parts = [p for p in path.split('/') if p]
    problem = None
    try:
        hosts = [(host, int(port)) for host, port in (item.rsplit(':', 1) for item in where.split(','))]
    except ValueError:
        problem = "every sentinel must be HOST:PORT"
    if not problem and not 1 <= len(parts) <= 2:
        problem = "the path must be /SERVICE or /SERVICE/DB"
    if not problem and len(parts) == 2 and not parts[1].isdigit():
        problem = f"database {parts[1]!r} is not a number"
    if problem:
        raise fls_config.ConfigError(
            f"[rattail_fls] redis.url {url!r}: {problem} "
            "(redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB])")
    return hosts, parts[0], int(parts[1]) if len(parts) == 2 else 0, password


def make_redis(url):
    """A client for ``url``: ``redis://``, ``rediss://``, ``unix://``, or a Sentinel-managed master
    (``redis+sentinel://``: the client asks the sentinels for the current master and follows a
    failover)."""
    if url.startswith(SENTINEL_SCHEME):
        hosts, service, db, password = parse_sentinel_url(url)
        sentinel = Sentinel(hosts, sentinel_kwargs=dict(TIMEOUTS), **TIMEOUTS)
        return sentinel.master_for(service, db=db, password=password)
    return redis.Redis.from_url(url, **TIMEOUTS)


def redis_connection(config):
    """One Redis client (connection pool) per URL per process."""
    url = _cached(config, 'redis.url', lambda: fls_config.get_setting(config, 'redis.url', required=True))
    if url not in _connections:
        _connections[url] = make_redis(url)
    return _connections[url]


def get_queue(config, kind):
    name = _cached(config, ('queue', kind), lambda: fls_config.queue_name(config, kind))
    return Queue(name, connection=redis_connection(config))


def enqueue(config, kind, ids, function=None, job_id=None):
    """Enqueue one job for inbox ``ids``; returns the job id, or None when Redis is down.

    A failure here loses nothing: the rows are committed and pending, and the
    sweeper enqueues them again.
    """
    try:
        job = get_queue(config, kind).enqueue(function or JOBS[kind], list(ids), job_id=job_id,
                                              retry=None if kind in NO_RQ_RETRY else RETRY,
                                              result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL)
    except redis.exceptions.RedisError as error:
        log.warning("could not enqueue %d %s rows (the sweeper will): %s", len(ids), kind, error)
        return None
    return job.id


def _wake_key(config, kind):
    return _cached(config, ('wake', kind), lambda: f"fls:wake:{fls_config.queue_name(config, kind)}")


def wake(config, kind):
    """Make sure one drain job, queued or running, will look at the inbox after this call; returns
    its id.

    The intake calls this after each commit instead of enqueueing a job per
    request.  The wake flag names the drain job that is queued or running: while
    it is set, a request costs one Redis call (``SET NX GET``: Redis 7.0 or
    later, which answers with that job's id) and the job takes the request's
    rows too, so the workers write big batches instead of one job per request.
    The job keeps the flag while it drains (it gives it up after a full batch,
    so that the next request queues a job for another worker) and clears it
    before its last look at the inbox (``jobs.process_sales``): a row committed
    while the flag was set is always seen by a look that follows its clearing,
    and a commit after it queues a new job.
    None when Redis is down (the sweeper catches up).
    """
    job_id = f"fls-drain-{uuid.uuid4().hex}"
    try:
        waiting = redis_connection(config).set(_wake_key(config, kind), job_id, nx=True, ex=WAKE_TTL, get=True)
    except redis.exceptions.RedisError as error:
        log.warning("could not wake the %s workers (the sweeper will): %s", kind, error)
        return None
    if waiting is None:
        return enqueue(config, kind, [], job_id=job_id)
    return waiting.decode()


def clear_wake(config, kind):
    """Called by a drain job before its last look at the inbox: later commits queue a new job.

    Without Redis the flag cannot be cleared; it expires (``WAKE_TTL``) and the
    sweeper queues what is pending meanwhile, so the job goes on with its work.
    """
    try:
        redis_connection(config).delete(_wake_key(config, kind))
    except redis.exceptions.RedisError as error:
        log.warning("could not clear the %s wake flag (it expires by itself): %s", kind, error)


class QueueNotifier:
    """What the services are given to hand work to the workers (``FlsHandler`` wires it in).

    The services never import the queue package: they call ``wake(kind)`` and
    ``enqueue(kind, ids)`` on the notifier they were given, so a deployment (or a
    test) can replace it.  Both return a job id, or None when Redis is down (the
    sweeper catches up).
    """

    def __init__(self, config):
        self.config = config

    def wake(self, kind):
        return wake(self.config, kind)

    def enqueue(self, kind, ids):
        return enqueue(self.config, kind, ids)

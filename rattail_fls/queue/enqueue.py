"""Putting work on the RQ queues named in config."""

import logging

import redis
from rq import Queue, Retry

from rattail_fls import config as fls_config

log = logging.getLogger(__name__)

#: Job functions by queue kind (dotted paths: enqueuing never imports them).
JOBS = {
    'sales_processing': 'rattail_fls.queue.jobs.process_sales',
    'day_close': 'rattail_fls.queue.jobs.process_day_closes',
}
# RQ retries need the worker's scheduler (fls-worker starts it).
RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
RESULT_TTL, FAILURE_TTL = 3600, 7 * 86400

_connections = {}


def redis_connection(config):
    """One Redis client (connection pool) per URL per process."""
    url = fls_config.get_setting(config, 'redis.url', required=True)
    if url not in _connections:
        _connections[url] = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    return _connections[url]


def get_queue(config, kind):
    return Queue(fls_config.queue_name(config, kind), connection=redis_connection(config))


def enqueue(config, kind, ids, function=None):
    """Enqueue one job for inbox ``ids``; returns the job id, or None when Redis is down.

    A failure here loses nothing: the rows are committed and pending, and the
    sweeper enqueues them again.
    """
    try:
        job = get_queue(config, kind).enqueue(function or JOBS[kind], list(ids), retry=RETRY,
                                              result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL)
    except redis.exceptions.RedisError as error:
        log.warning("could not enqueue %d %s rows (the sweeper will): %s", len(ids), kind, error)
        return None
    return job.id

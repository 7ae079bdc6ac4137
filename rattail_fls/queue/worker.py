"""RQ workers for the plugin's queues, with the Rattail config loaded once per process."""

import logging
import threading
import time

import redis

from rq import Queue, SimpleWorker, Worker

from rattail_fls import config as fls_config
from rattail_fls.queue import enqueue, jobs, sweeper

log = logging.getLogger(__name__)

KINDS = ('sales_processing', 'day_close', 'send_summary')


class ForkSafeWorker(Worker):
    """Forking worker whose work horse never reuses the parent's DB connections."""

    def main_work_horse(self, job, queue):
        config = jobs.get_config()
        config.appdb_engine.dispose(close=False)
        for engine in config.get_app().get_fls_handler().shards.engines():
            engine.dispose(close=False)
        return super().main_work_horse(job, queue)


def make_worker(config, kinds, fork=False):
    """A worker on the configured queues of ``kinds``.

    Default: :class:`rq.SimpleWorker` (jobs run in the worker process: no fork
    per job, connections and config reused; the hot path wants this).  With
    ``fork``, each job runs in a forked child, isolated from the others.
    """
    for kind in kinds:
        if kind not in KINDS:
            raise fls_config.ConfigError(f"--queue {kind!r}: expected one of {', '.join(KINDS)}")
    jobs.configure(config)
    connection = enqueue.redis_connection(config)
    queues = [Queue(fls_config.queue_name(config, kind), connection=connection) for kind in kinds]
    return (ForkSafeWorker if fork else SimpleWorker)(queues, connection=connection)


def run(config, kinds, fork=False, burst=False, redis_wait_max=30):
    """Work the queues until stopped, outliving Redis.

    RQ's worker waits out a lost connection while it waits for a job, but quits
    on a Redis error anywhere else (recording a job's end, a heartbeat).  Then
    this waits until Redis answers again (backoff up to ``redis_wait_max``
    seconds) and starts a fresh worker; nothing is lost meanwhile, since the
    work is in PostgreSQL and the sweeper re-enqueues it.  Returns when the
    worker was asked to stop (SIGTERM/SIGINT) or, with ``burst``, when the
    queues are empty.
    """
    wait = 1
    while True:
        worker = make_worker(config, kinds, fork=fork)
        worker.work(burst=burst, with_scheduler=not burst, logging_level='INFO')
        if burst or worker._stop_requested:  # pylint: disable=protected-access
            return worker
        log.warning("worker %s quit on a Redis fault; starting a new one once Redis answers", worker.name)
        while not _redis_answers(config):
            time.sleep(wait)
            wait = min(wait * 2, redis_wait_max)
        wait = 1


def _redis_answers(config):
    try:
        return enqueue.redis_connection(config).ping()
    except redis.exceptions.RedisError:
        return False


def start_sweeping(config, every_seconds, stop):
    """Run the sweeper every ``every_seconds`` in a daemon thread until ``stop`` is set."""
    def loop():
        while not stop.wait(every_seconds):
            try:
                sweeper.sweep(config)
            except Exception:  # noqa: BLE001 - keep sweeping through transient faults
                log.exception("sweep failed; will retry in %ss", every_seconds)

    thread = threading.Thread(target=loop, name='fls-sweeper', daemon=True)
    thread.start()
    return thread

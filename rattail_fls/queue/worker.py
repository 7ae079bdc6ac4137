"""RQ workers for the plugin's queues, with the Rattail config loaded once per process."""

import logging
import threading

import redis

from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested

from rattail_fls import config as fls_config
from rattail_fls.queue import enqueue, jobs, sweeper

log = logging.getLogger(__name__)

KINDS = ('sales_processing', 'day_close', 'send_summary')


#: Set by SIGTERM/SIGINT: :func:`run` stops instead of starting another worker, and a
#: running push batch starts no further push (the ones in flight end within the Odoo timeouts).
STOPPING = jobs.STOPPING


class StoppableWorker:
    """Stops promptly on SIGTERM: a stop is honoured even when Redis is gone (RQ records it in
    Redis first), and a drain job ends after its current batch (RQ's warm shutdown waits for
    the running job, and a drain under a steady stream of sales would never end)."""

    def request_stop(self, signum, frame):
        STOPPING.set()
        try:
            super().request_stop(signum, frame)
        except redis.exceptions.RedisError:
            self._stop_requested = True  # pylint: disable=attribute-defined-outside-init
            raise StopRequested() from None

    def handle_warm_shutdown_request(self):
        jobs.request_stop()
        super().handle_warm_shutdown_request()


class FlsSimpleWorker(StoppableWorker, SimpleWorker):
    """Jobs in the worker process (the default)."""


class ForkSafeWorker(StoppableWorker, Worker):
    """Forking worker whose work horse never reuses the parent's DB connections."""

    def main_work_horse(self, job, queue):
        config = jobs.get_config()
        config.appdb_engine.dispose(close=False)
        for engine in config.get_app().get_fls_handler().shards.engines():
            engine.dispose(close=False)
        return super().main_work_horse(job, queue)


def check_kinds(config, kinds):
    """The queue kinds and the settings a worker needs, checked without Redis (it may be down
    when a worker starts: :func:`run` waits for it)."""
    for kind in kinds:
        if kind not in KINDS:
            raise fls_config.ConfigError(f"--queue {kind!r}: expected one of {', '.join(KINDS)}")
        fls_config.queue_name(config, kind)
    fls_config.get_setting(config, 'redis.url', required=True)


def make_worker(config, kinds, fork=False):
    """A worker on the configured queues of ``kinds``.

    Default: :class:`StopBetweenBatches`, an :class:`rq.SimpleWorker` (jobs run
    in the worker process: no fork per job, connections and config reused; the
    hot path wants this).  With
    ``fork``, each job runs in a forked child, isolated from the others.
    """
    check_kinds(config, kinds)
    jobs.configure(config)
    jobs.warm_up(kinds)
    connection = enqueue.redis_connection(config)
    queues = [Queue(fls_config.queue_name(config, kind), connection=connection) for kind in kinds]
    return (ForkSafeWorker if fork else FlsSimpleWorker)(queues, connection=connection)


def run(config, kinds, fork=False, burst=False, redis_wait_max=30):
    """Work the queues until stopped, outliving Redis.

    RQ's worker waits out a lost connection while it waits for a job, but quits
    on a Redis error anywhere else (recording a job's end, a heartbeat), and
    raises one where it starts (asking Redis for its address, registering its
    birth) or registers its death.  Then this waits until
    Redis answers again (backoff up to ``redis_wait_max`` seconds) and starts a
    fresh worker; nothing is lost meanwhile, since the work is in PostgreSQL
    and the sweeper re-enqueues it.  Returns when the worker was asked to stop
    (SIGTERM/SIGINT) or, with ``burst``, when the queues are empty.
    """
    STOPPING.clear()
    worker = None
    try:
        while not STOPPING.is_set():
            try:
                worker = make_worker(config, kinds, fork=fork)  # RQ asks Redis for its address
                worker.work(burst=burst, with_scheduler=not burst, logging_level='INFO')
                faulted = False
            except redis.exceptions.RedisError as error:
                log.warning("Redis fault outside a job: %s", error)
                faulted = True
            if STOPPING.is_set() or (burst and not faulted):
                break
            log.warning("the worker quit on a Redis fault; starting a new one once Redis answers")
            wait = 1
            while not STOPPING.is_set() and not _redis_answers(config):
                STOPPING.wait(wait)
                wait = min(wait * 2, redis_wait_max)
    except StopRequested:
        pass
    return worker


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

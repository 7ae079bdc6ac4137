"""RQ workers for the plugin's queues, with the Rattail config loaded once per process."""

import logging
import threading

from rq import Queue, SimpleWorker, Worker

from rattail_fls import config as fls_config
from rattail_fls.queue import enqueue, jobs, sweeper

log = logging.getLogger(__name__)

KINDS = ('sales_processing', 'day_close', 'send_summary')


class StopBetweenBatches(SimpleWorker):
    """In-process worker whose drain job ends after its current batch on SIGTERM.

    RQ's warm shutdown waits for the running job, and a drain job under a
    steady stream of sales would never end; this bounds the stop to one batch.
    """

    def handle_warm_shutdown_request(self):
        jobs.request_stop()
        super().handle_warm_shutdown_request()


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

    Default: :class:`StopBetweenBatches`, an :class:`rq.SimpleWorker` (jobs run
    in the worker process: no fork per job, connections and config reused; the
    hot path wants this).  With
    ``fork``, each job runs in a forked child, isolated from the others.
    """
    for kind in kinds:
        if kind not in KINDS:
            raise fls_config.ConfigError(f"--queue {kind!r}: expected one of {', '.join(KINDS)}")
    jobs.configure(config)
    connection = enqueue.redis_connection(config)
    queues = [Queue(fls_config.queue_name(config, kind), connection=connection) for kind in kinds]
    return (ForkSafeWorker if fork else StopBetweenBatches)(queues, connection=connection)


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

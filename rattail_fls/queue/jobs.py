"""Job functions run by RQ workers; the Rattail config is loaded once per process.

``rattail fls-worker`` installs its config with :func:`configure`.  Under a
plain ``rq worker``, the config comes from ``RATTAIL_CONFIG_FILES`` (rattail's
usual lookup) on first use.
"""

import threading
import time

from rattail_fls import config as fls_config

_state = {}
#: Set by SIGTERM/SIGINT in ``fls-worker`` (a warm shutdown): a drain job stops after its
#: current batch, a running push batch starts no further push.
STOPPING = threading.Event()


def request_stop():
    """A warm shutdown began."""
    STOPPING.set()


def configure(config):
    _state.clear()
    _state['config'] = config


def get_config():
    if 'config' not in _state:
        from rattail.config import make_config
        _state['config'] = make_config(versioning=True)
    return _state['config']


def _handler():
    return get_config().get_app().get_fls_handler()


def warm_up(kinds):
    """Build the services the jobs of ``kinds`` use, before the first job is taken: the app's
    providers and their imports cost about a second, which the first batch would otherwise wait
    (and a pushing worker favours its senders' threads)."""
    if 'sales_processing' in kinds:
        _handler().get_processor()
    if 'day_close' in kinds:
        _handler().get_day_close_requests()
    if 'send_summary' in kinds:
        from rattail_fls.summaries.push import favour_senders
        favour_senders()


def process_day_closes(ids):
    """Close the days the shops asked for (inbox rows of kind day_close)."""
    return [{k: str(v) for k, v in r.items() if k != 'new_uuids'}
            for r in _handler().get_day_close_requests().process(ids)]


def _pusher():
    """One pusher per worker process (its connection pool and Odoo clients are reused)."""
    if 'pusher' not in _state:
        _state['pusher'] = _handler().make_pusher(stop=STOPPING)
    return _state['pusher']


def send_summaries(uuids):
    """Push the given summaries to Odoo if they are still due (same path as export-odoo-summary).

    A failed push does not fail the job: the outcome is in PostgreSQL (push
    log, ``next_attempt_at``), and the sweeper enqueues the summary again once
    it is due: the one retry mechanism.  The job raises only when the push
    path itself cannot run (database down...); what it claimed is then held
    by a later run, what it did not is still due.  Held and sent summaries are
    never pushed by a job.  Superseded Odoo records are retired afterwards
    when the external API is configured.
    """
    pusher = _pusher()
    outcomes = pusher.push_many(list(uuids))
    pusher.supersede()
    return {o['uuid']: str(o['outcome']) for o in outcomes}


def process_sales(ids):
    """Store the given pending sales, or with no ids (a drain job) everything pending.

    A drain job keeps the wake flag (``enqueue.wake``) while it works, so the
    requests meanwhile only join it; it clears the flag before its last look at
    the inbox, which sees every row committed while the flag was set.  Between
    batches: after a full one (a backlog) it clears the flag too, so the next
    request queues a second job for another worker; after a partial one it waits
    ``intake.drain_linger_ms``, so sales sent one per request gather into one
    batch instead of a batch each (their storing waits as long, never the answer).
    """
    if ids:
        return dict(_handler().get_processor().process(ids))
    from rattail_fls.queue.enqueue import clear_wake, wake
    config = get_config()
    processor = _handler().get_processor()
    linger = fls_config.get_number(config, 'intake.drain_linger_ms', int) / 1000

    def between(counts):
        if sum(counts.values()) >= processor.batch_size:
            clear_wake(config, 'sales_processing')
        elif linger:
            time.sleep(linger)

    total = processor.drain(stop=STOPPING.is_set, between=between)
    clear_wake(config, 'sales_processing')
    if not STOPPING.is_set():
        total.update(processor.drain(stop=STOPPING.is_set))  # the last look
    if STOPPING.is_set():
        wake(config, 'sales_processing')  # what is left goes to the next worker
    return dict(total)

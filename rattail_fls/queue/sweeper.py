"""The sweeper: re-enqueues accepted work that no worker has settled in time.

Redis keeps nothing on disk and workers can be killed, so a pending inbox row
older than ``[rattail_fls] intake.sweep_after_seconds`` is put on its queue
again (processing is idempotent, so an extra enqueue is harmless).  It also
makes the daily partitions of the coming days ahead of time (the inbox's, and
those of every shard on native partitions: ``partitions.premake_days``), so the
workers' hot path runs no DDL in steady state, and enqueues day summaries
due for a push to Odoo: pending ones older than ``odoo.sweep_after_seconds``
and failed ones whose next attempt is due, the one retry of a failed push
(pushing claims each summary, so an extra enqueue never pushes twice).  A
summary left ``sending`` longer than a claim can last is held (its outcome
is unknown).
"""

import logging
from collections import defaultdict

from rattail_fls import config as fls_config
from rattail_fls.queue import enqueue
from rattail_fls.sales import inbox
from rattail_fls.summaries import due, pushstate

log = logging.getLogger(__name__)

QUEUE_OF_KIND = {'sale': 'sales_processing', 'day_close': 'day_close'}


def sweep(config):
    """One sweep; returns ``{queue kind: rows re-enqueued}``."""
    after = fls_config.get_number(config, 'intake.sweep_after_seconds', int, 1)
    batch = fls_config.get_number(config, 'intake.batch_size', int, 1)
    with config.appdb_engine.begin() as conn:
        inbox.premake_partitions(conn)
        rows = inbox.overdue(conn, after)
    with config.appdb_engine.connect() as conn:
        config.get_app().get_fls_handler().shards.premake_partitions(conn)
    by_queue = defaultdict(list)
    for row in rows:
        kind = QUEUE_OF_KIND.get(row.kind)
        if kind in enqueue.JOBS:
            by_queue[kind].append(row.id)
    result = {}
    for kind, ids in by_queue.items():
        for start in range(0, len(ids), batch):
            enqueue.enqueue(config, kind, ids[start:start + batch])
        result[kind] = len(ids)
        log.info("sweeper re-enqueued %d overdue %s rows", len(ids), kind)
    if 'send_summary' in enqueue.JOBS:
        with config.appdb_engine.begin() as conn:
            pushstate.hold_stale(conn, due.claim_seconds(config))  # logs each one
            uuids = due.sweepable(conn, config)
        for start in range(0, len(uuids), batch):
            enqueue.enqueue(config, 'send_summary', uuids[start:start + batch])
        if uuids:
            result['send_summary'] = len(uuids)
            log.info("sweeper enqueued %d summaries due for a push to Odoo", len(uuids))
    return result

"""Process pending sale orders from the inbox into the shards, one batch at a time.

Used by the RQ job, the file importer and the replays alike, so there is one
write path.  The rows were validated and normalised at the door
(:mod:`rattail_fls.sales.intake`); here they are only routed and written.

One bad row harms only itself.  A shard write that fails is classified
(:mod:`rattail_fls.db.faults`): a *shard fault* leaves the shard's rows pending
with the reason and a backoff (:mod:`rattail_fls.retry`), dead-lettered after
``intake.max_attempts`` tries; a *row fault* is isolated by bisecting the batch
under savepoints, the culprit is rejected with the database's reason, and the
rest of the batch is stored in the same transaction.

Order of commits: each shard's transaction commits before the main DB's (which
holds the claimed inbox rows locked, ``SKIP LOCKED``).  If the process dies in
between, the rows are still pending; when they are processed again the shard
recognises its own earlier write (same content, same inbox id) and the rows
settle as done, so nothing is lost or doubled.
"""

import json
import logging
from collections import Counter, defaultdict

import sqlalchemy as sa

from rattail_fls import config as fls_config, jsontext
from rattail_fls.db import faults
from rattail_fls.db.model.inbox import DEAD, DONE, DUPLICATE, PENDING, REPLACED, SUPERSEDED, REJECTED
from rattail_fls.retry import RetryPolicy
from rattail_fls.db.shards import paused_retail_points
from rattail_fls.sales import contract, inbox, store

log = logging.getLogger(__name__)

STATUS = {store.CREATED: DONE, store.DUPLICATE: DUPLICATE, store.REPLACED: REPLACED,
          store.SUPERSEDED: SUPERSEDED}


def bump_business_days(conn, changes):
    """Apply ``{(retail_point_id, sale_date): [sales, lines]}`` deltas and count a change per day.

    Rows are touched in key order, so concurrent workers never deadlock here.
    """
    if not changes:
        return
    keys = sorted(changes)
    conn.execute(sa.text("""
        INSERT INTO fls_business_day (retail_point_id, sale_date, sale_count, line_count, changed_at)
        SELECT rp, day, sales, lines, clock_timestamp()
        FROM unnest(CAST(:rp AS integer[]), CAST(:day AS date[]), CAST(:sales AS integer[]),
                    CAST(:lines AS integer[])) AS c(rp, day, sales, lines)
        ORDER BY rp, day
        ON CONFLICT (retail_point_id, sale_date) DO UPDATE
        SET sale_count = fls_business_day.sale_count + EXCLUDED.sale_count,
            line_count = fls_business_day.line_count + EXCLUDED.line_count,
            change_count = fls_business_day.change_count + 1,
            changed_at = greatest(fls_business_day.changed_at, clock_timestamp())"""), {
        'rp': [k[0] for k in keys], 'day': [k[1] for k in keys],
        'sales': [changes[k][0] for k in keys], 'lines': [changes[k][1] for k in keys]})


def _reasons(field, reason):
    return json.dumps([contract.error(field, reason)])


def leave_paused_pending(settled, by_shard, paused):
    """Keep the sales of paused shops (a shard move in progress) pending, with the reason.

    ``inbox.claim`` already skips them; this catches a row whose shop was
    paused between the claim and the routing.
    """
    if not paused:
        return settled, by_shard
    kept = {}
    for shard, items in by_shard.items():
        for row, sale in items:
            reason = paused.get(sale.retail_point_id)
            if reason:
                settled.append((row.received_on, row.id, PENDING, _reasons('retail_point_id', reason)))
            else:
                kept.setdefault(shard, []).append((row, sale))
    return settled, kept


class SalesProcessor:
    """Claims pending sale rows, routes them and stores them in bulk."""

    def __init__(self, config, intake):
        """``intake``: the door, for rows stored before it normalised sales (validated here, once)."""
        self.config = config
        self.intake = intake
        self.router = config.get_app().get_fls_handler().shards
        self.writer = store.ShardWriter()
        self.batch_size = fls_config.get_number(config, 'intake.batch_size', int, 1)
        self.retry = RetryPolicy.from_config(config, 'intake')

    def process(self, ids=(), limit=None, only=False):
        """Process one batch (the given inbox ids first; with ``only``, nothing else).

        Returns a Counter of statuses.
        """
        counts = Counter()
        with self.config.appdb_engine.begin() as conn:
            paused = paused_retail_points(conn)
            rows = self._claim(conn, ids, limit or self.batch_size, only, paused)
            if not rows:
                return counts
            settled, by_shard = self._route(conn, rows)
            settled, by_shard = leave_paused_pending(settled, by_shard, paused)
            changes = defaultdict(lambda: [0, 0])
            storages = self.router.storages(conn) if by_shard else {}
            for shard, items in by_shard.items():
                settled += self._write_shard(shard, storages[shard], items, changes)
            inbox.settle(conn, settled)
            bump_business_days(conn, changes)
        counts.update(status for _, _, status, *_ in settled)
        return counts

    def drain(self, ids=(), only=False, stop=None, between=None):
        """Process batches until nothing more can be settled; returns the total Counter.

        Stops when a batch settles nothing (only rows left pending because
        their shard is down), so an outage does not spin, and between batches
        once ``stop()`` is true (a worker asked to shut down).  With ``only``,
        just the given ids (``import-fls-sales`` processes exactly what it read).
        ``between(counts)``, if given, is called after each batch that another follows.
        """
        total = Counter()
        ids = list(ids)
        while True:
            counts = self.process(ids, only=only)
            total.update(counts)
            if not counts or set(counts) == {PENDING} or (stop is not None and stop()):
                return total
            if only:
                ids = ids[self.batch_size:]
                if not ids:
                    return total
            else:
                ids = []
            if between is not None:
                between(counts)

    @staticmethod
    def _claim(conn, ids, limit, only, paused):
        if only:
            return inbox.claim(conn, 'sale', limit, ids[:limit], only=True, skip_retail_points=paused) if ids else []
        return inbox.claim(conn, 'sale', limit, ids, skip_retail_points=paused)

    def _route(self, conn, rows):
        """Sales to write (:class:`store.StoredSale`) per shard; rows no shard takes are rejected
        with the reason.

        A row holds its sale as the door rendered it for COPY (``sale_rows``: nothing is parsed
        here); rows stored before that hold it as JSON (``sale``), and rows stored before the door
        normalised sales are validated once, here.
        """
        settled, valid = [], []
        for row in rows:
            errors = None
            if row.sale_rows is not None:
                sale = store.StoredSale(row.retail_point_id, row.sale_num, row.sale_date, text=row.sale_rows)
            elif row.sale is not None:
                sale = store.StoredSale.of(jsontext.loads(row.sale))
            else:
                try:
                    normalised, errors = self.intake.check_sale(contract.decode_body(row.body))
                except contract.Invalid as invalid:
                    errors = invalid.errors
                sale = None if errors else store.StoredSale.of(normalised)
            if errors:
                settled.append((row.received_on, row.id, REJECTED, json.dumps(errors)))
                continue
            valid.append((row, sale))
        routes = self.router.routes(conn, [sale.retail_point_id for _, sale in valid])
        by_shard = defaultdict(list)
        for row, sale in valid:
            shard = routes.get(sale.retail_point_id)
            if shard is None:
                settled.append((row.received_on, row.id, REJECTED, _reasons(
                    'retail_point_id', f"retail point {sale.retail_point_id} is unknown, inactive "
                                       "or not assigned to a shard")))
            else:
                by_shard[shard].append((row, sale))
        return settled, by_shard

    def _write_shard(self, shard, storage, items, changes):
        """Store one shard's part of the batch; returns the rows' settlements."""
        rows = {row.id: row for row, _ in items}
        try:
            with self.router.begin(shard) as conn:
                days = self.writer.ensure_days(conn, shard, storage, [sale for _, sale in items])
                outcomes, refused = self._write_isolating(conn, shard, storage, items, changes)
        except Exception as error:  # noqa: BLE001 - classified below; nothing else of the batch is lost
            if not faults.is_transient(error):
                raise
            return self._postpone(shard, rows.values(), error)
        self.writer.remember_days(shard, days)
        settled = [(rows[o.inbox_id].received_on, o.inbox_id, STATUS[o.result], None) for o in outcomes]
        for row, reason in refused:
            log.warning("shard %s refused inbox row %s: %s", shard, row.id, reason)
            settled.append((row.received_on, row.id, REJECTED, _reasons('sale', f"the shard refused it: {reason}")))
        return settled

    def _write_isolating(self, conn, shard, storage, items, changes):
        """Write ``items`` under a savepoint; on a row fault, bisect until the culprits stand alone.

        Returns ``(outcomes, [(row, reason)])``; a shard fault propagates.
        """
        try:
            with conn.begin_nested():
                outcomes, shard_changes = self.writer.write(
                    conn, shard, storage, [(row.id, sale) for row, sale in items])
        except Exception as error:  # noqa: BLE001 - a row fault is isolated, a shard fault re-raised
            if faults.is_transient(error):
                raise
            if len(items) == 1:
                return [], [(items[0][0], faults.describe(error))]
            middle = len(items) // 2
            first = self._write_isolating(conn, shard, storage, items[:middle], changes)
            second = self._write_isolating(conn, shard, storage, items[middle:], changes)
            return first[0] + second[0], first[1] + second[1]
        for key, (sales, lines) in shard_changes.items():
            changes[key][0] += sales
            changes[key][1] += lines
        return outcomes, []

    def _postpone(self, shard, rows, error):
        """Leave rows pending with the reason and a backoff; dead-letter those out of tries."""
        reason = f"shard {shard} unavailable: {faults.describe(error)}"
        log.error("%s; %d sales stay pending", reason, len(rows))
        settled = []
        for row in rows:
            tries = row.attempts + 1
            if self.retry.exhausted(tries):
                settled.append((row.received_on, row.id, DEAD,
                                _reasons('shard', f"{reason}; gave up after {tries} tries")))
            else:
                when = self.retry.next_attempt_at(tries)
                settled.append((row.received_on, row.id, PENDING, _reasons(
                    'shard', f"{reason}; try {tries + 1} after {when:%Y-%m-%d %H:%M:%S %Z}"), when))
        return settled


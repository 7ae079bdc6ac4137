"""Process pending sale orders from the inbox into the shards, one batch at a time.

Used by the RQ job, the file importer and the CLI replay alike, so there is one
validation and write path.  Order of commits: each shard's transaction commits
before the main DB's (which holds the claimed inbox rows locked, ``SKIP
LOCKED``).  If the process dies in between, the rows are still pending; when
they are processed again the shard recognises its own earlier write (same
content, same inbox id) and the rows settle as done, so nothing is lost or
doubled.
"""

import json
import logging
from collections import Counter, defaultdict

import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.db.shards import paused_retail_points
from rattail_fls.db.model.inbox import DONE, DUPLICATE, REPLACED, SUPERSEDED, REJECTED
from rattail_fls.sales import contract, inbox, store

log = logging.getLogger(__name__)

STATUS = {store.CREATED: DONE, store.DUPLICATE: DUPLICATE, store.REPLACED: REPLACED,
          store.SUPERSEDED: SUPERSEDED}


def bump_business_days(conn, changes):
    """Apply ``{(retail_point_id, sale_date): [sales, lines]}`` deltas and mark the days changed."""
    if not changes:
        return
    keys = sorted(changes)
    conn.execute(sa.text("""
        INSERT INTO fls_business_day (retail_point_id, sale_date, sale_count, line_count, changed_at)
        SELECT rp, day, sales, lines, now()
        FROM unnest(CAST(:rp AS integer[]), CAST(:day AS date[]), CAST(:sales AS integer[]),
                    CAST(:lines AS integer[])) AS c(rp, day, sales, lines)
        ON CONFLICT (retail_point_id, sale_date) DO UPDATE
        SET sale_count = fls_business_day.sale_count + EXCLUDED.sale_count,
            line_count = fls_business_day.line_count + EXCLUDED.line_count,
            changed_at = now()"""), {
        'rp': [k[0] for k in keys], 'day': [k[1] for k in keys],
        'sales': [changes[k][0] for k in keys], 'lines': [changes[k][1] for k in keys]})


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
            reason = paused.get(sale['retail_point_id'])
            if reason:
                settled.append((row.received_on, row.id, 'pending',
                                json.dumps([contract.error('retail_point_id', reason)])))
            else:
                kept.setdefault(shard, []).append((row, sale))
    return settled, kept


class SalesProcessor:
    """Claims pending sale rows, validates, routes and stores them in bulk."""

    def __init__(self, config):
        self.config = config
        self.router = config.get_app().get_fls_handler().shards
        self.writer = store.ShardWriter()
        self.batch_size = fls_config.get_number(config, 'intake.batch_size', int, 1)
        self.rules = contract.Rules.from_config(config)

    def process(self, ids=(), limit=None):
        """Process one batch (the given inbox ids first); returns a Counter of statuses."""
        rules = self.rules
        counts = Counter()
        with self.config.appdb_engine.begin() as conn:
            paused = paused_retail_points(conn)
            rows = inbox.claim(conn, 'sale', limit or self.batch_size, ids, skip_retail_points=paused)
            if not rows:
                return counts
            settled, by_shard = self._validate_and_route(conn, rows, rules)
            settled, by_shard = leave_paused_pending(settled, by_shard, paused)
            changes = defaultdict(lambda: [0, 0])
            storages = self.router.storages(conn) if by_shard else {}
            for shard, items in by_shard.items():
                settled += self._write_shard(shard, storages[shard], items, changes)
            inbox.settle(conn, settled)
            bump_business_days(conn, changes)
        counts.update(status for _, _, status, _ in settled)
        return counts

    def drain(self, ids=(), stop=None):
        """Process batches until nothing more can be settled; returns the total Counter.

        Stops when a batch settles nothing (only rows left pending because
        their shard is down), so an outage does not spin, and between batches
        once ``stop()`` is true (a worker asked to shut down).
        """
        total = Counter()
        while True:
            counts = self.process(ids)
            total.update(counts)
            if not counts or set(counts) == {'pending'} or (stop is not None and stop()):
                return total
            ids = ()

    def _validate_and_route(self, conn, rows, rules):
        settled, valid = [], []
        for row in rows:
            try:
                valid.append((row, contract.validate_sale(contract.loads(row.body), rules)))
            except contract.Invalid as invalid:
                settled.append((row.received_on, row.id, REJECTED, json.dumps(invalid.errors)))
        routes = self.router.routes(conn, [sale['retail_point_id'] for _, sale in valid])
        by_shard = defaultdict(list)
        for row, sale in valid:
            shard = routes.get(sale['retail_point_id'])
            if shard is None:
                settled.append((row.received_on, row.id, REJECTED, json.dumps([contract.error(
                    'retail_point_id', f"retail point {sale['retail_point_id']} is unknown, "
                                       "inactive or not assigned to a shard")])))
            else:
                by_shard[shard].append((row, sale))
        return settled, by_shard

    def _write_shard(self, shard, storage, items, changes):
        """Store one shard's part of the batch; on a shard failure the rows stay pending."""
        rows = {row.id: row for row, _ in items}
        try:
            with self.router.begin(shard) as conn:
                outcomes, shard_changes = self.writer.write(
                    conn, shard, storage, [(row.id, sale) for row, sale in items])
        except (sa.exc.DBAPIError, OSError) as error:
            log.error("shard %s failed; %d sales stay pending: %s", shard, len(items), error)
            reason = json.dumps([contract.error('shard', f"shard {shard} unavailable: "
                                                         f"{str(getattr(error, 'orig', error)).strip()}")])
            return [(row.received_on, row.id, 'pending', reason) for row in rows.values()]
        for key, (sales, lines) in shard_changes.items():
            changes[key][0] += sales
            changes[key][1] += lines
        return [(rows[o.inbox_id].received_on, o.inbox_id, STATUS[o.result], None) for o in outcomes]

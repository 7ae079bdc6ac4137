"""Closing business days: build the summaries, version them, and know which closes are stale.

A day may be closed any number of times.  Each close recomputes the summaries
from the shard; a summary whose payload changed gets a new version and the old
one is marked superseded (both stay visible); an unchanged one is left as it
is, so re-closing never causes a re-push.  The payload is exactly what Odoo
stores (its controller keeps the whole body as ``data``), and is built in a
total order, so "changed" means a change Odoo would see.  A summary that was
sent (or is being sent) and has no sales left on a re-close is held with
that reason, never quietly superseded: Odoo keeps its record, and an operator
decides.  A close remembers the business
day's ``change_count`` it saw (read before the shard is), so a sale stored
later makes the close stale, whatever the clocks of the transactions, and the
nightly export closes the day again.
"""

import json
import logging

import sqlalchemy as sa

from rattail_fls.config import ConfigError, get_total_tolerance
from rattail_fls.db.model.business_days import FlsBusinessDay
from rattail_fls.db.model.summaries import GONE_REASON, FlsDayClose, FlsSummary, SummaryStatus
from rattail_fls.jsontext import dumps
from rattail_fls.summaries.aggregate import AGGREGATE_SETTINGS, aggregate_day

SUMMARY = FlsSummary.__table__
DAY_CLOSE = FlsDayClose.__table__
CLOSE_FIELDS = ('sales_changed_at', 'change_count_seen', 'requested_by', 'sale_count', 'summary_count')

log = logging.getLogger(__name__)


class DayCloser:
    """Closes (retail point, business date) pairs; one per process is enough."""

    def __init__(self, config):
        self.config = config
        self.app = config.get_app()
        self.router = self.app.get_fls_handler().shards
        self.tolerance = get_total_tolerance(config)

    def close(self, retail_point_id, day, requested_by='cli'):
        """Close one day; returns a result dict (counts of new, unchanged, superseded, held)."""
        return self.close_many([retail_point_id], day, requested_by)[0]

    def close_many(self, retail_point_ids, day, requested_by='cli'):
        """Close ``day`` for several retail points: one aggregation pass per shard, the summaries
        and close rows written in a few bulk statements (none per summary), one commit.

        Returns one result dict per retail point, in the given order.
        """
        session = self.app.make_session()
        try:
            routes = self.router.routes(session, retail_point_ids)
            unknown = [rp for rp in retail_point_ids if rp not in routes]
            if unknown:
                raise ConfigError(f"retail point(s) {', '.join(map(str, unknown))} unknown, inactive "
                                  "or without a shard")
            closes = self._lock_days(session, sorted(set(retail_point_ids)), day)
            # read before the shards are: a sale the aggregate misses is counted after this
            seen = {rp: (changed, count) for rp, changed, count in session.execute(
                sa.select(FlsBusinessDay.retail_point_id, FlsBusinessDay.changed_at,
                          FlsBusinessDay.change_count)
                .where(FlsBusinessDay.retail_point_id.in_(list(closes)))
                .where(FlsBusinessDay.sale_date == day))}
            by_point = {rp: [] for rp in closes}
            for shard in sorted(set(routes.values())):
                points = [rp for rp in closes if routes[rp] == shard]
                with self.router.begin(shard) as conn:
                    conn.execute(sa.text(AGGREGATE_SETTINGS))
                    for summary in aggregate_day(conn, points, day, self.tolerance):
                        by_point[summary['key'][0]].append(summary)
            results = self._store(session, day, by_point)
            updates = []
            for rp, close_uuid in closes.items():
                summaries = by_point[rp]
                sales_changed_at, change_count_seen = seen.get(rp, (None, 0))
                sale_count = sum(s['totals']['sale_count'] for s in summaries)
                updates.append({'close_uuid': close_uuid, 'new_sales_changed_at': sales_changed_at,
                                'new_change_count_seen': change_count_seen, 'new_requested_by': requested_by,
                                'new_sale_count': sale_count, 'new_summary_count': len(summaries)})
                results[rp].update(retail_point_id=rp, sale_date=day, shard=routes[rp], sales=sale_count)
            if updates:  # bind names differ from the columns' (SQLAlchemy reserves those)
                session.execute(DAY_CLOSE.update().where(DAY_CLOSE.c.uuid == sa.bindparam('close_uuid')).values(
                    closes=sa.func.coalesce(DAY_CLOSE.c.closes, 0) + 1, closed_at=sa.func.now(),
                    **{column: sa.bindparam(f'new_{column}') for column in CLOSE_FIELDS}), updates)
            session.commit()
            log.info("closed %s for %d retail points", day, len(results))
            return [results[rp] for rp in retail_point_ids]
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    @staticmethod
    def _lock_days(session, retail_point_ids, day):
        """``{retail point: uuid}`` of the day's close rows, created if needed and locked (in
        retail point order): concurrent closes of a day queue up."""
        session.execute(sa.text("""
            INSERT INTO fls_day_close (uuid, retail_point_id, sale_date, closes, sale_count, summary_count)
            SELECT replace(gen_random_uuid()::text, '-', ''), rp, :day, 0, 0, 0
            FROM unnest(CAST(:rps AS integer[])) AS rp ORDER BY rp
            ON CONFLICT (retail_point_id, sale_date) DO NOTHING"""), {'rps': retail_point_ids, 'day': day})
        return dict(session.execute(
            sa.select(DAY_CLOSE.c.retail_point_id, DAY_CLOSE.c.uuid)
            .where(DAY_CLOSE.c.retail_point_id.in_(retail_point_ids), DAY_CLOSE.c.sale_date == day)
            .order_by(DAY_CLOSE.c.retail_point_id).with_for_update()).all())

    def _store(self, session, day, by_point):
        """Version the summaries of every retail point in a few statements; a result dict each."""
        live = {}
        for row in session.execute(
                sa.select(SUMMARY.c.uuid, SUMMARY.c.sale_num, SUMMARY.c.version, SUMMARY.c.payload,
                          SUMMARY.c.status, SUMMARY.c.local_data_id, SUMMARY.c.retail_point_id)
                .where(SUMMARY.c.retail_point_id.in_(list(by_point)), SUMMARY.c.sale_date == day,
                       SUMMARY.c.status != SummaryStatus.SUPERSEDED)):
            live.setdefault(row.retail_point_id, {})[row.sale_num] = row
        results, superseded, gone_held, new_rows = {}, [], [], []
        for retail_point_id, summaries in by_point.items():
            old_ones = live.get(retail_point_id, {})
            result = results[retail_point_id] = {'new': 0, 'unchanged': 0, 'superseded': 0, 'held': 0,
                                                 'gone': 0, 'new_uuids': []}
            for summary in summaries:
                payload = dumps(summary['payload'])
                old = old_ones.pop(summary['sale_num'], None)
                if old is not None and old.payload == payload:
                    result['unchanged'] += 1
                    continue
                version = 1
                if old is not None:
                    superseded.append(old.uuid)
                    version = old.version + 1
                    result['superseded'] += 1
                held = not summary['reconciled']
                new_rows.append(dict(
                    uuid=self.app.make_uuid(), sale_num=summary['sale_num'], version=version,
                    retail_point_id=retail_point_id, sale_date=day, sale_counter_id=summary['key'][1],
                    payment_journal_id=summary['key'][2],
                    status=SummaryStatus.HELD if held else SummaryStatus.PENDING, payload=payload,
                    hold_reason="reconciliation mismatch: " + ', '.join(
                        c['check'] for c in summary['checks'] if not c['ok']) if held else None,
                    reconciled=summary['reconciled'], reconciliation=json.dumps(summary['checks']),
                    attempts=0, forced=False, **summary['totals']))
                result['new'] += 1
                result['held'] += held
                result['new_uuids'].append(new_rows[-1]['uuid'])
            for gone in old_ones.values():  # its sales moved to another day or shop
                if gone.local_data_id is not None or gone.status == SummaryStatus.SENDING:
                    gone_held.append({'gone_uuid': gone.uuid, 'gone_reason': (
                        f"{GONE_REASON} of {day}: no sales left for it; its Odoo record "
                        f"{gone.local_data_id or '(being sent)'} is still live")[:255]})
                    result['gone'] += 1
                    log.warning("summary %s was sent but has no sales left: held", gone.sale_num)
                else:
                    superseded.append(gone.uuid)
                    result['superseded'] += 1
        # the live-version index allows one non-superseded row per sale_num: retire before inserting
        if superseded:
            session.execute(SUMMARY.update().where(SUMMARY.c.uuid.in_(superseded))
                            .values(status=SummaryStatus.SUPERSEDED))
        if gone_held:
            session.execute(SUMMARY.update().where(SUMMARY.c.uuid == sa.bindparam('gone_uuid')).values(
                status=SummaryStatus.HELD, next_attempt_at=None, hold_reason=sa.bindparam('gone_reason')),
                gone_held)
        if new_rows:
            session.execute(SUMMARY.insert(), new_rows)
        return results

    def due_days(self, until, retail_point_ids=None):
        """``[(retail_point_id, sale_date)]`` up to ``until`` that were never closed or went stale."""
        query = sa.select(FlsBusinessDay.retail_point_id, FlsBusinessDay.sale_date)\
            .outerjoin(FlsDayClose, sa.and_(FlsDayClose.retail_point_id == FlsBusinessDay.retail_point_id,
                                            FlsDayClose.sale_date == FlsBusinessDay.sale_date))\
            .where(FlsBusinessDay.sale_date <= until)\
            .where(sa.or_(FlsDayClose.closed_at.is_(None), FlsDayClose.change_count_seen.is_(None),
                          FlsBusinessDay.change_count > FlsDayClose.change_count_seen))\
            .order_by(FlsBusinessDay.sale_date, FlsBusinessDay.retail_point_id)
        if retail_point_ids:
            query = query.where(FlsBusinessDay.retail_point_id.in_(list(retail_point_ids)))
        with self.config.appdb_engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def close_due(self, until, retail_point_ids=None, requested_by='nightly', progress=None):
        """Close every due day (see :meth:`due_days`), a date at a time; returns the result dicts."""
        by_date = {}
        for rp, day in self.due_days(until, retail_point_ids):
            by_date.setdefault(day, []).append(rp)
        results = []
        self.app.progress_loop(
            lambda item, i: results.extend(self.close_many(item[1], item[0], requested_by)),
            sorted(by_date.items()), progress, message=f"Closing {len(by_date)} business dates")
        return results


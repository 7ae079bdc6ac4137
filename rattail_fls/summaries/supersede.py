"""Superseded summaries whose Odoo record is still marked latest, and retiring them.

Odoo's controller creates every push with ``is_latest_data = True``.  Once a
newer version of a summary has been sent (its body names the record it
replaces, ``replaces_local_data_id``), the older version's record must be
marked ``is_latest_data = False``: through Odoo's external API when
``odoo.api.*`` is configured (:mod:`rattail_fls.odoo.api`), each attempt in the
push log (action ``retire``) with the push's failure classes; otherwise the
pairs are listed for an operator to retire by hand (``export-odoo-summary
--superseded``, the summaries view, :func:`count_to_retire`).
"""

import logging

import sqlalchemy as sa

from rattail_fls.db.model.summaries import FlsPushLog, FlsSummary, PushAction, PushOutcome, SummaryStatus
from rattail_fls.summaries.report import outcome

log = logging.getLogger(__name__)

SUMMARY = FlsSummary.__table__
PUSH_LOG = FlsPushLog.__table__


def _pairs():
    """SQL: each superseded, sent version not yet retired, with the newest sent version after it."""
    old, new = SUMMARY.alias('old'), SUMMARY.alias('new')
    newest = (sa.select(new.c.version, new.c.local_data_id)
              .where(new.c.sale_num == old.c.sale_num, new.c.version > old.c.version,
                     new.c.local_data_id.isnot(None))
              .order_by(new.c.version.desc()).limit(1).lateral('newest'))
    return (sa.select(old.c.uuid, old.c.sale_num, old.c.version, old.c.local_data_id,
                      old.c.retail_point_id, old.c.sale_date, old.c.amount_total,
                      old.c.total_including_miscellaneous,
                      newest.c.version.label('new_version'), newest.c.local_data_id.label('new_local_data_id'))
            .select_from(old.join(newest, sa.true()))
            .where(old.c.status == SummaryStatus.SUPERSEDED, old.c.local_data_id.isnot(None),
                   old.c.retired_at.is_(None)))


def to_retire(conn):
    """Every pair, oldest business date first: dicts with the old version's columns and ``new_*``."""
    query = _pairs().order_by(sa.text('sale_date'), sa.text('sale_num'), sa.text('version'))
    return [dict(r._mapping) for r in conn.execute(query)]


def count_to_retire(conn):
    """How many superseded records Odoo still holds as latest (for the web and ``fls-status``)."""
    return conn.execute(sa.select(sa.func.count()).select_from(_pairs().subquery())).scalar_one()


def describe(pair):
    """One line for the operator."""
    return (f"{pair['sale_num']}: Odoo record {pair['local_data_id']} (v{pair['version']}) is superseded "
            f"by record {pair['new_local_data_id']} (v{pair['new_version']}): set is_latest_data = False")


def retire(engine, client, pairs):
    """Retire each pair's old record through the external API; one outcome dict each.

    Every attempt goes to the push log of the old version; a failure leaves
    ``retired_at`` empty, so the next run tries again (a write is idempotent).
    """
    outcomes = []
    for pair in pairs:
        result = client.retire(pair['local_data_id'])
        with engine.begin() as conn:
            conn.execute(PUSH_LOG.insert().values(
                summary_uuid=pair['uuid'], action=PushAction.RETIRE, ok=result.ok,
                http_status=result.http_status, failure_class=result.failure,
                message=result.message[:255], excerpt=result.excerpt, elapsed=result.elapsed,
                local_data_id=pair['local_data_id']))
            if result.ok:
                conn.execute(SUMMARY.update().where(SUMMARY.c.uuid == pair['uuid'])
                             .values(retired_at=sa.func.now()))
        what = PushOutcome.SENT if result.ok else PushOutcome.FAILED
        message = (f"record {pair['local_data_id']} retired" if result.ok
                   else f"retiring record {pair['local_data_id']}: {result.failure}: {result.message}")
        outcomes.append(outcome(pair, what, message, status=SummaryStatus.SUPERSEDED, result=result))
    return outcomes

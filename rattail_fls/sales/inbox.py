"""Inbox table operations: accept, claim, settle, replay, prune.

Every function takes a SQLAlchemy connection (or session) in a transaction and
issues one statement per call, whatever the number of rows.
"""

import datetime

import sqlalchemy as sa

from rattail_fls.db import storage as st
from rattail_fls.db.model.inbox import FlsInbox, PENDING, REJECTED, FINAL

INBOX = FlsInbox.__table__


def accept(conn, items, kind, source, user_uuid=None):
    """Insert payloads; returns their ``(received_on, id)`` in order.

    ``items``: dicts with ``body`` and optionally ``retail_point_id``,
    ``sale_num``, ``sale_date``, ``status`` (default pending) and ``errors``.
    """
    if not items:
        return []
    columns = {'retail_point_id': 'integer', 'sale_num': 'varchar', 'sale_date': 'date', 'body': 'text',
               'status': 'varchar', 'errors': 'text'}
    params = {name: [i.get(name) for i in items] for name in columns}
    params['status'] = [i.get('status', PENDING) for i in items]
    params.update(kind=kind, source=source, user_uuid=user_uuid)
    arrays = ', '.join(f'CAST(:{name} AS {sqltype}[])' for name, sqltype in columns.items())
    result = conn.execute(sa.text(f"""
        INSERT INTO fls_inbox (kind, source, user_uuid, attempts, {', '.join(columns)})
        SELECT :kind, :source, :user_uuid, 0, * FROM unnest({arrays})
        RETURNING received_on, id"""), params)
    # ids come from the identity in the order rows are inserted, i.e. ``items`` order
    return sorted((tuple(r) for r in result), key=lambda key: key[1])


def claim(conn, kind, limit, ids=(), skip_retail_points=()):
    """Lock up to ``limit`` pending rows of ``kind``, the given ids first (``SKIP LOCKED``).

    Rows of ``skip_retail_points`` (shops being moved) are left alone, so they
    never fill a batch and starve the other shops.
    """
    columns = [INBOX.c.received_on, INBOX.c.id, INBOX.c.body, INBOX.c.user_uuid, INBOX.c.attempts]
    pending = sa.and_(INBOX.c.status == PENDING, INBOX.c.kind == kind)
    if skip_retail_points:
        pending = sa.and_(pending, sa.or_(INBOX.c.retail_point_id.is_(None),
                                          INBOX.c.retail_point_id.notin_(list(skip_retail_points))))
    rows = []
    if ids:
        rows = conn.execute(sa.select(*columns).where(pending, INBOX.c.id.in_(list(ids)))
                            .order_by(INBOX.c.id).limit(limit)
                            .with_for_update(skip_locked=True)).all()
    if len(rows) < limit:
        taken = [r.id for r in rows]
        rows += conn.execute(sa.select(*columns).where(pending, INBOX.c.id.notin_(taken))
                             .order_by(INBOX.c.id).limit(limit - len(rows))
                             .with_for_update(skip_locked=True)).all()
    return rows


def settle(conn, results):
    """Record outcomes: ``results`` = [(received_on, id, status, errors_json)]; attempts + 1."""
    if not results:
        return
    conn.execute(sa.text("""
        UPDATE fls_inbox i SET status = r.status, errors = r.errors,
               attempts = i.attempts + 1, processed_at = now()
        FROM unnest(CAST(:day AS date[]), CAST(:id AS bigint[]), CAST(:status AS varchar[]),
                    CAST(:errors AS text[])) AS r(day, id, status, errors)
        WHERE i.received_on = r.day AND i.id = r.id"""), {
        'day': [r[0] for r in results], 'id': [r[1] for r in results],
        'status': [r[2] for r in results], 'errors': [r[3] for r in results]})


def replay(conn, ids=None, retail_point_id=None, statuses=(REJECTED,), body=None):
    """Put rows back to pending (optionally with a corrected body); returns their keys.

    A row that was settled successfully cannot be replayed: that would only
    produce a duplicate, so only rejected (and stuck pending) rows qualify.
    """
    if body is not None and (not ids or len(ids) != 1):
        raise ValueError("a corrected body can only be given for exactly one inbox id")
    query = sa.update(INBOX).where(INBOX.c.status.in_(list(statuses)))
    if ids:
        query = query.where(INBOX.c.id.in_(list(ids)))
    if retail_point_id is not None:
        query = query.where(INBOX.c.retail_point_id == retail_point_id)
    values = {'status': PENDING, 'errors': None, 'source': 'replay'}
    if body is not None:
        values['body'] = body
    result = conn.execute(query.values(**values).returning(INBOX.c.received_on, INBOX.c.id, INBOX.c.kind))
    return [tuple(r) for r in result]


def overdue(conn, older_than_seconds, limit=10000):
    """Pending rows accepted more than ``older_than_seconds`` ago (stranded work)."""
    return conn.execute(sa.select(INBOX.c.received_on, INBOX.c.id, INBOX.c.kind)
                        .where(INBOX.c.status == PENDING)
                        .where(INBOX.c.received_at < sa.func.now()
                               - sa.func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds))
                        .order_by(INBOX.c.id).limit(limit)).all()


def premake_partitions(conn, days_ahead=2):
    """Daily inbox partitions for today and the next days (the intake itself never runs DDL)."""
    today = datetime.date.today()
    return st.ensure_day_partitions(conn, [today + datetime.timedelta(days=i) for i in range(days_ahead + 1)],
                                    tables=('fls_inbox',), column='received_on')


def prune(conn, retention_days, today=None):
    """Drop daily partitions older than the retention that hold only settled rows.

    Rejected or pending rows are never dropped: a partition holding any stays
    (they can still be fixed and replayed).  Returns the dropped days and the
    days kept for that reason.
    """
    cutoff = (today or datetime.date.today()) - datetime.timedelta(days=retention_days)
    names = conn.execute(sa.text("""
        SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
        WHERE h.inhparent = to_regclass('fls_inbox') AND c.relname ~ '^fls_inbox_p[0-9]{8}$'
        ORDER BY c.relname""")).scalars().all()
    dropped, kept = [], []
    for name in names:
        day = datetime.datetime.strptime(name[-8:], '%Y%m%d').date()
        if day >= cutoff:
            continue
        unsettled = conn.execute(sa.text(
            f"SELECT count(*) FROM {name} WHERE status NOT IN :final").bindparams(
                sa.bindparam('final', expanding=True)), {'final': list(FINAL)}).scalar()
        if unsettled:
            kept.append(day)
            continue
        conn.execute(sa.text(f"DROP TABLE {name}"))
        dropped.append(day)
    deleted = conn.execute(sa.delete(INBOX).where(INBOX.c.received_on < cutoff)
                           .where(INBOX.c.status.in_(list(FINAL)))).rowcount
    return dropped, kept, deleted

"""Inbox table operations: accept, claim, settle, replay, prune.

Every function takes a SQLAlchemy connection (or session; :func:`accept` a connection: its
statement is prepared, :mod:`rattail_fls.db.prepared`) in a transaction and issues one statement
per call, whatever the number of rows.
"""

import datetime

import sqlalchemy as sa

from rattail_fls.db import storage as st
from rattail_fls.db.prepared import Prepared
from rattail_fls.db.model.inbox import FlsInbox, PENDING, FINAL, REPLAYABLE

INBOX = FlsInbox.__table__


_ACCEPT_COLUMNS = {'retail_point_id': 'integer', 'sale_num': 'varchar', 'sale_date': 'date', 'body': 'text',
                   'sale_rows': 'text', 'status': 'varchar', 'errors': 'text'}
_ACCEPT = Prepared('fls_inbox_accept', f"""
    WITH input AS MATERIALIZED (
        SELECT nextval(pg_get_serial_sequence('fls_inbox', 'id')) AS id, u.*
        FROM unnest({', '.join(f':{name}' for name in _ACCEPT_COLUMNS)})
             WITH ORDINALITY AS u({', '.join(_ACCEPT_COLUMNS)}, ord)),
    inserted AS (
        INSERT INTO fls_inbox (id, kind, source, user_uuid, attempts, {', '.join(_ACCEPT_COLUMNS)})
        SELECT id, :kind, :source, :user_uuid, 0, {', '.join(_ACCEPT_COLUMNS)} FROM input
        RETURNING received_on, id)
    SELECT inserted.received_on, inserted.id FROM input JOIN inserted USING (id)
    ORDER BY input.ord""", {**{name: f'{sqltype}[]' for name, sqltype in _ACCEPT_COLUMNS.items()},
                            'kind': 'varchar', 'source': 'varchar', 'user_uuid': 'varchar'})


def accept(conn, items, kind, source, user_uuid=None):
    """Insert payloads; returns their ``(received_on, id)`` in the order of ``items``.

    ``conn``: a SQLAlchemy Connection.  ``items``: dicts with ``body`` and optionally ``retail_point_id``,
    ``sale_num``, ``sale_date``, ``sale_rows`` (the normalised sale, rendered for COPY), ``status``
    (default pending) and ``errors``.  Ids are drawn first and paired with the
    inputs by ordinality, so the pairing never rests on insertion order.
    """
    if not items:
        return []
    params = {name: [i.get(name) for i in items] for name in _ACCEPT_COLUMNS}
    params['status'] = [i.get('status', PENDING) for i in items]
    params.update(kind=kind, source=source, user_uuid=user_uuid)
    return [tuple(r) for r in _ACCEPT(conn, params)]


def claim(conn, kind, limit, ids=(), only=False, skip_retail_points=()):
    """Lock up to ``limit`` pending rows of ``kind`` that are due, the given ids first (with
    ``only``, just those), ``SKIP LOCKED``.

    Rows of ``skip_retail_points`` (shops being moved) are left alone, so they
    never fill a batch and starve the other shops.
    """
    # A row's body (and the older JSON ``sale``) only where nothing newer replaces it: a sale the
    # door rendered is stored from ``sale_rows``, and its body is not decompressed and sent for nothing.
    columns = [INBOX.c.received_on, INBOX.c.id,
               sa.case((sa.and_(INBOX.c.sale_rows.is_(None), INBOX.c.sale.is_(None)), INBOX.c.body)).label('body'),
               sa.case((INBOX.c.sale_rows.is_(None), INBOX.c.sale)).label('sale'), INBOX.c.sale_rows,
               INBOX.c.user_uuid, INBOX.c.attempts, INBOX.c.retail_point_id, INBOX.c.sale_num, INBOX.c.sale_date]
    pending = sa.and_(INBOX.c.status == PENDING, INBOX.c.kind == kind,
                      sa.or_(INBOX.c.next_attempt_at.is_(None), INBOX.c.next_attempt_at <= sa.func.now()))
    if skip_retail_points:
        pending = sa.and_(pending, sa.or_(INBOX.c.retail_point_id.is_(None),
                                          INBOX.c.retail_point_id.notin_(list(skip_retail_points))))
    rows = []
    if ids:
        rows = conn.execute(sa.select(*columns).where(pending, INBOX.c.id.in_(list(ids)))
                            .order_by(INBOX.c.id).limit(limit)
                            .with_for_update(skip_locked=True)).all()
    if len(rows) < limit and not only:
        taken = [r.id for r in rows]
        rows += conn.execute(sa.select(*columns).where(pending, INBOX.c.id.notin_(taken))
                             .order_by(INBOX.c.id).limit(limit - len(rows))
                             .with_for_update(skip_locked=True)).all()
    return rows


def settle(conn, results):
    """Record outcomes: ``results`` = [(received_on, id, status, errors_json[, next_attempt_at])];
    attempts + 1."""
    if not results:
        return
    conn.execute(sa.text("""
        UPDATE fls_inbox i SET status = r.status, errors = r.errors, next_attempt_at = r.next_at,
               attempts = i.attempts + 1, processed_at = now()
        FROM unnest(CAST(:day AS date[]), CAST(:id AS bigint[]), CAST(:status AS varchar[]),
                    CAST(:errors AS text[]), CAST(:next_at AS timestamptz[])) AS r(day, id, status, errors, next_at)
        WHERE i.received_on = r.day AND i.id = r.id"""), {
        'day': [r[0] for r in results], 'id': [r[1] for r in results],
        'status': [r[2] for r in results], 'errors': [r[3] for r in results],
        'next_at': [r[4] if len(r) > 4 else None for r in results]})


def replayable(conn, ids=None, retail_point_id=None, statuses=REPLAYABLE, kind=None):
    """Rows an operator may replay, locked: ``[(received_on, id, kind, body, user_uuid)]``."""
    query = _replayable_where(
        sa.select(INBOX.c.received_on, INBOX.c.id, INBOX.c.kind, INBOX.c.body, INBOX.c.user_uuid),
        statuses, ids, retail_point_id)
    if kind:
        query = query.where(INBOX.c.kind == kind)
    return conn.execute(query.order_by(INBOX.c.id).with_for_update()).all()


def replayable_counts(conn, statuses, ids=None, retail_point_id=None):
    """``{status: rows}`` that :func:`replayable` would return for these filters (nothing locked)."""
    query = _replayable_where(sa.select(INBOX.c.status, sa.func.count()), statuses, ids, retail_point_id)
    return dict(conn.execute(query.group_by(INBOX.c.status)).all())


def _replayable_where(query, statuses, ids, retail_point_id):
    query = query.where(INBOX.c.status.in_([s for s in statuses if s in REPLAYABLE]))
    if ids:
        query = query.where(INBOX.c.id.in_(list(ids)))
    if retail_point_id is not None:
        query = query.where(INBOX.c.retail_point_id == retail_point_id)
    return query


def rewrite(conn, rows):
    """Replace rows' content after a replay: ``rows`` = dicts with ``received_on``, ``id``, ``body``,
    ``sale_rows``, ``retail_point_id``, ``sale_num``, ``sale_date``, ``status``, ``errors``.  One
    statement; the JSON ``sale`` of a row stored before ``sale_rows`` existed is cleared."""
    if not rows:
        return
    columns = {'received_on': 'date', 'id': 'bigint', 'body': 'text', 'sale_rows': 'text',
               'retail_point_id': 'integer', 'sale_num': 'varchar', 'sale_date': 'date', 'status': 'varchar',
               'errors': 'text'}
    params = {name: [r.get(name) for r in rows] for name in columns}
    arrays = ', '.join(f'CAST(:{name} AS {sqltype}[])' for name, sqltype in columns.items())
    conn.execute(sa.text(f"""
        UPDATE fls_inbox i SET body = r.body, sale = NULL, sale_rows = r.sale_rows, retail_point_id = r.retail_point_id,
               sale_num = r.sale_num, sale_date = r.sale_date, status = r.status, errors = r.errors,
               source = 'replay', attempts = 0, next_attempt_at = NULL
        FROM unnest({arrays}) AS r({', '.join(columns)})
        WHERE i.received_on = r.received_on AND i.id = r.id"""), params)


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


def replayable_shops(conn, statuses):
    """``[(retail_point_id, rows)]`` of the shops having rows in ``statuses``, by retail point."""
    return conn.execute(sa.select(INBOX.c.retail_point_id, sa.func.count())
                        .where(INBOX.c.status.in_(list(statuses)), INBOX.c.retail_point_id.isnot(None))
                        .group_by(INBOX.c.retail_point_id).order_by(INBOX.c.retail_point_id)).all()


def _partition_days(conn):
    names = conn.execute(sa.text("""
        SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
        WHERE h.inhparent = to_regclass('fls_inbox') AND c.relname ~ '^fls_inbox_p[0-9]{8}$'
        ORDER BY c.relname""")).scalars().all()
    return [(name, datetime.datetime.strptime(name[-8:], '%Y%m%d').date()) for name in names]


def prune_plan(conn, retention_days, today=None):
    """What :func:`prune` would do, changing nothing: ``{'cutoff', 'drop', 'keep', 'delete'}``.

    ``drop``: the days whose partitions hold only settled rows; ``keep``: the
    older days kept because they hold rejected or pending rows; ``delete``: the
    settled rows older than the cutoff outside the dropped partitions (and ``names``: each
    old day's partition).
    """
    cutoff = (today or datetime.date.today()) - datetime.timedelta(days=retention_days)
    plan = {'cutoff': cutoff, 'drop': [], 'keep': [], 'names': {}}
    for name, day in _partition_days(conn):
        if day >= cutoff:
            continue
        unsettled = conn.execute(sa.text(
            f"SELECT count(*) FROM {name} WHERE status NOT IN :final").bindparams(
                sa.bindparam('final', expanding=True)), {'final': list(FINAL)}).scalar()
        plan['keep' if unsettled else 'drop'].append(day)
        plan['names'][day] = name
    plan['delete'] = conn.execute(sa.select(sa.func.count()).select_from(INBOX).where(
        _deletable(cutoff), INBOX.c.received_on.notin_(plan['drop']))).scalar()
    return plan


def _deletable(cutoff):
    return sa.and_(INBOX.c.received_on < cutoff, INBOX.c.status.in_(list(FINAL)))


def describe_prune(dropped, kept, deleted):
    """What :func:`prune` did, in words (the command prints it, the web flashes it)."""
    return (f"dropped {len(dropped)} daily partitions, deleted {deleted} other settled rows; "
            f"kept {len(kept)} old partitions holding rejected or pending rows")


def prune(conn, retention_days, today=None):
    """Drop daily partitions older than the retention that hold only settled rows.

    Rejected or pending rows are never dropped: a partition holding any stays
    (they can still be fixed and replayed).  Returns the dropped days, the
    days kept for that reason and the number of other settled rows deleted.
    """
    plan = prune_plan(conn, retention_days, today)
    for day in plan['drop']:
        conn.execute(sa.text(f"DROP TABLE {plan['names'][day]}"))
    deleted = conn.execute(sa.delete(INBOX).where(_deletable(plan['cutoff']))).rowcount
    return plan['drop'], plan['keep'], deleted

"""Moving a retail point's sales to another shard, possibly in another database.

The steps, each committed and recorded in ``fls_shard_move`` (main DB) before
the next starts, so a move killed anywhere resumes when run again:

1. **pause**: a move row in state ``paused``; from its commit on, workers leave
   the shop's sales pending in the inbox (``shards.paused_retail_points``).
   The move then waits until every main-DB transaction that began before
   that commit has ended, so no worker is still writing the shop's sales.
2. **copy**: in one target transaction, any earlier partial copy is removed,
   then every shard table's rows of the shop are streamed from the source with
   ``COPY ... TO STDOUT`` into temporary tables with ``COPY ... FROM STDIN``,
   and inserted under new ``sale_id``s handed out by the target's
   ``sale_ident`` (the ids of two shards overlap).  -> ``copied``
3. **verify**: counts and sums of every table per business date, source
   against target.  -> ``verified`` (a mismatch goes back to ``paused``, so a
   rerun copies again)
4. **flip**: the assignment points at the target (a version row of the
   retail point) and the state becomes ``flipped``, in one main-DB
   transaction; the shop's waiting sales are processed into the target.
5. **delete**: after waiting for main-DB transactions older than the flip
   (a day close that routed before it), the source rows go in one source
   transaction.  -> ``done``

Copy and delete are idempotent, so crashing between a shard commit and the
state update just repeats that step.
"""

import logging
import os
import signal
import tempfile
import time

import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.config import ConfigError
from rattail_fls.db import storage as st
from rattail_fls.db.model import moves as states
from rattail_fls.db.model.moves import FlsShardMove
from rattail_fls.db.model.retail_points import FlsRetailPoint
from rattail_fls.db.model import sales as tables

log = logging.getLogger(__name__)

#: Environment variable naming a checkpoint at which the move SIGKILLs itself
#: (the crash tests use it to stop the move at each step).
KILL_AT_ENV = 'FLS_MOVE_KILL_AT'
CHECKPOINTS = ('paused', 'copy', 'copied', 'verified', 'flipped', 'delete')

#: The shard tables in copy order (identities first: they hand out the new sale ids).
ALL_TABLES = (tables.SaleIdent.__table__,) + tables.PARTITIONED_TABLES
#: What is summed per day, per table, to verify a copy.
SUMMED = {'sale_ident': 'revision', 'sale': 'total_including_miscellaneous',
          'sale_line': 'product_uom_qty * price_unit', 'sale_lot': 'quantity', 'sale_misc_lot': 'quantity'}


class MoveError(RuntimeError):
    """A move cannot go on (verification failed, a transaction would not end); rerun to retry."""


def checkpoint(name):
    """Die here, as a crash would, if the crash tests asked for it."""
    if os.environ.get(KILL_AT_ENV) == name:
        log.warning("%s=%s: killing the move here", KILL_AT_ENV, name)
        os.kill(os.getpid(), signal.SIGKILL)


def _columns(table):
    return [c.name for c in table.columns]


def day_figures(conn, retail_point_id):
    """``{(table, sale_date): (rows, sum)}`` of one shop in the shard on ``conn``."""
    rp = int(retail_point_id)
    parts = [f"SELECT '{t}' AS t, sale_date, count(*) AS n, coalesce(sum({expr}), 0) AS s "
             f"FROM {t} WHERE retail_point_id = {rp} GROUP BY sale_date"
             for t, expr in SUMMED.items()]
    rows = conn.execute(sa.text(' UNION ALL '.join(parts)))
    return {(r.t, r.sale_date): (r.n, r.s) for r in rows}


def summarize(figures):
    """Per-day sales, lines and total from :func:`day_figures`, for people."""
    days = sorted({day for _, day in figures})
    return [{'sale_date': day,
             'sales': figures.get(('sale', day), (0, 0))[0],
             'lines': figures.get(('sale_line', day), (0, 0))[0],
             'lots': figures.get(('sale_lot', day), (0, 0))[0] + figures.get(('sale_misc_lot', day), (0, 0))[0],
             'total': figures.get(('sale', day), (0, 0))[1]} for day in days]


def differences(source, target):
    """The (table, day) keys whose figures differ, sorted."""
    return sorted(key for key in set(source) | set(target) if source.get(key) != target.get(key))


def delete_retail_point(conn, retail_point_id):
    """Delete one shop's rows from every table of the shard on ``conn``; returns sales deleted."""
    rp = int(retail_point_id)
    deleted = 0
    for table in reversed(ALL_TABLES):
        result = conn.execute(sa.text(f"DELETE FROM {table.name} WHERE retail_point_id = :rp"), {'rp': rp})
        if table.name == 'sale':
            deleted = result.rowcount
    return deleted


def _copy_out(conn, query, spool):
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(f"COPY ({query}) TO STDOUT", spool)
    finally:
        cursor.close()


def _copy_in(conn, table, columns, spool):
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", spool)
    finally:
        cursor.close()


class ShardMover:
    """Runs ``fls-shards move``: plan (dry run), start, or resume the move of one shop."""

    def __init__(self, config):
        self.config = config
        self.app = config.get_app()
        self.router = self.app.get_fls_handler().shards
        self.wait_seconds = fls_config.get_number(config, 'move.wait_seconds', int, 1)

    # -- what a move is about -------------------------------------------------------

    def _point(self, session, retail_point_id):
        point = session.query(FlsRetailPoint).filter(
            FlsRetailPoint.retail_point_id == retail_point_id).one_or_none()
        if point is None:
            raise ConfigError(f"retail point {retail_point_id} does not exist")
        return point

    def _target(self, session, name):
        self.router.spec(name)
        shard = self.router.registry_row(session, name, create=False)
        if shard is None or not shard.schema_version:
            raise ConfigError(f"shard {name!r} has not been created yet: run `rattail fls-shards upgrade` first")
        return shard

    @staticmethod
    def unfinished(session, retail_point_id):
        return session.query(FlsShardMove).filter(FlsShardMove.retail_point_id == retail_point_id)\
                      .filter(FlsShardMove.state != states.DONE).one_or_none()

    def plan(self, session, retail_point_id, target):
        """What a move would do, changing nothing: a dict with the per-day figures."""
        point = self._point(session, retail_point_id)
        self._target(session, target)
        move = self.unfinished(session, retail_point_id)
        if move is not None and move.target_shard != target:
            raise ConfigError(f"an unfinished move of retail point {retail_point_id} to shard "
                              f"{move.target_shard} ({move.state}) must be finished first: "
                              f"rattail fls-shards move {retail_point_id} {move.target_shard}")
        source = move.source_shard if move else (point.shard.name if point.shard else None)
        if source is None:
            raise ConfigError(f"retail point {retail_point_id} has no shard: use `fls-shards assign`")
        plan = {'retail_point_id': retail_point_id, 'source': source, 'target': target,
                'resume': move.state if move else None, 'days': []}
        if source == target and move is None:
            return plan
        read_from = target if move is not None and move.state == states.FLIPPED else source
        with self.router.begin(read_from) as conn:
            plan['days'] = summarize(day_figures(conn, retail_point_id))
        return plan

    # -- the move ----------------------------------------------------------------------

    def move(self, session, retail_point_id, target, progress=print):
        """Start or resume the move; returns the finished :class:`FlsShardMove` (None if the shop
        already was in ``target``).  ``progress`` gets one line per step."""
        plan = self.plan(session, retail_point_id, target)
        if plan['source'] == target and plan['resume'] is None:
            return None
        move = self.unfinished(session, retail_point_id)
        if move is None:
            move = FlsShardMove(retail_point_id=retail_point_id, source_shard=plan['source'],
                                target_shard=target, state=states.PAUSED, updated=sa.func.now())
            session.add(move)
            session.commit()
            progress(f"paused retail point {retail_point_id}: its new sales wait in the inbox")
            checkpoint('paused')
        else:
            progress(f"resuming the move of retail point {retail_point_id} "
                     f"{move.source_shard} -> {move.target_shard} at state {move.state}")
        steps = {states.PAUSED: self._copy, states.COPIED: self._verify,
                 states.VERIFIED: self._flip, states.FLIPPED: self._delete}
        while move.state != states.DONE:
            steps[move.state](session, move, progress)
        return move

    def _set_state(self, session, move, state, **values):
        move.state = state
        move.updated = sa.func.now()
        for key, value in values.items():
            setattr(move, key, value)
        session.commit()

    def _copy(self, session, move, progress):
        self.wait_for_older_transactions(session, progress)
        storage = self.router.storages(session)[move.target_shard]
        session.commit()  # hold no snapshot while copying
        rp = move.retail_point_id
        with self.router.begin(move.source_shard, isolation_level='REPEATABLE READ') as source, \
                self.router.begin(move.target_shard) as target:
            removed = delete_retail_point(target, rp)
            if removed:
                progress(f"removed {removed} sales of an earlier, unfinished copy from {move.target_shard}")
            days = source.execute(sa.text(
                "SELECT DISTINCT sale_date FROM sale_ident WHERE retail_point_id = :rp"), {'rp': rp}).scalars().all()
            if storage == st.PARTITIONS:
                st.ensure_day_partitions(target, days)
            for table in ALL_TABLES:
                self._copy_table(source, target, table, rp)
            target.execute(sa.text("""
                INSERT INTO sale_ident (retail_point_id, sale_num, sale_date, content_hash, inbox_id,
                                        revision, stored_at)
                SELECT retail_point_id, sale_num, sale_date, content_hash, inbox_id, revision, stored_at
                FROM mv_sale_ident"""))
            target.execute(sa.text("""
                CREATE TEMP TABLE mv_ids ON COMMIT DROP AS
                SELECT o.sale_id AS old_id, n.sale_id AS new_id FROM mv_sale_ident o
                JOIN sale_ident n ON n.retail_point_id = o.retail_point_id AND n.sale_num = o.sale_num"""))
            target.execute(sa.text("CREATE UNIQUE INDEX ON mv_ids (old_id)"))
            for table in tables.PARTITIONED_TABLES:
                names = _columns(table)
                values = ', '.join('m.new_id' if c == 'sale_id' else f't.{c}' for c in names)
                target.execute(sa.text(f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {values} "
                                       f"FROM mv_{table.name} t JOIN mv_ids m ON m.old_id = t.sale_id"))
            sales = target.execute(sa.text("SELECT count(*) FROM mv_sale")).scalar()
        checkpoint('copy')
        progress(f"copied {sales} sales over {len(days)} days from {move.source_shard} to {move.target_shard}")
        self._set_state(session, move, states.COPIED, days=len(days), sales=sales)
        checkpoint('copied')

    @staticmethod
    def _copy_table(source, target, table, rp):
        """Stream one table's rows of the shop into a temporary ``mv_<table>`` on the target."""
        names = _columns(table)
        target.execute(sa.text(f"CREATE TEMP TABLE mv_{table.name} (LIKE {table.name}) ON COMMIT DROP"))
        with tempfile.SpooledTemporaryFile(max_size=64 << 20, mode='w+b') as spool:
            _copy_out(source, f"SELECT {', '.join(names)} FROM {table.name} WHERE retail_point_id = {rp}",
                      spool)
            spool.seek(0)
            _copy_in(target, f'mv_{table.name}', names, spool)

    def _verify(self, session, move, progress):
        rp = move.retail_point_id
        with self.router.begin(move.source_shard) as conn:
            source = day_figures(conn, rp)
        with self.router.begin(move.target_shard) as conn:
            target = day_figures(conn, rp)
        wrong = differences(source, target)
        if wrong:
            message = "; ".join(f"{t} {day}: source {source.get((t, day))}, target {target.get((t, day))}"
                                for t, day in wrong[:10])
            self._set_state(session, move, states.PAUSED, last_error=message)
            raise MoveError(f"the copy of retail point {rp} does not match its source ({message}); "
                            "run the move again to copy anew")
        lines = sum(n for (t, _), (n, _) in source.items() if t == 'sale_line')
        progress(f"verified {len(source)} per-day figures (counts and sums of {len(ALL_TABLES)} tables)")
        self._set_state(session, move, states.VERIFIED, lines=lines, last_error=None)
        checkpoint('verified')

    def _flip(self, session, move, progress):
        point = self._point(session, move.retail_point_id)
        point.shard = self._target(session, move.target_shard)
        self._set_state(session, move, states.FLIPPED)
        progress(f"retail point {move.retail_point_id} -> shard {move.target_shard}; its sales are "
                 "processed again")
        checkpoint('flipped')
        from rattail_fls.queue.enqueue import wake
        wake(self.config, 'sales_processing')

    def _delete(self, session, move, progress):
        self.wait_for_older_transactions(session, progress)
        with self.router.begin(move.source_shard) as conn:
            deleted = delete_retail_point(conn, move.retail_point_id)
        checkpoint('delete')
        progress(f"deleted {deleted} sales of retail point {move.retail_point_id} from {move.source_shard}")
        self._set_state(session, move, states.DONE, finished=sa.func.now())

    def wait_for_older_transactions(self, session, progress):
        """Block until every other main-DB transaction that began before now has ended.

        A worker or day close that read the assignment before the latest
        state change then cannot still be writing or reading the shop's old
        place.  Gives up after ``[rattail_fls] move.wait_seconds`` (rerun the
        move; nothing is lost).
        """
        session.commit()  # our own transaction is not one to wait for
        engine = self.config.appdb_engine
        with engine.connect() as conn:
            barrier = conn.execute(sa.text("SELECT clock_timestamp()")).scalar()
        deadline = time.monotonic() + self.wait_seconds
        query = sa.text("""
            SELECT pid, state, left(query, 60) AS query FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND xact_start IS NOT NULL AND xact_start < :barrier ORDER BY pid""")
        said = False
        while True:
            with engine.connect() as conn:
                older = conn.execute(query, {'barrier': barrier}).all()
            if not older:
                return
            if time.monotonic() > deadline:
                which = '; '.join(f"pid {r.pid} {r.state}: {r.query!r}" for r in older[:5])
                raise MoveError(f"main-DB transactions older than the move are still open after "
                                f"{self.wait_seconds}s ({which}); end them or rerun the move later "
                                "(it resumes)")
            if not said:
                progress(f"waiting for {len(older)} older transaction(s) to end")
                said = True
            time.sleep(0.2)


def moves(session, retail_point_id=None, limit=50):
    """Recent moves, newest first, as dicts (``fls-shards moves`` and the web)."""
    query = session.query(FlsShardMove).order_by(FlsShardMove.started.desc())
    if retail_point_id is not None:
        query = query.filter(FlsShardMove.retail_point_id == retail_point_id)
    return [{'retail_point_id': m.retail_point_id, 'source': m.source_shard, 'target': m.target_shard,
             'state': m.state, 'started': m.started, 'finished': m.finished, 'sales': m.sales,
             'lines': m.lines, 'days': m.days, 'error': m.last_error}
            for m in query.limit(limit)]


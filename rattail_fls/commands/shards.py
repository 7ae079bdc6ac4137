"""``rattail fls-shards list|days|upgrade|assign|compress|move|moves|place``: create, migrate,
inspect, assign, compress and move shards.

Models are reached through ``app.model`` inside the commands: importing them at
module level would map them before Continuum is set up (versioning breaks).
"""

from typing import List, Optional

import sqlalchemy as sa
import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import get_config, get_progress, handle_errors, print_table, fail

fls_shards = typer.Typer(help="Manage the sharded sales schemas", no_args_is_help=True)
rattail_typer.add_typer(fls_shards, name='fls-shards')


def _session(ctx):
    config = get_config(ctx)
    app = config.get_app()
    return app, app.make_session(), app.get_fls_handler().shards


@fls_shards.command('list')
def list_shards(ctx: typer.Context):
    """Shards with their database, storage, retail points, row and day-partition counts; for
    TimescaleDB shards also their chunks, how many are compressed, how many are due, and the
    compression jobs' last run and status."""
    app, session, shards = _session(ctx)
    with handle_errors():
        rows = shards.stats(session)
    session.close()
    for row in rows:
        if row['job_last_run'] is not None:
            row['job_last_run'] = f"{row['job_last_run']:%Y-%m-%d %H:%M:%S}"
    print_table(rows, ['shard', 'schema', 'engine', 'storage', 'version', 'accept_new',
                       'retail_points', 'sales', 'lines', 'days', 'chunks', 'compressed', 'due',
                       'job_status', 'job_last_run', 'citus', 'database'])
    for row in rows:
        if row['job_status'] == 'failed':
            typer.echo(f"warning: shard {row['shard']}: {row['jobs_failing']} of its {row['jobs']} compression "
                       f"jobs failed their last run ({row['job_failures']} failures in all; see "
                       "timescaledb_information.job_stats and the server log); `rattail fls-shards "
                       "compress` from cron compresses without them", err=True)


@fls_shards.command('days')
def days(ctx: typer.Context,
         retail_point: Annotated[Optional[int], typer.Option(help="Only this retail_point_id")] = None):
    """Sales and lines per shard, retail point and business date (counted in the shards)."""
    app, session, shards = _session(ctx)
    session.close()
    with handle_errors():
        rows = [row for name in shards.specs for row in shards.day_counts(name, retail_point)]
    print_table(rows, ['shard', 'retail_point_id', 'sale_date', 'sales', 'lines'])
    typer.echo(f"total: {sum(r['sales'] for r in rows)} sales, {sum(r['lines'] for r in rows)} lines")


@fls_shards.command('place')
def place(ctx: typer.Context,
          shard: Annotated[str, typer.Argument(help="Shard name")],
          node: Annotated[str, typer.Option(help="HOST:PORT of the Citus worker to move it to")]):
    """Citus: move a whole shard (its distributed schema) to another worker (citus_schema_move)."""
    app, session, shards = _session(ctx)
    session.close()
    with handle_errors():
        shards.place(shard, node)
    typer.echo(f"shard {shard} is now on {node}")


@fls_shards.command('upgrade')
def upgrade(ctx: typer.Context,
            names: Annotated[Optional[List[str]], typer.Argument(
                help="Shards to upgrade (default: all configured)")] = None):
    """Create missing shard schemas and migrate every shard's tables (idempotent)."""
    app, session, shards = _session(ctx)
    with handle_errors():
        results = shards.upgrade(session, names)
        session.commit()
    session.close()
    for r in results:
        applied = ', '.join(map(str, r['applied'])) or 'none'
        if r['compress_after_days'] is not None:
            storage_note = f"compression after {r['compress_after_days']} days"
        else:
            storage_note = f"partitions made: {len(r['premade'])}"
        typer.echo(f"shard {r['shard']}: {r['storage']}, version {r['version']}, "
                   f"migrations applied: {applied}, {storage_note}")


@fls_shards.command('compress')
def compress(ctx: typer.Context,
             older_than: Annotated[Optional[int], typer.Option(
                 '--older-than', min=0, metavar='DAYS',
                 help="Compress chunks older than DAYS (default: [rattail_fls] "
                      "timescaledb.compress_after_days)")] = None,
             names: Annotated[Optional[List[str]], typer.Argument(
                 help="Shards to compress (default: all TimescaleDB shards)")] = None):
    """Compress the due chunks of the TimescaleDB shards now (cron-able; does not rely on the
    server's background jobs)."""
    app, session, shards = _session(ctx)
    with handle_errors():
        done = shards.compress(session, older_than, names, progress=get_progress(ctx))
    session.close()
    if not done:
        typer.echo("no TimescaleDB shards: nothing to compress")
    for name, chunks in done.items():
        typer.echo(f"shard {name}: {len(chunks)} chunks compressed")


@fls_shards.command('assign')
def assign(ctx: typer.Context,
           retail_point_id: Annotated[int, typer.Argument(help="Odoo retail_point_id")],
           shard: Annotated[Optional[str], typer.Argument(
               help="Shard name (default: chosen by [rattail_fls] shard_policy)")] = None,
           name: Annotated[Optional[str], typer.Option(
               help="Name for a retail point that does not exist yet (creates it)")] = None):
    """Assign a retail point to a shard; creates the retail point when --name is given."""
    app, session, shards = _session(ctx)
    with handle_errors():
        model = app.model
        point = session.query(model.FlsRetailPoint)\
                       .filter(model.FlsRetailPoint.retail_point_id == retail_point_id).one_or_none()
        if point is None:
            if not name:
                fail(f"retail point {retail_point_id} does not exist; pass --name to create it")
            point = model.FlsRetailPoint(retail_point_id=retail_point_id, name=name, active=True)
            session.add(point)
        chosen = shards.assign(session, point, shard)
        session.commit()
    typer.echo(f"retail point {retail_point_id} -> shard {chosen.name}")
    session.close()


@fls_shards.command('move')
def move(ctx: typer.Context,
         retail_point_id: Annotated[int, typer.Argument(help="Odoo retail_point_id of the shop to move")],
         shard: Annotated[str, typer.Argument(help="Target shard name")],
         dry_run: Annotated[bool, typer.Option(help="Print what would move; change nothing")] = False):
    """Move a shop's sales to another shard (pause, copy, verify, flip, delete); rerun to resume."""
    from rattail_fls.db.moves import ShardMover, MoveError

    app, session, shards = _session(ctx)
    with handle_errors():
        mover = ShardMover(app.config)
        if dry_run:
            plan = mover.plan(session, retail_point_id, shard)
            session.close()
            _print_plan(plan)
            return
        try:
            done = mover.move(session, retail_point_id, shard, progress=typer.echo)
        except MoveError as error:
            fail(str(error))
        except sa.exc.DBAPIError as error:
            fail(f"database error, the move stopped (rerun it to resume): {str(error.orig).strip()}")
        finally:
            session.close()
    if done is None:
        typer.echo(f"retail point {retail_point_id} is already in shard {shard}; nothing to move")
    else:
        typer.echo(f"moved retail point {retail_point_id} from {done.source_shard} to {done.target_shard}: "
                   f"{done.sales} sales, {done.lines} lines, {done.days} days")


def _print_plan(plan):
    rp, source, target = plan['retail_point_id'], plan['source'], plan['target']
    if source == target and not plan['resume']:
        typer.echo(f"retail point {rp} is already in shard {target}; nothing would move")
        return
    if plan['resume']:
        typer.echo(f"an unfinished move of retail point {rp} ({source} -> {target}) would resume "
                   f"at state {plan['resume']}")
    days = plan['days']
    typer.echo(f"would move retail point {rp} from shard {source} to {target}: "
               f"{sum(d['sales'] for d in days)} sales, {sum(d['lines'] for d in days)} lines, "
               f"{len(days)} days")
    print_table(days, ['sale_date', 'sales', 'lines', 'lots', 'total'])


@fls_shards.command('moves')
def list_moves(ctx: typer.Context,
               retail_point: Annotated[Optional[int], typer.Option(help="Only this retail_point_id")] = None):
    """Shard moves, newest first, with their state (an unfinished one resumes when rerun)."""
    from rattail_fls.db.moves import moves

    app, session, shards = _session(ctx)
    rows = moves(session, retail_point)
    session.close()
    print_table(rows, ['retail_point_id', 'source', 'target', 'state', 'started', 'finished',
                       'sales', 'lines', 'days', 'error'])

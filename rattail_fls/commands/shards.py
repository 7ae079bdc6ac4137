"""``rattail fls-shards list|upgrade|assign``: create, migrate, inspect and assign shards.

Models are reached through ``app.model`` inside the commands: importing them at
module level would map them before Continuum is set up (versioning breaks).
"""

from typing import List, Optional

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import get_config, handle_errors, print_table, fail

fls_shards = typer.Typer(help="Manage the sharded sales schemas", no_args_is_help=True)
rattail_typer.add_typer(fls_shards, name='fls-shards')


def _session(ctx):
    config = get_config(ctx)
    app = config.get_app()
    return app, app.make_session(), app.get_fls_handler().shards


@fls_shards.command('list')
def list_shards(ctx: typer.Context):
    """Shards with their database, storage, retail points, row and day-partition counts."""
    app, session, shards = _session(ctx)
    with handle_errors():
        rows = shards.stats(session)
    session.close()
    print_table(rows, ['shard', 'schema', 'engine', 'storage', 'version', 'accept_new',
                       'retail_points', 'sales', 'lines', 'days', 'database'])


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
        typer.echo(f"shard {r['shard']}: {r['storage']}, version {r['version']}, "
                   f"migrations applied: {applied}, partitions made: {len(r['premade'])}")


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

"""``rattail fls-day-close``: close business days and build their summaries."""

import datetime
from typing import List, Optional

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import fail, get_config, get_progress, handle_errors, print_table


@rattail_typer.command('fls-day-close')
def fls_day_close(
        ctx: typer.Context,
        date: Annotated[Optional[datetime.datetime], typer.Option(
            formats=['%Y-%m-%d'], help="Business date to close (default: yesterday)")] = None,
        retail_point: Annotated[Optional[List[int]], typer.Option(
            help="retail_point_id to close (repeatable)")] = None,
        all_points: Annotated[bool, typer.Option(
            '--all', help="Close the date for every retail point that has sales on it")] = False,
        due: Annotated[bool, typer.Option(
            help="Instead of one date: every unclosed or stale day up to --date")] = False):
    """Close a business date (again, if it was closed before): summaries per counter and journal.

    A re-close supersedes summaries whose content changed and leaves unchanged
    ones as they are.
    """

    config = get_config(ctx)
    app = config.get_app()
    day = date.date() if date else app.yesterday()
    if not (retail_point or all_points or due):
        fail("say which retail points: --retail-point N (repeatable), --all, or --due")
    closer = app.get_fls_handler().get_closer()
    with handle_errors():
        if due:
            results = closer.close_due(day, retail_point, requested_by='cli', progress=get_progress(ctx))
        else:
            points = retail_point or _points_with_sales(config, day)
            results = closer.close_many(points, day, requested_by='cli') if points else []
    print_table(results, ['retail_point_id', 'sale_date', 'shard', 'sales', 'new', 'unchanged',
                          'superseded', 'held'])
    held = sum(r['held'] for r in results)
    typer.echo(f"closed {len(results)} days; {sum(r['new'] for r in results)} new summaries"
               + (f", {held} held for reconciliation mismatches" if held else ""))


def _points_with_sales(config, day):
    from rattail_fls.db.model.business_days import FlsBusinessDay
    import sqlalchemy as sa
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.select(FlsBusinessDay.retail_point_id)
                            .where(FlsBusinessDay.sale_date == day)).scalars().all()


@rattail_typer.command('fls-summaries')
def fls_summaries(
        ctx: typer.Context,
        date: Annotated[Optional[datetime.datetime], typer.Option(
            formats=['%Y-%m-%d'], help="Only this business date")] = None,
        retail_point: Annotated[Optional[int], typer.Option(help="Only this retail_point_id")] = None,
        status: Annotated[Optional[str], typer.Option(
            help="pending, sent, failed, superseded or held")] = None,
        limit: Annotated[int, typer.Option(help="Most rows to show (newest first)")] = 100):
    """Summaries with their version, status, totals and reconciliation."""
    import sqlalchemy as sa
    from rattail_fls.db.model.summaries import FlsSummary

    config = get_config(ctx)
    table = FlsSummary.__table__
    query = sa.select(table.c.sale_num, table.c.version, table.c.status, table.c.sale_count,
                      table.c.total_including_miscellaneous, table.c.amount_total, table.c.total_cess,
                      table.c.reconciled, table.c.attempts, table.c.local_data_id, table.c.hold_reason)
    for column, value in ((table.c.sale_date, date.date() if date else None),
                          (table.c.retail_point_id, retail_point), (table.c.status, status)):
        if value is not None:
            query = query.where(column == value)
    with config.appdb_engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            query.order_by(table.c.sale_date.desc(), table.c.sale_num, table.c.version).limit(limit))]
    print_table(rows, ['sale_num', 'version', 'status', 'sale_count', 'total_including_miscellaneous',
                       'amount_total', 'total_cess', 'reconciled', 'attempts', 'local_data_id', 'hold_reason'])

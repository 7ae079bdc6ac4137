"""``rattail fls-inbox list|show|replay|prune``: inspect and operate the sales inbox."""

import json
from pathlib import Path
from typing import List, Optional

import sqlalchemy as sa
import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import fail, get_config, handle_errors, print_table

fls_inbox = typer.Typer(help="Inspect, replay and prune the sales inbox", no_args_is_help=True)
rattail_typer.add_typer(fls_inbox, name='fls-inbox')


def _inbox_table():
    from rattail_fls.db.model.inbox import FlsInbox
    return FlsInbox.__table__


@fls_inbox.command('list')
def list_rows(ctx: typer.Context,
              status: Annotated[Optional[str], typer.Option(help="pending, done, duplicate, replaced, "
                                                                 "superseded, rejected or dead")] = None,
              retail_point: Annotated[Optional[int], typer.Option(help="Odoo retail_point_id")] = None,
              limit: Annotated[int, typer.Option(help="Most rows to show (newest first)")] = 50):
    """Inbox rows, newest first, with their status and why (the first error, or why it is pending)."""
    config = get_config(ctx)
    table = _inbox_table()
    query = sa.select(table.c.id, table.c.received_at, table.c.kind, table.c.source, table.c.retail_point_id,
                      table.c.sale_num, table.c.sale_date, table.c.status, table.c.attempts, table.c.errors)
    if status:
        query = query.where(table.c.status == status)
    if retail_point is not None:
        query = query.where(table.c.retail_point_id == retail_point)
    with config.appdb_engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query.order_by(table.c.id.desc()).limit(limit))]
        counts = conn.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status)).all()
    for row in rows:
        errors = json.loads(row.pop('errors') or '[]')
        row['error'] = f"{errors[0]['field']}: {errors[0]['reason']}" if errors else \
            'waiting for a worker (not tried yet)' if row['status'] == 'pending' else ''
        row['received_at'] = f"{row['received_at']:%Y-%m-%d %H:%M:%S}"
    print_table(rows, ['id', 'received_at', 'kind', 'source', 'retail_point_id', 'sale_num', 'sale_date',
                       'status', 'attempts', 'error'])
    typer.echo("totals: " + (', '.join(f"{s}: {n}" for s, n in sorted(counts)) or 'empty'))


@fls_inbox.command('show')
def show(ctx: typer.Context, inbox_id: Annotated[int, typer.Argument(help="Inbox row id")]):
    """One inbox row: its status, every error, and the payload as received."""
    config = get_config(ctx)
    table = _inbox_table()
    with config.appdb_engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == inbox_id)).first()
    if row is None:
        fail(f"inbox row {inbox_id} does not exist")
    data = dict(row._mapping)
    for key in ('id', 'received_at', 'kind', 'source', 'retail_point_id', 'sale_num', 'sale_date',
                'status', 'attempts', 'processed_at'):
        typer.echo(f"{key}: {data[key]}")
    for err in json.loads(data['errors'] or '[]'):
        typer.echo(f"error: {err['field']}: {err['reason']}")
    typer.echo("body:")
    typer.echo(json.dumps(json.loads(data['body']), indent=2))


@fls_inbox.command('replay')
def replay(ctx: typer.Context,
           ids: Annotated[Optional[List[int]], typer.Argument(help="Inbox ids to replay")] = None,
           all_rejected: Annotated[bool, typer.Option(
               help="Replay every rejected and dead-lettered row")] = False,
           status: Annotated[Optional[List[str]], typer.Option(
               help="Only rows of this status: rejected, dead or pending (repeatable)")] = None,
           retail_point: Annotated[Optional[int], typer.Option(help="Only this retail point's rows")] = None,
           body: Annotated[Optional[Path], typer.Option(
               help="File with a corrected JSON payload for the single id given", exists=True)] = None,
           now: Annotated[bool, typer.Option(
               help="Process in this process now instead of enqueueing for the workers")] = False):
    """Put rows back through the intake's contract (optionally with a corrected body) and process them.

    Valid rows become pending again; rows still invalid stay rejected with the new reasons.
    """
    from rattail_fls.db.model.inbox import DEAD, REJECTED, REPLAYABLE
    from rattail_fls.sales import contract

    if not ids and not all_rejected and not status and retail_point is None:
        fail("give inbox ids, --all-rejected, --status or --retail-point")
    unknown = sorted(set(status or ()) - set(REPLAYABLE))
    if unknown:
        fail(f"--status {', '.join(unknown)}: expected {', '.join(REPLAYABLE)}")
    config = get_config(ctx)
    handler = config.get_app().get_fls_handler()
    intake = handler.get_intake()
    try:
        corrected = body.read_text(encoding='utf-8') if body else None
        with handle_errors():
            done = intake.replay(ids=ids, retail_point_id=retail_point, body=corrected,
                                 statuses=status or ((REJECTED, DEAD) if all_rejected or not ids else None))
    except (ValueError, UnicodeDecodeError) as error:  # an invalid corrected body, or one with several ids
        fail(f"{body}: {error}" if isinstance(error, (UnicodeDecodeError, contract.Invalid)) else str(error))
    pending, rejected = done['pending'], done['rejected']
    if not pending and not rejected:
        fail("no replayable rows matched (rejected, dead or pending)")
    for key in rejected:
        typer.echo(f"inbox row {key[1]} is still invalid; see `rattail fls-inbox show {key[1]}`")
    by_kind = {kind: [key[1] for key in pending if key[2] == kind] for kind in ('sale', 'day_close')}
    if now:
        counts = handler.get_processor().drain(by_kind['sale'], only=True) if by_kind['sale'] else {}
        closes = handler.get_day_close_requests().process(by_kind['day_close']) if by_kind['day_close'] else []
        typer.echo(f"replayed {len(pending)} rows: " + ', '.join(f"{k}: {v}" for k, v in sorted(counts.items()))
                   + (f"; {len(closes)} days closed" if closes else ""))
    else:
        typer.echo(f"replayed {len(pending)} rows; queued for the workers (the sweeper queues them "
                   "if Redis is unavailable)")
    if rejected:
        raise typer.Exit(1)


@fls_inbox.command('prune')
def prune(ctx: typer.Context,
          days: Annotated[Optional[int], typer.Option(
              help="Keep this many days (default [rattail_fls] inbox.retention_days)")] = None):
    """Drop settled inbox rows older than the retention (whole daily partitions where possible)."""
    from rattail_fls import config as fls_config
    from rattail_fls.sales import inbox

    config = get_config(ctx)
    with handle_errors():
        keep = days if days is not None else fls_config.inbox_retention_days(config)
        with config.appdb_engine.begin() as conn:
            dropped, kept, deleted = inbox.prune(conn, keep)
    typer.echo(inbox.describe_prune(dropped, kept, deleted))

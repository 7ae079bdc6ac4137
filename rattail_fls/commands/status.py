"""``rattail fls-status [--json]``: is all well?  Exit 0 ok, 1 warning, 2 critical (Nagios)."""

import json

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import get_config, handle_errors, print_table


@rattail_typer.command('fls-status')
def fls_status(ctx: typer.Context,
               as_json: Annotated[bool, typer.Option('--json', help="Print the figures as JSON")] = False):
    """Queues, workers, inbox, quiet shops, days, summaries, shards; exit 0 ok / 1 warning / 2 critical."""
    from rattail_fls.status import EXIT_CODES, collect

    with handle_errors():
        figures = collect(get_config(ctx))
    if as_json:
        typer.echo(json.dumps(figures, indent=2, default=str))
    else:
        _print(figures)
    raise typer.Exit(EXIT_CODES[figures['status']])


def _section(title, rows, columns):
    typer.echo(f"\n{title}")
    if rows:
        print_table(rows, columns)
    else:
        typer.echo("  (none)")


def _print(figures):
    typer.echo(f"fls-status at {figures['checked_at']}")
    if 'queues' in figures:
        _section("RQ queues", figures['queues'], ['name', 'queued', 'started', 'scheduled', 'failed'])
        _section("RQ workers", figures['workers'], ['name', 'hostname', 'pid', 'state', 'queues',
                                                   'current_job', 'last_heartbeat'])
    if 'inbox' in figures:
        _section("Inbox (per retail point)", figures['inbox'],
                 ['retail_point_id', 'pending', 'oldest_pending_seconds', 'retrying', 'rejected',
                  'dead_lettered'])
        _section("Quiet shops", figures['quiet_shops'], ['retail_point_id', 'last_sale', 'quiet_minutes'])
        days, summaries = figures['days'], figures['summaries']
        typer.echo(f"\nDays: {days['unclosed']} not closed, {days['stale']} stale (before yesterday)")
        typer.echo("Summaries: " + ', '.join(f"{k} {v}" for k, v in sorted(summaries.items())))
        _section("Unfinished shard moves", figures['moves'], ['retail_point_id', 'source', 'target', 'state',
                                                              'started'])
    if 'shards' in figures:
        _section("Shards (catalog estimates)", figures['shards'], ['shard', 'storage', 'bytes', 'sales_estimate'])
        if figures['timescaledb']:
            _section("TimescaleDB", figures['timescaledb'], ['shard', 'failed_jobs', 'uncompressed_past_policy'])
    problems = figures['problems']
    typer.echo(f"\nstatus: {figures['status'].upper()}"
               + (f" ({len(problems)} problem{'s' if len(problems) != 1 else ''})" if problems else ""))
    for problem in problems:
        typer.echo(f"  {problem['level'].upper()}: {problem['message']}")

"""``rattail export-odoo-summary``: close due days, then push due summaries to Odoo Cloud.

Nightly cron (the README has the line)::

    15 2 * * * cd /srv/theo && bin/rattail -c app/quiet.conf --runas corepos export-odoo-summary

Exit status 1 when anything is not delivered: a push failed, a summary is held
(reconciliation mismatch or unknown outcome, waiting for an operator), a failed
one waits for its retry or an operator, or closing a day failed.
"""

import datetime
from typing import List, Optional

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer
from rattail.commands.importing import ImportCommandHandler
from rattail.commands.typer import importer_command, typer_get_runas_user

from rattail_fls.commands.base import fail, get_config, get_progress, handle_errors

HANDLER_KEY = 'to_odoo_summary.from_rattail.export'


class ExportCommand(ImportCommandHandler):
    """Keeps the handler it made, to print its report after the run."""

    handler = None

    def get_handler(self, params, **kwargs):
        self.handler = super().get_handler(params, **kwargs)
        return self.handler


@rattail_typer.command('export-odoo-summary')
@importer_command
def export_odoo_summary(
        ctx: typer.Context,
        date: Annotated[Optional[datetime.datetime], typer.Option(
            formats=['%Y-%m-%d'],
            help="Only this business date (same as --start-date D --end-date D); days are "
                 "closed up to it instead of up to yesterday")] = None,
        retail_point: Annotated[Optional[List[int]], typer.Option(
            help="Only this retail_point_id (repeatable)")] = None,
        sale_num: Annotated[Optional[List[str]], typer.Option(
            help="Only this summary sale_num, e.g. 20240301/7/2/11 (repeatable)")] = None,
        resend: Annotated[bool, typer.Option(
            help="Push every live summary selected whatever its status: held ones (forced), "
                 "failed ones waiting for an operator, and SENT ONES AGAIN (Odoo then has two "
                 "records). Needs --date, --start/end-date, --retail-point or --sale-num")] = False,
        workers: Annotated[Optional[int], typer.Option(
            min=1, help="Pushes to Odoo in flight at a time (default [rattail_fls] odoo.concurrency)")] = None,
        close: Annotated[bool, typer.Option(
            '--close/--no-close',
            help="First close the days never closed or stale (sales changed since), up to "
                 "yesterday or --date")] = True,
        **kwargs):
    """Close due business days and push due day summaries to Odoo Cloud (exactly once in effect)."""
    config = get_config(ctx)
    if date is not None:
        if kwargs.get('start_date') or kwargs.get('end_date'):
            fail("give either --date or --start-date/--end-date")
        kwargs['start_date'] = kwargs['end_date'] = date
    if resend and not (date or kwargs.get('start_date') or kwargs.get('end_date')
                       or retail_point or sale_num):
        fail("--resend needs --date, --start-date/--end-date, --retail-point or --sale-num "
             "(it would push every summary again)")
    command = ExportCommand(config, import_handler_key=HANDLER_KEY)
    kwargs['user'] = typer_get_runas_user(ctx)
    kwargs['handler_kwargs'] = {'retail_point_ids': retail_point or None, 'sale_nums': sale_num or None,
                                'resend': resend, 'close_days': close, 'workers': workers}
    with handle_errors():
        command.run(kwargs, progress=get_progress(ctx))
    handler = command.handler
    if handler is None or handler.report is None:  # --list-models and the like
        return
    code = print_report(handler, dry_run=kwargs['dry_run'])
    if code:
        raise typer.Exit(code)


def print_report(handler, dry_run=False):
    """The run's outcome for an operator; returns the exit status."""
    from rattail_fls.summaries import push

    report = handler.report
    closed = handler.close_results or []
    if closed:
        typer.echo(f"closed {len(closed)} business days: "
                   f"{sum(r.get('new', 0) for r in closed)} new summaries "
                   f"({sum(r.get('held', 0) for r in closed)} held), "
                   f"{sum(r.get('superseded', 0) for r in closed)} superseded")
    if handler.close_error:
        typer.echo(f"error: closing days failed: {handler.close_error}", err=True)
    counts = report.counts()
    if dry_run:
        for row in report.by(push.OUT_WOULD_SEND):
            typer.echo(f"would send {row['sale_num']} v{row['version']} ({row['status']}): "
                       f"amount_total {row['amount_total']}, "
                       f"total_including_miscellaneous {row['total_including_miscellaneous']}")
        typer.echo(f"dry run: would send {counts[push.OUT_WOULD_SEND]}; "
                   f"failed {counts[push.OUT_FAILED]}, held {counts[push.OUT_HELD]} waiting")
    else:
        typer.echo(f"sent {counts[push.OUT_SENT]}, failed {counts[push.OUT_FAILED]}, "
                   f"held {counts[push.OUT_HELD]}, skipped {counts[push.OUT_SKIPPED]}")
        for row in sorted(report.outcomes, key=lambda r: r.get('sale_num') or ''):
            if row['outcome'] in (push.OUT_FAILED, push.OUT_HELD):
                typer.echo(f"{row['outcome']}: {row['sale_num']} v{row['version']}: {row['message']}")
    for row in report.waiting:
        typer.echo(f"{'held' if row['status'] == push.HELD else 'failed'} (not pushed): "
                   f"{row['sale_num']} v{row['version']}: {row['why']}")
    if dry_run:
        return 0
    return 0 if report.ok and not handler.close_error else 1

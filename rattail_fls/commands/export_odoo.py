"""``rattail export-odoo-summary``: close due days, push due summaries to Odoo Cloud, retire
superseded records.

A plain command over the services (:class:`~rattail_fls.summaries.closer.DayCloser`,
:class:`~rattail_fls.summaries.push.SummaryPusher`): Odoo's endpoint can only
create, never read or update, so rattail's diffing importer has nothing to
work on.  Nightly cron (the README has the line)::

    15 2 * * * cd /srv/theo && bin/rattail -c app/quiet.conf --runas corepos export-odoo-summary

Exit status 1 when anything is not delivered: a push failed, a summary is held
(reconciliation mismatch, unknown outcome, gone on a re-close), a failed one
waits for its retry or an operator, retiring a superseded record failed, or
closing a day failed.
"""

import datetime
import logging
from typing import List, Optional

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import fail, get_config, get_progress, handle_errors

log = logging.getLogger(__name__)

@rattail_typer.command('export-odoo-summary')
def export_odoo_summary(
        ctx: typer.Context,
        date: Annotated[Optional[datetime.datetime], typer.Option(
            formats=['%Y-%m-%d'],
            help="Only this business date (same as --start-date D --end-date D); days are "
                 "closed up to it instead of up to yesterday")] = None,
        start_date: Annotated[Optional[datetime.datetime], typer.Option(
            formats=['%Y-%m-%d'], help="Only business dates from this one")] = None,
        end_date: Annotated[Optional[datetime.datetime], typer.Option(
            formats=['%Y-%m-%d'], help="Only business dates up to this one (days are closed up to it)")] = None,
        retail_point: Annotated[Optional[List[int]], typer.Option(
            help="Only this retail_point_id (repeatable)")] = None,
        sale_num: Annotated[Optional[List[str]], typer.Option(
            help="Only this summary sale_num, e.g. 20240301/7/2/11 (repeatable)")] = None,
        status: Annotated[Optional[List[str]], typer.Option(
            help="Only summaries in this status (repeatable): pending, sending, sent, failed, held, "
                 "superseded; e.g. --resend --status held")] = None,
        failure_class: Annotated[Optional[List[str]], typer.Option(
            help="Only summaries whose last push failed so (repeatable): transient, configuration, "
                 "application; e.g. --resend --status failed --failure-class configuration")] = None,
        resend: Annotated[bool, typer.Option(
            help="Push every live summary selected whatever its status: held ones (forced), "
                 "failed ones waiting for an operator, and SENT ONES AGAIN (Odoo then has two "
                 "records). Needs a selection (date, retail point, sale_num, status or failure class)")] = False,
        dry_run: Annotated[bool, typer.Option(
            help="Send, close and change nothing: list what would be sent")] = False,
        superseded: Annotated[bool, typer.Option(
            '--superseded', help="Only list the superseded records Odoo still holds as latest "
                                 "(to retire by hand when odoo.api.* is not set), then exit")] = False,
        workers: Annotated[Optional[int], typer.Option(
            min=1, help="Pushes to Odoo in flight at a time (default [rattail_fls] odoo.concurrency)")] = None,
        close: Annotated[bool, typer.Option(
            '--close/--no-close',
            help="First close the days never closed or stale (sales changed since), up to "
                 "yesterday or --date/--end-date")] = True):
    """Close due business days and push due day summaries to Odoo Cloud (exactly once in effect)."""
    from rattail_fls.summaries import supersede
    from rattail_fls.summaries.due import RESEND_WARNING, Selection
    from rattail_fls.summaries.push import favour_senders

    from rattail_fls.db.model.summaries import FailureClass, SummaryStatus

    config = get_config(ctx)
    for name, values, vocabulary in (('--status', status, SummaryStatus),
                                     ('--failure-class', failure_class, FailureClass)):
        for value in values or ():
            if value not in set(vocabulary):
                fail(f"{name} {value!r}: expected one of {', '.join(vocabulary)}")
    if superseded:
        with handle_errors(), config.appdb_engine.connect() as conn:
            pairs = supersede.to_retire(conn)
        for pair in pairs:
            typer.echo(supersede.describe(pair))
        typer.echo(f"{len(pairs)} superseded records still marked latest in Odoo")
        return
    if date is not None:
        if start_date or end_date:
            fail("give either --date or --start-date/--end-date")
        start_date = end_date = date
    selection = Selection(retail_point_ids=retail_point or None, sale_nums=sale_num or None,
                          start_date=start_date and start_date.date(), end_date=end_date and end_date.date(),
                          statuses=status or None, failure_classes=failure_class or None)
    if resend and not selection.narrowed:
        fail("--resend needs --date, --start-date/--end-date, --retail-point, --sale-num, --status "
             "or --failure-class (it would push every summary again)")
    if resend:
        typer.echo(f"warning: --resend: {RESEND_WARNING} Check the list with --dry-run first.", err=True)
    progress = get_progress(ctx)
    closed, close_error = [], None
    favour_senders()
    with handle_errors():
        with config.get_app().get_fls_handler().make_pusher(workers=workers) as pusher:  # settings checked first
            if close and not dry_run:
                closed, close_error = close_due_days(config, selection, progress)
            report = pusher.run(selection, resend=resend, dry_run=dry_run, progress=progress)
    code = print_report(report, closed, close_error, dry_run)
    if code:
        raise typer.Exit(code)


def close_due_days(config, selection, progress):
    """Close never-closed or stale days up to ``selection.end_date`` (default yesterday).

    Returns ``(results, error)``: a failure is logged and returned, so that
    pushing still goes ahead for the days already closed.
    """
    app = config.get_app()
    until = selection.end_date or app.today() - datetime.timedelta(days=1)
    try:
        return app.get_fls_handler().get_closer().close_due(
            until=until, retail_point_ids=selection.retail_point_ids, requested_by='nightly',
            progress=progress), None
    except Exception as error:  # noqa: BLE001 - report, and still push what is closed
        log.exception("closing due days up to %s failed", until)
        return [], f"{type(error).__name__}: {error}"


def print_report(report, closed, close_error, dry_run=False):
    """The run's outcome for an operator; returns the exit status."""
    from rattail_fls.db.model.summaries import PushOutcome
    from rattail_fls.summaries.supersede import describe

    if closed:
        typer.echo(f"closed {len(closed)} business days: "
                   f"{sum(r.get('new', 0) for r in closed)} new summaries "
                   f"({sum(r.get('held', 0) for r in closed)} held), "
                   f"{sum(r.get('superseded', 0) for r in closed)} superseded, "
                   f"{sum(r.get('gone', 0) for r in closed)} sent ones gone (held)")
    if close_error:
        typer.echo(f"error: closing days failed: {close_error}", err=True)
    counts = report.counts()
    if dry_run:
        for row in report.by(PushOutcome.WOULD_SEND):
            typer.echo(f"would send {row['sale_num']} v{row['version']} ({row['status']}"
                       f"{', ' + row['failure_class'] if row.get('failure_class') else ''}): "
                       f"amount_total {row['amount_total']}, "
                       f"total_including_miscellaneous {row['total_including_miscellaneous']}")
        typer.echo(f"dry run: would send {counts[PushOutcome.WOULD_SEND]}; "
                   f"failed {counts[PushOutcome.FAILED]}, held {counts[PushOutcome.HELD]} waiting")
    else:
        typer.echo(f"sent {counts[PushOutcome.SENT]}, failed {counts[PushOutcome.FAILED]}, "
                   f"held {counts[PushOutcome.HELD]}, skipped {counts[PushOutcome.SKIPPED]}")
        for row in sorted(report.outcomes, key=lambda r: r.get('sale_num') or ''):
            if row['outcome'] in (PushOutcome.FAILED, PushOutcome.HELD):
                typer.echo(f"{row['outcome']}: {row['sale_num']} v{row['version']}: {row['message']}")
    for row in report.waiting:
        typer.echo(f"{row['status']} (not pushed): {row['sale_num']} v{row['version']}: {row['why']}")
    for row in report.retired:
        typer.echo(f"{'retired' if row['outcome'] == PushOutcome.SENT else 'not retired'}: "
                   f"{row['sale_num']} v{row['version']}: {row['message']}")
    if report.to_retire:
        typer.echo(f"{len(report.to_retire)} superseded records still marked latest in Odoo "
                   "(odoo.api.* not set: retire them by hand):")
        for pair in report.to_retire:
            typer.echo(f"  {describe(pair)}")
    if dry_run:
        return 0
    return 0 if report.ok and not close_error else 1

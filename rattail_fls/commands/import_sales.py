"""``rattail import-fls-sales --input-dir DIR``: load sale-order JSON files into the shards."""

from pathlib import Path

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer
from rattail.commands.typer import typer_get_runas_user

from rattail_fls.commands.base import get_config, get_progress, handle_errors


@rattail_typer.command('import-fls-sales')
def import_fls_sales(
        ctx: typer.Context,
        input_dir: Annotated[Path, typer.Option(
            help="Directory of *.json, *.jsonl, *.ndjson files (an order, a list, or JSON lines)",
            exists=True, file_okay=False)],
        dry_run: Annotated[bool, typer.Option(
            help="Validate and look for duplicates; write nothing")] = False):
    """Import sale orders from JSON files through the intake's door and write path.

    Rows are attributed to --runas (-P's user).  Exits 1 when any order was rejected or could
    not be stored (left pending or dead-lettered).
    """
    from rattail_fls.sales.files import SalesFiles

    config = get_config(ctx)
    user = typer_get_runas_user(ctx)
    with handle_errors():
        totals = SalesFiles(config).load(input_dir, user_uuid=user.uuid if user else None,
                                         dry_run=dry_run, progress=get_progress(ctx))
    verb = "would be " if dry_run else ""
    typer.echo(f"sales {verb}created: {totals['done']}, replaced: {totals['replaced']}, "
               f"duplicate: {totals['duplicate']}, superseded: {totals['superseded']}, "
               f"rejected: {totals['rejected']}, left pending: {totals['pending']}, "
               f"dead-lettered: {totals['dead']}")
    if totals['rejected'] or totals['pending'] or totals['dead']:
        raise typer.Exit(1)

"""``rattail import-fls-sales --input-dir DIR``: load sale-order JSON files into the shards."""

import typer

from rattail.commands import rattail_typer
from rattail.commands.importing import ImportCommandHandler
from rattail.commands.typer import file_importer_command, typer_get_runas_user

from rattail_fls.commands.base import get_config, get_progress


class SalesImportCommand(ImportCommandHandler):
    """Keeps the handler it made, to print its summary after the run."""

    def get_handler(self, params, **kwargs):
        self.handler = super().get_handler(params, **kwargs)
        self.handler.summary = None
        return self.handler


@rattail_typer.command('import-fls-sales')
@file_importer_command
def import_fls_sales(ctx: typer.Context, **kwargs):
    """Import sale orders from JSON files (object, list or JSON lines) through the intake path.

    Exits 1 when any order was rejected or could not be stored (left pending or dead-lettered).
    """
    command = SalesImportCommand(get_config(ctx), import_handler_key='to_fls_shards.from_fls_json.import')
    kwargs['user'] = typer_get_runas_user(ctx)
    kwargs['handler_kwargs'] = {'input_dir': kwargs['input_dir']}
    command.run(kwargs, progress=get_progress(ctx))
    summary = getattr(getattr(command, 'handler', None), 'summary', None)
    if summary is not None:
        verb = "would be " if kwargs['dry_run'] else ""
        typer.echo(f"sales {verb}created: {summary['done']}, replaced: {summary['replaced']}, "
                   f"duplicate: {summary['duplicate']}, superseded: {summary['superseded']}, "
                   f"rejected: {summary['rejected']}, left pending: {summary['pending']}, "
                   f"dead-lettered: {summary['dead']}")
        if summary['rejected'] or summary['pending'] or summary['dead']:
            raise typer.Exit(1)

"""``rattail import-corepos-api`` and ``rattail import-versions``, taking the operator options
after the subcommand too.

rattail 0.21 accepts ``--no-versioning`` and ``--runas`` only before the
subcommand (they belong to the top-level ``rattail`` command), while the
operator sequence writes ``import-corepos-api --no-versioning`` and
``import-versions --runas corepos``.  These two commands replace rattail's and
rattail-corepos's with the same options and handlers, plus:

* ``--no-versioning`` after the subcommand: by then the top-level callback has
  configured Continuum, so SQLAlchemy-Continuum's own switch
  (``versioning_manager.options['versioning'] = False``) turns recording off
  for this process: no transaction, no version rows, as with the top-level flag.
* ``--runas USER`` after the subcommand means the same as before it.  In both
  places an unknown user is an error (rattail would record a NULL user).
* ``--force-delete`` (import-corepos-api): apply deletions the guard refused.
* import-corepos-api prints the run's summary on stdout (what changed per
  model, what could not be read, what was repaired), so that a nightly under
  ``app/quiet.conf`` (console logging at WARNING) still says what it did.

Models are not imported here (Continuum pitfall): only through ``app.model``.
"""

import contextlib

import typer
from typing_extensions import Annotated

from corepos.api import CoreAPIError
from rattail.commands import rattail_typer
from rattail.commands.importing import ImportCommandHandler
from rattail.commands.typer import importer_command
import rattail_corepos.commands  # noqa: F401  (registers its commands first, so ours replace them)

from rattail_fls.commands.base import fail, get_config, get_progress, root_context
from rattail_fls.config import ConfigError
from rattail_fls.importing.corepos_policy import DeletionsRefused

NoVersioning = Annotated[bool, typer.Option(
    '--no-versioning',
    help="Record no versions in this run; same as `rattail --no-versioning ...` before the "
         "subcommand.  Capture them later with `import-versions`.")]
Runas = Annotated[str, typer.Option(
    '--runas', '-R',
    help="User the changes are attributed to; same as `rattail --runas USER ...` before the "
         "subcommand.  Must exist (`rattail make-user USER --no-password`).")]


def replace_command(function):
    """Register ``function`` as the ``rattail`` subcommand of its name, dropping any other."""
    name = function.__name__.replace('_', '-')
    rattail_typer.registered_commands[:] = [
        info for info in rattail_typer.registered_commands
        if (info.name or info.callback.__name__.replace('_', '-')) != name]
    return rattail_typer.command(name)(function)


def runas_user(ctx, runas):
    """The ``--runas`` user (given before or after the subcommand, or ``[rattail]
    runas.default``), or None; a name that is not a user is an error."""
    config = get_config(ctx)
    before = root_context(ctx).params.get('runas_username')
    if runas and before and runas != before:
        fail(f"--runas given twice: {before!r} before the subcommand and {runas!r} after it")
    username = runas or before or config.get('rattail.runas.default')
    if not username:
        return None
    user = config.get_app().get_runas_user(username=username)
    if user is None:
        fail(f"--runas {username}: there is no such user in the Theo database, so changes "
             f"could not be attributed to it; create it with "
             f"`rattail make-user {username} --no-password`")
    return user


def disable_versioning(config):
    """Stop Continuum from recording anything in this process (see the module docstring)."""
    if config.versioning_has_been_enabled:
        from rattail.db.continuum import versioning_manager
        versioning_manager.options['versioning'] = False
        config.versioning_has_been_enabled = False


@contextlib.contextmanager
def import_errors(command=None):
    """Expected failures as one clear line and exit code 1, not a traceback; the summary
    of ``command``'s run first, when it committed."""
    try:
        yield
    except (CoreAPIError, ConfigError) as error:
        fail(str(error))
    except DeletionsRefused as error:
        print_summary(command)
        fail(str(error))
    else:
        print_summary(command)


class SummarizedImport(ImportCommandHandler):
    """rattail's import command handler, keeping the import handler it made for its summary."""

    handler = None

    def get_handler(self, params, **kwargs):
        self.handler = super().get_handler(params, **kwargs)
        return self.handler


def print_summary(command):
    """Print the summary of an import-corepos-api run (nothing if it made no import handler
    or has no summary, e.g. ``--list-models``)."""
    handler = getattr(command, 'handler', None)
    if handler is None or not hasattr(handler, 'summary') or not hasattr(handler, 'changes'):
        return
    state = "dry run, rolled back" if handler.dry_run else "committed"
    print(f"import-corepos-api ({state}):")
    for line in handler.summary():
        print(f"  {line}")


@replace_command
@importer_command
def import_corepos_api(
        ctx: typer.Context,
        no_versioning: NoVersioning = False,
        runas: Runas = None,
        force_delete: Annotated[bool, typer.Option(
            '--force-delete',
            help="With --delete: delete even when [rattail_fls] corepos.max_delete_fraction "
                 "is exceeded or some CORE-POS records could not be read.")] = False,
        **kwargs):
    """Import data from a CORE POS API (plus the plugin's retail points)"""
    config = get_config(ctx)
    if no_versioning:
        disable_versioning(config)
    kwargs['user'] = runas_user(ctx, runas)
    kwargs['handler_kwargs'] = {'force_delete': force_delete}
    command = SummarizedImport(config, import_handler_key='to_rattail.from_corepos_api.import')
    with import_errors(command):
        command.run(kwargs, progress=get_progress(ctx))


@replace_command
@importer_command
def import_versions(
        ctx: typer.Context,
        comment: Annotated[str, typer.Option(
            '--comment', '-m', help="Comment to be recorded with the transaction.")]
        = "import catch-up versions",
        runas: Runas = None,
        **kwargs):
    """Make initial versioned records for data models"""
    config = get_config(ctx)
    if not config.versioning_has_been_enabled:
        fail("Continuum versioning is not enabled: set [rattail.db] versioning.enabled = true "
             "or run `rattail --versioning import-versions ...`")
    kwargs['user'] = runas_user(ctx, runas)
    kwargs['handler_kwargs'] = {'comment': comment}
    handler = ImportCommandHandler(config, import_handler_key='to_rattail_versions.from_rattail.import')
    with import_errors():
        handler.run(kwargs, progress=get_progress(ctx))

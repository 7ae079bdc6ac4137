"""Helpers shared by the plugin's subcommands."""

import typer

from rattail_fls.config import ConfigError


def root_context(ctx):
    """The top-level ``rattail`` context, which holds the config and progress factory."""
    while ctx is not None and not hasattr(ctx, 'rattail_config'):
        ctx = ctx.parent
    return ctx


def get_config(ctx):
    return root_context(ctx).rattail_config


def get_progress(ctx):
    return root_context(ctx).rattail_progress


def fail(message, code=1):
    """Print ``message`` to stderr and exit non-zero (no traceback for expected errors)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_table(rows, columns):
    """Plain aligned table of ``rows`` (dicts) on stdout."""
    cells = [[str('' if row.get(c) is None else row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    typer.echo('  '.join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        typer.echo('  '.join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


class handle_errors:
    """Context manager turning expected errors into one clear line and exit code 1."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, (ConfigError, LookupError)):
            fail(str(exc))
        return False

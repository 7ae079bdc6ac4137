"""``bin/rattail`` subcommands of the plugin (entry point ``rattail.typer_imports``).

Importing this package registers every subcommand on ``rattail_typer``.
"""

from . import shards  # noqa: F401

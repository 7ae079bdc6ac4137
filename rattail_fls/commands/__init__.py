"""``bin/rattail`` subcommands of the plugin (entry point ``rattail.typer_imports``).

Importing this package registers every subcommand on ``rattail_typer``.  The
modules import models only inside the commands: models mapped at import time
would break Continuum versioning (rattail's documented pitfall).
"""

from . import shards, inbox, tokens, worker, import_sales, day_close  # noqa: F401
from . import corepos  # noqa: F401  (replaces import-corepos-api and import-versions)
from . import export_odoo  # noqa: F401
from . import status  # noqa: F401

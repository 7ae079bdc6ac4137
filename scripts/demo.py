"""`make demo`: build a complete local Theo + rattail-fls install and run the main job on it.

Every step is a real operator command (alembic, bin/rattail), printed before it
runs, against local services found or started by scripts/services.sh.  Safe to
re-run: the demo databases are dropped and rebuilt each time.
"""

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / 'app'
BIN = Path(sys.executable).parent
PG_URL = os.environ.get('FLS_PG_URL', 'postgresql://postgres@127.0.0.1:5432').rstrip('/')
REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
MAIN_DB, SHARDS_DB = 'rattail_fls_demo', 'rattail_fls_demo_shards2'

sys.path.insert(0, str(ROOT))
from rattail_fls.devconfig import write_config  # noqa: E402


def step(title):
    print(f"\n== {title}", flush=True)


def run(*args, quiet=False):
    """Run an operator command from the app dir, showing it; stop the demo if it fails."""
    shown = ' '.join(shlex.quote(str(a)) for a in args)
    print(f"$ {shown}", flush=True)
    result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], cwd=ROOT,
                            capture_output=quiet, text=True)
    if result.returncode:
        if quiet:
            print(result.stdout[-3000:], result.stderr[-3000:], sep='\n')
        sys.exit(f"demo failed at: {shown}")
    return result


def recreate_databases():
    engine = sa.create_engine(f'{PG_URL}/postgres', isolation_level='AUTOCOMMIT')
    with engine.connect() as conn:
        for name in (MAIN_DB, SHARDS_DB):
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    print(f"databases {MAIN_DB} and {SHARDS_DB} created on {PG_URL}")


def write_app_config():
    """app/rattail.conf = the example with the local URLs; shard s02 in a second database."""
    APP.mkdir(exist_ok=True)
    write_config(APP / 'rattail.conf.example', APP / 'rattail.conf', {
        ('rattail.db', 'default.url'): f'{PG_URL}/{MAIN_DB}',
        ('rattail_fls', 'redis.url'): f'{REDIS_URL}/0',
        ('rattail_fls', 'shards'): 's01 s02',
        ('rattail_fls', 'shard.s02.engine'): 'shards2',
        ('rattail_fls', 'shard.s02.schema'): 'fls_s02',
        ('rattail_fls', 'shard.s02.accept_new'): 'true',
        ('rattail_fls.db', 'shards2.url'): f'{PG_URL}/{SHARDS_DB}',
    })
    (APP / 'quiet.conf').write_text(
        "[rattail.config]\nrequire = %(here)s/rattail.conf\n\n[handler_console]\nlevel = WARNING\n")
    print("wrote app/rattail.conf (from app/rattail.conf.example) and app/quiet.conf")


def main():
    started = time.monotonic()
    step("1. Databases and config")
    recreate_databases()
    write_app_config()

    step("2. Migrate the Theo database (rattail, rattail_corepos and rattail_fls branches)")
    run('alembic', '-c', 'app/rattail.conf', 'upgrade', 'rattail@heads', quiet=True)
    run('alembic', '-c', 'app/rattail.conf', 'upgrade', 'heads', quiet=True)

    step("3. Create the sales shards (s01 in the main DB, s02 in a second database)")
    run('rattail', '-c', 'app/quiet.conf', 'fls-shards', 'upgrade')

    step("4. Users: an admin for the web app, and `corepos` to attribute POS imports to")
    run('rattail', '-c', 'app/quiet.conf', 'make-user', 'admin', '--admin',
        '--password', 'admin', '--full-name', 'Admin User', quiet=True)
    run('rattail', '-c', 'app/quiet.conf', 'make-user', 'corepos', '--no-password',
        '--full-name', 'CORE-POS', quiet=True)

    step("5. Retail points, each given a shard by the least_loaded policy")
    for rp, name in [(101, 'Demo Shop Central'), (102, 'Demo Shop Harbour'), (103, 'Demo Shop Hills')]:
        run('rattail', '-c', 'app/quiet.conf', 'fls-shards', 'assign', rp, '--name', name)

    step("Shards now")
    run('rattail', '-c', 'app/quiet.conf', 'fls-shards', 'list')

    print(f"\nDemo finished in {time.monotonic() - started:.0f}s.  What to run next:\n"
          "  .venv/bin/rattail -c app/quiet.conf fls-shards list\n"
          "  .venv/bin/rattail -c app/quiet.conf --help        (all subcommands)\n"
          "  make test\n")


if __name__ == '__main__':
    main()

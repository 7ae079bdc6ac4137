"""Throwaway, fully migrated databases for the tests, the benches and the demo.

One place for "make a database like an operator would": create it, write a
config from ``app/rattail.conf.example``, run alembic exactly as the README
says.  Nothing here is used by the plugin at run time.
"""

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from fls_dev.config import write_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / 'app' / 'rattail.conf.example'


def admin_engine(pg_url):
    return sa.create_engine(f'{pg_url}/postgres', isolation_level='AUTOCOMMIT')


def create_database(pg_url, name):
    """(Re)create database ``name`` on the server at ``pg_url``; returns its URL."""
    engine = admin_engine(pg_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f'{pg_url}/{name}'


def drop_database(pg_url, name):
    engine = admin_engine(pg_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def write_app_config(path, main_url, shards2_url, redis_url, extra=None):
    """A config from the example with two shards: s01 in the main DB, s02 in a second one."""
    overrides = {
        ('rattail.db', 'default.url'): main_url,
        ('rattail', 'appdir'): str(Path(path).parent),
        ('rattail_fls', 'shards'): 's01 s02',
        ('rattail_fls', 'shard.s02.engine'): 'shards2',
        ('rattail_fls', 'shard.s02.schema'): 'fls_s02',
        ('rattail_fls', 'shard.s02.accept_new'): 'true',
        ('rattail_fls.db', 'shards2.url'): shards2_url,
        ('rattail_fls', 'redis.url'): redis_url,
        ('rattail_fls', 'partitions.premake_days'): '0',
        # tests and benches drive one token hard; the limiter has tests of its own (test_tokens.py)
        ('rattail_fls', 'intake.rate_limit_per_second'): '100000',
        ('rattail_fls', 'intake.rate_limit_burst'): '100000',
        # Theo's CORE-POS pages read office_op: a closed loopback port, never an outside host.
        ('corepos.db.office_op', 'default.url'): 'mysql+pymysql://corepos@127.0.0.1:9/core_op',
        ('rattail_fls', 'move.wait_seconds'): '20',
        ('logger_root', 'level'): 'WARNING',
        ('handler_console', 'level'): 'WARNING',
    }
    overrides.update(extra or {})
    write_config(EXAMPLE, path, overrides)
    return path


def alembic(config_path, *args):
    """Run the alembic CLI as the README tells users to."""
    return subprocess.run([sys.executable, '-m', 'alembic', '-c', str(config_path), *args],
                          capture_output=True, text=True, cwd=ROOT)


def migrate(config_path):
    """``upgrade rattail@heads`` then ``upgrade heads``; raises with alembic's output on failure."""
    for target in ('rattail@heads', 'heads'):
        result = alembic(config_path, 'upgrade', target)
        if result.returncode:
            raise RuntimeError(f"alembic upgrade {target} failed:\n{result.stderr[-3000:]}")

"""``--storage`` for the benches: which shard storages to measure, on which server, side by side.

``partitions`` and ``timescaledb`` measure one storage; ``both`` runs the bench once per
storage, each in its own process on the same server (so the figures compare the storages, not
two servers), and prints the figures side by side.  The default is what the server supports:
``timescaledb`` where it preloads TimescaleDB, else ``partitions``.  TimescaleDB runs use
``FLS_TSDB_URL`` when it is set (the same variable as the tests), else ``FLS_PG_URL``.
"""

import argparse
import json
import os
import subprocess
import sys

import sqlalchemy as sa

from fls_dev.db import admin_engine

PARTITIONS, TIMESCALEDB, BOTH = 'partitions', 'timescaledb', 'both'
PG_URL = os.environ.get('FLS_PG_URL', 'postgresql://postgres@127.0.0.1:5432').rstrip('/')
TSDB_URL = os.environ.get('FLS_TSDB_URL', '').rstrip('/') or None
_JSON = '--figures-json'


def add_argument(parser):
    parser.add_argument('--storage', choices=(PARTITIONS, TIMESCALEDB, BOTH), default=None,
                        help="shard storage to measure (default: what the server supports)")
    parser.add_argument(_JSON, action='store_true', help=argparse.SUPPRESS)  # for `both`


def _usable(url):
    from rattail_fls.db import storage as st
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            facts = st.timescaledb_facts(conn)
    except sa.exc.OperationalError as error:
        sys.exit(f"error: PostgreSQL at {url} is not reachable: {str(error.orig).strip()}")
    finally:
        engine.dispose()
    return facts.available and facts.preloaded


def server_and_storages(choice):
    """``(server URL, [storages])`` for ``--storage choice``; exits with one line if impossible."""
    if choice == PARTITIONS:
        return PG_URL, [PARTITIONS]
    server = TSDB_URL or PG_URL
    tsdb = _usable(server)
    if choice is None:
        if not tsdb:
            return PG_URL, [PARTITIONS]
        choice = TIMESCALEDB
    if not tsdb:
        sys.exit(f"error: --storage {choice} needs TimescaleDB, and {server} does not preload it: "
                 "set FLS_TSDB_URL to a PostgreSQL with shared_preload_libraries = 'timescaledb'")
    return server, [PARTITIONS, TIMESCALEDB] if choice == BOTH else [choice]


def run(args, measure):
    """Run ``measure(storage, server_url, args) -> [(label, text)]`` for the chosen storages and
    print the figures (one column per storage with ``both``)."""
    server, storages = server_and_storages(args.storage)
    if len(storages) == 1:
        figures = {storages[0]: measure(storages[0], server, args)}
    else:
        figures = {}
        for storage in storages:
            out = subprocess.run([sys.executable, sys.argv[0], *_other_arguments(), '--storage', storage, _JSON],
                                 stdout=subprocess.PIPE, text=True)
            if out.returncode:
                sys.exit(out.returncode)
            figures[storage] = json.loads(out.stdout.strip().splitlines()[-1])
    if args.figures_json:
        print(json.dumps(figures[storages[0]]))
        return
    print_side_by_side(figures)


def _other_arguments():
    """This bench's command line without its ``--storage``."""
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg.startswith('--storage='):
            skip = False
            continue
        skip = arg == '--storage'
        if not skip:
            argv.append(arg)
    return argv


def print_side_by_side(figures):
    storages = list(figures)
    labels = [label for label, _ in figures[storages[0]]]
    cells = {s: dict(figures[s]) for s in storages}
    width = max(len(label) for label in labels) + 2
    columns = {s: max([len(s)] + [len(v) for v in cells[s].values()]) for s in storages}
    if len(storages) == 1:
        print(f"storage: {storages[0]}")
    else:
        print(' ' * width + ' | '.join(f"{s:<{columns[s]}}" for s in storages).rstrip())
    for label in labels:
        print(f"{label + ':':<{width}}" +
              ' | '.join(f"{cells[s].get(label, ''):<{columns[s]}}" for s in storages).rstrip())

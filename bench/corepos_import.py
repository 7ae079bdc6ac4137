"""CORE-POS bulk import: versioning deferred vs on, and the plugin's handler vs rattail-corepos's.

All in one run, on one generated CORE catalog (``--products``: 4,000, or 20,000 with ``BENCH_SIZE=full``)
served by the loopback CORE-POS, with its members in a real MariaDB office_op
database.  Each import runs through the real ``rattail`` CLI into its own copy of
one freshly migrated Theo database:

* **deferred**: ``import-corepos-api --no-versioning``, then ``--runas corepos
  import-versions`` (the documented bulk sequence);
* **versioned**: ``--runas corepos import-corepos-api`` with versioning on.
  SQLAlchemy-Continuum makes this much slower (a version row, a validity query
  and a pass over every pending operation per flush), so it is stopped after
  ``--versioned-limit`` seconds (default: 1.25 times the deferred total; 0 =
  wait), and then the ratio printed is a lower bound;
* **handler cost**: re-importing the unchanged catalog with the plugin's handler
  and with rattail-corepos's stock handler and client, both ``--no-versioning``
  (``--stock-bulk`` also times the stock handler's bulk import).

Prints the times and ratios.  Env: FLS_PG_URL, FLS_MYSQL_URL (var/services.env).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
# This file is named like pyCOREPOS's package `corepos`: keep its directory off
# the import path, or `import corepos` finds this script.
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
from fls_dev import benchsize, db as devdb  # noqa: E402
from fls_dev.loopback.corepos import CoreStore, LoopbackCorePos, generate_catalog  # noqa: E402
from fls_dev.loopback.office_op import drop_database, load_office_op, recreate_database  # noqa: E402

PG_URL = os.environ.get('FLS_PG_URL', 'postgresql://postgres@127.0.0.1:5432').rstrip('/')
MYSQL_URL = os.environ.get('FLS_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306').rstrip('/')
REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
RATTAIL = str(Path(sys.executable).parent / 'rattail')
PREFIX = 'fls_bench_corepos'
#: Catalog sizes: `make bench`'s, and the 20,000 products of the performance issue.
PRODUCTS = {benchsize.QUICK: 4000, benchsize.FULL: 20000}

#: rattail-corepos exactly as without the plugin: its handler, handler class and client.
STOCK = {
    ('rattail.importing', 'to_rattail.from_corepos_api.import.handler'):
        'rattail_corepos.importing.corepos.api:FromCOREPOSToRattail',
    ('rattail', 'corepos.handler'): 'rattail_corepos.app:CoreHandler',
    ('corepos.api', 'factory'): 'corepos.api:CoreWebAPI',
}


class Bench:

    def __init__(self, workdir, api_url, office_op_url):
        self.workdir = workdir
        self.settings = {('corepos.api', 'url'): api_url,
                         ('corepos.db.office_op', 'default.url'): office_op_url,
                         ('rattail_fls', 'corepos.store_map'): '1:101, 2:102, 3:103',
                         ('rattail_fls', 'corepos.read_timeout'): '600'}
        self.databases = []

    def config(self, name, extra=None, label=''):
        url = f'{PG_URL}/{name}'
        path = self.workdir / f'{name}{label}.conf'
        devdb.write_app_config(path, url, url, f'{REDIS_URL}/15', {**self.settings, **(extra or {})})
        return path

    def template(self):
        """A migrated database with shards and the `corepos` user, to copy for each run."""
        name = f'{PREFIX}_template'
        devdb.create_database(PG_URL, name)
        self.databases.append(name)
        path = self.config(name)
        devdb.migrate(path)
        for args in (['fls-shards', 'upgrade'], ['make-user', 'corepos', '--no-password']):
            subprocess.run([RATTAIL, '-c', path, *args], check=True, capture_output=True)
        return name

    def copy(self, template, name, extra=None):
        engine = devdb.admin_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        engine.dispose()
        self.databases.append(name)
        return self.config(name, extra)

    def drop_all(self):
        for name in self.databases:
            devdb.drop_database(PG_URL, name)


def timed(config, *args, limit=None):
    """Seconds ``rattail -c config ARGS`` took, or None if stopped at ``limit`` seconds."""
    started = time.monotonic()
    process = subprocess.Popen([RATTAIL, '-c', str(config), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, errors = process.communicate(timeout=limit or None)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.communicate()
        return None
    if process.returncode:
        sys.exit(f"rattail {' '.join(args)} failed:\n{errors[-3000:]}")
    return time.monotonic() - started


def count(config_name, table):
    engine = sa.create_engine(f'{PG_URL}/{config_name}')
    with engine.connect() as conn:
        value = conn.execute(sa.text(f'SELECT count(*) FROM {table}')).scalar()
    engine.dispose()
    return value


def line(label, seconds, note=''):
    print(f"  {label:<44} {seconds:>8.1f} s {note}".rstrip(), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--products', type=int, default=PRODUCTS[benchsize.bench_size()])
    parser.add_argument('--members', type=int, default=200)
    parser.add_argument('--versioned-limit', type=float,
                        help="seconds before the versioned import is stopped "
                             "(default: 1.25 times the deferred total; 0 = no limit)")
    parser.add_argument('--stock-bulk', action='store_true',
                        help="also time the stock handler's bulk import")
    args = parser.parse_args(argv)

    started = time.monotonic()
    store = generate_catalog(CoreStore(), products=args.products, members=args.members, stores=3)
    office_op_url = recreate_database(MYSQL_URL, f'{PREFIX}_op')
    load_office_op(office_op_url, store)
    with LoopbackCorePos(store) as server, tempfile.TemporaryDirectory() as workdir:
        bench = Bench(Path(workdir), server.url, office_op_url)
        try:
            template = bench.template()
            print(f"catalog: {args.products:,} products, {len(store['VendorItems']):,} vendor items, "
                  f"{args.members} members, 3 stores; loopback CORE-POS at {server.url}, "
                  f"office_op in MariaDB (set-up {time.monotonic() - started:.0f} s)\n", flush=True)

            print("bulk import, versioning deferred (the documented sequence):")
            deferred = bench.copy(template, f'{PREFIX}_deferred')
            bulk = timed(deferred, '--no-versioning', 'import-corepos-api')
            line("import-corepos-api --no-versioning", bulk)
            capture = timed(deferred, '--runas', 'corepos', 'import-versions', '-m', 'bench')
            line("import-versions", capture)
            total = bulk + capture
            line("total", total)
            assert count(f'{PREFIX}_deferred', 'product_version') == args.products

            limit = 1.25 * total if args.versioned_limit is None else args.versioned_limit
            print("bulk import, versioning on:")
            versioned = bench.copy(template, f'{PREFIX}_versioned')
            seconds = timed(versioned, '--runas', 'corepos', 'import-corepos-api', limit=limit)
            if seconds is None:
                line("import-corepos-api", limit, "(stopped there: --versioned-limit)")
                print(f"ratio versioning on / deferred: > {limit / total:.2f}x (a lower bound)\n")
            else:
                assert count(f'{PREFIX}_versioned', 'product_version') == args.products
                line("import-corepos-api", seconds)
                print(f"ratio versioning on / deferred: {seconds / total:.2f}x\n")

            print("handler cost on the same data (--no-versioning):")
            stock_config = bench.config(f'{PREFIX}_deferred', STOCK, label='_stock')
            plugin_again = timed(deferred, '--no-versioning', 'import-corepos-api')
            stock_again = timed(stock_config, '--no-versioning', 'import-corepos-api')
            line("re-import unchanged, plugin handler", plugin_again)
            line("re-import unchanged, rattail-corepos handler", stock_again)
            if args.stock_bulk:
                stock_bulk = timed(bench.copy(template, f'{PREFIX}_stock', STOCK),
                                   '--no-versioning', 'import-corepos-api')
                line("bulk import, plugin handler (above)", bulk)
                line("bulk import, rattail-corepos handler", stock_bulk)
            print(f"ratio plugin / stock, re-import: {plugin_again / stock_again:.2f}x")
            if args.stock_bulk:
                print(f"ratio plugin / stock, bulk import: {bulk / stock_bulk:.2f}x")
        finally:
            bench.drop_all()
            drop_database(MYSQL_URL, f'{PREFIX}_op')
    print(f"\nbench finished in {time.monotonic() - started:.0f} s")


if __name__ == '__main__':
    main()

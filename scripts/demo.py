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

import requests
import simplejson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / 'app'
BIN = Path(sys.executable).parent
PG_URL = os.environ.get('FLS_PG_URL', 'postgresql://postgres@127.0.0.1:5432').rstrip('/')
REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
MAIN_DB, SHARDS_DB = 'rattail_fls_demo', 'rattail_fls_demo_shards2'
LOOPBACK_ODOO_URL = 'http://127.0.0.1:8069/api/sales-summary'

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'scripts'))
from fls_dev.config import off_machine, write_config  # noqa: E402
from fls_dev.server import start_intake  # noqa: E402
from demo_corepos import run_corepos_demo  # noqa: E402
from demo_export import export_to_loopback  # noqa: E402
from fls_dev.loopback.shops import generate_orders, recent_days  # noqa: E402

SHOPS = [(101, 'Demo Shop Central'), (102, 'Demo Shop Harbour'), (103, 'Demo Shop Hills')]
DAYS = recent_days(3)
ORDERS_PER_DAY = 40


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
        # Nothing points off the machine: the Odoo push goes to the loopback receiver's
        # usual port (`python -m fls_dev.loopback.odoo --port 8069`), never to odoo.example.com.
        ('rattail_fls', 'odoo.url'): LOOPBACK_ODOO_URL,
    })
    print("wrote app/rattail.conf (from app/rattail.conf.example); app/quiet.conf is shipped")


def check_on_machine(path):
    """The demo leaves no setting pointing off this machine (a worker left running would use it)."""
    outside = off_machine(path)
    if outside:
        sys.exit("demo failed: settings point off this machine: "
                 + "; ".join(f"[{section}] {key} = {value}" for section, key, value in outside))
    print(f"every URL in {path.relative_to(ROOT)} points at this machine")


def make_tokens():
    """A user and an API token per shop, bound to its retail point (as a shop's Odoo would use)."""
    tokens = {}
    for rp, _ in SHOPS:
        run('rattail', '-c', 'app/quiet.conf', 'make-user', f'shop{rp}', '--no-password', quiet=True)
        out = run('rattail', '-c', 'app/quiet.conf', 'fls-tokens', 'create', f'shop{rp}',
                  '--retail-point', rp, '--description', 'demo shop Odoo', quiet=True).stdout
        tokens[rp] = out.strip().splitlines()[-1]
    print(f"tokens created for shops {', '.join(str(rp) for rp in tokens)} (not shown)")
    return tokens


def post_sales(url, tokens):
    """Half of each shop's orders the old way (one double-encoded order per request), half in batches."""
    orders = generate_orders([rp for rp, _ in SHOPS], DAYS, ORDERS_PER_DAY, seed=2026)
    compat = native = 0
    for rp, token in tokens.items():
        mine = [o for o in orders if o['retail_point_id'] == rp]
        headers = {'Authorization': f'Token {token}', 'Content-Type': 'application/json'}
        half = len(mine) // 2
        for order in mine[:half]:
            body = simplejson.dumps(simplejson.dumps(order, use_decimal=True))
            answer = requests.post(url + '/sales/enqueue_sales/', data=body, headers=headers, timeout=30)
            assert answer.status_code == 202, answer.text
            compat += 1
        for start in range(half, len(mine), 50):
            answer = requests.post(url + '/api/fls/sales', headers=headers, timeout=60,
                                   data=simplejson.dumps(mine[start:start + 50], use_decimal=True))
            native += answer.json()['accepted']
    bad = dict(orders[0], sale_num='DEMO-BAD-1', total_including_miscellaneous=1)
    answer = requests.post(url + '/sales/enqueue_sales/', data=simplejson.dumps(bad, use_decimal=True),
                           headers={'Authorization': f'Token {tokens[101]}'}, timeout=30)
    print(f"posted {compat} orders one per request (double-encoded, /sales/enqueue_sales/) and "
          f"{native} in batches of 50 (/api/fls/sales), with "
          f"{sum(len(o['sale_line_ids']) for o in orders)} lines")
    print(f"one deliberately bad order answered {answer.status_code}: {answer.json()['errors'][0]}"
          f" (kept in the inbox as rejected, id {answer.json()['inbox_id']})")


def request_day_closes(url, tokens):
    for rp, token in tokens.items():
        for day in DAYS:
            answer = requests.post(url + '/sales/enqueue_day_close/', timeout=30,
                                   headers={'Authorization': f'Token {token}'},
                                   data={'retail_point_id': rp, 'close_date': day.isoformat()})
            assert answer.status_code == 202, answer.text
    print(f"{len(tokens) * len(DAYS)} day closes requested by the shops (form-encoded, "
          "/sales/enqueue_day_close/)")


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

    step("5. Master data from CORE-POS: products, members... and the shops (retail points)")
    run_corepos_demo(run, lambda title: print(f"-- {title}", flush=True), APP)

    step("6. Sales intake: shops post orders to the intake API; RQ workers store them in the shards")
    tokens = make_tokens()
    print("$ pserve file+ini:app/intake.conf   (in the background)")
    try:
        server, url = start_intake(APP / 'rattail.conf')
    except RuntimeError as error:
        sys.exit(f"demo failed: {error}")
    try:
        post_sales(url, tokens)
        run('rattail', '-c', 'app/quiet.conf', 'fls-worker', '--queue', 'sales_processing', '--burst',
            quiet=True)
        print("worker drained the sales_processing queue")
        run('rattail', '-c', 'app/quiet.conf', 'fls-inbox', 'list', '--status', 'rejected', '--limit', '3')

        step("7. Sales per shard and business day")
        run('rattail', '-c', 'app/quiet.conf', 'fls-shards', 'days')
        run('rattail', '-c', 'app/quiet.conf', 'fls-shards', 'list')

        step("8. Day close: the shops ask to close their days; the day_close worker builds summaries")
        request_day_closes(url, tokens)
        run('rattail', '-c', 'app/quiet.conf', 'fls-worker', '--queue', 'day_close', '--burst', quiet=True)
        run('rattail', '-c', 'app/quiet.conf', 'fls-day-close', '--due', '--date', DAYS[-1].isoformat())
        run('rattail', '-c', 'app/quiet.conf', 'fls-summaries', '--date', DAYS[-1].isoformat())

        step("9. Export: the nightly `export-odoo-summary` pushes the summaries to Odoo Cloud")
        export_to_loopback(run)
    finally:
        server.terminate()
        server.wait()

    check_on_machine(APP / 'rattail.conf')
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s.  What to run next:\n"
          "  .venv/bin/rattail -c app/quiet.conf fls-shards days\n"
          "  .venv/bin/rattail -c app/quiet.conf fls-inbox list\n"
          "  make web                                        (the web app on loopback, login admin / admin)\n"
          "  .venv/bin/pserve file+ini:app/intake.conf      (the intake API)\n"
          "  .venv/bin/rattail -c app/quiet.conf --help        (all subcommands)\n"
          "  make test\n")


if __name__ == '__main__':
    main()

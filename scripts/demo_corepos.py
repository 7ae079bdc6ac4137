"""`make demo`, CORE-POS part: the documented import sequence against a loopback CORE-POS.

Called by scripts/demo.py once app/rattail.conf is written, the database migrated,
the shards created and the `corepos` user made::

    from demo_corepos import run_corepos_demo
    run_corepos_demo(run, step, APP)

It serves a generated sample catalog (500 products, 3 stores that are the demo's
retail points 101-103) from the loopback CORE-POS (not a real CORE-POS) in a
background thread, loads CORE's member tables into the MariaDB database
``rattail_fls_demo_core_op`` (FLS_MYSQL_URL), points app/rattail.conf at both, and
runs the operator commands with ``run``: migrate, bulk import without versioning,
version capture as `corepos`, then a price change and a deleted product in CORE
followed by the nightly import with deletions.
"""

import configparser
import os
import sys
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fls_dev.config import render  # noqa: E402
from fls_dev.loopback.corepos import CoreStore, LoopbackCorePos, generate_catalog  # noqa: E402
from fls_dev.loopback.office_op import load_office_op, recreate_database  # noqa: E402

MYSQL_URL = os.environ.get('FLS_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306').rstrip('/')
OFFICE_OP_DB = 'rattail_fls_demo_core_op'
SHOPS = {1: (101, 'Demo Shop Central'), 2: (102, 'Demo Shop Harbour'), 3: (103, 'Demo Shop Hills')}


def sample_core(products):
    """A generated CORE catalog whose stores are the demo's shops."""
    store = generate_catalog(CoreStore(), products=products, members=50, stores=len(SHOPS), seed=0)
    stores = store['Stores']
    for row in stores.rows():
        stores.update(row, {'description': SHOPS[int(row['storeID'])][1]})
    return store


def configure(app_dir, api_url, office_op_url):
    """Point app/rattail.conf (already written from the example) at the loopback CORE-POS."""
    path = Path(app_dir) / 'rattail.conf'
    path.write_text(render(path.read_text(), {
        ('corepos.api', 'url'): api_url,
        ('corepos.db.office_op', 'default.url'): office_op_url,
        ('rattail_fls', 'corepos.store_map'): ', '.join(f'{s}:{p}' for s, (p, _) in SHOPS.items()),
    }))
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser.get('rattail.db', 'default.url')


def show_versions(db_url):
    """Print the version capture: one line per Continuum transaction."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT t.id, coalesce(u.username, '-'), coalesce(m.value, ''),
                   (SELECT count(*) FROM product_version v WHERE v.transaction_id = t.id),
                   (SELECT count(*) FROM product_price_version v WHERE v.transaction_id = t.id),
                   (SELECT count(*) FROM fls_retail_point_version v WHERE v.transaction_id = t.id)
            FROM transaction t LEFT JOIN "user" u ON u.uuid = t.user_id
            LEFT JOIN transaction_meta m ON m.transaction_id = t.id AND m.key = 'comment'
            ORDER BY t.id""")).all()
        deleted = conn.execute(sa.text("SELECT count(*) FROM product WHERE deleted")).scalar()
    engine.dispose()
    print("transaction  user      versions: product  price  retail point  comment")
    for tx, user, comment, products, prices, points in rows:
        print(f"{tx:>11}  {user:<8}  {products:>17}  {prices:>5}  {points:>12}  {comment}")
    print(f"products marked deleted: {deleted}")


def run_corepos_demo(run, step, app_dir, products=500):
    """Run the CORE-POS import sequence; see the module docstring.

    ``run(*args)`` runs one operator command from the repository root, printing it
    and stopping the demo if it fails; ``step(title)`` prints a heading; ``app_dir``
    holds rattail.conf and quiet.conf.
    """
    app_dir = Path(app_dir)
    shown = Path(os.path.relpath(app_dir, ROOT))         # app/..., as the operator types it
    quiet = ('rattail', '-c', shown / 'quiet.conf')
    step(f"CORE-POS: a loopback CORE-POS serving {products} products, 3 stores (shops 101-103)")
    core = sample_core(products)
    with LoopbackCorePos(core) as server:
        office_op_url = recreate_database(MYSQL_URL, OFFICE_OP_DB)
        counts = load_office_op(office_op_url, core)
        db_url = configure(app_dir, server.url, office_op_url)
        print(f"loopback CORE-POS (not a real CORE-POS) at {server.url}; office_op in MariaDB "
              f"{OFFICE_OP_DB} ({counts['custdata']} custdata rows); {shown / 'rattail.conf'} updated")

        step("CORE-POS: migrate, bulk import without versioning, capture versions as `corepos`")
        run('alembic', '-c', shown / 'rattail.conf', 'upgrade', 'heads')
        run(*quiet, '-P', 'import-corepos-api', '--no-versioning')
        run(*quiet, '-P', '--runas', 'corepos', 'import-versions', '-m', 'initial data from POS')

        step("CORE-POS: a price changes and a product is deleted in CORE; the nightly import")
        changed, deleted = core['Products'].rows()[:2]
        with core.lock:
            core['Products'].update(changed, {'normal_price': '1.99'})
            core['Products'].delete(deleted)
        print(f"in CORE: {changed['upc']} now costs 1.99; {deleted['upc']} was deleted")
        run(*quiet, '--runas', 'corepos', 'import-corepos-api', '--delete')
    show_versions(db_url)
    run(*quiet, 'fls-shards', 'list')

"""The CORE-POS operator sequence end to end, through the real ``rattail`` and ``alembic`` CLIs,
against the loopback CORE-POS and a MariaDB office_op database:

    alembic -c app/rattail.conf upgrade heads
    rattail -c app/quiet.conf -P import-corepos-api --no-versioning
    rattail -c app/quiet.conf -P --runas corepos import-versions -m "initial data from POS"
    rattail -c app/quiet.conf --runas corepos import-corepos-api [--delete]      # nightly
"""

import pytest
from rattail.config import make_config

from fls_dev.config import render

from coreenv import core_env

PRODUCTS, STORES, SUBDEPTS, VENDORS, MEMBERS = 200, 3, 61, 12, 30


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    with core_env(tmp_path_factory, 'core') as env:
        yield env


def transactions(env):
    """``[(id, username, comment)]`` of every Continuum transaction, oldest first."""
    return env.rows("""
        SELECT t.id, u.username, m.value FROM transaction t
        LEFT JOIN "user" u ON u.uuid = t.user_id
        LEFT JOIN transaction_meta m ON m.transaction_id = t.id AND m.key = 'comment'
        ORDER BY t.id""")


def versions(env, table, transaction_id, where='true'):
    return env.scalar(f"SELECT count(*) FROM {table}_version WHERE transaction_id = :t AND {where}",
                      t=transaction_id)


def core_update(env, entity, key, **values):
    table = env.store[entity]
    with env.store.lock:
        table.update(table.find(key)[0], values)


def core_delete(env, entity, key):
    table = env.store[entity]
    with env.store.lock:
        table.delete(table.find(key)[0])


def test_operator_sequence(env):
    # 1. `alembic upgrade heads` from an empty database ran in the fixture (all three branches)
    assert env.rows("SELECT to_regclass('store') IS NOT NULL, to_regclass('corepos_store') IS NOT NULL,"
                    " to_regclass('fls_retail_point') IS NOT NULL") == [(True, True, True)]
    before = transactions(env)                              # make-user's

    # 2. bulk import, options after the subcommand as the documented sequence writes them
    env.cli('-P', 'import-corepos-api', '--no-versioning')
    counts = env.rows("""SELECT (SELECT count(*) FROM product), (SELECT count(*) FROM store),
        (SELECT count(*) FROM subdepartment), (SELECT count(*) FROM vendor),
        (SELECT count(*) FROM member), (SELECT count(*) FROM customer)""")[0]
    assert counts == (PRODUCTS, STORES, SUBDEPTS, VENDORS, MEMBERS, MEMBERS)
    points = env.rows("""SELECT p.retail_point_id, p.name, s.id, p.shard_uuid IS NOT NULL, p.active
        FROM fls_retail_point p JOIN store s ON s.uuid = p.store_uuid ORDER BY 1""")
    assert points == [(3, 'STORE 3', '3', True, True), (101, 'STORE 1', '1', True, True),
                      (102, 'STORE 2', '2', True, True)]
    assert transactions(env) == before                      # nothing versioned
    assert env.scalar("SELECT count(*) FROM product_version") == 0

    # 3. version capture, attributed to corepos, the plugin's models included
    env.cli('-P', '--runas', 'corepos', 'import-versions', '-m', 'initial data from POS')
    capture = transactions(env)[len(before):]
    assert [(user, comment) for _, user, comment in capture] == [('corepos', 'initial data from POS')]
    initial = capture[0][0]
    assert versions(env, 'product', initial) == PRODUCTS
    assert versions(env, 'corepos_product', initial) == PRODUCTS
    assert versions(env, 'fls_retail_point', initial) == STORES
    assert versions(env, 'member', initial) == MEMBERS

    # 4. in CORE-POS: a vendor renamed, a product renamed; a product, a subdepartment
    # and a store deleted
    changed_upc, deleted_upc = (p['upc'] for p in env.store['Products'].rows()[:2])
    core_update(env, 'Vendors', {'vendorID': 1}, vendorName='UNFI WEST')
    core_update(env, 'Products', {'upc': changed_upc}, description='RENAMED OATS')
    core_delete(env, 'Products', {'upc': deleted_upc})
    core_delete(env, 'SubDepts', {'subdept_no': 999})
    core_delete(env, 'Stores', {'storeID': 3})

    # 5. nightly without --delete: changes only, and its summary on stdout
    nightly_run = env.cli('--runas', 'corepos', 'import-corepos-api')
    assert nightly_run.stdout.splitlines()[0] == 'import-corepos-api (committed):'
    assert '  Vendor: 0 added, 1 updated, 0 deleted' in nightly_run.stdout.splitlines()
    nightly = transactions(env)[-1]
    assert nightly[1] == 'corepos' and nightly[0] != initial
    assert versions(env, 'vendor', nightly[0], "name = 'UNFI WEST' AND operation_type = 1") == 1
    assert versions(env, 'product', nightly[0], "description = 'RENAMED OATS'") == 1
    assert env.scalar("SELECT deleted FROM product WHERE item_id = :u", u=deleted_upc) is False
    assert env.scalar("SELECT count(*) FROM subdepartment WHERE number = 999") == 1

    # 6. nightly with deletions (opt-in): flagged where rattail has a flag, deleted otherwise
    env.cli('--runas', 'corepos', 'import-corepos-api', '--delete')
    deletions = transactions(env)[-1]
    assert deletions[1] == 'corepos' and deletions[0] != nightly[0]
    tx = deletions[0]
    assert versions(env, 'product', tx, f"item_id = '{deleted_upc}' AND deleted AND operation_type = 1") == 1
    assert versions(env, 'subdepartment', tx, "number = 999 AND operation_type = 2") == 1
    assert versions(env, 'store', tx, "id = '3' AND archived") == 1
    assert versions(env, 'fls_retail_point', tx, "retail_point_id = 3 AND NOT active") == 1
    assert env.scalar("SELECT count(*) FROM subdepartment WHERE number = 999") == 0
    assert env.rows("SELECT retail_point_id FROM fls_retail_point WHERE active ORDER BY 1") == [
        (101,), (102,)]
    assert env.scalar("SELECT count(*) FROM product WHERE NOT deleted") == PRODUCTS - 1

    # 7. a clean rerun changes nothing: no new transaction
    rerun = env.cli('--runas', 'corepos', 'import-corepos-api', '--delete')
    assert transactions(env)[-1] == deletions
    assert rerun.stdout.splitlines() == ['import-corepos-api (committed):', '  no changes']


def test_no_versioning_and_runas_work_before_and_after_the_subcommand(env):
    def rename(name):
        core_update(env, 'Departments', {'dept_no': 2}, dept_name=name)
        return name

    def department_name():
        return env.scalar("SELECT name FROM department WHERE number = 2")

    env.cli('import-corepos-api', 'Department', '--no-versioning')
    for args in (['--no-versioning', 'import-corepos-api', 'Department'],
                 ['import-corepos-api', 'Department', '--no-versioning']):
        count = len(transactions(env))
        name = rename(f"BULK {len(args[0])}")
        env.cli(*args)
        assert department_name() == name
        assert len(transactions(env)) == count, args

    for n, args in enumerate((['--runas', 'corepos', 'import-versions', 'Department', '-m', 'one'],
                              ['import-versions', 'Department', '--runas', 'corepos', '-m', 'two'])):
        name = rename(f"CAPTURED {n}")
        env.cli('import-corepos-api', 'Department', '--no-versioning')
        env.cli(*args)
        tx, user, comment = transactions(env)[-1]
        assert (user, comment) == ('corepos', args[-1])
        assert versions(env, 'department', tx, f"name = '{name}'") == 1

    for n, args in enumerate((['--runas', 'corepos', 'import-corepos-api', 'Department'],
                              ['import-corepos-api', 'Department', '--runas', 'corepos'])):
        name = rename(f"NIGHTLY {n}")
        env.cli(*args)
        tx, user, _ = transactions(env)[-1]
        assert user == 'corepos'
        assert versions(env, 'department', tx, f"name = '{name}'") == 1


@pytest.mark.parametrize('args', [
    ['--runas', 'nobody', 'import-corepos-api', 'Department'],
    ['import-corepos-api', 'Department', '--runas', 'nobody'],
    ['--runas', 'nobody', 'import-versions', '-m', 'x'],
    ['import-versions', '--runas', 'nobody', '-m', 'x'],
])
def test_unknown_runas_user_is_an_error(env, args):
    count = len(transactions(env))
    result = env.cli(*args, check=False)
    assert result.returncode == 1
    assert "--runas nobody: there is no such user" in result.stderr
    assert 'make-user nobody' in result.stderr and 'Traceback' not in result.stderr
    assert len(transactions(env)) == count


def test_runas_twice_must_agree(env):
    result = env.cli('--runas', 'corepos', 'import-versions', '--runas', 'admin', check=False)
    assert result.returncode == 1 and '--runas given twice' in result.stderr


def test_handler_lists_every_stock_model_plus_retail_points(env):
    listing = env.cli('import-corepos-api', '--list-all-models').stdout
    keys = [line.split()[0] for line in listing.splitlines() if line[:1].isalpha()
            and not line.startswith('ALL')]
    assert keys == ['Customer', 'CustomerShopper', 'MembershipType', 'Member', 'Employee',
                    'Store', 'FlsRetailPoint', 'Department', 'Subdepartment', 'Vendor',
                    'Product', 'ProductCost', 'ProductMovement']
    assert 'ProductMovement (*)' not in listing and 'FlsRetailPoint (*)' in listing


def test_plugin_handler_is_the_default_and_an_explicit_setting_wins(env, tmp_path):
    key = 'to_rattail.from_corepos_api.import'
    text = env.config_path.read_text()
    for designated, expected in (('', 'rattail_fls.importing.corepos:FromCorePosToTheo'),
                                 ('rattail_corepos.importing.corepos.api:FromCOREPOSToRattail',
                                  'rattail_corepos.importing.corepos.api:FromCOREPOSToRattail')):
        path = tmp_path / 'designation.conf'
        path.write_text(render(text, {('rattail.importing', f'{key}.handler'): designated}))
        app = make_config([str(path)], versioning=False).get_app()
        assert app.get_designated_import_handler_spec(key) == expected

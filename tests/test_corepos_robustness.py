"""What the real CORE-POS API does wrong, and what the import does about it.

First the client (``rattail_fls.coreapi``) against the loopback CORE-POS and
its faults, then the ``rattail import-corepos-api`` CLI: clear errors without
tracebacks, bad records skipped, and the deletion guard.
"""

import logging
import time

import pytest
from rattail import enum
from rattail.config import RattailConfig, make_config

from rattail_fls.config import ConfigError
from rattail_fls.coreapi import CorePosError, FlsCoreHandler, FlsCoreWebAPI
from rattail_fls.importing.retail_points import parse_store_map

from coreenv import core_env

EMPLOYEES = 10


# -- the client ---------------------------------------------------------------------------

@pytest.fixture
def api(server):
    return FlsCoreWebAPI(server.url, timeout=(2, 1))


@pytest.mark.parametrize('fault, message', [
    ('http500_empty', "CORE-POS Departments get: CORE-POS answered HTTP 500 with an empty body: "
                      "a PHP fatal error on the server"),
    ('html_error', "CORE-POS Departments get: the answer is not JSON (PHP display_errors on, or "
                   "the answer was cut off): 'Fatal error: Uncaught TypeError: count()"),
    ('truncated', "CORE-POS Departments get: the answer is not JSON"),
    ('jsonrpc_error', "CORE-POS Departments get: CORE-POS refused it with error -32000: "
                      "'Error saving data'"),
])
def test_faults_become_errors_that_say_what_failed(server, api, fault, message):
    server.inject(fault, entity='Departments')
    with pytest.raises(CorePosError) as raised:
        api.get_departments()
    assert str(raised.value).startswith(message)
    assert len(api.get_departments()) == 11            # the next answer is fine again


def test_a_hung_server_times_out(server, api):
    server.inject('hang', seconds=30)
    started = time.monotonic()
    with pytest.raises(CorePosError, match=r"CORE-POS Stores get: no answer from "
                                           r"http://127\.0\.0\.1:\d+/fannie/ws/ within 1s"):
        api.get_stores()
    assert time.monotonic() - started < 5


def test_an_unreachable_server_and_no_credentials_in_messages(server):
    url = server.url.replace('http://', 'http://user:secret@')
    server.stop()
    with pytest.raises(CorePosError) as raised:
        FlsCoreWebAPI(url).get_stores()
    assert 'cannot reach CORE-POS at http://127.0.0.1' in str(raised.value)
    assert 'secret' not in str(raised.value)


@pytest.mark.parametrize('path, message', [
    ('/fannie/', "CORE-POS Stores get: {root}/fannie/ answered HTTP 302, a redirect to "
                 "{root}/fannie/item/ItemEditorPage.php: [corepos.api] url points at the fannie "
                 "root (or another page) rather than the API endpoint, e.g. http://HOST/fannie/ws/"),
    ('/fannie/ws', "CORE-POS Stores get: {root}/fannie/ws answered HTTP 301, a redirect to "
                   "{root}/fannie/ws/: set [corepos.api] url to {root}/fannie/ws/"),
    ('/fannie/api/', "CORE-POS Stores get: CORE-POS answered HTTP 404 (no such page) for "
                     "{root}/fannie/api/: [corepos.api] url must be CORE's API endpoint"),
])
def test_a_url_that_is_not_the_endpoint_says_so(server, path, message):
    root = server.url[:-len('/fannie/ws/')]
    with pytest.raises(CorePosError) as raised:
        FlsCoreWebAPI(root + path).get_stores()
    assert str(raised.value).startswith(message.format(root=root))
    assert 'display_errors' not in str(raised.value)


def test_false_records_are_skipped_and_counted(server, api, caplog):
    server.inject('false_record', entity='Products', index=3)
    with caplog.at_level(logging.WARNING, logger='rattail_fls.coreapi'):
        products = api.get_products()
    assert len(products) == 12 and api.bad_records == {'Products': 1}
    assert "CORE-POS Products record 4 of 13 skipped: CORE sent false instead of the record" \
        in caplog.text


def test_stock_semantics_are_kept(api):
    assert api.get_member(654)['cardNo'] == 654
    assert api.get_member(99999) is None                # FannieMember answers false
    assert [p['upc'] for p in api.get_products(upc='0007349012345')] == ['0007349012345']
    assert api.get_product('0007349012345')['normal_price'] == '5.49'


def test_handler_applies_configured_timeouts_and_checks_the_factory():
    settings = {'corepos.api.url': 'http://127.0.0.1:9/fannie/ws/',
                'rattail_fls.corepos.read_timeout': '7'}
    with pytest.raises(ConfigError, match=r'\[corepos.api\] factory must be '
                                          r'rattail_fls.coreapi:FlsCoreWebAPI'):
        FlsCoreHandler(RattailConfig(defaults=settings)).make_webapi()
    settings['corepos.api.factory'] = 'rattail_fls.coreapi:FlsCoreWebAPI'
    assert FlsCoreHandler(RattailConfig(defaults=settings)).make_webapi().timeout == (5.0, 7.0)


def test_store_map_is_validated():
    assert parse_store_map('1:101, 2:102 3:7') == {1: 101, 2: 102, 3: 7}
    assert parse_store_map(None) == {}
    for text, words in [('1-101', "'1-101' is not CORE_STORE_ID:RETAIL_POINT_ID"),
                        ('1:101, 1:102', 'maps CORE store 1 twice'),
                        ('1:101, 2:101', 'two CORE stores to retail point 101')]:
        with pytest.raises(ConfigError, match=r'\[rattail_fls\] corepos.store_map'):
            parse_store_map(text)
        with pytest.raises(ConfigError, match=words):
            parse_store_map(text)


# -- the CLI -----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    with core_env(tmp_path_factory, 'corerobust') as env:
        env.cli('import-corepos-api', '--no-versioning')
        yield env


def failed(result, *words):
    """The run failed with one clear ``error:`` line containing ``words``, no traceback."""
    assert result.returncode == 1, result.stderr
    assert 'Traceback' not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return True


@pytest.mark.parametrize('fault, words', [
    ('http500_empty', ['error: CORE-POS Departments get: CORE-POS answered HTTP 500 with an empty body']),
    ('html_error', ['error: CORE-POS Departments get: the answer is not JSON', 'Fatal error']),
    ('jsonrpc_error', ['error: CORE-POS Departments get: CORE-POS refused it with error -32000']),
    ('truncated', ['error: CORE-POS Departments get: the answer is not JSON']),
    ('hang', ['error: CORE-POS Departments get: no answer from', 'within 3s (read timeout)']),
])
def test_api_faults_stop_the_run_with_a_clear_error(env, fault, words):
    # a hang lasts 20 s; the run ends at the 3 s read timeout, which its message names
    # (no timed assert: a loaded machine makes the CLI itself slow)
    env.server.inject(fault, entity='Departments', seconds=20)
    assert failed(env.cli('import-corepos-api', 'Department', check=False), *words)


def test_bad_records_are_reported_and_skipped(env):
    employee = {'emp_no': 99, 'CashierPassword': '7531', 'AdminPassword': '7531',
                'LastName': 'X', 'EmpActive': 1}
    env.store['Vendors'].load([{'vendorID': 99, 'vendorName': 'NO RATE'}])
    env.store['Employees'].load([employee])                 # FirstName NULL: left out
    try:
        result = env.cli('import-corepos-api', 'Vendor', 'Employee')
    finally:
        for entity, key in (('Vendors', {'vendorID': 99}), ('Employees', {'emp_no': 99})):
            env.store[entity].delete(env.store[entity].find(key)[0])
    assert "Vendor: skipped a CORE-POS record: field 'discountRate' is missing (NULL in " \
           "CORE-POS): {'vendorID': '99', 'vendorName': 'NO RATE'" in result.stderr
    assert "Employee: skipped a CORE-POS record: field 'FirstName' is missing" in result.stderr
    assert '7531' not in result.stderr and 'Password' not in result.stderr
    assert env.scalar("SELECT count(*) FROM vendor") == 12
    assert env.scalar("SELECT count(*) FROM employee") == EMPLOYEES


def test_unreadable_records_hold_back_deletions(env):
    doomed = env.store['Products'].rows()[3]['upc']
    env.server.inject('false_record', entity='Products', index=3, count=3)
    result = env.cli('import-corepos-api', 'Product', '--delete', check=False)
    env.server.clear_faults()
    assert failed(result, 'CORE-POS Products record 4 of 200 skipped',
                  'error: deletions refused (all other changes were committed)',
                  'Product: 1 record(s) missing from CORE-POS not deleted: 1 CORE-POS record(s) '
                  'could not be read', '--delete --force-delete')
    assert env.scalar("SELECT deleted FROM product WHERE item_id = :u", u=doomed) is False


def former_employees(env):
    return env.scalar("SELECT count(*) FROM employee WHERE status = :s",
                      s=enum.EMPLOYEE_STATUS_FORMER)


def test_an_empty_answer_does_not_delete_everything_unless_forced(env):
    before = former_employees(env)
    env.server.inject('empty_result', entity='Employees')
    assert failed(env.cli('import-corepos-api', 'Employee', '--delete', check=False),
                  f'Employee: {EMPLOYEES - before} of {EMPLOYEES - before} records are missing from '
                  'CORE-POS, more than [rattail_fls] corepos.max_delete_fraction = 0.5 allows')
    assert former_employees(env) == before

    env.server.inject('empty_result', entity='Employees')
    env.cli('import-corepos-api', 'Employee', '--delete', '--force-delete')
    assert former_employees(env) == EMPLOYEES               # marked former, not deleted

    env.cli('import-corepos-api', 'Employee', '--delete')   # back in CORE: back to normal
    assert former_employees(env) == before


def test_the_deletion_fraction_is_configurable(env, tmp_path):
    table = env.store['Employees']
    active = next(row for row in table.rows() if row['EmpActive'] == '1')
    before = former_employees(env)
    table.delete(active)
    try:
        strict = env.override_config(tmp_path, **{'corepos.max_delete_fraction': '0.05'})
        assert failed(env.cli('import-corepos-api', 'Employee', '--delete', check=False,
                              config=strict), 'corepos.max_delete_fraction = 0.05')
        env.cli('import-corepos-api', 'Employee', '--delete')
        assert former_employees(env) == before + 1
    finally:
        table.load([active])
    env.cli('import-corepos-api', 'Employee', '--delete')
    assert former_employees(env) == before


def test_config_errors_name_the_setting(env, tmp_path):
    bad = env.override_config(tmp_path, **{'corepos.max_delete_fraction': 'lots'})
    assert failed(env.cli('import-corepos-api', 'Department', check=False, config=bad),
                  'error: [rattail_fls] corepos.max_delete_fraction must be a float')
    clash = env.override_config(tmp_path, **{'corepos.store_map': '1:3'})
    assert failed(env.cli('import-corepos-api', 'Store', 'FlsRetailPoint', check=False, config=clash),
                  'CORE stores 1 and 3 would both be retail point 3')


def test_a_theo_product_not_from_core_is_linked_not_duplicated(env):
    app = make_config([str(env.config_path)], versioning=False).get_app()
    session = app.make_session()
    product = app.model.Product(item_id='0000000077777', description='ENTERED IN THEO')
    session.add(product)
    session.commit()
    uuid = product.uuid
    session.close()
    env.store['Products'].insert({'upc': '0000000077777', 'description': 'FROM CORE',
                                  'normal_price': '2.00', 'department': 1})
    try:
        env.cli('import-corepos-api', 'Product', '--no-versioning')
    finally:
        table = env.store['Products']
        table.delete(table.find({'upc': '0000000077777'})[0])
    assert env.rows("""SELECT p.uuid, p.description, c.corepos_id IS NOT NULL FROM product p
                       JOIN corepos_product c ON c.uuid = p.uuid
                       WHERE p.item_id = '0000000077777'""") == [(uuid, 'FROM CORE', True)]


def test_unmapped_stores_can_be_skipped(env, tmp_path):
    skip = env.override_config(tmp_path, **{'corepos.unmapped_stores': 'skip'})
    env.cli('import-corepos-api', 'Store', 'FlsRetailPoint', '--delete', config=skip)
    assert env.rows("SELECT retail_point_id, active FROM fls_retail_point ORDER BY 1") == [
        (3, False), (101, True), (102, True)]
    env.cli('import-corepos-api', 'Store', 'FlsRetailPoint')              # identity again
    assert env.rows("SELECT retail_point_id, active FROM fls_retail_point ORDER BY 1") == [
        (3, True), (101, True), (102, True)]

"""The loopback CORE-POS: byte-exact replay of the captured exchanges, pyCOREPOS's
client against it, every fault, and the catalog generator."""

import json
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from corepos.api import CoreAPIError, CoreWebAPI
from corepos.db.office_op import model as office_op

from fls_dev.loopback.corepos import (
    CoreStore, LoopbackCorePos, OFFICE_OP_TABLES, add_real_shapes, generate_catalog,
    seed_from_exchanges)

#: The 26 request/response pairs captured from a real CORE-POS (PHP 8.2, MariaDB 10.11).
EXCHANGES = Path(__file__).resolve().parent / 'data' / 'corepos_api_exchanges.json'
ENTITY = '\\COREPOS\\Fannie\\API\\webservices\\FannieEntity'
MEMBER = '\\COREPOS\\Fannie\\API\\webservices\\FannieMember'


@pytest.fixture(scope='module')
def exchanges():
    return json.loads(EXCHANGES.read_text(encoding='utf-8'))


@pytest.fixture
def api(server):
    return CoreWebAPI(server.url)


@pytest.fixture(scope='module')
def catalog():
    return generate_catalog(CoreStore(), products=20000, members=300, seed=0)


def post(server, payload, **kwargs):
    """POST like pyCOREPOS does: the JSON as the raw body, no Content-Type."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return requests.post(server.url, data=data, **kwargs)


def entity_get(entity, columns=None, request_id=1):
    return {'jsonrpc': '2.0', 'method': ENTITY, 'id': request_id,
            'params': {'entity': entity, 'submethod': 'get', 'columns': columns or {}}}


# -- fidelity to the captures -----------------------------------------------------------

def test_replays_every_captured_exchange_byte_for_byte(exchanges):
    with LoopbackCorePos(seed_from_exchanges(CoreStore(), exchanges)) as server:
        for exchange in exchanges:
            response = requests.post(server.url, data=exchange['request_body'].encode('utf-8'))
            assert response.status_code == exchange['http_status'], exchange['case']
            assert response.headers['Content-Type'] == exchange['content_type'], exchange['case']
            assert response.content == exchange['response_body'].encode('utf-8'), exchange['case']
        assert len(server.requests) == len(exchanges)
        assert server.requests[-2] == 'not json'        # unparseable: kept as text


def test_shipped_sample_is_what_the_captures_imply(exchanges):
    assert CoreStore.sample().snapshot() == seed_from_exchanges(CoreStore(), exchanges).snapshot()


# -- pyCOREPOS's client -----------------------------------------------------------------

def test_pycorepos_reads_every_entity(api):
    departments = api.get_departments()
    assert [d['dept_no'] for d in departments][:3] == ['1', '2', '3']
    assert api.get_department(3)['dept_name'] == 'BCEREAL'
    assert api.get_department(999) is None
    orphan = api.get_subdepartment(99)
    assert orphan['subdept_name'] == 'ORPHAN SUBDEPT' and 'dept_ID' not in orphan
    assert 'phone' not in api.get_vendor(3)                 # NULL columns are left out
    products = api.get_products()
    assert len(products) == 13 and [p['id'] for p in products] == sorted(
        (p['id'] for p in products), key=int)
    oats = api.get_product('0007349012345')
    assert (oats['cost'], oats['normal_price'], oats['id']) == ('3.100', '5.49', '16691')
    assert [i['sku'] for i in api.get_vendor_items()] == ['102030', '40-LB', 'A-77', 'NOUPC']
    assert api.get_vendor_item('A-77', 3)['units'] == '6'
    assert api.get_stores() == [{'storeID': '1', 'description': 'DEFAULT STORE', 'push': '1',
                                 'pull': '1', 'hasOwnItems': '1'}]
    assert [t['memDesc'] for t in api.get_member_types()] == ['Non-member', 'Member']
    assert [e['EmpActive'] for e in api.get_employees()] == ['1', '0']
    member = api.get_member(4049)
    assert [(c['firstName'], c['accountHolder']) for c in member['customers']] == [
        ('Winona', 1), ('Royce', 0)]
    assert member['customerAccountID'] == '2'
    assert api.get_member(99999) is None


def test_pycorepos_sets_create_and_update(api):
    created = api.set_department(42, dept_name='NEW DEPT', dept_limit=50)
    assert created == {'dept_no': '42', 'dept_name': 'NEW DEPT', 'dept_limit': '50.00',
                       'dept_see_id': '0', 'memberOnly': '0', 'line_item_discount': '1',
                       'dept_wicable': '0', 'active': '1'}
    assert api.set_department(42, dept_name='RENAMED')['dept_name'] == 'RENAMED'
    assert api.get_department(42)['dept_limit'] == '50.00'

    product = api.set_product('0000000009999', description='CAFÉ 1/2 LB', normal_price=2.5)
    assert (product['id'], product['normal_price'], product['cost']) == ('16693', '2.50', '0.000')
    assert re.match(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$', product['modified'])
    assert api.get_product('0000000009999')['description'] == 'CAFÉ 1/2 LB'
    item = api.set_vendor_item('X-1', 2, upc='0000000009999', cost='1.2')
    assert (item['vendorItemID'], item['cost'], item['units']) == ('5', '1.200', '1')


def test_pycorepos_member_set_and_get_all(api):
    result = api.set_member(4049, city='SUPERIOR', state='WI', customers=[])
    assert (result['errors'], result['error-msg']) == (0, '')
    assert (result['account']['city'], result['account']['state']) == ('SUPERIOR', 'WI')
    assert api.get_member(4049)['city'] == 'SUPERIOR'

    accounts = api.get_members()
    assert [a['cardNo'] for a in accounts] == ['654', '4049']     # strings on this path
    assert {c['customerID'] for a in accounts for c in a['customers']} == {0}


def test_member_get_migrates_lazily_int_then_string(server, api):
    for entity in ('Customers', 'CustomerAccounts'):
        table = server.store[entity]
        for row in table.find({'cardNo': 654}):
            table.delete(row)
    assert api.get_member(654)['customerAccountID'] == 3
    assert api.get_member(654)['customerAccountID'] == '3'


# -- protocol details -------------------------------------------------------------------

def test_no_reply_without_a_real_id(server):
    for request_id in (None, 0, ''):
        response = post(server, entity_get('Stores', request_id=request_id))
        assert (response.status_code, response.content) == (200, b'')
    response = post(server, entity_get('Stores', request_id='0'))   # "0" != null in PHP 8
    assert response.json()['id'] == '0'


def test_form_field_json_and_index_php(server):
    payload = json.dumps(entity_get('Stores', request_id='abc/1'))
    by_form = requests.post(server.url, data={'json': payload})
    by_query = requests.get(server.url + 'index.php', params={'json': payload})
    assert by_form.content == by_query.content
    assert by_form.content.startswith(b'{"jsonrpc":"2.0","id":"abc\\/1","result":{"result":["')


@pytest.mark.parametrize('path, status, location', [
    ('/fannie/', 302, '/fannie/item/ItemEditorPage.php'),        # fannie/index.php
    ('/fannie/index.php', 302, '/fannie/item/ItemEditorPage.php'),
    ('/fannie', 301, '{root}/fannie/'),                          # Apache adds the slash
    ('/fannie/ws', 301, '{root}/fannie/ws/'),
    ('/ws/', 404, None),
    ('/fannie/ws/FannieEntity.php', 404, None),
])
def test_other_paths_are_answered_as_cores_web_server_does(server, path, status, location):
    root = server.url[:-len('/fannie/ws/')]
    response = requests.post(root + path, data=json.dumps(entity_get('Stores')),
                             allow_redirects=False)
    assert response.status_code == status
    assert response.headers.get('Location') == (location and location.format(root=root))
    assert response.headers['Content-Type'].startswith('text/html')
    if status == 404:
        assert '<h1>Not Found</h1>' in response.text
    assert server.requests[-1] == f'POST {path}'
    assert requests.get(root + '/fannie/', timeout=5).text.startswith('<!DOCTYPE html>')


def test_item_info_checks_its_parameters_as_json_rpc_errors(server):
    method = ENTITY[:-len('Entity')] + 'ItemInfo'

    def call(params):
        response = post(server, {'jsonrpc': '2.0', 'method': method, 'params': params, 'id': 1})
        assert response.status_code == 200
        return response.json()

    for params, message in [({}, 'Invalid parameters needs type'),
                            ({'type': 'product'}, 'Invalid parameters'),
                            ({'type': 'VENDOR'}, 'Invalid parameters needs vendor_id'),
                            ({'type': 'vendor', 'vendor_id': 3}, 'Invalid parameters needs sku or upc')]:
        assert call(params) == {'jsonrpc': '2.0', 'id': 1,
                                'error': {'code': -32602, 'message': message}}
    assert call({'type': 'vendor', 'vendor_id': 3, 'sku': 'A-77'})['result'] == {
        'sku': 'A-77', 'upc': '0007349012345', 'size': '32 OZ', 'units': '6',
        'brand': 'BOBS RED MILL', 'description': 'ORGANIC ROLLED OATS', 'cost': '3.250'}
    assert call({'type': 'vendor', 'vendor_id': 3, 'sku': 'NONE'})['result'] == []
    no_params = post(server, {'jsonrpc': '2.0', 'method': method, 'id': 1})
    assert (no_params.status_code, no_params.content) == (500, b'')     # property_exists(array)


def test_set_with_an_unknown_auto_increment_id_inserts_and_echoes_the_input(server, api):
    answer = post(server, {'jsonrpc': '2.0', 'method': ENTITY, 'id': 1, 'params': {
        'entity': 'Stores', 'submethod': 'set',
        'columns': {'storeID': 77, 'description': 'NEW/SHOP'}}})
    assert answer.content == (b'{"jsonrpc":"2.0","id":1,"result":{"result":'
                              b'"{\\"storeID\\":77,\\"description\\":\\"NEW\\\\\\/SHOP\\"}"}}')
    assert [(s['storeID'], s['description']) for s in api.get_stores()] == [
        ('1', 'DEFAULT STORE'), ('2', 'NEW/SHOP')]
    product = api.set_product('0007349012345', id=5, description='KEEPS ITS ID')
    assert product['id'] == '16691'                  # the UPDATE leaves the id column out


def test_hq_mode_products_are_unique_per_store(exchanges):
    store = seed_from_exchanges(CoreStore(hq_mode=True), exchanges)
    with LoopbackCorePos(store) as server:
        api = CoreWebAPI(server.url)
        api.set_product('0007349012345', store_id=2, description='OATS IN STORE 2')
        rows = api.get_products(upc='0007349012345')
        assert [(p['store_id'], p['description']) for p in rows] == [
            ('1', 'ORGANIC ROLLED OATS'), ('2', 'OATS IN STORE 2')]


def test_real_shapes_are_added_to_a_generated_catalog():
    store = generate_catalog(CoreStore(), products=30, members=5, stores=2, seed=3)
    added = add_real_shapes(store)
    with LoopbackCorePos(store) as server:
        api = CoreWebAPI(server.url)
        products = api.get_products()
        assert [p['id'] for p in products if 'upc' not in p] == added['no_upc']
        upcs = [p['upc'] for p in products if 'upc' in p]
        assert len(upcs) - len(set(upcs)) == len(added['duplicate']) + len(added['store_rows']) == 4
        assert {p['store_id'] for p in products if p['id'] in added['store_rows']} == {'2'}
        orphan = api.get_product(added['orphan'])
        assert api.get_department(orphan['department']) is None
        assert api.get_subdepartment(orphan['subdept']) is None
        assert api.get_member(added['no_person_1']) is None
        untyped = api.get_member(added['unknown_memtype'])
        assert untyped['customerTypeID'] == str(added['missing_memtype'])
        assert untyped['customerType'] is None


def test_errors(server):
    def error(payload):
        response = post(server, payload)
        assert response.status_code == 200
        return response.json()['error']

    assert error(entity_get('Departments', {'bogus': 1})) == {
        'code': -32600, 'message': 'Invalid column bogus'}
    assert error(entity_get('departments'))['message'] == 'Invalid entity'
    assert error({**entity_get('Stores'), 'method': 'FannieEntity'})['code'] == -32601
    assert error({'jsonrpc': '2.0', 'method': ENTITY, 'id': 1, 'params': {
        'entity': 'Stores', 'submethod': 'get', 'columns': []}}) == {
        'code': -32601, 'message': 'Columns cannot be empty'}
    assert error({'jsonrpc': '2.0', 'method': ENTITY, 'id': 1, 'params': {
        'entity': 'Custdata', 'submethod': 'set', 'columns': {'CardNo': 1}}})['message'] == \
        'Set not allowed on this entity'
    assert error({'jsonrpc': '2.0', 'method': MEMBER, 'id': 1,
                  'params': {'cardNo': 1, 'method': 'put'}})['message'] == \
        'Method must be "get" or "set"'
    unknown = post(server, {'jsonrpc': '2.0', 'method': ENTITY[:-6] + 'ItemInfo', 'id': 1})
    assert (unknown.status_code, unknown.content) == (500, b'')


def test_get_filters_are_anded_equalities_on_column_values(api):
    assert {p['upc'] for p in api.get_products(department=3, scale='1')} == {
        '0000000000211', '0000000000215', '0000000000310'}
    assert api.get_products(department='3.0', scale=1, brand=None)    # None filters nothing
    assert [d['dept_no'] for d in api.get_departments(dept_name='bcereal')] == ['3']
    assert api.get_products(normal_price='5.5') == []
    assert api.get_product('0007349012345', normal_price=5.49)['id'] == '16691'


def test_php_escaping_of_slashes_and_unicode(server, api):
    api.set_product('0000000009999', description='CAFÉ 1/2 LB')
    body = post(server, entity_get('Products', {'upc': '0000000009999'})).text
    assert r'"description\":\"CAF\\u00c9 1\\\/2 LB\"' in body


# -- faults -----------------------------------------------------------------------------

def test_fault_http500_empty(server, api):
    server.inject('http500_empty')
    with pytest.raises(requests.HTTPError):
        api.get_departments()
    assert api.get_departments()


def test_fault_html_error(server, api):
    server.inject('html_error')
    with pytest.raises(CoreAPIError, match="Received invalid response: b'<br />"):
        api.get_products()


def test_fault_jsonrpc_error(server, api):
    server.inject('jsonrpc_error', code=-32600, message='Invalid entity')
    with pytest.raises(CoreAPIError) as raised:
        api.get_vendors()
    assert raised.value.message == {'code': -32600, 'message': 'Invalid entity'}


def test_fault_false_record_kills_the_whole_list(server, api):
    server.inject('false_record', entity='Products', index=3)
    body = post(server, entity_get('Products')).json()
    assert body['result']['result'][3] is False and len(body['result']['result']) == 13
    server.inject('false_record', entity='Products')
    with pytest.raises(TypeError):
        api.get_products()


def test_fault_empty_result(server, api):
    server.inject('empty_result', entity='Departments')
    server.inject('empty_result', entity='FannieMember')
    assert api.get_departments() == []
    assert api.get_member(654) is None
    assert len(api.get_departments()) == 11


def test_fault_truncated(server, api):
    server.inject('truncated')
    with pytest.raises(CoreAPIError, match='Received invalid response'):
        api.get_stores()


def test_fault_entity_filter_and_count(server, api):
    server.inject('http500_empty', entity='Vendors', count=2)
    assert api.get_departments()
    for _ in range(2):
        with pytest.raises(requests.HTTPError):
            api.get_vendors()
    assert len(api.get_vendors()) == 3
    with pytest.raises(ValueError):
        server.inject('bogus')


def test_fault_hang_delays_then_answers(server, api):
    server.inject('hang', seconds=0.3)
    started = time.monotonic()
    assert api.get_stores()
    assert time.monotonic() - started >= 0.3


def test_fault_hang_ends_promptly_on_stop():
    server = LoopbackCorePos(CoreStore.sample()).start()
    server.inject('hang', seconds=60)
    outcome = []

    def call():
        try:
            CoreWebAPI(server.url).get_stores()
        except requests.ConnectionError as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    caller.join(5)
    assert time.monotonic() - started < 2
    assert not caller.is_alive() and outcome


# -- generator --------------------------------------------------------------------------

def test_generator_builds_a_consistent_catalog(catalog):
    products = catalog['Products'].rows()
    assert len(products) == 20000
    upcs = [p['upc'] for p in products]
    assert len(set(upcs)) == 20000 and all(re.fullmatch(r'\d{13}', u) for u in upcs)
    assert all(re.fullmatch(r'\d+\.\d\d', p['normal_price']) for p in products)
    departments = {d['dept_no'] for d in catalog['Departments'].rows()}
    subdepts = {s['subdept_no']: s['dept_ID'] for s in catalog['SubDepts'].rows()}
    vendors = {v['vendorID'] for v in catalog['Vendors'].rows()}
    assert all(p['department'] in departments and subdepts[p['subdept']] == p['department']
               and p['default_vendor_id'] in vendors for p in products)
    items = catalog['VendorItems'].rows()
    assert {i['upc'] for i in items} == set(upcs) and {i['vendorID'] for i in items} <= vendors
    preferred = {(i['upc'], i['vendorID']) for i in items}
    assert all((p['upc'], p['default_vendor_id']) in preferred for p in products)
    assert [s['storeID'] for s in catalog['Stores'].rows()] == ['1', '2']
    again = generate_catalog(CoreStore(), products=50, members=5, seed=0)
    assert again.snapshot() == generate_catalog(CoreStore(), products=50, members=5).snapshot()


def test_generated_catalog_through_pycorepos(catalog):
    with LoopbackCorePos(catalog) as server:
        api = CoreWebAPI(server.url)
        assert len(api.get_products()) == 20000
        cards = sorted({int(c['CardNo']) for c in catalog['Custdata'].rows()})
        assert len(cards) == 300
        for card in cards[:25]:
            member = api.get_member(card)
            assert member['customers'][0]['accountHolder'] == 1
            assert all(c['customerAccountID'] == member['customerAccountID']
                       and c['customerID'] != 0 for c in member['customers'])


@pytest.mark.filterwarnings('ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal')
def test_office_op_rows_load_into_pycorepos_tables(catalog):
    models = {'custdata': office_op.CustomerClassic, 'meminfo': office_op.MemberInfo,
              'memDates': office_op.MemberDate, 'memberCards': office_op.MemberBarcode,
              'memtype': office_op.MemberType, 'CustomerAccounts': office_op.CustomerAccount,
              'Customers': office_op.Customer}
    assert set(models) == set(OFFICE_OP_TABLES)
    rows = catalog.office_op_rows()
    engine = sa.create_engine('sqlite://')
    tables = [model.__table__ for model in models.values()]
    office_op.Base.metadata.create_all(engine, tables=tables)
    with engine.begin() as connection:
        for name, model in models.items():
            connection.execute(model.__table__.insert(), rows[name])
    session = sa.orm.Session(engine)
    customers = session.query(office_op.CustomerClassic).order_by(
        office_op.CustomerClassic.card_number).all()
    assert len(customers) == len(catalog['Custdata'])
    first = customers[0]
    assert first.member_info.first_name and first.balance == Decimal('0.00')
    assert session.query(office_op.Customer).count() == len(customers)


def test_main_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, '-m', 'fls_dev.loopback.corepos', '--port', '0',
         '--products', '50', '--members', '5', '--real-shapes'],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        line = process.stdout.readline()
        assert 'loopback CORE-POS (not a real CORE-POS)' in line
        url = re.search(r'http://\S+', line).group(0)
        products = CoreWebAPI(url).get_products()
        assert len(products) == 50 + 2 + 1 + 3 + 1 and sum('upc' not in p for p in products) == 2
    finally:
        process.terminate()
        process.wait(5)

"""The contract alone, no database: every field against each wrong type and each bound, the
decoder against hostile JSON, the JSON Schema against the shard columns, and properties
(hypothesis) that no input escapes as anything but a normalised sale or a clear refusal."""

import datetime
import decimal
import json
import random

import pytest
import simplejson
import sqlalchemy as sa
import pydantic
from hypothesis import HealthCheck, given, settings, strategies as st

from rattail_fls import jsontext
from rattail_fls.db.model import sales as tables
from rattail_fls.sales import contract, contract_fast
from fls_dev.loopback.shops import make_order

D = decimal.Decimal
TODAY = datetime.date(2026, 11, 20)
RULES = contract.Rules(total_tolerance=None)
MODELS = {'': contract.SaleOrder, 'sale_line_ids[0].': contract.SaleLine, 'lot_details_ids[0].': contract.SaleLot}
COLUMNS = {contract.SaleOrder: tables.Sale.__table__, contract.SaleLine: tables.SaleLine.__table__,
           contract.SaleLot: tables.SaleLot.__table__}


def good():
    order = make_order(random.Random(3), 7, TODAY, 1)
    return jsontext.loads(jsontext.dumps(order))


def errors_of(order):
    with pytest.raises(contract.Invalid) as caught:
        contract.validate_sale(order, RULES, TODAY)
    return {e['field']: e['reason'] for e in caught.value.errors}


def put(order, prefix, name, value):
    target = order
    if prefix:
        key = prefix.split('[')[0]
        target = order.setdefault(key, [{}]) or order[key]
        if not target:
            target.append({'quantity': 1})
        target = target[0]
    target[name] = value
    return order


def fields():
    """(json path prefix, json name, column) of every scalar field of the contract."""
    for prefix, model in MODELS.items():
        table = COLUMNS[model]
        for name, info in model.model_fields.items():
            if name in ('lines', 'lots', 'misc_lots'):
                continue
            yield prefix, info.alias or name, table.c[name]


FIELDS = list(fields())


def wrong_values(column):
    """Values of the wrong type, or beyond the column, with a word the reason must contain."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return [('yes', 'true or false'), (1, 'true or false'), ([], 'true or false')]
    if isinstance(kind, sa.Integer):
        bound = 2 ** 15 if isinstance(kind, sa.SmallInteger) else 2 ** 31
        return [(bound, 'at most'), (-bound - 1, 'at least'), (True, 'boolean'), ('12a', 'integer'),
                (D('1.5'), 'integer'), ([], 'integer'), ({}, 'integer')]
    if isinstance(kind, sa.Numeric):
        limit = 10 ** (kind.precision - kind.scale)
        return [(D(limit), 'absolute value'), (-D(limit), 'absolute value'), ('NaN', 'finite'),
                ('Infinity', 'finite'), (True, 'boolean'), ('1,5', 'number'), ([], 'number')]
    if isinstance(kind, sa.DateTime):
        return [('2026-11-20', 'date and time'), ('2026-11-20 10:00:00+05:30', 'no zone'),
                ('2026-13-20 10:00:00', 'calendar'), (20261120, 'date and time')]
    if isinstance(kind, sa.Date):
        return [('2026-11-1', 'YYYY-MM-DD'), ('20261120', 'YYYY-MM-DD'), (20261120, 'YYYY-MM-DD'),
                ([], 'YYYY-MM-DD'), ('2026-02-30', 'calendar'), ('2026-11-20T00:00:00', 'YYYY-MM-DD')]
    if isinstance(kind, sa.String):
        longest = contract.SALE_NUM_MAX if column.name == 'sale_num' else contract.TEXT_MAX
        return [('a\x00b', 'NUL'), ('x' * (longest + 1), f'at most {longest} characters'),
                ([], 'string'), ({}, 'string'), (1.5, 'string')]
    raise AssertionError(column)


CASES = [(prefix, name, column, value, word) for prefix, name, column in FIELDS
         for value, word in wrong_values(column)]


def test_every_shard_column_has_a_contract_field():
    for model, table in COLUMNS.items():
        keys = {'sale_date', 'sale_id', 'line_no', 'lot_no', 'inbox_id', 'stored_at'} - set(model.model_fields)
        missing = {c.name for c in table.columns} - set(model.model_fields) - keys
        if model is not contract.SaleOrder:
            missing -= {'retail_point_id'}
        assert not missing, f"{table.name}: columns without a contract field: {missing}"


@pytest.mark.parametrize('prefix,name,column,value,word', CASES,
                         ids=[f"{p}{n}={v!r:.20}" for p, n, _, v, _ in CASES])
def test_each_field_refuses_each_wrong_value(prefix, name, column, value, word):
    order = put(good(), prefix, name, value)
    reasons = errors_of(order)
    path = f"{prefix}{name}"
    assert path in reasons, f"{path}={value!r} was accepted"
    assert word.lower() in reasons[path].lower(), reasons[path]


def test_the_bounds_themselves_are_accepted():
    """The largest values each column holds pass (the contract is not stricter than the shard)."""
    order = good()
    order['retail_point_id'] = 2 ** 31 - 1
    order['sale_line_ids'][0]['vat_percent'] = '99999.9999'
    order['sale_line_ids'][0]['qty_available'] = D('-99999999999999.9999')
    order['sale_num'] = 'n' * contract.SALE_NUM_MAX
    order['remarks'] = 'r' * contract.TEXT_MAX
    sale = contract.validate_sale(order, RULES, TODAY)
    assert sale['retail_point_id'] == 2 ** 31 - 1 and sale['lines'][0]['vat_percent'] == D('99999.9999')


@pytest.mark.parametrize('prefix,name,column', [f for f in FIELDS if not f[2].nullable or
                                                f[1] in ('product_uom_qty', 'price_unit', 'quantity')])
def test_required_fields(prefix, name, column):
    for empty in (None, False):
        order = put(good(), prefix, name, empty)
        assert errors_of(order)[f"{prefix}{name}"] == 'is required'
    order = good()
    target = order if not prefix else order[prefix.split('[')[0]][0]
    del target[name]
    assert errors_of(order)[f"{prefix}{name}"] == 'is required'


def test_odoo_quirks_are_kept():
    order = good()
    order['remarks'] = False                       # Odoo's false for an empty field
    order['partner_id'] = False
    order['is_default_customer'] = False           # ...but a boolean's false is false
    order['sale_counter_id'] = str(order['sale_counter_id'])  # digits as a string
    order['miscelleneous_sale_price'] = '2.5'      # the clients' spelling
    order['miscellaneous_qty'] = 2
    order['total_including_miscellaneous'] += 5
    order['lot_details_ids'] = False
    sale = contract.validate_sale(order, contract.Rules(), TODAY)
    assert sale['remarks'] is None and sale['partner_id'] is None and sale['is_default_customer'] is False
    assert sale['miscellaneous_sale_price'] == D('2.5000') and sale['lots'] == []
    double = json.dumps(json.dumps(order, default=str))
    assert contract.decode_body(double.encode()) == jsontext.loads(json.dumps(order, default=str))


def test_money_is_rounded_to_the_column_scale_half_even():
    order = good()
    order['sale_line_ids'][0]['cess_amount'] = '1.00005'
    order['sale_line_ids'][0]['retail_sale_mrp'] = 10.123449999
    line = contract.validate_sale(order, RULES, TODAY)['lines'][0]
    assert line['cess_amount'] == D('1.0000') and line['retail_sale_mrp'] == D('10.1234')


def test_a_number_that_rounds_to_the_limit_is_refused():
    """NUMERIC(18,4) holds less than 10^14: 99999999999999.99995 rounds half-even to 10^14."""
    order = good()
    order['sale_line_ids'][0]['retail_sale_mrp'] = '99999999999999.99995'
    assert 'once rounded' in errors_of(order)['sale_line_ids[0].retail_sale_mrp']
    order['sale_line_ids'][0]['retail_sale_mrp'] = '99999999999999.99994'
    assert contract.validate_sale(order, RULES, TODAY)['lines'][0]['retail_sale_mrp'] == D('99999999999999.9999')


def test_lists_are_bounded_by_their_numbering_column():
    order = good()
    order['sale_line_ids'] = order['sale_line_ids'][:1] * (2 ** 15)
    assert 'at most 32767 items' in errors_of(order)['sale_line_ids']


@pytest.mark.parametrize('body,reason', [
    (b'{"a": 1, "a": 2}', 'duplicated key'),
    (b'{"x": NaN}', 'NaN'), (b'{"x": Infinity}', 'Infinity'), (b'{"x": -Infinity}', 'Infinity'),
    (b'"\\ud800"', 'surrogate'), (b'{"k": "\\udfff"}', 'surrogate'), (b'["\\ud800x"]', 'surrogate'),
    (b'[' * 17 + b']' * 17, 'nested deeper'), (b'{"a":' * 40 + b'1' + b'}' * 40, 'nested deeper'),
    (b'[' * 100000, 'nested deeper'), (b'[{"a":' * 9 + b'1' + b'}]' * 9, 'nested deeper'),
    (b'{"x": "' + b'[' * 40 + b'", "y": ' + b'[' * 17 + b']' * 17 + b'}', 'nested deeper'),
    (b'\xff\xfe', 'UTF-8'), (b'\xc3', 'UTF-8'), (b'', 'not valid JSON'), (b'{', 'not valid JSON'),
    (b'42', 'object or a list'), (b'null', 'object or a list'), (b'"42"', 'object or a list'),
    (b'"{\\"a\\": NaN}"', 'NaN'), (b'"[1,"', 'not valid JSON'),
    # a double-encoded body: its outer string nests nothing, the JSON inside is measured
    (json.dumps('[' * 17 + ']' * 17).encode(), 'the JSON string in the body is nested deeper'),
    (b'  ' + json.dumps('[{"a":' * 9 + '1' + '}]' * 9).encode(), 'the JSON string in the body is nested deeper'),
    (b'"x" ' + b'[' * 100000, 'not valid JSON'),
])
def test_decoder_refuses(body, reason):
    with pytest.raises(contract.Invalid) as caught:
        contract.decode_body(body)
    assert reason in caught.value.errors[0]['reason']
    assert caught.value.errors[0]['field'] == 'body'


def test_decoder_keeps_what_json_allows():
    assert contract.decode_body(b'{"x": "\\ud83d\\ude00", "y": "[{\\"}"}') == {'x': '\U0001f600', 'y': '[{"}'}
    assert contract.decode_body(b'[' * 16 + b']' * 16) == [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]
    assert contract.decode_body(b'{"s": "' + b'[{' * 50 + b'"}') == {'s': '[{' * 50}  # brackets in text
    assert contract.decode_body(b'{"p": 1.10}') == {'p': D('1.10')}


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                     | st.decimals(allow_nan=False, allow_infinity=False, places=2),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                 max_size=3),
                     max_leaves=8)
_SPACE = st.text(alphabet=' \t\n\r', max_size=2)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_JSON, _SPACE, _SPACE), max_size=5), _SPACE, st.booleans())
def test_decoder_keeps_each_orders_text_as_sent(elements, outer, double_encoded):
    """The texts are the orders as they stood in the body (its elements, or the body itself),
    whatever the spacing, and decode to the orders; a JSON string holding a body gives the
    texts inside it."""
    parts = [f"{before}{json.dumps(value, default=str)}{after}" for value, before, after in elements]
    body = f"{outer}[{','.join(parts)}]{outer}"
    if double_encoded:
        body = json.dumps(body)
    texts = []
    value = contract.decode_body(body.encode(), texts)
    assert value == [json.loads(json.dumps(v, default=str), parse_float=D) for v, _, _ in elements]
    assert texts == [json.dumps(v, default=str) for v, _, _ in elements]
    assert [contract.decode_body(t) if t[:1] in '[{' else jsontext.loads(t) for t in texts] == value


@pytest.mark.parametrize('body,expected', [
    (b' {"a": 1} ', ['{"a": 1}']), (b'[]', []), (b' [ ] ', []), (b'[{"a": [1, 2]}, {"b": {}}]', ['{"a": [1, 2]}', '{"b": {}}']),
    (b'"{\\"a\\": 1}"', ['{"a": 1}']), (b'"[{\\"a\\": 1} , 2]"', ['{"a": 1}', '2']),
])
def test_decoder_texts(body, expected):
    texts = []
    contract.decode_body(body, texts)
    assert texts == expected


@pytest.mark.parametrize('body,reason', [
    (b'[1,]', 'Expecting value'), (b'[1 2]', "Expecting ','"), (b'[1] x', 'Extra data'), (b'[', 'Expecting value'),
    (b'[{"a": 1, "a": 2}]', 'duplicated key'), (b'[NaN]', 'NaN'), (b'["\\ud800"]', 'surrogate'),
])
def test_decoder_keeping_texts_refuses_the_same(body, reason):
    """Keeping the texts decodes element by element: what it refuses, and why, is unchanged."""
    with pytest.raises(contract.Invalid) as plain:
        contract.decode_body(body)
    with pytest.raises(contract.Invalid) as keeping:
        contract.decode_body(body, [])
    assert keeping.value.errors == plain.value.errors
    assert reason in keeping.value.errors[0]['reason']


def test_day_close_form():
    today = lambda rp: TODAY  # noqa: E731
    assert contract.validate_day_close({'retail_point_id': '7', 'url': 'http://x'}, today) == \
        {'retail_point_id': 7, 'close_date': TODAY}
    for form, field in [({}, 'retail_point_id'), ({'retail_point_id': 'x'}, 'retail_point_id'),
                        ({'retail_point_id': 7, 'close_date': '2026-1-1'}, 'close_date'),
                        ({'retail_point_id': 2 ** 31}, 'retail_point_id'),
                        ({'retail_point_id': 7, 'close_date': 'never'}, 'close_date')]:
        with pytest.raises(contract.Invalid) as caught:
            contract.validate_day_close(form, today)
        assert caught.value.errors[0]['field'] == field


def test_schema_states_the_column_bounds():
    defs = contract.schema()['$defs']
    order, line = defs['SaleOrder']['properties'], defs['SaleLine']['properties']
    assert order['retail_point_id']['maximum'] == 2 ** 31 - 1
    assert order['sale_num']['maxLength'] == contract.SALE_NUM_MAX
    assert 'miscelleneous_sale_price' in order and 'sale_line_ids' in order
    assert line['vat_percent']['anyOf'][0]['exclusiveMaximum'] == 10 ** 5
    assert order['sale_line_ids']['maxItems'] == 2 ** 15 - 1
    assert set(defs['SaleOrder']['required']) >= {'retail_point_id', 'sale_num', 'sale_date', 'sale_line_ids'}
    json.dumps(contract.schema())  # publishable as it is


def test_sale_num_fits_the_shard_index():
    # btree entries must stay below ~2,700 bytes; 4 bytes per character at worst
    assert contract.SALE_NUM_MAX * 4 < 2700


def test_normalised_sale_is_canonical():
    """Whitespace, number spelling, key order and double encoding do not change the hash."""
    order = good()
    again = dict(reversed(list(order.items())))
    again['total_including_miscellaneous'] = str(D(order['total_including_miscellaneous']) + D('0.00000'))
    first = contract.validate_sale(order, RULES, TODAY)
    second = contract.validate_sale(contract.decode_body(json.dumps(json.dumps(again, default=str)).encode()),
                                    RULES, TODAY)
    assert first['content_hash'] == second['content_hash']


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.text(max_size=30)
    | st.decimals(allow_nan=False, places=6, min_value=-10 ** 20, max_value=10 ** 20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25)


def mutated_orders():
    """A good order with random fields replaced by random JSON (the likeliest way to hurt)."""
    names = [(p, n) for p, n, _ in FIELDS] + [('', 'sale_line_ids'), ('', 'lot_details_ids')]
    return st.lists(st.tuples(st.sampled_from(names), JSON), max_size=4).map(
        lambda changes: [put(good(), p, n, v) for (p, n), v in changes][-1] if changes else good())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_orders())
def test_any_order_is_normalised_or_refused_with_fields(order):
    try:
        sale = contract.validate_sale(order, RULES, TODAY)
    except contract.Invalid as invalid:
        assert invalid.errors and all(e['field'] and e['reason'] for e in invalid.errors)
        return
    # what is accepted fits the shard columns
    for model, table in COLUMNS.items():
        rows = [sale] if model is contract.SaleOrder else sale['lines'] if model is contract.SaleLine \
            else sale['lots'] + sale['misc_lots']
        for row in rows:
            for name, value in row.items():
                if name in table.c and value is not None:
                    assert fits(table.c[name], value), (name, value)
    # and its normal form is a fixed point: stored and read back it validates to itself
    again = contract.validate_sale(jsontext.loads(jsontext.dumps(dict(
        sale, sale_line_ids=sale['lines'], lot_details_ids=sale['lots'],
        miscellaneous_lot_details_ids=sale['misc_lots'],
        miscelleneous_sale_price=sale['miscellaneous_sale_price']))), RULES, TODAY)
    assert again['content_hash'] == sale['content_hash']


def fits(column, value):
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return isinstance(value, bool)
    if isinstance(kind, sa.Integer):
        bound = 2 ** 15 if isinstance(kind, sa.SmallInteger) else 2 ** 31
        return isinstance(value, int) and -bound <= value < bound
    if isinstance(kind, sa.Numeric):
        return isinstance(value, D) and abs(value) < 10 ** (kind.precision - kind.scale) \
            and value.as_tuple().exponent >= -kind.scale
    if isinstance(kind, sa.String):
        return isinstance(value, str) and '\x00' not in value and len(value) <= contract.TEXT_MAX
    return isinstance(value, (datetime.date, datetime.datetime))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v, default=str).encode()))
def test_any_bytes_decode_or_are_refused(raw):
    try:
        value = contract.decode_body(raw)
    except contract.Invalid as invalid:
        assert invalid.errors[0]['field'] == 'body'
        return
    assert isinstance(value, (dict, list))


# -- the fast path (contract_fast) agrees with the models ---------------------------------

def models_read(raw):
    """What the door makes of ``raw`` with the models alone: ``(orders, texts, [sale or None])``,
    or the Invalid the body is refused with."""
    texts = []
    try:
        value = contract.decode_body(raw, texts)
    except contract.Invalid as invalid:
        return invalid
    orders = value if isinstance(value, list) else [value]
    sales = []
    for order in orders:
        try:
            sales.append(contract.SaleOrder.model_validate(order).model_dump())
        except (pydantic.ValidationError, TypeError, ValueError):
            sales.append(None)
    return orders, texts, sales


def assert_agrees(raw):
    """``read_sales(raw)`` reads the body as the models do; what it normalises itself is what
    the models make of the order, to the byte (repr: the content hash's input)."""
    expected = models_read(raw)
    if isinstance(expected, contract.Invalid):
        with pytest.raises(contract.Invalid) as caught:
            contract_fast.read_sales(raw)
        assert caught.value.errors == expected.errors
        return None
    orders, texts, read = contract_fast.read_sales(raw)
    assert repr(orders) == repr(expected[0]) and texts == expected[1]
    for sale, model_sale in zip(read, expected[2]):
        if sale is not None:
            assert model_sale is not None and repr(sale) == repr(model_sale)
    return read


def test_fast_path_reads_the_shops_orders_itself():
    """The orders the shops send (generated as the demo and the benches do) never need the models."""
    rng = random.Random(11)
    orders = [make_order(rng, 7, TODAY - datetime.timedelta(days=n % 5), n) for n in range(300)]
    body = jsontext.dumps(orders).encode()
    read = assert_agrees(body)
    assert None not in read
    assert all(contract.finish_sale(sale, RULES, TODAY) == contract.validate_sale(order, RULES, TODAY)
               for sale, order in zip(read, jsontext.loads(body.decode())))
    assert None not in assert_agrees(jsontext.dumps(orders[0]).encode())  # a single object
    assert None not in assert_agrees(json.dumps(jsontext.dumps(orders[0])).encode())  # double-encoded
    assert None not in assert_agrees(b' ' + json.dumps(jsontext.dumps(orders[:3]), indent=1).encode())


@pytest.mark.parametrize('prefix,name,column,value,word', CASES,
                         ids=[f"{p}{n}={v!r:.20}" for p, n, _, v, _ in CASES])
def test_fast_path_leaves_each_wrong_value_to_the_models(prefix, name, column, value, word):
    body = jsontext.dumps([good(), put(good(), prefix, name, value)])
    read = assert_agrees(body.encode())
    # one bad order does not slow the other, unless the body holds what only the models read (NUL)
    assert read[1] is None and (read[0] is not None or '\\u0000' in body)


@pytest.mark.parametrize('change', [
    lambda o: o.update(remarks=False, partner_id=False, customer_name='', is_default_customer=False),
    lambda o: o.update(lot_details_ids=False, miscellaneous_lot_details_ids=None),
    lambda o: o.update(lot_details_ids=True), lambda o: o.update(sale_line_ids=False),
    lambda o: o.update(sale_counter_id='2'),                       # digits as a string: the models'
    lambda o: o.update(miscellaneous_sale_price=o.pop('miscelleneous_sale_price')),  # the right spelling
    lambda o: o.update(lines=o.pop('sale_line_ids')),              # a Python name: the models'
    lambda o: o.update(remarks=True),
    lambda o: o['sale_line_ids'][0].update(price_unit='780', product_uom_qty=' 2 ', cess_amount=1e-7),
    lambda o: o['sale_line_ids'][0].update(retail_sale_mrp=D('99999999999999.99995')),  # rounds past the limit
    lambda o: o['sale_line_ids'][0].update(vat_percent=-0, total_cess=-0.0, qty_available='-0'),
    lambda o: o.update(sale_date='2026-11-20T00:00:00'), lambda o: o.update(sale_date=''),
    lambda o: o.update(confirmed_on='2026-11-20T10:00:00.1234567'), lambda o: o.update(confirmed_on=''),
    lambda o: o.update(extra={'deep': [[{'x': 1.5}]], 'text': 'a:b'}, name='x' * 1000),
    lambda o: o.update(sale_num='', remarks='a\x00b'), lambda o: o.update(customer_name='é:\U0001f600'),
    lambda o: o.update(customer_name='\U0001f600' * 1000), lambda o: o.update(remarks='\U0001f600' * 1001),
])
def test_fast_path_agrees_on_quirks(change):
    order = good()
    change(order)
    assert_agrees(jsontext.dumps([order]).encode())
    assert_agrees(jsontext.dumps(order).encode())
    assert_agrees(json.dumps(jsontext.dumps(order)).encode())  # double-encoded
    # text as UTF-8, not \u escapes (a length counts characters, not bytes)
    assert_agrees(simplejson.dumps(order, use_decimal=True, ensure_ascii=False).encode())


@pytest.mark.parametrize('body', [
    b'[{"retail_point_id": 7, "retail_point_id": 7}]',          # duplicated key, same value
    b'[{"x": {"a": 1, "\\u0061": 2}}]', b'[{"x:": 1, "x\\u003a": 2}]', b'[{"x": "a\\u0000"}]',
    b'[{"a": 1, "a": 2, "b": "\\u003a"}]',  # the escaped colon would make up for the dropped one
    b'[{"x": "\\ud83d\\ude00"}]', b'[' + b'[' * 16 + b']' * 16 + b']', b'"[{\\"a\\": 1}]"', b'[1, "x", null, []]',
    b'[{"a": 1} , {"b": 2}]', b'[]', b' {} ', b'[{"a": 1e400, "b": 123456789012345678901234567890}]',
    '[{"x": "\x01"}]'.encode(), b'\xef\xbb\xbf[]',
    b'"[]"', b'" {} "', b'"\\"{}\\""', b'"\\ud800"', b'"[\\"\\\\ud800\\"]"', b'"[\\"\\ud800\\"]"', b'"[" ', b'"{\\"a\\": 1, \\"a\\": 2}"',
    b'"[{\\"a\\": 1}] x"', b'"x" "y"', b'"\\u005b\\u005d"',  # a string of a string, surrogates inside and out
])
def test_fast_path_agrees_on_bodies(body):
    assert_agrees(body)


@pytest.mark.parametrize('body,reason', [
    (b'{"a": 1, "a": 2}', 'duplicated key'), (b'[NaN]', 'NaN'), (b'["\\ud800"]', 'surrogate'),
    (b'[' * 17 + b']' * 17, 'nested deeper'), (b'\xff', 'UTF-8'), (b'[1,]', 'Expecting value'),
])
def test_fast_path_refuses_as_the_models_do(body, reason):
    with pytest.raises(contract.Invalid) as caught:
        contract_fast.read_sales(body)
    assert reason in caught.value.errors[0]['reason'] and assert_agrees(body) is None


_BODY_SPACE = st.sampled_from(['', ' ', '\n  '])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_orders(), min_size=1, max_size=3), _BODY_SPACE, st.booleans(), st.booleans())
def test_fast_path_agrees_with_the_models(orders, space, as_list, duplicate):
    """Random fields of good orders replaced by random JSON, in a list or alone, spaced out,
    sometimes with a key repeated: the fast path reads each exactly as the models do, or leaves it
    to them."""
    text = jsontext.dumps(orders if as_list or len(orders) > 1 else orders[0])
    text = text.replace(', "', f',{space}"')
    if duplicate:
        text = text.replace('{"', '{"sale_num": "again", "', 1)
    assert_agrees(text.encode())
    assert_agrees(json.dumps(text).encode())  # as old clients send it


def _depth(value):
    children = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    return 1 + max(map(_depth, children), default=0) if isinstance(value, (dict, list)) else 0


_NESTED = st.recursive(st.integers(0, 9) | st.just('[{'),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from('ab'), inner,
                                                                                   max_size=2),
                       max_leaves=40)


@settings(max_examples=500, deadline=None)
@given(_NESTED, st.integers(0, 20), st.booleans())
def test_depth_check_is_exact(value, wrap, objects):
    """The fast bracket peel never calls a too-deep body shallow (nor the reverse), whatever the
    mix of kinds, siblings and brackets inside strings."""
    for _ in range(wrap):
        value = {'k': value} if objects else [value]
        objects = not objects if wrap % 3 else objects
    assert contract.too_deep(json.dumps(value)) == (_depth(value) > contract.MAX_DEPTH)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v, default=str).encode())
       | JSON.map(lambda v: json.dumps(json.dumps(v, default=str)).encode()))
def test_any_bytes_are_read_or_refused_as_the_models_do(raw):
    assert_agrees(raw)

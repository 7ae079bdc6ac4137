"""The door under hostile input, over real HTTP: a corpus of malformed and malicious requests, each
answered with the expected 4xx naming the field; then hypothesis throws arbitrary bytes and JSON at
both endpoints: never a 5xx, and whatever is accepted is stored by the worker."""

import datetime
import json
import random
import socket

import pytest
import requests
import simplejson
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from fls_dev.loopback.shops import make_order

from conftest import make_shop, run_workers
from test_contract import CASES, JSON, put

RP = 971
DAY = datetime.date.today() - datetime.timedelta(days=1)


def order(number=1, **changes):
    result = json.loads(simplejson.dumps(make_order(random.Random(number), RP, DAY, number), use_decimal=True))
    result.update(changes)
    return result


def raw(value):
    return value if isinstance(value, bytes) else simplejson.dumps(value, use_decimal=True).encode()


def with_raw(number, key, text):
    """An order whose ``key`` is the raw JSON ``text`` (for what json.dumps will not write)."""
    body = order(number)
    body.pop(key, None)
    return b'{"' + key.encode() + b'": ' + text + b', ' + raw(body)[1:]


SALES, BATCH, CLOSE = '/sales/enqueue_sales/', '/api/fls/sales', '/sales/enqueue_day_close/'
JSON_TYPE = {'Content-Type': 'application/json'}
FORM_TYPE = {'Content-Type': 'application/x-www-form-urlencoded'}


def field_cases():
    """One request per field and wrong value of the contract's own table (the unit tests' cases)."""
    seen = set()
    for prefix, name, _, value, _ in CASES:
        key = (prefix, name, type(value).__name__)
        if key in seen or prefix == 'lot_details_ids[0].':
            continue
        seen.add(key)
        body = put(order(len(seen)), prefix, name, value)
        yield (f"field {prefix}{name}={value!r:.30}", SALES, JSON_TYPE, raw(body), 422, f"{prefix}{name}")


def corpus():
    cases = list(field_cases())
    o = raw(order(500))
    cases += [
        ("NaN number", SALES, JSON_TYPE, with_raw(500, 'total_cess', b'NaN'), 400, 'body'),
        ("Infinity number", SALES, JSON_TYPE, b'{"total_including_miscellaneous": Infinity}', 400, 'body'),
        ("-Infinity in a list", BATCH, JSON_TYPE, b'[-Infinity]', 400, 'body'),
        ("lone surrogate", SALES, JSON_TYPE, raw(order(501, remarks='x')).replace(b'"x"', b'"\\udc00"'), 400, 'body'),
        ("lone surrogate in a key", SALES, JSON_TYPE, b'{"\\ud800": 1}', 400, 'body'),
        ("nested 17 deep", SALES, JSON_TYPE, b'[' * 17 + b']' * 17, 400, 'body'),
        ("nested 100000 deep", SALES, JSON_TYPE, b'[' * 100000, 400, 'body'),
        ("nested objects", SALES, JSON_TYPE, b'{"a":' * 50 + b'1' + b'}' * 50, 400, 'body'),
        ("duplicated key", SALES, JSON_TYPE, b'{"sale_num": "a", "sale_num": "b"}', 400, 'body'),
        ("duplicated key in a line", SALES, JSON_TYPE,
         raw(order(502)).replace(b'"sl_no": 1,', b'"sl_no": 1, "sl_no": 2,'), 400, 'body'),
        ("invalid UTF-8", SALES, JSON_TYPE, b'{"sale_num": "\xff\xfe"}', 400, 'body'),
        ("truncated UTF-8", SALES, JSON_TYPE, b'{"sale_num": "\xc3', 400, 'body'),
        ("UTF-16 body", SALES, JSON_TYPE, json.dumps(order(503)).encode('utf-16'), 400, 'body'),
        ("empty body", SALES, JSON_TYPE, b'', 400, 'body'),
        ("whitespace body", SALES, JSON_TYPE, b'   ', 400, 'body'),
        ("truncated JSON", SALES, JSON_TYPE, o[:-10], 400, 'body'),
        ("trailing garbage", SALES, JSON_TYPE, o + b'}', 400, 'body'),
        ("a number", SALES, JSON_TYPE, b'42', 400, 'body'),
        ("null", SALES, JSON_TYPE, b'null', 400, 'body'),
        ("a JSON string of a number", SALES, JSON_TYPE, b'"42"', 400, 'body'),
        ("double-encoded garbage", SALES, JSON_TYPE, b'"{nope"', 400, 'body'),
        ("double-encoded NaN", SALES, JSON_TYPE, json.dumps('{"x": NaN}').encode(), 400, 'body'),
        ("NUL byte in the body", SALES, JSON_TYPE, b'{"sale_num": "a\x00b"}', 400, 'body'),
        ("NUL escape in sale_num", SALES, JSON_TYPE, raw(order(504, sale_num='a\x00b')), 422, 'sale_num'),
        ("8,000-character sale_num", SALES, JSON_TYPE, raw(order(505, sale_num='n' * 8000)), 422, 'sale_num'),
        ("huge integer", SALES, JSON_TYPE, raw(order(506, retail_point_id=10 ** 30)), 422, 'retail_point_id'),
        ("huge exponent", SALES, JSON_TYPE, with_raw(518, 'total_cess', b'1e999999'), 422, 'total_cess'),
        ("tiny exponent", SALES, JSON_TYPE, with_raw(519, 'total_including_miscellaneous', b'1e-999999'),
         422, 'total_including_miscellaneous'),
        ("1e400 quantity", SALES, JSON_TYPE, with_raw(520, 'miscellaneous_qty', b'1e400'), 422, 'miscellaneous_qty'),
        ("an empty list", BATCH, JSON_TYPE, b'[]', 400, 'body'),
        ("a list of numbers", BATCH, JSON_TYPE, b'[1, 2]', 200, None),
        ("a list of lists", SALES, JSON_TYPE, b'[[1]]', 422, 'body'),
        ("lines not a list", SALES, JSON_TYPE, raw(order(507, sale_line_ids={'a': 1})), 422, 'sale_line_ids'),
        ("lines missing", SALES, JSON_TYPE, raw({k: v for k, v in order(508).items() if k != 'sale_line_ids'}),
         422, 'sale_line_ids'),
        ("line not an object", SALES, JSON_TYPE, raw(order(509, sale_line_ids=['x'])), 422, 'sale_line_ids[0]'),
        ("lots a string", SALES, JSON_TYPE, raw(order(510, lot_details_ids='x')), 422, 'lot_details_ids'),
        ("misc lot without quantity", SALES, JSON_TYPE,
         raw(order(511, miscellaneous_lot_details_ids=[{'lot_id': 1}])), 422, 'miscellaneous_lot_details_ids[0].quantity'),
        ("date in the far future", SALES, JSON_TYPE, raw(order(512, sale_date='2999-01-01')), 422, 'sale_date'),
        ("date before the range", SALES, JSON_TYPE, raw(order(513, sale_date='1999-01-01')), 422, 'sale_date'),
        ("date one digit short", SALES, JSON_TYPE, raw(order(514, sale_date='2026-11-1')), 422, 'sale_date'),
        ("date as a number", SALES, JSON_TYPE, raw(order(515, sale_date=20261120)), 422, 'sale_date'),
        ("date as a list", SALES, JSON_TYPE, raw(order(516, sale_date=[])), 422, 'sale_date'),
        ("another shop's sale", SALES, JSON_TYPE, raw(order(517, retail_point_id=RP + 1)), 403, None),
        ("form-encoded sale", SALES, FORM_TYPE, b'sale_num=1', 415, 'Content-Type'),
        ("multipart sale", SALES, {'Content-Type': 'multipart/form-data; boundary=x'}, b'--x--', 415, 'Content-Type'),
        ("text/html sale", SALES, {'Content-Type': 'text/html'}, o, 415, 'Content-Type'),
        ("latin-1 charset", SALES, {'Content-Type': 'application/json; charset=latin-1'}, o, 415, 'Content-Type'),
        ("XML", BATCH, {'Content-Type': 'application/xml'}, b'<a/>', 415, 'Content-Type'),
        ("GET on a POST endpoint", SALES, None, None, 405, None),
        ("unknown path", '/sales/../../etc/passwd', JSON_TYPE, o, 404, None),
        ("unknown API path", '/api/fls/sales/1', JSON_TYPE, o, 404, None),
        ("day close: no retail point", CLOSE, FORM_TYPE, b'close_date=2026-11-20', 422, 'retail_point_id'),
        ("day close: bad date", CLOSE, FORM_TYPE, f'retail_point_id={RP}&close_date=2026-11-1'.encode(), 422,
         'close_date'),
        ("day close: words for a date", CLOSE, FORM_TYPE, f'retail_point_id={RP}&close_date=yesterday'.encode(),
         422, 'close_date'),
        ("day close: February 30", CLOSE, FORM_TYPE, f'retail_point_id={RP}&close_date=2026-02-30'.encode(), 422,
         'close_date'),
        ("day close: id not a number", CLOSE, FORM_TYPE, b'retail_point_id=abc', 422, 'retail_point_id'),
        ("day close: id too large", CLOSE, FORM_TYPE, b'retail_point_id=99999999999', 422, 'retail_point_id'),
        ("day close: id repeated", CLOSE, FORM_TYPE, f'retail_point_id={RP}&retail_point_id=1'.encode(), 400,
         'retail_point_id'),
        ("day close: invalid UTF-8", CLOSE, FORM_TYPE, b'retail_point_id=%ff%fe', 400, 'body'),
        ("day close: raw invalid UTF-8", CLOSE, FORM_TYPE, b'retail_point_id=\xff', 400, 'body'),
        ("day close: NUL in a field", CLOSE, FORM_TYPE, f'retail_point_id={RP}%00'.encode(), 422, 'retail_point_id'),
        ("day close: JSON NaN", CLOSE, JSON_TYPE, b'{"retail_point_id": NaN}', 400, 'body'),
        ("day close: JSON list", CLOSE, JSON_TYPE, b'[1]', 400, 'body'),
        ("day close: JSON nested", CLOSE, JSON_TYPE, b'{"a":' * 30 + b'1' + b'}' * 30, 400, 'body'),
        ("day close: JSON duplicated key", CLOSE, JSON_TYPE, b'{"retail_point_id": 1, "retail_point_id": 2}', 400,
         'body'),
        ("day close: multipart", CLOSE, {'Content-Type': 'multipart/form-data; boundary=x'}, b'--x--', 415,
         'Content-Type'),
        ("day close: another shop", CLOSE, FORM_TYPE, f'retail_point_id={RP + 1}'.encode(), 403, None),
        ("day close: garbage form", CLOSE, FORM_TYPE, b'&&==&', 400, 'body'),
        ("day close: GET", CLOSE, None, None, 405, None),
    ]
    return cases


CORPUS = corpus()
AUTH_CASES = [
    ("no Authorization", {}, 401), ("Bearer scheme", {'Authorization': 'Bearer abc'}, 401),
    ("empty token", {'Authorization': 'Token '}, 401), ("unknown token", {'Authorization': 'Token nope'}, 401),
    ("token of spaces", {'Authorization': 'Token      '}, 401),
    ("very long token", {'Authorization': 'Token ' + 'a' * 5000}, 401),
    ("SQL in the token", {'Authorization': "Token ' OR '1'='1"}, 401),
    ("basic auth", {'Authorization': 'Basic dXNlcjpwYXNz'}, 401),
]


@pytest.fixture(scope='module')
def token(app, shards, redis_conn, intake_url):
    return make_shop(app, shards, RP, 's01')


def send(url, path, token, headers, body, method='POST'):
    headers = dict(headers or {}, Authorization=f'Token {token}') if token else dict(headers or {})
    if headers.get('Content-Type') is None:
        headers.pop('Content-Type', None)
    if body is None:
        return requests.get(url + path, headers=headers, timeout=30)
    return requests.post(url + path, data=body, headers=headers, timeout=30)


def test_corpus_is_large():
    assert len(CORPUS) + len(AUTH_CASES) >= 100


@pytest.mark.parametrize('name,path,headers,body,status,field', CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_request(intake_url, token, name, path, headers, body, status, field):
    answer = send(intake_url, path, token, headers, body)
    assert answer.status_code == status, (name, answer.status_code, answer.text[:500])
    assert answer.headers['Content-Type'].startswith('application/json')
    payload = answer.json()
    assert 'Traceback' not in answer.text
    if field:
        assert field in [e['field'] for e in payload['errors']], payload
        assert all(e['reason'] for e in payload['errors'])


@pytest.mark.parametrize('name,headers,status', AUTH_CASES, ids=[c[0] for c in AUTH_CASES])
def test_hostile_authorization(intake_url, token, name, headers, status):
    for path in (SALES, BATCH, CLOSE):
        answer = requests.post(intake_url + path, data=raw(order(600)), headers=dict(JSON_TYPE, **headers),
                               timeout=30)
        assert answer.status_code == status, (name, path, answer.text)


def test_body_without_length_and_chunked_bodies(intake_url, token):
    """A body sent chunked (no Content-Length) is read with the same size limit."""
    chunks = iter([raw(order(601))])
    answer = requests.post(intake_url + SALES, data=chunks, timeout=30,
                           headers=dict(JSON_TYPE, Authorization=f'Token {token}'))
    assert answer.status_code in (202, 411)
    host, port = intake_url.replace('http://', '').split(':')
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {SALES} HTTP/1.0\r\nAuthorization: Token {token}\r\n"
                     f"Content-Type: application/json\r\n\r\n".encode())
        sock.shutdown(socket.SHUT_WR)
        reply = sock.recv(65536).decode('latin-1')
    assert reply.split()[1] in ('400', '411'), reply[:200]


def test_oversized_body(intake_url, token, config):
    from rattail_fls import config as fls_config
    limit = fls_config.get_number(config, 'intake.max_body_bytes', int, 1)
    answer = send(intake_url, BATCH, token, JSON_TYPE, b'[' + b'1,' * (limit // 2) + b'1]')
    assert answer.status_code == 413


def test_schema_is_published(intake_url, token):
    answer = requests.get(intake_url + '/api/fls/schema', headers={'Authorization': f'Token {token}'}, timeout=30)
    assert answer.status_code == 200
    assert 'SaleOrder' in answer.json()['$defs']
    assert requests.get(intake_url + '/api/fls/schema', timeout=30).status_code == 401


FUZZ_BODIES = (st.binary(max_size=200)
               | JSON.map(lambda v: simplejson.dumps(v, use_decimal=True).encode())
               | st.lists(st.tuples(st.sampled_from(sorted({(c[0], c[1]) for c in CASES})), JSON), max_size=3).map(
                   lambda changes: raw([put(order(700), p, n, v) for (p, n), v in changes][-1]
                                       if changes else order(700))))


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from([SALES, BATCH, CLOSE]), body=FUZZ_BODIES,
       content_type=st.sampled_from(['application/json', 'application/x-www-form-urlencoded', None, 'text/plain']))
def test_fuzz_never_a_5xx(intake_url, token, path, body, content_type):
    answer = send(intake_url, path, token, {'Content-Type': content_type}, body)
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    answer.json()


def test_whatever_is_accepted_is_stored(config, shards, intake_url, token):
    """After the fuzzing above: every row accepted at the door is stored by the worker."""
    run_workers(config)
    with config.appdb_engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM fls_inbox WHERE retail_point_id = :rp AND kind = 'sale' "
                                    "AND status NOT IN ('done', 'duplicate', 'replaced', 'superseded', "
                                    "'rejected')"), {'rp': RP}).scalar()
        refused_late = conn.execute(sa.text(
            "SELECT count(*) FROM fls_inbox WHERE retail_point_id = :rp AND status = 'rejected' "
            "AND sale_rows IS NOT NULL"), {'rp': RP}).scalar()
    assert left == 0, "accepted rows were not stored"
    assert refused_late == 0, "a row the door accepted was refused by the shard"
    print(f"hostile corpus: {len(CORPUS) + len(AUTH_CASES)} requests")

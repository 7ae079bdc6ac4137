"""The Odoo summary client against the loopback endpoint, one test per kind of answer."""

import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import bcrypt
import pytest
import requests
import urllib3
from wuttjamaican.conf import WuttaConfig

from fls_dev.loopback.odoo import LoopbackOdoo
from fls_dev.server import free_port
from rattail_fls.odoo.client import (APPLICATION, CONFIGURATION, TRANSIENT, OdooSummaryClient,
                                     PushResult, dumps, make_odoo_client)

SUMMARY = {
    'retail_point_id': 7,
    'sale_date': '2024-03-01',
    'sale_counter_id': 2,
    'payment_journal_id': 11,
    'sale_num': '20240301/7/2/11',
    'name': '20240301/7/2/11',
    'total_including_miscellaneous': Decimal('1250.50'),
    'amount_total': Decimal('1240.50'),
    'sale_line_ids': [[0, 0, {'product_id': 3, 'product_uom_qty': Decimal('2'),
                              'price_unit': Decimal('620.25')}]],
}


class RecordingPool(urllib3.PoolManager):
    """Keeps the bytes actually sent, to check the wire format."""

    def __init__(self):
        super().__init__(retries=False)
        self.bodies = []

    def urlopen(self, method, url, redirect=True, **kwargs):
        self.bodies.append(kwargs.get('body'))
        return super().urlopen(method, url, redirect=redirect, **kwargs)


@pytest.fixture
def odoo():
    with LoopbackOdoo(hang_seconds=10) as server:
        yield server


@pytest.fixture
def client(odoo):
    client = OdooSummaryClient(odoo.url, connect_timeout=1, read_timeout=2)
    yield client
    client.close()


def assert_failure(result, kind, status):
    assert isinstance(result, PushResult)
    assert (result.ok, result.failure, result.http_status, result.local_data_id) == \
        (False, kind, status, None)
    assert result.message
    assert result.elapsed >= 0


# -- success and the record Odoo would create --------------------------------

def test_success_creates_record(odoo, client):
    first = client.push(SUMMARY)
    second = client.push(SUMMARY)
    assert (first.ok, first.failure, first.http_status) == (True, None, 200)
    assert (first.local_data_id, second.local_data_id) == (1, 2)  # Odoo never deduplicates
    assert '"Success"' in first.excerpt
    record = odoo.records[1]
    assert record['retail_point_id'] == 7
    assert record['date'] == '2024-03-01'
    assert record['liquor_amount_total'] == 1240.5
    assert record['total_including_miscellaneous'] == 1250.5
    assert record['payment_journal_id'] == 11
    assert record['sale_num'] == '20240301/7/2/11'
    assert record['data'] == odoo.received[0]
    assert 'encrypted_sale_num' not in record['data']
    assert odoo.requests == 2


def test_connection_is_kept_alive(odoo, client):
    """One TCP connection for successive pushes, whatever their answer; a new one after a lost answer."""
    odoo.queue_behaviours(['success', 'failed', 'bad_gateway', 'success', 'success_lost', 'success'])
    results = [client.push(SUMMARY) for _ in range(6)]
    assert [r.ok for r in results] == [True, False, False, True, False, True]
    assert results[4].maybe_delivered
    assert odoo.connections == 2


def test_push_does_not_modify_summary(odoo):
    summary = dict(SUMMARY)
    OdooSummaryClient(odoo.url, secret='s3cret', read_timeout=2, secret_rounds=4).push(summary)
    assert summary == SUMMARY


# -- application failures: HTTP 200 that is not a success --------------------

def test_failed_result(odoo, client):
    odoo.set_behaviour('failed')
    result = client.push(SUMMARY)
    assert_failure(result, APPLICATION, 200)
    assert 'simulated failure' in result.message
    assert odoo.records == {}


def test_error_envelope(odoo, client):
    odoo.queue_behaviours(['error'])
    result = client.push(SUMMARY)
    assert_failure(result, APPLICATION, 200)
    assert 'simulated server error' in result.message
    assert '"Odoo Server Error"' in result.excerpt
    assert client.push(SUMMARY).ok  # the queue is used up: back to the default


def test_missing_result(odoo, client):
    odoo.set_behaviour('no_result')
    result = client.push(SUMMARY)
    assert_failure(result, APPLICATION, 200)
    assert 'without a result' in result.message


@pytest.mark.parametrize('body, message', [
    ('<html>maintenance</html>', 'not JSON'),
    ('[1, 2]', 'not a JSON object'),
    ('{"result": {"status": "Success"}}', 'integer local_data_id'),
    ('{"result": {"status": "Success", "local_data_id": true}}', 'integer local_data_id'),
    ('{"result": {"status": "Success", "local_data_id": "17"}}', 'integer local_data_id'),
    ('{"result": {"status": "Pending", "local_data_id": 17}}', 'unexpected result status'),
    ('{"result": null}', 'without a result'),
])
def test_odd_200_answers_are_application_failures(body, message):
    """Bodies the loopback never sends but a broken Odoo or proxy could."""

    class Canned(urllib3.PoolManager):
        def urlopen(self, method, url, redirect=True, **kwargs):
            return urllib3.HTTPResponse(body=body.encode(), status=200, preload_content=True)

    result = OdooSummaryClient('http://odoo.invalid/api/sales-summary', pool=Canned()).push(SUMMARY)
    assert_failure(result, APPLICATION, 200)
    assert message in result.message


# -- configuration failures -------------------------------------------------

@pytest.mark.parametrize('behaviour, status, text', [
    ('bad_request', 400, 'Invalid JSON data'),
    ('not_found', 404, 'endpoint missing'),
    ('unsupported', 415, 'Unsupported Media Type'),
])
def test_configuration_failures(odoo, client, behaviour, status, text):
    odoo.set_behaviour(behaviour)
    result = client.push(SUMMARY)
    assert_failure(result, CONFIGURATION, status)
    assert text in result.message
    assert odoo.records == {}


def test_wrong_path_is_404_html(odoo):
    result = OdooSummaryClient(odoo.url.replace('sales-summary', 'sales'), read_timeout=2).push(SUMMARY)
    assert_failure(result, CONFIGURATION, 404)
    assert '<html>' in result.excerpt


# -- transient failures ------------------------------------------------------

def test_bad_gateway(odoo, client):
    odoo.set_behaviour('bad_gateway')
    result = client.push(SUMMARY)
    assert_failure(result, TRANSIENT, 502)
    assert '502 Bad Gateway' in result.excerpt


def test_hang_times_out(odoo):
    odoo.set_behaviour('hang')
    result = OdooSummaryClient(odoo.url, connect_timeout=1, read_timeout=0.2).push(SUMMARY)
    assert_failure(result, TRANSIENT, None)
    assert 'timed out' in result.message
    assert 0.2 <= result.elapsed < 2
    started = time.monotonic()
    odoo.stop()  # the hanging request thread must not hold up the server
    assert time.monotonic() - started < 2


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = OdooSummaryClient(f'http://127.0.0.1:{port}/api/sales-summary',
                               connect_timeout=1, read_timeout=1).push(SUMMARY)
    assert_failure(result, TRANSIENT, None)
    assert 'ConnectionError' in result.excerpt


def test_success_lost_is_transient_but_created(odoo, client):
    """The case the exporter must guard against: Odoo created the record, we saw a failure."""
    odoo.queue_behaviours(['success_lost'])
    result = client.push(SUMMARY)
    assert_failure(result, TRANSIENT, None)
    assert list(odoo.records) == [1]
    assert client.push(SUMMARY).local_data_id == 2


# -- maybe_delivered: could Odoo have created the record anyway? -------------

def test_lost_answers_may_have_been_delivered(odoo, client):
    odoo.queue_behaviours(['success_lost'])
    assert client.push(SUMMARY).maybe_delivered  # connection dropped after the request was sent
    odoo.queue_behaviours(['hang'])
    timed_out = OdooSummaryClient(odoo.url, connect_timeout=1, read_timeout=0.2).push(SUMMARY)
    assert timed_out.maybe_delivered and 'waiting' in timed_out.message


def test_gateway_timeout_may_have_been_delivered():
    with LoopbackOdoo(hang_seconds=0.05) as odoo:
        odoo.set_behaviour('hang')
        result = OdooSummaryClient(odoo.url, read_timeout=2).push(SUMMARY)
    assert_failure(result, TRANSIENT, 504)
    assert result.maybe_delivered


@pytest.mark.parametrize('behaviour', ['success', 'failed', 'error', 'no_result', 'bad_request',
                                       'not_found', 'unsupported', 'bad_gateway'])
def test_definite_answers_were_not_delivered(odoo, client, behaviour):
    odoo.set_behaviour(behaviour)
    assert client.push(SUMMARY).maybe_delivered is False


def test_connection_refused_was_not_delivered():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = OdooSummaryClient(f'http://127.0.0.1:{port}/api/sales-summary', connect_timeout=1).push(SUMMARY)
    assert (result.failure, result.maybe_delivered) == (TRANSIENT, False)


def test_delay(odoo, client):
    odoo.delay = 0.05
    result = client.push(SUMMARY)
    assert result.ok and result.elapsed >= 0.05


def test_concurrent_pushes_get_distinct_ids(odoo, client):
    odoo.delay = 0.02
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda n: client.push(dict(SUMMARY, sale_num=str(n))), range(20)))
    assert sorted(r.local_data_id for r in results) == list(range(1, 21))
    assert sorted(odoo.records[r.local_data_id]['sale_num'] for r in results) == \
        sorted(str(n) for n in range(20))
    assert odoo.requests == 20


# -- the wire format ----------------------------------------------------------

def test_decimals_are_exact_on_the_wire(odoo):
    pool = RecordingPool()
    summary = dict(SUMMARY, amount_total=Decimal('12.345'), total_cess=Decimal('1E+2'),
                   total_including_miscellaneous=Decimal('12345678901234567.891'),
                   miscelleneous_sale_price=Decimal('0.10'), tiny=Decimal('1E-7'))
    result = OdooSummaryClient(odoo.url, read_timeout=2, pool=pool).push(summary)
    assert result.ok
    wire = pool.bodies[0].decode()
    assert '"amount_total": 12.345' in wire
    assert '"total_cess": 100' in wire
    assert '"total_including_miscellaneous": 12345678901234567.891' in wire
    assert '"miscelleneous_sale_price": 0.10' in wire
    assert '"tiny": 0.0000001' in wire
    exact = json.loads(wire, parse_float=Decimal)
    assert exact['total_including_miscellaneous'] == Decimal('12345678901234567.891')
    assert odoo.records[1]['liquor_amount_total'] == 12.345
    assert odoo.received[0]['total_cess'] == 100


def test_non_finite_decimal_is_refused():
    with pytest.raises(ValueError, match='non-finite'):
        dumps({'amount_total': Decimal('NaN')})


def test_summary_is_the_top_level_object_and_json(odoo):
    pool = RecordingPool()
    OdooSummaryClient(odoo.url, pool=pool).push(SUMMARY)
    assert json.loads(pool.bodies[0])['sale_num'] == SUMMARY['sale_num']
    assert 'params' not in odoo.received[0]


# -- the environment: proxies read once per client ------------------------

def test_proxy_from_the_environment_is_used_and_no_proxy_bypasses_it(monkeypatch):
    """The pool reads HTTP(S)_PROXY, ALL_PROXY and NO_PROXY when the client is made (not per request)."""
    with LoopbackOdoo() as odoo:
        monkeypatch.setenv('HTTP_PROXY', f'http://127.0.0.1:{free_port()}')  # nothing listens there
        monkeypatch.delenv('NO_PROXY', raising=False)
        monkeypatch.delenv('no_proxy', raising=False)
        proxied = OdooSummaryClient(odoo.url, connect_timeout=2, read_timeout=2)
        assert proxied.pool.proxy.url == os.environ['HTTP_PROXY']
        result = proxied.push(SUMMARY)
        assert_failure(result, TRANSIENT, None)
        assert not odoo.received

        for name in ('HTTP_PROXY', 'http_proxy', 'all_proxy'):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv('ALL_PROXY', f'http://127.0.0.1:{free_port()}')  # for every scheme
        assert OdooSummaryClient(odoo.url, read_timeout=2).pool.proxy.url == os.environ['ALL_PROXY']
        monkeypatch.setenv('NO_PROXY', '127.0.0.1')
        assert OdooSummaryClient(odoo.url, read_timeout=2).push(SUMMARY).ok
        assert proxied.push(SUMMARY).failure == TRANSIENT  # read once: its own environment


# -- encrypted_sale_num ------------------------------------------------------

def test_secret_is_checked():
    with LoopbackOdoo(secret='s3cret') as odoo:
        good = OdooSummaryClient(odoo.url, secret='s3cret', read_timeout=2, secret_rounds=4).push(SUMMARY)
        assert good.ok
        token = odoo.received[0]['encrypted_sale_num']
        assert bcrypt.checkpw(b'20240301/7/2/11s3cret', token.encode())

        wrong = OdooSummaryClient(odoo.url, secret='other', read_timeout=2, secret_rounds=4).push(SUMMARY)
        assert_failure(wrong, APPLICATION, 200)
        assert wrong.message == 'Odoo: invalid encrypted_sale_num'

        missing = OdooSummaryClient(odoo.url, read_timeout=2).push(SUMMARY)
        assert missing.failure == APPLICATION
        assert list(odoo.records) == [1]


def test_long_secret_is_truncated_like_bcrypt():
    secret = 'x' * 100
    with LoopbackOdoo(secret=secret) as odoo:
        assert OdooSummaryClient(odoo.url, secret=secret, read_timeout=2, secret_rounds=4).push(SUMMARY).ok


def test_secret_is_not_logged(odoo, caplog):
    client = OdooSummaryClient(odoo.url, secret='s3cret', read_timeout=2, secret_rounds=4)
    odoo.set_behaviour('failed')
    with caplog.at_level('DEBUG'):
        client.push(SUMMARY)
    assert caplog.records
    assert 's3cret' not in caplog.text
    assert 's3cret' not in repr(client)


# -- the loopback's own request checks, as the real dispatcher ---------------

def test_loopback_checks_requests_like_odoo(odoo):
    def post(data, content_type='application/json'):
        return requests.post(odoo.url, data=data, headers={'Content-Type': content_type}, timeout=2)

    assert requests.get(odoo.url, timeout=2).status_code == 405
    assert post('{}', 'text/plain').status_code == 400
    response = post('not json')
    assert (response.status_code, response.text) == (400, 'Invalid JSON data')
    response = post('[1]')
    assert (response.status_code, response.text) == (400, 'Invalid JSON-RPC data')
    # Wrapped in a JSON-RPC envelope, every field the controller reads is None.
    response = post(json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 5,
                                'params': {'retail_point_id': 7, 'sale_num': 'x'}}))
    assert response.json() == {'jsonrpc': '2.0', 'id': 5,
                               'result': {'local_data_id': 1, 'status': 'Success'}}
    record = odoo.records[1]
    assert (record['retail_point_id'], record['sale_num'], record['date']) == (None, None, None)
    assert record['total_including_miscellaneous'] == 0
    assert odoo.requests == 5


def test_loopback_rejects_unknown_behaviour(odoo):
    with pytest.raises(ValueError, match='unknown behaviour'):
        odoo.set_behaviour('explode')
    with pytest.raises(ValueError, match='unknown behaviour'):
        odoo.queue_behaviours(['success', 'explode'])


# -- make_odoo_client --------------------------------------------------------

def make_config(**settings):
    return WuttaConfig(defaults={f'rattail_fls.odoo.{key}': value
                                 for key, value in settings.items()})


def test_make_client_from_config():
    client = make_odoo_client(make_config(url='https://x.odoo.com/api/sales-summary',
                                          secret='s3cret', connect_timeout='2.5'))
    assert client.url == 'https://x.odoo.com/api/sales-summary'
    assert client.secret == 's3cret'
    assert client.timeout == (2.5, 30.0)


def test_make_client_defaults():
    client = make_odoo_client(make_config(url='http://127.0.0.1:8069/api/sales-summary'))
    assert client.secret is None
    assert client.timeout == (5.0, 30.0)
    assert client.secret_rounds == 12  # bcrypt's own default


@pytest.mark.parametrize('rounds', ['4', '6'])
def test_secret_rounds_set_the_hash_cost(rounds):
    """``odoo.secret_rounds`` is the cost in the hash sent; Odoo's check reads it from the hash."""
    client = make_odoo_client(make_config(url='http://x', secret='s3cret', secret_rounds=rounds))
    with LoopbackOdoo(secret='s3cret') as odoo:
        client.url = odoo.url
        assert client.push(SUMMARY).ok
        token = odoo.received[0]['encrypted_sale_num']
    assert token.startswith(f'$2b${int(rounds):02d}$')
    assert bcrypt.checkpw(b'20240301/7/2/11s3cret', token.encode())


@pytest.mark.parametrize('settings, match', [
    ({}, r'\[rattail_fls\] odoo.url is not set'),
    ({'url': ''}, r'\[rattail_fls\] odoo.url is not set'),
    ({'url': 'x.odoo.com/api/sales-summary'}, 'must start with http:// or https://'),
    ({'url': 'ftp://x.odoo.com/'}, 'must start with http:// or https://'),
    ({'url': 'http://x', 'read_timeout': 'soon'}, 'odoo.read_timeout'),
    ({'url': 'http://x', 'connect_timeout': '0'}, 'odoo.connect_timeout'),
    ({'url': 'http://x', 'connect_timeout': 'nan'}, 'odoo.connect_timeout'),
    ({'url': 'http://x', 'secret_rounds': '3'}, r'odoo.secret_rounds must be .* 4'),
    ({'url': 'http://x', 'secret_rounds': '32'}, r'odoo.secret_rounds must be from 4 to 31'),
    ({'url': 'http://x', 'secret_rounds': 'many'}, 'odoo.secret_rounds must be a int'),
])
def test_make_client_rejects_bad_config(settings, match):
    with pytest.raises(ValueError, match=match):
        make_odoo_client(make_config(**settings))

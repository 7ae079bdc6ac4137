"""The intake as production serves it (pserve on app/intake.conf.example): slow and half-open clients."""

import datetime
import random
import socket
import urllib.parse

import pytest
import requests
import simplejson
import sqlalchemy as sa

from fls_dev.loopback.shops import make_order
from fls_dev.server import start_intake

from conftest import make_shop, run_workers

#: More than waitress's default connection_limit (100), which they used to exhaust.
HALF_OPEN = 200
PARTIAL = (b"POST /sales/enqueue_sales/ HTTP/1.1\r\nHost: shop\r\n"
           b"Content-Type: application/json\r\nAuthoriz")


@pytest.fixture
def served(databases, shards, redis_conn, request):
    """``(url, held sockets)``: the intake under pserve with the example's server settings."""
    process, url = start_intake(databases['config_path'], server=getattr(request, 'param', None))
    held = []
    yield url, held
    for sock in held:
        sock.close()
    process.terminate()
    process.wait(timeout=60)


def hold_half_open(url, count, held):
    """Connect ``count`` clients that send part of their headers and then nothing."""
    parts = urllib.parse.urlsplit(url)
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        sock.sendall(PARTIAL)
        held.append(sock)


def test_half_open_clients_do_not_lock_out_a_shop(served, config, app, shards):
    url, held = served
    token = make_shop(app, shards, 8401, 's01')
    hold_half_open(url, HALF_OPEN, held)
    assert requests.get(url + '/api/fls/health', timeout=60).status_code == 200
    order = make_order(random.Random(8401), 8401, datetime.date.today() - datetime.timedelta(days=1), 1)
    answer = requests.post(url + '/sales/enqueue_sales/', timeout=60,
                           data=simplejson.dumps(order, use_decimal=True),
                           headers={'Authorization': f'Token {token}', 'Content-Type': 'application/json'})
    assert answer.status_code == 202, answer.text
    # the half-open clients were taken in, not just left in the kernel's queue: they are still
    # open, and finishing one of them gets it answered
    held[0].sendall(b"ation: Token nope\r\nContent-Length: 2\r\n\r\n{}")
    assert held[0].recv(64).startswith(b'HTTP/1.1 401')
    run_workers(config)  # leave nothing pending for the other tests


@pytest.mark.parametrize('served', [{'channel_timeout': 2, 'cleanup_interval': 1}], indirect=True)
def test_idle_half_open_connections_are_closed(served):
    url, held = served
    hold_half_open(url, 20, held)
    for sock in held:
        try:
            assert sock.recv(64) == b''  # closed by the server, within the generous socket timeout
        except ConnectionResetError:
            pass
    assert requests.get(url + '/api/fls/health', timeout=60).status_code == 200


@pytest.mark.parametrize('kind, rp', [('gunicorn', 8402), ('granian', 8403)])
def test_process_servers_serve_the_intake(databases, shards, redis_conn, config, app, kind, rp):
    """app/intake.gunicorn.conf.py.example and app/intake.granian.env.example (the measured
    alternatives, README): each worker process answers a sale after its commit, and the sale
    is stored."""
    process, url = start_intake(databases['config_path'], kind=kind, processes=2)
    try:
        token = make_shop(app, shards, rp, 's01')
        order = make_order(random.Random(rp), rp, datetime.date.today() - datetime.timedelta(days=1), 1)
        headers = {'Authorization': f'Token {token}', 'Content-Type': 'application/json'}
        answers = [requests.post(url + '/sales/enqueue_sales/', timeout=60, headers=headers,
                                 data=simplejson.dumps(dict(order, sale_num=f"G-{n}"), use_decimal=True))
                   for n in range(4)]
        assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
        assert all(a.json()['inbox_id'] for a in answers)
    finally:
        process.terminate()
        process.wait(timeout=60)
    run_workers(config)
    with shards.begin('s01') as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM sale WHERE retail_point_id = :rp"), {'rp': rp}).scalar()
    assert stored == 4


def test_granian_factory_names_a_missing_paste_file(monkeypatch, tmp_path):
    from rattail_fls.web.intake import granian_app
    monkeypatch.setenv('FLS_INTAKE_INI', str(tmp_path / 'intake.conf'))
    with pytest.raises(RuntimeError, match=r'FLS_INTAKE_INI: no such file .*intake\.conf'):
        granian_app()

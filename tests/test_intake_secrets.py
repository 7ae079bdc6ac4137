"""No log line carries a token, a database password or the Odoo secret, even during a database outage.

The intake under test connects as a role of its own, with a password; the
outage is that role's backends being terminated (pooled connections die under
the intake) and its logins refused, then allowed again.
"""

import datetime
import logging
import random
import secrets
import traceback

import pytest
import simplejson
import sqlalchemy as sa
import webtest
from sqlalchemy.engine import make_url

from fls_dev import db as devdb
from fls_dev.loopback.shops import make_order
from rattail_fls.sales import auth

from conftest import PG_URL, RUN_ID, another_config, make_shop, run_workers, write_test_config

ROLE = f'fls_intake_{RUN_ID}'


def admin(sql, database='postgres'):
    engine = devdb.admin_engine(PG_URL) if database == 'postgres' else \
        sa.create_engine(make_url(PG_URL + '/' + database), isolation_level='AUTOCOMMIT')
    with engine.connect() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()


@pytest.fixture
def own_role(databases):
    """``(password, database)``: a login role for the intake, dropped afterwards."""
    password = secrets.token_urlsafe(16)
    database = make_url(databases['main_url']).database
    admin(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{password}'")
    yield password, database
    admin(f"ALTER ROLE {ROLE} LOGIN")
    admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'")
    admin(f"REASSIGN OWNED BY {ROLE} TO postgres; DROP OWNED BY {ROLE}", database)
    admin(f"DROP ROLE {ROLE}")


def sale(rp, number):
    order = make_order(random.Random(number), rp, datetime.date.today() - datetime.timedelta(days=1), number)
    return simplejson.dumps(order, use_decimal=True)


def logged_text(records):
    """Everything the records would print: message, arguments, traceback."""
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(''.join(traceback.format_exception(*record.exc_info)))
    return '\n'.join(parts)


def test_outage_logs_carry_no_secret(own_role, databases, config, shards, app, redis_conn, tmp_path, caplog):
    from rattail_fls.web.intake import make_wsgi_app
    password, database = own_role
    odoo_secret = secrets.token_urlsafe(24)
    url = make_url(databases['main_url']).set(username=ROLE, password=password)
    path = write_test_config(tmp_path / 'rattail.conf', url.render_as_string(hide_password=False),
                             databases['shards2_url'], {('rattail_fls', 'odoo.secret'): odoo_secret,
                                                        # keep pytest's log capture in place
                                                        ('rattail.config', 'configure_logging'): 'false'})
    intake = webtest.TestApp(make_wsgi_app(another_config(path)))
    cached, fresh = make_shop(app, shards, 8501, 's01'), make_shop(app, shards, 8502, 's01')

    def post(token, body, status):
        return intake.post('/sales/enqueue_sales/', body, status=status, headers={
            'Authorization': f'Token {token}', 'Content-Type': 'application/json'})

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger='sqlalchemy.engine')  # every statement is logged too
    post(cached, sale(8501, 1), 202)

    admin(f"ALTER ROLE {ROLE} NOLOGIN")
    admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'")
    # a token never seen: its lookup runs on a pooled connection that is dead
    outage = post(fresh, sale(8502, 2), 503)
    assert outage.headers.get('Content-Type', '').startswith('application/json')
    post(cached, sale(8501, 3), 503)  # a cached token: the login itself is refused
    intake.post('/sales/enqueue_day_close/', {'retail_point_id': '8501'}, status=503,
                headers={'Authorization': f'Token {cached}'})
    intake.get('/api/fls/health', status=503)
    admin(f"ALTER ROLE {ROLE} LOGIN")
    post(fresh, sale(8502, 4), 202)  # and it recovers by itself

    text = logged_text(caplog.records)
    assert 'database unavailable' in text and 'server closed the connection' in text
    for secret in (cached, fresh, auth.token_hash(cached), auth.token_hash(fresh), password, odoo_secret):
        assert secret not in text
    assert 'SQL parameters hidden' in text  # the failing statements were logged, without their values
    run_workers(config)  # leave nothing pending for the other tests

"""Shared fixtures: real PostgreSQL and Redis, a migrated Theo database, two shard databases.

Service locations come from ``FLS_PG_URL`` / ``FLS_REDIS_URL`` (written to
``var/services.env`` by ``scripts/services.sh``, which ``make test`` runs);
without them the usual local ports are tried.  A missing service FAILS the
tests that need it, never skips them.

Every test that touches shard storage (it uses the ``shards`` fixture, directly
or through another) runs once per storage, as the parameter of the session
fixture ``storage``: ``partitions`` on ``FLS_PG_URL``, and ``timescaledb`` on
``FLS_TSDB_URL`` (a PostgreSQL with TimescaleDB preloaded), or on
``FLS_PG_URL`` itself when that server preloads TimescaleDB.  Each parameter
has its own databases and config, with ``storage`` pinned.  Where no such
server exists the ``timescaledb`` parameter is skipped with the reason (the
only skip in the suite); a ``FLS_TSDB_URL`` that does not work FAILS.
"""

import datetime
import os
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from fls_dev import db as devdb
from rattail_fls.db import storage as st

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = devdb.EXAMPLE
PG_URL = os.environ.get('FLS_PG_URL', 'postgresql://postgres@127.0.0.1:5432').rstrip('/')
REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
TSDB_URL = os.environ.get('FLS_TSDB_URL', '').rstrip('/') or None
STORAGES = (st.PARTITIONS, st.TIMESCALEDB)
RUN_ID = uuid.uuid4().hex[:8]

# Set up Continuum versioning before any test module imports a model, as the
# CLI does (rattail's pitfall: models mapped first leave versioning broken).
# The example config enables versioning; no database is touched here.
from rattail.config import make_config  # noqa: E402
make_config([str(EXAMPLE)], versioning=True)


def require_postgres():
    try:
        with devdb.admin_engine(PG_URL).connect() as conn:
            conn.execute(sa.text('SELECT 1'))
    except sa.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is required at {PG_URL} (FLS_PG_URL) but is not reachable: "
                    f"{error.orig}; run `make test`, which starts one", pytrace=False)


def create_database(name, server=None):
    require_postgres()
    return devdb.create_database(server or PG_URL, name)


def drop_database(name, server=None):
    devdb.drop_database(server or PG_URL, name)


def server_facts(url):
    """TimescaleDB facts of the server at ``url`` (its ``postgres`` database)."""
    engine = devdb.admin_engine(url)
    try:
        with engine.connect() as conn:
            return st.timescaledb_facts(conn)
    finally:
        engine.dispose()


def timescaledb_server():
    """``(url, None)`` of the server for the ``timescaledb`` parameter, or ``(None, reason)``."""
    if TSDB_URL:
        try:
            facts = server_facts(TSDB_URL)
        except sa.exc.OperationalError as error:
            pytest.fail(f"FLS_TSDB_URL={TSDB_URL} is not reachable: {error.orig}", pytrace=False)
        if not (facts.available and facts.preloaded):
            pytest.fail(f"FLS_TSDB_URL={TSDB_URL} has no usable TimescaleDB "
                        f"({st.NOT_PRELOADED if facts.available else 'extension not installed'})",
                        pytrace=False)
        return TSDB_URL, None
    require_postgres()
    facts = server_facts(PG_URL)
    if facts.available and facts.preloaded:
        return PG_URL, None
    found = ("has TimescaleDB installed but not in shared_preload_libraries" if facts.available
             else "has no TimescaleDB")
    return None, (f"no TimescaleDB server: FLS_TSDB_URL is not set and the test server {PG_URL} {found}; "
                  "set FLS_TSDB_URL to a PostgreSQL with TimescaleDB preloaded to run these")


def pytest_generate_tests(metafunc):
    """Tests that touch shard storage run on every storage; the others on partitions only."""
    if 'storage' in metafunc.fixturenames:
        storages = STORAGES if 'shards' in metafunc.fixturenames else STORAGES[:1]
        metafunc.parametrize('storage', storages, indirect=True, scope='session')


@pytest.fixture(scope='session')
def storage(request):
    """The shard storage under test (see the module docstring)."""
    return request.param


@pytest.fixture(scope='session')
def storage_server(storage):
    """The PostgreSQL server the databases of this storage parameter live on."""
    if storage == st.PARTITIONS:
        return PG_URL
    url, reason = timescaledb_server()
    if url is None:
        pytest.skip(reason)
    return url


def write_test_config(path, main_url, shards2_url, extra=None):
    """A config made from the example, with two shards: s01 in the main DB, s02 in another."""
    return devdb.write_app_config(path, main_url, shards2_url, f'{REDIS_URL}/15', extra)


alembic = devdb.alembic


def rattail(config_path, *args, check=True):
    """Run ``bin/rattail`` in a subprocess, as an operator would."""
    result = subprocess.run([str(Path(sys.executable).parent / 'rattail'), '-c', str(config_path), *args],
                            capture_output=True, text=True, cwd=ROOT)
    if check and result.returncode:
        raise AssertionError(f"rattail {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope='session')
def databases(storage, storage_server, tmp_path_factory):
    """A migrated main DB and an empty second DB for shard s02, on the server of the storage
    under test, with ``storage`` pinned in the config; dropped afterwards."""
    main = f'fls_test_{RUN_ID}' + ('' if storage == st.PARTITIONS else '_tsdb')
    second = f'{main}_shards2'
    urls = create_database(main, storage_server), create_database(second, storage_server)
    path = write_test_config(tmp_path_factory.mktemp(f'app_{storage}') / 'rattail.conf', *urls,
                             extra={('rattail_fls', 'storage'): storage})
    devdb.migrate(path)
    yield {'config_path': path, 'main_url': urls[0], 'shards2_url': urls[1], 'storage': storage}
    drop_database(main, storage_server)
    drop_database(second, storage_server)


@pytest.fixture(scope='session')
def config(databases):
    """The Rattail config of the test app (versioning on, as in production).

    Continuum is process-wide and was set up once, above: configuring it again once the web app
    has configured the mappers breaks them, so this config (one per storage parameter) shares
    that setup instead of repeating it.
    """
    config = make_config([str(databases['config_path'])], versioning=False)
    config.versioning_has_been_enabled = True
    return config


def another_config(path):
    """One more config in this process (other settings), leaving the test config in charge.

    Continuum was set up once, above; setting it up again once the web app is
    built breaks its mappings (the versioned models record versions anyway).
    And rattail binds its global Session to the newest config's database, so
    the binding is put back: sessions on the other database need ``bind=``.
    """
    from rattail.db import Session
    bound = dict(Session.kw)
    other = make_config([str(path)], versioning=False)
    Session.configure(**bound)
    return other


@pytest.fixture(scope='session')
def app(config):
    return config.get_app()


@pytest.fixture(scope='session')
def shards(app):
    """Shard router with both shards created (idempotent upgrade)."""
    router = app.get_fls_handler().shards
    session = app.make_session()
    router.upgrade(session)
    session.commit()
    session.close()
    return router


@pytest.fixture
def session(app):
    session = app.make_session()
    yield session
    session.rollback()
    session.close()


@pytest.fixture(scope='session')
def redis_conn():
    import redis
    conn = redis.Redis.from_url(f'{REDIS_URL}/15')
    try:
        conn.ping()
    except redis.exceptions.ConnectionError as error:
        pytest.fail(f"Redis is required at {REDIS_URL} (FLS_REDIS_URL) but is not reachable: "
                    f"{error}; run `make test`, which starts one", pytrace=False)
    return conn


@pytest.fixture(scope='session')
def intake_url(config, shards, redis_conn):
    """The real intake WSGI app served by waitress on a loopback port."""
    import threading
    from waitress.server import create_server
    from rattail_fls.web.intake import make_wsgi_app

    server = create_server(make_wsgi_app(config), host='127.0.0.1', port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.effective_port}'
    server.close()


def make_shop(app, shards, retail_point_id, shard=None, username=None):
    """A retail point assigned to a shard, and a token bound to it; returns the token string."""
    from rattail_fls.sales.auth import create_token
    session = app.make_session(bind=app.config.appdb_engine)  # this app's database, whatever Session is bound to
    model = app.model
    point = session.query(model.FlsRetailPoint).filter_by(retail_point_id=retail_point_id).one_or_none()
    if point is None:
        point = model.FlsRetailPoint(retail_point_id=retail_point_id, name=f"Shop {retail_point_id}")
        session.add(point)
        shards.assign(session, point, shard)
    username = username or f'shop{retail_point_id}'
    user = session.query(model.User).filter_by(username=username).one_or_none()
    if user is None:
        user = model.User(username=username, active=True)
        session.add(user)
    session.flush()
    _, token = create_token(session, user, [retail_point_id], 'test')
    session.commit()
    session.close()
    return token


def run_workers(config, kinds=('sales_processing',)):
    """Drain the queues with a real RQ worker in burst mode (in-process SimpleWorker)."""
    from rattail_fls.queue.worker import make_worker
    make_worker(config, list(kinds)).work(burst=True, with_scheduler=False)


# -- the Tailbone web app (one per test session: building a second in the same
# process breaks Continuum's mappings) -------------------------------------------

PASSWORD = 'secret-pass'


@pytest.fixture(scope='session')
def wsgi_app(databases, config, shards, tmp_path_factory):
    """The real app, as ``pserve`` would make it from a web.conf including the test config.

    One per storage parameter, on the config of its ``config`` fixture: a second config made
    by Tailbone in the same process would configure versioning again (Continuum's mappings
    break).  Tailbone's session is process-wide, so it is bound to this app's database again
    (the parameters' tests run one after the other).
    """
    import tailbone.db
    web_conf = tmp_path_factory.mktemp('web') / 'web.conf'
    web_conf.write_text(f"[rattail.config]\ninclude = {databases['config_path']}\n")
    from rattail_fls.web.app import main
    tailbone.db.Session.remove()
    return main({}, **{
        'rattail_config': config,
        'rattail.config': str(web_conf),
        'beaker.session.type': 'memory',
        'beaker.session.key': 'rattail_fls_test',
        'beaker.session.secret': 'test-only-secret',
    })


@pytest.fixture(scope='session')
def users(app):
    """``admin`` (Administrator role), ``shardviewer`` (may only list shards), ``nobody``."""
    auth = app.get_auth_handler()
    session = app.make_session()
    viewers = app.model.Role(name='web_shard_viewers')
    auth.grant_permission(viewers, 'fls.shards.list')
    roles = {'admin': auth.get_role_administrator(session), 'shardviewer': viewers, 'nobody': None}
    made = {}
    for name, role in roles.items():
        user = auth.make_user(session, username=f'web_{name}')
        auth.set_user_password(user, PASSWORD)
        if role is not None:
            user.roles.append(role)
        made[name] = user.username
    session.commit()
    session.close()
    return made


def csrf_token(response):
    return re.search(r'name="_csrf" type="hidden" value="([^"]+)"', response.text).group(1)


def filtered(path, **filters):
    """A grid's URL with ``field == value`` filters, every other filter off.

    Tests share one logged-in session and the suite's data: an unfiltered grid's
    first page may be all other tests' rows, and a filter left in the session by
    one test would narrow the next test's grid.  Filters in the URL replace both.
    """
    from urllib.parse import urlencode
    params = {}
    for field, value in filters.items():
        params.update({field: value, f'{field}.verb': 'equal'})
    return f"{path}?{urlencode(params)}"


def log_in(wsgi_app, username):
    import webtest
    browser = webtest.TestApp(wsgi_app)
    page = browser.get('/login')
    result = browser.post('/login', {'_csrf': csrf_token(page), 'username': username,
                                     'password': PASSWORD})
    assert result.status_int == 302 and result.location.rstrip('/') == 'http://localhost'
    return browser


@pytest.fixture(scope='session')
def admin(wsgi_app, users):
    browser = log_in(wsgi_app, users['admin'])
    browser.get('/root/yes', status=302)
    return browser


@pytest.fixture
def web_odoo(config):
    """The loopback Odoo, and the test config (the web app's) pointing ``odoo.url`` at it
    for the test (put back afterwards: the file's value reaches no receiver)."""
    from fls_dev.loopback.odoo import LoopbackOdoo
    key = 'rattail_fls.odoo.url'
    before = config.get(key, usedb=False)
    with LoopbackOdoo() as odoo:
        config.configuration[key] = odoo.url
        assert config.get(key, usedb=False) == odoo.url
        yield odoo
        config.configuration[key] = before


@pytest.fixture
def server():
    """A loopback CORE-POS serving the sample data the captured exchanges imply."""
    from fls_dev.loopback.corepos import CoreStore, LoopbackCorePos
    with LoopbackCorePos(CoreStore.sample()) as server:
        yield server


# -- sales in a shard, for the web and browser tests ----------------------------

SALES_DAY1 = datetime.date.today() - datetime.timedelta(days=3)
SALES_DAY2 = SALES_DAY1 + datetime.timedelta(days=1)


@pytest.fixture(scope='session')
def shop_sales(app, config, shards):
    """60 sales of shop 8501 (s02) over two days, stored by the real processor; day 1 closed.

    Here, not in a test module, so that the web and browser tests share one (a fixture imported
    into two modules runs twice, and the second run finds its sales duplicates).
    """
    import simplejson
    from fls_dev.loopback.shops import make_order
    from rattail_fls.sales import inbox
    from rattail_fls.summaries.closer import DayCloser
    make_shop(app, shards, 8501, 's02')
    rng = random.Random(85)
    orders = [make_order(rng, 8501, day, n) for day in (SALES_DAY1, SALES_DAY2) for n in range(1, 31)]
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, [{'body': simplejson.dumps(o, use_decimal=True)} for o in orders],
                            'sale', 'file')
    config.get_app().get_fls_handler().get_processor().drain([key[1] for key in keys], only=True)
    with config.appdb_engine.connect() as conn:  # done here, or by a worker another test left running
        statuses = conn.execute(sa.text("SELECT DISTINCT status FROM fls_inbox WHERE id = ANY(:ids)"),
                                {'ids': [key[1] for key in keys]}).scalars().all()
    assert statuses == ['done'], statuses
    DayCloser(config).close(8501, SALES_DAY1)
    return orders

"""The web app our factory builds, driven over WSGI: login, menus, FLS views, permissions.

The app reads a web.conf that includes the test config, as a deployment's
``app/web.conf`` includes ``app/rattail.conf``.
"""

import datetime
import re

import sqlalchemy as sa
import webtest

from conftest import csrf_token, filtered, log_in, make_shop


def grid_rows(response):
    """Rows of the page's main grid (Tailbone embeds them as JSON in the page)."""
    return re.findall(r'\{"_index": \d+, (.*?)\}', response.text)


def post_form(browser, url, **fields):
    page = browser.get(url)
    data = {'_csrf': csrf_token(page), 'store_uuid': '', 'shard_uuid': '', 'timezone': '',
            'active': 'true'}
    data.update(fields)
    return browser.post(url, data)


def make_retail_point(browser, rp_id, name, **fields):
    result = post_form(browser, '/fls/retail-points/new', retail_point_id=str(rp_id), name=name,
                       **fields)
    assert result.status_int == 302, re.findall(r'message="[^"]*"', result.text)
    return result.location


def find_retail_point(app, rp_id):
    session = app.make_session()
    rp = session.query(app.model.FlsRetailPoint).filter_by(retail_point_id=rp_id).one_or_none()
    shard = rp.shard.name if rp and rp.shard else None
    session.close()
    return rp, shard


def test_login_page_renders(wsgi_app):
    """Theo's factory leaves wuttaweb's templates out and /login is a 500; ours does not."""
    page = webtest.TestApp(wsgi_app).get('/login')
    assert page.status_int == 200
    assert 'name="username"' in page.text


def test_home_and_fls_menu(admin, wsgi_app):
    home = admin.get('/')
    assert home.status_int == 200
    menu = re.search(r'navbar-link">FLS</a>(.*?)</div>', home.text, re.S)
    assert menu, "the FLS menu is missing"
    assert '/fls/retail-points/">Retail Points<' in menu.group(1)
    assert '/fls/shards/">Shards<' in menu.group(1)
    config = wsgi_app.registry['rattail_config']
    handler = config.get_app().get_web_handler().get_menu_handler()
    assert type(handler).__name__ == 'FlsMenuHandler'


def test_create_view_and_versions(admin, app, shards, session):
    expected = shards.choose_shard(session).name
    session.rollback()
    location = make_retail_point(admin, 7101, "Web Shop One", timezone='Asia/Kolkata')
    rp, shard = find_retail_point(app, 7101)
    assert shard == expected, "no shard picked: the policy must assign one"
    assert rp.timezone == 'Asia/Kolkata' and rp.active
    assert location.endswith(f'/fls/retail-points/{rp.uuid}')

    page = admin.get(location)
    assert page.status_int == 200
    assert 'Web Shop One' in page.text and f'/fls/shards/{rp.shard_uuid}' in page.text

    listing = admin.get(filtered('/fls/retail-points/', retail_point_id=7101))
    assert any('"retail_point_id": "7101"' in row and f'"shard": "{shard}"' in row
               for row in grid_rows(listing))

    versions = admin.get(f'{location}/versions/')
    assert versions.status_int == 200


def test_create_with_chosen_shard_then_move(admin, app):
    shard_uuid = _registry_uuid(app, 's02')
    location = make_retail_point(admin, 7102, "Web Shop Two", shard_uuid=shard_uuid)
    assert find_retail_point(app, 7102)[1] == 's02'

    result = post_form(admin, f'{location}/edit', retail_point_id='7102', name="Web Shop Two",
                       shard_uuid=_registry_uuid(app, 's01'))
    assert result.status_int == 302
    assert find_retail_point(app, 7102)[1] == 's01'


def test_create_form_starts_on_policy_and_no_store(admin):
    page = admin.get('/fls/retail-points/new').text
    assert 'field_model_shard_uuid: ""' in page and 'field_model_store_uuid: ""' in page
    assert page.count('(assign by policy)') == 1


def test_form_refuses_bad_input(admin, app):
    make_retail_point(admin, 7103, "Web Shop Three")
    cases = [
        ({'retail_point_id': '7103'}, 'Retail point ID 7103 is already used by'),
        ({'retail_point_id': '0'}, 'Retail point ID must be a positive number'),
        ({'retail_point_id': 'abc'}, 'is not a number'),
        ({'timezone': 'Mars/Olympus'}, '‘Mars/Olympus’ is not an IANA time zone'),
        ({'shard_uuid': 'f' * 32}, 'is not one of'),
    ]
    for fields, message in cases:
        data = {'retail_point_id': '7104', 'name': "Bad Shop", **fields}
        result = post_form(admin, '/fls/retail-points/new', **data)
        assert result.status_int == 200, fields
        assert message in result.text, (fields, re.findall(r'message="[^"]*"', result.text))
    assert find_retail_point(app, 7104)[0] is None


def test_retail_point_with_sales_keeps_id_and_shard(admin, app, shards):
    location = make_retail_point(admin, 7105, "Web Shop Five", shard_uuid=_registry_uuid(app, 's01'))
    with shards.begin('s01') as conn:
        conn.execute(sa.text("INSERT INTO sale_ident (retail_point_id, sale_num, sale_date, content_hash) "
                             "VALUES (7105, 'WEB/1', :day, 'x')"), {'day': datetime.date.today()})
    for fields in ({'shard_uuid': _registry_uuid(app, 's02')}, {'retail_point_id': '7106'}):
        data = {'retail_point_id': '7105', 'shard_uuid': _registry_uuid(app, 's01'), **fields}
        result = post_form(admin, f'{location}/edit', name="Web Shop Five", **data)
        assert result.status_int == 200
        assert 'has sales in shard s01: its ID and shard cannot change' in result.text
    assert find_retail_point(app, 7105)[1] == 's01'


def test_shards_list_and_view(admin, app, shards, storage):
    listing = admin.get('/fls/shards/')
    rows = grid_rows(listing)
    assert len(rows) == 2
    for name, database in (('s01', 'fls_test_'), ('s02', '_shards2')):
        row = next(r for r in rows if f'"name": "{name}"' in r)
        assert f'"storage": "{storage}"' in row
        assert '"schema_version": "' in row and '"schema_version": "0"' not in row
        assert database in row and '"sales": "' in row and '"days": "' in row
    page = admin.get(f'/fls/shards/{_registry_uuid(app, "s02")}')
    assert page.status_int == 200
    assert 'fls_s02' in page.text and '_shards2' in page.text
    assert 'Retail Points' in page.text and 'Days (partitions or chunks)' in page.text


def test_shards_page_survives_an_unreachable_shard(admin, monkeypatch):
    from rattail_fls.db.shards import ShardRouter

    def unreachable(self, session, **kwargs):
        raise sa.exc.OperationalError('SELECT 1', {}, Exception('connection refused'))
    monkeypatch.setattr(ShardRouter, 'stats', unreachable)
    listing = admin.get('/fls/shards/')
    assert 'Live shard figures are unavailable' in listing.text
    assert len(grid_rows(listing)) == 2


def test_shards_page_estimates_sizes_without_counting(admin, app, config, shards, storage):
    """The Shards page reads catalog estimates, never a count of a shard table; the estimate is
    the table's size before ANALYZE, and the count itself after it."""
    import random
    import simplejson
    from fls_dev.loopback.shops import make_order
    from rattail_fls.db import storage as st
    from rattail_fls.sales import inbox
    make_shop(app, shards, 8801, 's01')
    rng = random.Random(8801)
    day = datetime.date.today() - datetime.timedelta(days=2)
    bodies = [{'body': simplejson.dumps(make_order(rng, 8801, day, n), use_decimal=True)} for n in range(40)]
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, bodies, 'sale', 'file')
    app.get_fls_handler().get_processor().drain([key[1] for key in keys], only=True)

    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)
    sa.event.listen(sa.engine.Engine, 'before_cursor_execute', record)
    try:
        page = admin.get('/fls/shards/')
    finally:
        sa.event.remove(sa.engine.Engine, 'before_cursor_execute', record)
    assert 'Sales (estimate)' in page.text
    shard_count = re.compile(r'count\(.*\bFROM\s+("?\w+"?\.)?"?(sale|sale_line|sale_lot|sale_misc_lot|sale_ident)\b',
                             re.I | re.S)
    assert any('pg_class' in s for s in statements)
    assert not [s for s in statements if shard_count.search(s)]

    with shards.begin('s01') as conn:
        for table in ('sale', 'sale_line'):
            assert st.estimate_rows(conn, table, storage) > 0
            conn.execute(sa.text(f'ANALYZE {table}'))
            assert st.estimate_rows(conn, table, storage) == conn.execute(sa.text(f'SELECT count(*) FROM {table}')).scalar()


def test_permissions_are_registered(wsgi_app):
    """What a Role can be granted (the Roles page lists these groups)."""
    groups = wsgi_app.registry.settings['wutta_permissions']
    assert set(groups['fls.retail_points']['perms']) >= {
        'fls.retail_points.list', 'fls.retail_points.view', 'fls.retail_points.create',
        'fls.retail_points.edit', 'fls.retail_points.versions'}
    assert 'fls.retail_points.delete' not in groups['fls.retail_points']['perms']
    assert {'fls.shards.list', 'fls.shards.view'} <= set(groups['fls.shards']['perms'])
    assert not {'fls.shards.create', 'fls.shards.edit', 'fls.shards.delete'} \
        & set(groups['fls.shards']['perms'])


FLS_PAGES = ['/fls/retail-points/', '/fls/retail-points/new', '/fls/shards/']


def test_anonymous_is_sent_to_login(wsgi_app):
    browser = webtest.TestApp(wsgi_app)
    for url in FLS_PAGES:
        result = browser.get(url, status=302)
        assert result.location.endswith('/login'), url


def test_user_without_permission_is_refused(wsgi_app, users):
    browser = log_in(wsgi_app, users['nobody'])
    for url in FLS_PAGES:
        result = browser.get(url, status=302)
        assert '/fls/' not in result.location, url
    assert 'navbar-link">FLS<' not in browser.get('/').text


def test_permission_opens_only_its_view(wsgi_app, users):
    browser = log_in(wsgi_app, users['shardviewer'])
    assert browser.get('/fls/shards/').status_int == 200
    browser.get('/fls/retail-points/', status=302)
    menu = re.search(r'navbar-link">FLS</a>(.*?)</div>', browser.get('/').text, re.S).group(1)
    assert 'Shards' in menu and 'Retail Points' not in menu


def _registry_uuid(app, name):
    session = app.make_session()
    uuid = session.query(app.model.FlsShard.uuid).filter_by(name=name).scalar()
    session.close()
    return uuid


def test_roles_users_and_app_info_pages(admin, app):
    """Tailbone 0.23 with WuttJamaican 0.33: role/user pages (rattail_fls.auth) and App Info."""
    role_url = re.search(r'/roles/[0-9a-f]{32}', admin.get('/roles/').text).group(0)
    user_url = re.search(r'/users/[0-9a-f]{32}', admin.get('/users/').text).group(0)
    for url in ('/roles/new', role_url, f'{role_url}/edit', '/users/new', user_url, f'{user_url}/edit',
                '/appinfo/'):
        assert admin.get(url).status_int == 200, url

    form = admin.get('/roles/new')
    made = admin.post('/roles/new', [('_csrf', csrf_token(form)), ('name', 'Web Role'),
                                     ('__start__', 'permissions:mapping'), ('fls.shards.list', 'true'),
                                     ('__end__', 'permissions:mapping')])
    assert made.status_int == 302
    page = admin.get(made.location)
    assert 'Web Role' in page.text
    session = app.make_session()
    role = session.query(app.model.Role).filter_by(name='Web Role').one()
    assert role.permissions == ['fls.shards.list']
    session.close()


OUTSIDE = re.compile(r'''(?:src|href|action)\s*=\s*["']((?:https?:)?//[^"']+)''', re.I)


def test_pages_load_nothing_from_outside(admin, wsgi_app):
    """Every script, style and link of the pages points at this app (no CDN, no outside host)."""
    for url in ['/', '/fls/retail-points/', '/fls/retail-points/new', '/fls/shards/', '/fls/inbox/',
                '/fls/summaries/', '/fls/business-days/', '/fls/day-closes/', '/roles/', '/users/',
                '/appinfo/']:
        page = admin.get(url)
        outside = {link for link in OUTSIDE.findall(page.text) if not link.startswith('http://localhost/')}
        assert not outside, (url, outside)
    login = webtest.TestApp(wsgi_app).get('/login')
    libraries = re.findall(r'(?:src|href)="(/fanstatic/rattail_fls_libcache/[^"]+)"', login.text)
    assert len(libraries) == 5, libraries  # vue, vue-resource, buefy + its css, fontawesome
    for library in libraries:
        assert webtest.TestApp(wsgi_app).get(library).status_int == 200


def test_menus_hide_what_is_not_configured(admin):
    """The test config has office_op (unreachable) but no office_trans/arch, srcdir or Trainwreck."""
    home = admin.get('/').text
    assert 'href="http://localhost/core-pos/products/"' in home
    for hidden in ('core-pos/lanes/', 'corepos/transaction-details/current/',
                   'corepos/transaction-details/archive/', 'trainwreck/transactions/',
                   'core-pos/stock-purchases/'):
        assert f'href="http://localhost/{hidden}"' not in home, hidden


def test_quick_search_lists_only_what_the_menus_show(admin):
    """The navbar's search box (Tailbone's index pages) leaves out the pages the menus hide."""
    import json
    data = re.search(r'globalSearchData: (\[.*?\]),\n', admin.get('/').text).group(1)
    routes = {page['route'] for page in json.loads(data)}
    assert {'corepos.products', 'fls.summaries', 'fls.shards'} <= routes
    hidden = {'corepos.lanes', 'corepos.transaction_details', 'corepos.transaction_details_archive',
              'corepos.stock_purchases', 'trainwreck.transactions'}
    assert not routes & hidden, routes & hidden
    assert not [r for r in routes if r.startswith('trainwreck.')]


def test_broken_back_end_gets_an_error_page_with_navigation(admin):
    page = admin.get('/core-pos/products/', status=500)
    assert 'This page could not be shown' in page.text
    assert 'This page needs the CORE-POS office_op database' in page.text
    assert 'OperationalError' in page.text and 'Traceback' not in page.text
    assert 'navbar-link">FLS</a>' in page.text  # the menus are there to go on
    assert admin.get('/fls/shards/').status_int == 200  # the session survived


def test_retail_point_figures_and_links(admin, app, config, shards):
    """Last sale received, backlog, today's sales and tokens, on the grid and the page."""
    import json
    from conftest import make_shop
    from rattail_fls.sales import inbox
    make_shop(app, shards, 7201, 's01')
    make_shop(app, shards, 7201, 's01', username='shop7201b')  # a second token for the same shop
    with config.appdb_engine.begin() as conn:
        inbox.accept(conn, [{'body': '{}', 'retail_point_id': 7201, 'sale_num': f'FIG/{n}'} for n in (1, 2)],
                     'sale', 'http')
        conn.execute(sa.text("INSERT INTO fls_business_day (retail_point_id, sale_date, sale_count, line_count) "
                             "VALUES (7201, :day, 12, 30)"), {'day': app.today()})
    row = next(json.loads('{' + r + '}') for r in grid_rows(admin.get(filtered('/fls/retail-points/', retail_point_id=7201)))
               if '"retail_point_id": "7201"' in r)
    assert (row['backlog'], row['sales_today'], row['tokens']) == ('2', '12', '2')
    assert row['last_sale_received'].endswith(' IST')
    rp, _ = find_retail_point(app, 7201)
    page = admin.get(f'/fls/retail-points/{rp.uuid}').text
    assert 'Backlog (pending in inbox)' in page and 'API Tokens' in page
    for link in ('/fls/sales/?retail_point_id=7201', '/fls/business-days/?retail_point_id=7201',
                 '/fls/summaries/?retail_point_id=7201', '/fls/inbox/?retail_point_id=7201'):
        assert link in page, link


def test_butterball_theme_loads_nothing_from_outside(wsgi_app, users):
    """Theo's Vue 3 theme: its libraries come from our libcache too (copied from Theo's)."""
    browser = log_in(wsgi_app, users['admin'])
    browser.get('/root/yes', status=302)
    home = browser.get('/')
    browser.post('/change-theme', {'_csrf': csrf_token(home), 'theme': 'butterball'})
    try:
        page = browser.get('/fls/shards/')
    finally:  # the theme is the app's (a setting): put back the default for the other tests
        browser.post('/change-theme', {'_csrf': csrf_token(home), 'theme': 'default'})
    assert '/rattail_fls_libcache/' in page.text and 'theo/vue.esm-browser' in page.text, \
        "the butterball theme was not applied"
    outside = {link for link in OUTSIDE.findall(page.text) if not link.startswith('http://localhost/')}
    outside |= set(re.findall(r'"(https?://(?!localhost)[^"]+)"', page.text))  # its import map
    assert not outside, outside


def test_grid_pager_counts_at_most_its_limit(app, config, shards):
    """Past COUNT_LIMIT rows the pager takes the planner's estimate: it never counts a whole table."""
    from rattail_fls.db.model.inbox import FlsInbox
    from rattail_fls.sales import inbox
    from rattail_fls.web.grids import bounded_count
    bodies = [{'body': '{}', 'retail_point_id': 8802, 'sale_num': f'P{n}', 'status': 'rejected',
               'errors': '[]'} for n in range(30)]
    with config.appdb_engine.begin() as conn:
        inbox.accept(conn, bodies, 'sale', 'file')
    session = app.make_session()
    try:
        query = session.query(FlsInbox).filter(FlsInbox.retail_point_id == 8802).order_by(FlsInbox.id)
        assert bounded_count(query, limit=100) == 30
        assert bounded_count(query, limit=10) >= 11  # counted 11, then the planner's figure if larger
        assert bounded_count(query.filter(FlsInbox.sale_num == 'P7'), limit=10) == 1
    finally:
        session.close()


def test_app_under_pserve_maps_the_shard_models(databases, tmp_path):
    """Built as pserve builds it (a fresh process, the app factory configuring versioning), the
    shard models configure with Continuum's (the Sales page failed on TransactionMeta there)."""
    import shutil
    import subprocess
    import sys
    from fls_dev.server import write_web_conf
    conf = shutil.copy(databases['config_path'], tmp_path / 'rattail.conf')
    ini = write_web_conf(conf, 9080)
    script = ("import sys, sqlalchemy as sa\n"
              "from pyramid.paster import get_app\n"
              "get_app('file+ini:' + sys.argv[1], 'main')\n"
              "from rattail_fls.db.model.sales import Sale\n"
              "print(sa.select(Sale).compile())\n")
    result = subprocess.run([sys.executable, '-c', script, str(ini)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'FROM fls_shard.sale' in result.stdout


def test_users_are_looked_up_in_the_request_threads_session(wsgi_app):
    """Each server thread's requests use its own database session (Tailbone's policy shared the
    building thread's one with every thread: a 500 under concurrent requests)."""
    import threading
    from pyramid.interfaces import ISecurityPolicy
    from tailbone.db import Session

    policy = wsgi_app.registry.queryUtility(ISecurityPolicy)
    seen = []
    thread = threading.Thread(target=lambda: seen.append((policy.db_session, Session())))
    thread.start()
    thread.join()
    (in_thread, threads_own), = seen
    assert in_thread is threads_own
    assert in_thread is not policy.db_session  # this thread's, not the other's

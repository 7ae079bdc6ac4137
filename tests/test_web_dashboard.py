"""The FLS dashboard: the home page of users allowed to see it; figures link to their grids."""

import datetime
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from fls_dev.server import free_port

from conftest import log_in


@pytest.fixture
def admin(wsgi_app, users):
    """An administrator in a session of its own: grids remember the filters of the links followed
    here, which would hide other tests' rows from the shared ``admin``."""
    browser = log_in(wsgi_app, users['admin'])
    browser.get('/root/yes', status=302)
    return browser


def add_days(config, retail_point_id, figures):
    """``{date: (sales, lines)}`` as the workers would have kept them."""
    with config.appdb_engine.begin() as conn:
        for day, (sales, lines) in figures.items():
            conn.execute(sa.text(
                "INSERT INTO fls_business_day (retail_point_id, sale_date, sale_count, line_count) "
                "VALUES (:rp, :day, :sales, :lines) ON CONFLICT (retail_point_id, sale_date) "
                "DO UPDATE SET sale_count = excluded.sale_count, line_count = excluded.line_count"),
                {'rp': retail_point_id, 'day': day, 'sales': sales, 'lines': lines})


def test_dashboard_is_home_with_chart_and_links(admin, app, config, shards):
    from conftest import make_shop
    make_shop(app, shards, 8301, 's01')
    today = app.today()
    yesterday, old = today - datetime.timedelta(days=1), today - datetime.timedelta(days=40)
    add_days(config, 8301, {yesterday: (7, 19), old: (99, 999)})

    home = admin.get('/')
    assert 'id="fls-daily-chart"' in home.text
    assert re.search(r'src="/fanstatic/rattail_fls_libcache/[^"]*chart.js/dist/chart.umd.js"', home.text)
    series = re.search(r'const series = (\[.*?\])\n', home.text).group(1)
    assert series.count('"date"') == 30 and today.isoformat() in series and old.isoformat() not in series

    shop = admin.get('/', {'shop': '8301'})
    assert 'retail point 8301' in shop.text
    day_link = re.search(rf'<a href="([^"]*{yesterday.isoformat()}[^"]*retail_point_id=8301[^"]*)">7</a>',
                         shop.text.replace('&amp;', '&')).group(1)
    grid = admin.get(day_link.replace('http://localhost', ''), {'partial': '1'}).json
    assert [(row['retail_point_id'], row['sale_count']) for row in grid['data']] == [('8301', '7')]
    assert admin.get('/fls/dashboard').status_int == 200
    assert 'id="fls-daily-chart"' in admin.get('/', {'shop': 'x; DROP'}).text  # bad input: the chain


def links(page):
    """``{text: (path, query)}`` of the page's links (query as a dict of single values)."""
    found = {}
    for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', page.text.replace('&amp;', '&')):
        parts = urlsplit(href)
        found.setdefault(text.strip(), []).append((parts.path, {k: v[0] for k, v in
                                                                parse_qs(parts.query, keep_blank_values=True).items()}))
    return found


def test_dashboard_status_panel(admin, app, config, shards):
    """The figures of fls-status, each linked to the filtered grid behind it."""
    from conftest import make_shop
    make_shop(app, shards, 8302, 's01')
    with config.appdb_engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO fls_inbox (kind, source, retail_point_id, sale_num, body, status, attempts, received_at, "
            "errors) VALUES ('sale', 'http', 8302, 'DASH-1', '{}', 'pending', 0, now() - interval '2 hours', NULL), "
            "('sale', 'http', 8302, 'DASH-2', '{}', 'pending', 1, now() - interval '5 minutes', '[{\"field\": \"shard\", \"reason\": \"down\"}]'), "
            "('sale', 'http', 8302, 'DASH-3', '{}', 'rejected', 1, now(), NULL)"))
    try:
        home = admin.get('/')
        assert 'class="box fls-status"' in home.text and 'fls-source-down' not in home.text
        assert re.search(r'Status <span class="tag is-(danger|warning|success)">(critical|warning|ok)</span>',
                         home.text)  # no worker runs here: critical, but any level is coloured
        row = re.search(r'<tr>\s*<td>8302</td>(.*?)</tr>', home.text, re.S).group(1)
        pending = re.search(r'<a href="([^"]+)">2</a>', row).group(1).replace('&amp;', '&')
        assert '2h' in row  # the oldest pending row's age
        query = {k: v[0] for k, v in parse_qs(urlsplit(pending).query).items()}
        assert query == {'status': 'pending', 'status.verb': 'equal', 'retail_point_id': '8302',
                         'retail_point_id.verb': 'equal'}
        grid = admin.get(urlsplit(pending).path, dict(query, partial='1')).json
        assert sorted(r['sale_num'] for r in grid['data']) == ['DASH-1', 'DASH-2']
        retrying, rejected = re.findall(r'<a href="([^"]+)">1</a>', row)
        for link, shown in ((retrying, ['DASH-2']), (rejected, ['DASH-3'])):
            parts = urlsplit(link.replace('&amp;', '&'))
            rows = admin.get(parts.path, dict(parse_qs(parts.query, keep_blank_values=True), partial='1')).json
            assert [r['sale_num'] for r in rows['data']] == shown
        assert re.search(r'<td>Total</td>', home.text)
        assert 'RQ workers alive: <strong>' in home.text and 'Failed jobs' in home.text
        found = links(home)
        every = sum(found.values(), [])
        summary_filters = {q.get('status') for path, q in every if path.rstrip('/') == '/fls/summaries'}
        assert summary_filters == {'pending', 'failed', 'held', 'superseded'}
        assert any(path.rstrip('/') == '/fls/day-closes' for path, q in every)
        for path, query in every:  # every figure's link opens its grid, filters understood
            if path.rstrip('/') in ('/fls/summaries', '/fls/inbox'):
                assert 'data' in admin.get(path, dict(query, partial='1')).json
    finally:
        with config.appdb_engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM fls_inbox WHERE retail_point_id = 8302"))


def test_dashboard_shows_redis_down(admin, config, monkeypatch):
    """Redis unreachable: the page still answers, says so, and shows the database figures."""
    cache = config.__dict__.setdefault('_fls_queue_cache', {})
    monkeypatch.setitem(cache, 'redis.url', f'redis://127.0.0.1:{free_port()}/0')
    home = admin.get('/')
    assert re.search(r'fls-source-down">redis unavailable: ', home.text)
    assert '<span class="tag is-danger">critical</span>' in home.text
    assert 'unknown while Redis is unavailable' in home.text and 'fls-inbox-figures' in home.text
    assert 'id="fls-daily-chart"' in home.text


def test_dashboard_needs_its_permission(wsgi_app, users):
    for who in ('nobody', 'shardviewer'):  # no permissions / a read-only role without it
        browser = log_in(wsgi_app, users[who])
        home = browser.get('/').text
        assert 'fls-daily-chart' not in home and 'fls-status' not in home  # Theo's home instead
        assert browser.get('/fls/dashboard', expect_errors=True).status_int in (302, 403)


def test_make_web_writes_a_loopback_config(tmp_path):
    """`make web` (scripts/web.py): loopback only, a real session secret, kept across runs."""
    from fls_dev.server import write_web_conf
    rattail_conf = tmp_path / 'rattail.conf'
    rattail_conf.write_text('')
    text = write_web_conf(rattail_conf, 9123).read_text()
    assert 'host = 127.0.0.1' in text and 'port = 9123' in text
    secret = re.search(r'^beaker.session.secret = (\S+)$', text, re.M).group(1)
    assert 'CHANGE-ME' not in secret and len(secret) == 64
    assert f'beaker.session.secret = {secret}' in write_web_conf(rattail_conf, 9123).read_text()

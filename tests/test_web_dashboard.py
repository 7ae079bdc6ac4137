"""The FLS dashboard: the home page of users allowed to see it; figures link to their grids."""

import datetime
import re

import sqlalchemy as sa

from conftest import log_in


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


def test_dashboard_needs_its_permission(wsgi_app, users):
    for who in ('nobody', 'shardviewer'):  # no permissions / a read-only role without it
        browser = log_in(wsgi_app, users[who])
        assert 'fls-daily-chart' not in browser.get('/').text  # Theo's home instead
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

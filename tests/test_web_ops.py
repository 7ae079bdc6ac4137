"""Operating the intake from the web: inbox (fix and replay), business days, day closes."""

import datetime
import json
import random
import re
import threading

import simplejson
import sqlalchemy as sa

from fls_dev.loopback.shops import make_order
from rattail_fls.sales import inbox
from rattail_fls.summaries.closer import DayCloser

from conftest import csrf_token, filtered, log_in, make_shop

DAY = datetime.date.today() - datetime.timedelta(days=4)


def rejected_row(config, order, errors):
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, [{'body': simplejson.dumps(order, use_decimal=True),
                                    'retail_point_id': order['retail_point_id'],
                                    'sale_num': order['sale_num'], 'status': 'rejected',
                                    'errors': json.dumps(errors)}], 'sale', 'http')
    return keys[0][1]


def inbox_status(config, inbox_id):
    import sqlalchemy as sa
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.text("SELECT status, source FROM fls_inbox WHERE id = :i"),
                            {'i': inbox_id}).one()


def test_fix_and_replay_a_rejected_row(admin, config, app, shards):
    make_shop(app, shards, 8101, 's01')
    good = make_order(random.Random(3), 8101, DAY, 1)
    bad = dict(good, sale_date='21/11/2026')
    inbox_id = rejected_row(config, bad, [{'field': 'sale_date', 'reason': 'must be a date "YYYY-MM-DD"'}])

    listing = admin.get(filtered('/fls/inbox/', retail_point_id=8101, status='rejected'))
    assert listing.status_int == 200 and f'"id": "{inbox_id}"' in listing.text
    page = admin.get(f'/fls/inbox/{inbox_id}')
    assert 'sale_date: must be a date' in page.text and '21/11/2026' in page.text

    form = admin.get(f'/fls/inbox/{inbox_id}/edit')
    bad_json = admin.post(f'/fls/inbox/{inbox_id}/edit', {'_csrf': csrf_token(form), 'body': '{"oops'})
    assert bad_json.status_int == 200 and 'is not valid JSON' in bad_json.text
    assert 'rows="25"' in form.text  # a box to edit a payload in, not two rows
    still_bad = admin.post(f'/fls/inbox/{inbox_id}/edit', {
        '_csrf': csrf_token(form), 'body': simplejson.dumps(bad, use_decimal=True)})
    assert still_bad.status_int == 200  # the contract's field errors, before anything is saved
    # (Vue 2 decodes &#39; in attributes but shows &#34; as is)
    assert 'message="sale_date: must be a date &#39;YYYY-MM-DD&#39;"' in still_bad.text
    assert inbox_status(config, inbox_id).status == 'rejected'

    saved = admin.post(f'/fls/inbox/{inbox_id}/edit', {
        '_csrf': csrf_token(form), 'body': simplejson.dumps(good, use_decimal=True)})
    assert saved.status_int == 302
    assert tuple(inbox_status(config, inbox_id)) == ('pending', 'replay')
    assert config.get_app().get_fls_handler().get_processor().drain([inbox_id])['done'] == 1
    assert inbox_status(config, inbox_id).status == 'done'
    again = admin.get(f'/fls/inbox/{inbox_id}/edit', expect_errors=True)  # only rejected rows
    assert again.status_int != 200 or 'name="body"' not in again.text, again.status_int


def test_business_days_and_day_closes(admin, config, app, shards):
    make_shop(app, shards, 8102, 's02')
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, [{'body': simplejson.dumps(make_order(random.Random(4), 8102, DAY, 1),
                                                             use_decimal=True)}], 'sale', 'file')
    config.get_app().get_fls_handler().get_processor().drain([keys[0][1]])
    DayCloser(config).close(8102, DAY)
    days = admin.get(filtered('/fls/business-days/', retail_point_id=8102))
    assert days.status_int == 200 and '"retail_point_id": "8102"' in days.text
    closes = admin.get(filtered('/fls/day-closes/', retail_point_id=8102))
    assert closes.status_int == 200
    assert any('"retail_point_id": "8102"' in row and 'is-success\\">current</span>' in row
               for row in closes.text.split('{"_index"'))
    assert admin.get('/fls/summaries/').status_int == 200  # (paged: other tests' summaries come first)
    session = app.make_session()
    summary = session.query(app.model.FlsSummary).filter_by(retail_point_id=8102).first()
    page = admin.get(f'/fls/summaries/{summary.uuid}')
    session.close()
    assert page.status_int == 200 and f'{DAY:%Y%m%d}/8102/' in page.text
    assert 'line quantities' in page.text and 'MISMATCH' not in page.text
    assert 'sale_line_ids' in page.text
    assert 'class="fls-json"' in page.text and 'overflow: auto' in page.text  # payload scrolls in its box
    assert f'Summary {summary.sale_num}, version 1' in page.text
    assert re.search(r'₹[\d,]+\.\d\d<', page.text) and not re.search(r'\$\d', page.text)
    from rattail_fls.web.render import format_money
    assert f'>{format_money(summary.amount_total)}<' in page.text  # two decimals, not the stored four
    listing = admin.get(filtered('/fls/summaries/', retail_point_id=8102)).text
    assert 'tag is-' in listing  # statuses as coloured tags
    link = re.search(r'http://localhost(/fls/business-days/8102[^"?]+)"', days.text).group(1)
    assert f'Retail point 8102, {DAY:%a %d %b %Y}' in admin.get(link).text


def test_operations_need_permissions(wsgi_app, users):
    browser = log_in(wsgi_app, users['nobody'])
    for url in ('/fls/inbox/', '/fls/business-days/', '/fls/day-closes/', '/fls/summaries/'):
        assert browser.get(url, expect_errors=True).status_int in (302, 403)


def test_paging_never_repeats_or_skips(admin, config):
    """25 business days of one date: the date alone does not order them; the key does."""
    old = datetime.date(2001, 1, 1)
    with config.appdb_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO fls_business_day (retail_point_id, sale_date, sale_count, line_count) "
                             "SELECT g, :day, 1, 1 FROM generate_series(9001, 9025) g ON CONFLICT DO NOTHING"),
                     {'day': old})
    seen = []
    for page in range(1, 6):
        data = admin.get('/fls/business-days/', {
            'partial': '1', 'sale_date': old.isoformat(), 'sale_date.verb': 'equal',
            'sort1key': 'sale_date', 'sort1dir': 'desc', 'pagesize': '5', 'page': str(page)}).json
        seen.extend(row['retail_point_id'] for row in data['data'])
    assert sorted(seen) == [str(n) for n in range(9001, 9026)]
    assert seen == sorted(seen, reverse=True)  # the tie-breaker follows the first sort's direction


def download(browser, url):
    """Tailbone writes the file in a thread behind a progress page; wait for it, then fetch it."""
    before = set(threading.enumerate())
    assert browser.get(url).status_int == 200
    for thread in set(threading.enumerate()) - before:
        thread.join()
    return browser.get(f'{url}/download')


def test_grids_download_csv_and_xlsx(admin):
    for prefix in ('retail-points', 'shards', 'inbox', 'business-days', 'day-closes', 'summaries'):
        csv = download(admin, f'/fls/{prefix}/csv')
        assert csv.status_int == 200 and csv.body.count(b'\n') >= 1, prefix
        xlsx = download(admin, f'/fls/{prefix}/xlsx')
        assert xlsx.status_int == 200 and xlsx.body[:2] == b'PK', prefix  # a zip: the xlsx format


def test_close_and_reclose_a_day_from_its_page(admin, config, app, shards, wsgi_app, users):
    from conftest import csrf_token
    make_shop(app, shards, 8103, 's01')
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, [{'body': simplejson.dumps(make_order(random.Random(n), 8103, DAY, n),
                                                             use_decimal=True)} for n in (1, 2)], 'sale', 'file')
    config.get_app().get_fls_handler().get_processor().drain([key[1] for key in keys])
    url = f'/fls/business-days/8103|{DAY.isoformat()}'
    page = admin.get(url)
    assert 'Close this day<' in page.text and f'{url}/close'.replace('|', '%7C') in page.text
    confirm = admin.get(f'{url}/close')
    assert 'will be computed from its 2 sales' in confirm.text and 'was closed before' not in confirm.text
    done = admin.post(f'{url}/close', {'_csrf': csrf_token(confirm)}).follow()
    assert 'Closed Retail point 8103' in done.text and 'Close this day again' in done.text
    session = app.make_session()
    close = session.query(app.model.FlsDayClose).filter_by(retail_point_id=8103, sale_date=DAY).one()
    assert close.closes == 1 and close.requested_by == 'web:web_admin'
    session.close()
    again = admin.get(f'{url}/close')
    assert 'was closed before' in again.text  # the re-close warning

    for who in ('nobody', 'shardviewer'):  # no permission / a read-only role
        browser = log_in(wsgi_app, users[who])
        assert browser.get(f'{url}/close', expect_errors=True).status_int in (302, 403)
        assert browser.post(f'{url}/close', {}, expect_errors=True).status_int in (302, 400, 403)
    session = app.make_session()
    assert session.query(app.model.FlsDayClose).filter_by(retail_point_id=8103).one().closes == 1
    session.close()

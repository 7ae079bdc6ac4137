"""Operating the intake from the web: inbox (fix and replay), business days, day closes."""

import datetime
import json
import random

import simplejson

from fls_dev.loopback.shops import make_order
from rattail_fls.sales import inbox
from rattail_fls.summaries.closer import DayCloser

from conftest import csrf_token, log_in, make_shop

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

    listing = admin.get('/fls/inbox/')
    assert listing.status_int == 200 and f'"id": "{inbox_id}"' in listing.text
    page = admin.get(f'/fls/inbox/{inbox_id}')
    assert 'sale_date: must be a date' in page.text and '21/11/2026' in page.text

    form = admin.get(f'/fls/inbox/{inbox_id}/edit')
    bad_json = admin.post(f'/fls/inbox/{inbox_id}/edit', {'_csrf': csrf_token(form), 'body': '{"oops'})
    assert bad_json.status_int == 200 and 'is not valid JSON' in bad_json.text
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
    days = admin.get('/fls/business-days/')
    assert days.status_int == 200 and '"retail_point_id": "8102"' in days.text
    closes = admin.get('/fls/day-closes/')
    assert closes.status_int == 200
    assert any('"retail_point_id": "8102"' in row and '"stale": "current"' in row
               for row in closes.text.split('{"_index"'))
    assert admin.get('/fls/summaries/').status_int == 200  # (paged: other tests' summaries come first)
    session = app.make_session()
    summary = session.query(app.model.FlsSummary).filter_by(retail_point_id=8102).first()
    page = admin.get(f'/fls/summaries/{summary.uuid}')
    session.close()
    assert page.status_int == 200 and f'{DAY:%Y%m%d}/8102/' in page.text
    assert 'line quantities' in page.text and 'MISMATCH' not in page.text
    assert 'sale_line_ids' in page.text


def test_operations_need_permissions(wsgi_app, users):
    browser = log_in(wsgi_app, users['nobody'])
    for url in ('/fls/inbox/', '/fls/business-days/', '/fls/day-closes/', '/fls/summaries/'):
        assert browser.get(url, expect_errors=True).status_int in (302, 403)

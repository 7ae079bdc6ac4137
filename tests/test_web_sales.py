"""Sales from the shards in the web app: browse a shop's range with filters, keyset pages,
and a sale's page with its lines, lots, inbox history, business day and summary."""

import datetime
import re

import pytest

from rattail_fls.web.views.sales import parse_criteria

from conftest import SALES_DAY1 as DAY1, SALES_DAY2 as DAY2, log_in

TODAY = datetime.date(2026, 11, 21)


@pytest.mark.parametrize('params, criteria, errors', [
    ({'retail_point_id': '7'}, {'retail_point_id': 7, 'date_from': datetime.date(2026, 11, 15),
                                'date_to': TODAY}, {}),
    ({}, {}, {'retail_point_id'}),
    ({'retail_point_id': '7', 'date_from': '21/11/2026'}, {}, {'date_from'}),
    ({'retail_point_id': '7', 'date_from': '2026-11-22'}, {}, {'date_to'}),
    ({'retail_point_id': '7', 'date_from': '2020-01-01'}, {}, {'date_to'}),
    ({'retail_point_id': '7', 'counter': 'two', 'total_min': '1e', 'journal': '12'}, {'journal': 12},
     {'counter', 'total_min'}),
    ({'retail_point_id': '7', 'after': 'garbage'}, {}, {'after'}),
    ({'retail_point_id': '7', 'after': '2026-11-20:42', 'sale_num': 'RP7/'},
     {'after': (datetime.date(2026, 11, 20), 42), 'sale_num': 'RP7/'}, {}),
])
def test_parse_criteria(params, criteria, errors):
    parsed, found = parse_criteria(params, TODAY)
    assert set(found) == set(errors), found
    for key, value in criteria.items():
        assert parsed[key] == value


def sale_nums(page):
    return re.findall(r'>(RP8501/\d{8}/\d{5})</a>', page.text)


def query(**params):
    return dict({'retail_point_id': '8501', 'date_from': DAY1.isoformat(), 'date_to': DAY2.isoformat()},
                **params)


def test_browse_a_range_in_keyset_pages(admin, shop_sales):
    first = admin.get('/fls/sales/', query())
    assert first.status_int == 200
    page1 = sale_nums(first)
    assert len(page1) == 50 and page1[0].startswith(f'RP8501/{DAY2:%Y%m%d}/')  # newest first
    older = re.search(r'href="([^"]+)">Older sales<', first.text).group(1).replace('&amp;', '&')
    second = admin.get(older.replace('http://localhost', ''))
    page2 = sale_nums(second)
    assert len(page2) == 10 and 'Older sales' not in second.text and 'Newest' in second.text
    assert sorted(page1 + page2) == sorted(o['sale_num'] for o in shop_sales)


def test_filters(admin, shop_sales):
    one = shop_sales[5]
    assert sale_nums(admin.get('/fls/sales/', query(sale_num=one['sale_num']))) == [one['sale_num']]
    counter = [o['sale_num'] for o in shop_sales if o['sale_counter_id'] == 1]
    assert sorted(sale_nums(admin.get('/fls/sales/', query(counter='1')))) == sorted(counter)[:50]
    journal = [o['sale_num'] for o in shop_sales if o['payment_journal_id'] == 12]
    assert len(sale_nums(admin.get('/fls/sales/', query(journal='12')))) == min(50, len(journal))
    big = [o['sale_num'] for o in shop_sales if o['total_including_miscellaneous'] >= 500]
    assert len(sale_nums(admin.get('/fls/sales/', query(total_min='500')))) == min(50, len(big))
    none = admin.get('/fls/sales/', query(total_min='1000000000'))
    assert 'No sale of retail point 8501' in none.text


def test_bad_criteria_are_named_on_the_form(admin, shop_sales):
    page = admin.get('/fls/sales/', query(date_from='21/11/2026', total_max='lots'))
    assert page.status_int == 200
    assert 'message="‘21/11/2026’ is not a date (YYYY-MM-DD)"' in page.text
    assert 'message="Total at most: ‘lots’ is not a number"' in page.text
    assert 'no shard' in admin.get('/fls/sales/', query(retail_point_id='99999')).text


def test_sale_page(admin, shop_sales):
    order = shop_sales[0]  # DAY1: closed, so it has a summary
    link = re.search(rf'href="([^"]+)">{re.escape(order["sale_num"])}<',
                     admin.get('/fls/sales/', query(sale_num=order['sale_num'])).text).group(1)
    page = admin.get(link.replace('http://localhost', ''))
    assert f'Sale {order["sale_num"]} of retail point 8501' in page.text
    lines = page.text[page.text.index('fls-lines'):page.text.index('fls-lots')]
    assert lines.count('<tr>') == 1 + len(order['sale_line_ids'])  # the header, then one per line
    assert f'/fls/business-days/8501%7C{DAY1.isoformat()}">Business day<' in page.text
    counter, journal = order['sale_counter_id'], order['payment_journal_id']
    assert f'Summary {DAY1:%Y%m%d}/8501/{counter}/{journal} (version 1' in page.text
    history = page.text[page.text.index('fls-history'):]
    assert re.search(r'/fls/inbox/\d+">\d+</a>', history) and 'tag is-success">done<' in history
    bad = admin.get('/fls/sales/8501/2026-13-01/1', expect_errors=True)
    assert bad.status_int == 404


def test_sales_need_their_permissions(wsgi_app, users, shop_sales):
    for who in ('nobody', 'shardviewer'):
        browser = log_in(wsgi_app, users[who])
        for url in ('/fls/sales/', '/fls/sales/8501/2026-11-01/1'):
            assert browser.get(url, expect_errors=True).status_int in (302, 403), (who, url)

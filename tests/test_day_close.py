"""Day close: correct aggregation, reconciliation, stale days, supersede, shop requests."""

import datetime
import json
from decimal import Decimal

import requests
import simplejson
import sqlalchemy as sa

from rattail_fls.sales import inbox
from rattail_fls.sales.processor import SalesProcessor
from rattail_fls.summaries.closer import DayCloser

from conftest import make_shop, rattail, run_workers

DAY = datetime.date.today() - datetime.timedelta(days=3)


def sale(rp, num, lines, lots=(), misc=None, counter=1, journal=11, day=DAY):
    """A sale order; ``lines``: (product_id, qty, price, total_cess)."""
    total = sum(Decimal(q) * Decimal(p) for _, q, p, _ in lines)
    misc_qty, misc_price, misc_lots = misc or (0, 0, [])
    total += Decimal(misc_qty) * Decimal(misc_price)
    return {
        'retail_point_id': rp, 'sale_counter_id': counter, 'payment_journal_id': journal,
        'total_including_miscellaneous': total, 'sale_num': f'DC-{rp}-{num}', 'sale_date': day.isoformat(),
        'confirmed_on': f'{day} 10:{num:02d}:00', 'store_type': 'FLS', 'customer_name': 'Walk-in',
        'total_cess': sum(Decimal(c) for *_, c in lines), 'miscellaneous_product_id': 9001 if misc_qty else 0,
        'miscellaneous_qty': misc_qty, 'miscelleneous_sale_price': misc_price,
        'sale_line_ids': [{'sl_no': i, 'product_id': pid, 'name': f'P{pid}', 'product_uom_qty': qty,
                           'price_unit': price, 'product_uom': 1, 'vat_percent': 18, 'total_cess': cess,
                           'cess_amount': 1, 'cess_id': 7, 'account_id': 400, 'retail_sale_mrp': price,
                           'sale_type': 'retail', 'qty_available': 5}
                          for i, (pid, qty, price, cess) in enumerate(lines, 1)],
        'lot_details_ids': [{'lot_id': lot, 'product_id': pid, 'quantity': q} for lot, pid, q in lots],
        'miscellaneous_lot_details_ids': [{'lot_id': lot, 'product_id': 9001, 'product_name': 'Carry Bag',
                                           'quantity': q} for lot, q in misc_lots],
    }


def store(config, orders):
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, [{'body': simplejson.dumps(o, use_decimal=True)} for o in orders],
                            'sale', 'file')
    counts = SalesProcessor(config).drain([k[1] for k in keys])
    assert counts['done'] + counts['replaced'] == len(orders), counts


def summaries(config, rp, day=DAY):
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM fls_summary WHERE retail_point_id = :r AND sale_date = :d "
                                    "ORDER BY sale_num, version"), {'r': rp, 'd': day}).all()


def test_aggregation_two_prices_lots_misc_cess(config, app, shards):
    make_shop(app, shards, 401, 's02')
    store(config, [
        sale(401, 1, [(5001, 2, '100.00', '4.00'), (5002, 1, '50.00', '1.00')],
             lots=[(11, 5001, 2), (21, 5002, 1)], misc=(1, '5.00', [(91, 1)])),
        sale(401, 2, [(5001, 1, '90.00', '2.00')], lots=[(11, 5001, 1)]),      # same product, other price
        sale(401, 3, [(5001, 3, '100.00', '6.00')], lots=[(12, 5001, 3)], misc=(2, '5.00', [(91, 2)])),
        sale(401, 4, [(5002, 1, '50.00', '1.00')], journal=12),
    ])
    result = DayCloser(config).close(401, DAY)
    assert (result['new'], result['held']) == (2, 0)
    rows = {r.sale_num: r for r in summaries(config, 401)}
    key = f"{DAY:%Y%m%d}/401/1/11"
    assert set(rows) == {key, f"{DAY:%Y%m%d}/401/1/12"}
    main = rows[key]
    payload = json.loads(main.payload)
    assert main.status == 'pending' and main.reconciled and main.version == 1
    assert payload['sale_num'] == payload['name'] == key
    assert Decimal(str(payload['total_including_miscellaneous'])) == Decimal('655.00')
    lines = {(l[2]['product_id'], Decimal(str(l[2]['price_unit']))): l[2] for l in payload['sale_line_ids']}
    assert set(lines) == {(5001, Decimal(100)), (5001, Decimal(90)), (5002, Decimal(50))}
    assert lines[5001, Decimal(100)]['product_uom_qty'] == 5
    assert lines[5001, Decimal(100)]['total_cess'] == 10
    assert lines[5001, Decimal(90)]['product_uom_qty'] == 1
    assert sorted((t[2]['lot_id'], t[2]['quantity']) for t in lines[5001, Decimal(100)]['lot_details_ids']) \
        == [(11, 2), (12, 3)]
    assert [(t[2]['lot_id'], t[2]['quantity']) for t in lines[5001, Decimal(90)]['lot_details_ids']] == [(11, 1)]
    assert payload['miscellaneous_qty'] == 3 and payload['miscelleneous_sale_price'] == 5
    assert [(t[2]['lot_id'], t[2]['quantity']) for t in payload['miscellaneous_lot_details_ids']] == [(91, 3)]
    assert payload['amount_total'] == 640 and payload['total_cess'] == 13
    assert main.sale_count == 3 and main.line_count == 3
    assert all(check['ok'] for check in json.loads(main.reconciliation))

    again = DayCloser(config).close(401, DAY)
    assert (again['new'], again['unchanged']) == (0, 2)


def test_late_sale_makes_day_stale_and_supersedes(config, app, shards):
    make_shop(app, shards, 402, 's01')
    store(config, [sale(402, 1, [(5001, 1, '100.00', '2.00')])])
    closer = DayCloser(config)
    closer.close(402, DAY)
    assert (402, DAY) not in closer.due_days(DAY, [402])
    store(config, [sale(402, 2, [(5001, 2, '100.00', '4.00')])])  # arrives after the close
    assert closer.due_days(DAY, [402]) == [(402, DAY)]
    results = closer.close_due(DAY, [402])
    assert results[0]['superseded'] == 1 and results[0]['new'] == 1
    rows = summaries(config, 402)
    assert [(r.version, r.status) for r in rows] == [(1, 'superseded'), (2, 'pending')]
    assert rows[1].sale_count == 2
    assert closer.due_days(DAY, [402]) == []


def test_reconciliation_mismatch_is_held(config, app, shards):
    make_shop(app, shards, 403, 's01')
    # a lot for a product the sale has no line for cannot be placed on any summary line
    store(config, [sale(403, 1, [(5001, 1, '100.00', '2.00')], lots=[(11, 5001, 1), (77, 5999, 4)])])
    result = DayCloser(config).close(403, DAY)
    assert result['held'] == 1
    row = summaries(config, 403)[0]
    assert row.status == 'held' and not row.reconciled
    assert 'lot quantities' in row.hold_reason
    failed = [c for c in json.loads(row.reconciliation) if not c['ok']]
    assert failed == [{'check': 'lot quantities', 'summary': '1', 'sales': '5.0000', 'ok': False}]


def test_shop_requests_day_close_over_http(config, app, shards, intake_url):
    token = make_shop(app, shards, 404, 's02')
    store(config, [sale(404, 1, [(5002, 2, '50.00', '1.00')])])
    headers = {'Authorization': f'Token {token}'}
    answer = requests.post(intake_url + '/sales/enqueue_day_close/', headers=headers, timeout=10,
                           data={'retail_point_id': '404', 'close_date': DAY.isoformat(),
                                 'url': 'http://evil.example/api'})
    assert answer.status_code == 202, answer.text
    data = answer.json()
    assert data['status'] == 'queued' and data['date'] == DAY.isoformat() and data['retail_point_id'] == 404
    run_workers(config, ['day_close'])
    assert [r.status for r in summaries(config, 404)] == ['pending']
    other = requests.post(intake_url + '/sales/enqueue_day_close/', headers=headers, timeout=10,
                          data={'retail_point_id': '401'})
    assert other.status_code == 403
    bad = requests.post(intake_url + '/sales/enqueue_day_close/', headers=headers, timeout=10,
                        data={'retail_point_id': '404', 'close_date': '22/11/2026'})
    assert bad.status_code == 422 and bad.json()['errors'][0]['field'] == 'close_date'


def test_cli_day_close(databases, config, app, shards):
    make_shop(app, shards, 405, 's01')
    store(config, [sale(405, 1, [(5001, 1, '100.00', '2.00')])])
    out = rattail(databases['config_path'], 'fls-day-close', '--date', DAY.isoformat(),
                  '--retail-point', '405').stdout
    assert 'closed 1 days; 1 new summaries' in out
    missing = rattail(databases['config_path'], 'fls-day-close', check=False)
    assert missing.returncode == 1 and '--retail-point' in missing.stderr

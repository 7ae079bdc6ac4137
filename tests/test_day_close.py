"""Day close: correct aggregation, reconciliation, stale days, supersede, shop requests, and the
same bytes whatever the rows' physical order (compressed chunks, rewritten partitions)."""

import datetime
import json
from decimal import Decimal

import requests
import simplejson
import sqlalchemy as sa

from rattail_fls.db import storage as st
from rattail_fls.sales import inbox
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
    counts = config.get_app().get_fls_handler().get_processor().drain([k[1] for k in keys])
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
    with config.appdb_engine.connect() as conn:  # the refused request is kept under the id given
        kept = conn.execute(sa.text("SELECT kind, status, errors FROM fls_inbox WHERE id = :id"),
                            {'id': bad.json()['inbox_id']}).one()
    assert (kept.kind, kept.status) == ('day_close', 'rejected') and 'close_date' in kept.errors


def test_cli_day_close(databases, config, app, shards):
    make_shop(app, shards, 405, 's01')
    store(config, [sale(405, 1, [(5001, 1, '100.00', '2.00')])])
    out = rattail(databases['config_path'], 'fls-day-close', '--date', DAY.isoformat(),
                  '--retail-point', '405').stdout
    assert 'closed 1 days; 1 new summaries' in out
    missing = rattail(databases['config_path'], 'fls-day-close', check=False)
    assert missing.returncode == 1 and '--retail-point' in missing.stderr


# -- physical order and compressed days --------------------------------------------------------

def rewrite_days(shards, shard, days, storage):
    """Store the days' rows otherwise: TimescaleDB compresses their chunks (as its policy or
    ``fls-shards compress`` would); on partitions they are deleted and inserted again in
    reverse key order, so a scan meets them in another order."""
    with shards.begin(shard) as conn:
        for table in st.SHARD_TABLES:
            if storage == st.TIMESCALEDB:
                for chunk in conn.execute(sa.text(
                        "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
                        "WHERE hypertable_schema = current_schema() AND hypertable_name = :t "
                        "AND (range_start AT TIME ZONE 'UTC')::date = ANY(:days)"),
                        {'t': table, 'days': days}).scalars().all():
                    st.compress_chunk(conn, chunk)
                continue
            key = ', '.join(f'{c} DESC' for c in conn.execute(sa.text(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(:t) AND i.indisprimary"),
                {'t': table}).scalars())
            conn.execute(sa.text(f"CREATE TEMP TABLE rewritten ON COMMIT DROP AS SELECT * FROM {table} "
                                 "WHERE sale_date = ANY(:days)"), {'days': days})
            conn.execute(sa.text(f"DELETE FROM {table} WHERE sale_date = ANY(:days)"), {'days': days})
            conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM rewritten ORDER BY {key}"))
            conn.execute(sa.text("DROP TABLE rewritten"))


def chunks_compressed(shards, shard, days):
    with shards.begin(shard) as conn:
        return conn.execute(sa.text(
            "SELECT bool_and(is_compressed) FROM timescaledb_information.chunks "
            "WHERE hypertable_schema = current_schema() AND (range_start AT TIME ZONE 'UTC')::date = ANY(:days)"),
            {'days': days}).scalar()


def live_payloads(config, rp, day):
    return {r.sale_num: r.payload for r in summaries(config, rp, day) if r.status != 'superseded'}


def test_reclose_after_physical_rewrite_is_byte_identical(config, app, shards, storage):
    """Two lines of one sale in one summary line (same product and price): qty_available is that
    of the last line of the latest sale, and every list is ordered, so a day whose rows were
    rewritten in another order closes to the very same bytes: no new version, nothing to push."""
    make_shop(app, shards, 406, 's01')
    first = sale(406, 1, [(5001, 1, '10.00', '0'), (5001, 2, '10.00', '0'), (5002, 1, '7.00', '0')],
                 lots=[(13, 5001, 1), (12, 5001, 2), (14, 5002, 1)], misc=(2, '3.00', [(92, 1), (91, 1)]))
    first['sale_line_ids'][0]['qty_available'] = 9
    first['sale_line_ids'][1]['qty_available'] = 4
    first['miscellaneous_invoice_num'] = 'INV-B'
    second = sale(406, 2, [(5003, 1, '5.00', '0'), (5002, 2, '7.00', '0')], counter=2,
                  misc=(1, '3.00', [(91, 1)]))
    third = sale(406, 3, [(5002, 1, '7.00', '0')], misc=(1, '3.00', [(93, 1)]))
    third['miscellaneous_invoice_num'] = 'INV-A'
    third['confirmed_on'] = first['confirmed_on']  # a tie on confirmed_on: sale_id decides
    store(config, [first, second, third])
    closer = DayCloser(config)
    assert closer.close(406, DAY)['new'] == 2
    before = live_payloads(config, 406, DAY)
    payload = json.loads(before[f"{DAY:%Y%m%d}/406/1/11"])
    line = next(l[2] for l in payload['sale_line_ids'] if l[2]['product_id'] == 5001)
    assert (line['product_uom_qty'], line['qty_available']) == (3, 4)
    assert [t[2]['lot_id'] for t in line['lot_details_ids']] == [12, 13]
    assert [t[2]['lot_id'] for t in payload['miscellaneous_lot_details_ids']] == [91, 92, 93]
    assert payload['miscellaneous_invoice_num'] == 'INV-A,INV-B'
    assert [l[2]['product_id'] for l in payload['sale_line_ids']] == [5001, 5002]

    rewrite_days(shards, 's01', [DAY], storage)
    if storage == st.TIMESCALEDB:
        assert chunks_compressed(shards, 's01', [DAY])
    again = closer.close(406, DAY)
    assert (again['new'], again['superseded'], again['unchanged']) == (0, 0, 2)
    assert live_payloads(config, 406, DAY) == before


def test_changes_on_compressed_days(config, app, shards, storage):
    """With the days' chunks compressed (or their rows rewritten), a sale is replaced by one with
    fewer lines and lots (the old ones are deleted), another moves to the next day, and the days
    are closed: the changed days get new versions with the right figures, the unchanged day
    closes to the same bytes, and compressing the written chunks again changes no summary."""
    days = [DAY - datetime.timedelta(days=n) for n in (12, 11, 10)]
    first, second, third = days
    make_shop(app, shards, 407, 's02')
    replaced = sale(407, 1, [(5001, 2, '10.00', '1.00'), (5002, 1, '5.00', '0')],
                    lots=[(11, 5001, 2), (21, 5002, 1)], day=first)
    moved = sale(407, 2, [(5001, 1, '10.00', '0')], day=first)
    stays = sale(407, 3, [(5002, 4, '5.00', '0')], day=second)
    untouched = sale(407, 4, [(5003, 1, '8.00', '0')], day=third)
    store(config, [replaced, moved, stays, untouched])
    closer = DayCloser(config)
    for day in days:
        assert closer.close(407, day)['new'] == 1
    before = {day: live_payloads(config, 407, day) for day in days}

    rewrite_days(shards, 's02', days, storage)
    if storage == st.TIMESCALEDB:
        assert chunks_compressed(shards, 's02', days)
    store(config, [sale(407, 1, [(5001, 3, '10.00', '1.50')], lots=[(12, 5001, 3)], day=first),
                   dict(moved, sale_date=second.isoformat())])
    with shards.begin('s02') as conn:
        rows = conn.execute(sa.text(
            "SELECT i.sale_num, i.sale_date, i.revision, "
            "(SELECT array_agg(s.sale_date) FROM sale s WHERE s.sale_id = i.sale_id), "
            "(SELECT array_agg(l.product_uom_qty ORDER BY l.line_no) FROM sale_line l WHERE l.sale_id = i.sale_id), "
            "(SELECT array_agg(t.lot_id ORDER BY t.lot_no) FROM sale_lot t WHERE t.sale_id = i.sale_id) "
            "FROM sale_ident i WHERE i.retail_point_id = 407 ORDER BY i.sale_num")).all()
    assert [tuple(r) for r in rows] == [
        ('DC-407-1', first, 2, [first], [3], [12]),
        ('DC-407-2', second, 2, [second], [1], None),
        ('DC-407-3', second, 1, [second], [4], None),
        ('DC-407-4', third, 1, [third], [1], None)]

    results = {day: closer.close(407, day) for day in days}
    assert [(r['new'], r['superseded']) for r in results.values()] == [(1, 1), (1, 1), (0, 0)]
    assert live_payloads(config, 407, third) == before[third]
    after_first = json.loads(next(iter(live_payloads(config, 407, first).values())))
    assert after_first['total_including_miscellaneous'] == 30 and after_first['total_cess'] == 1.5
    assert [(l[2]['product_id'], l[2]['product_uom_qty'], [t[2]['lot_id'] for t in l[2]['lot_details_ids']])
            for l in after_first['sale_line_ids']] == [(5001, 3, [12])]
    after_second = json.loads(next(iter(live_payloads(config, 407, second).values())))
    assert after_second['total_including_miscellaneous'] == 30
    assert sorted(l[2]['product_id'] for l in after_second['sale_line_ids']) == [5001, 5002]
    closed = {day: live_payloads(config, 407, day) for day in days}

    if storage == st.TIMESCALEDB:  # the written chunks are compressed again (as the policy would)
        session = app.make_session()
        try:
            assert shards.compress(session, older_than_days=1, names=['s02'])['s02']
        finally:
            session.close()
        assert chunks_compressed(shards, 's02', days)
    else:
        rewrite_days(shards, 's02', days, storage)
    for day in days:
        assert closer.close(407, day)['new'] == 0
    assert {day: live_payloads(config, 407, day) for day in days} == closed

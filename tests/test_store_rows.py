"""The sale as the door renders it for COPY (``fls_inbox.sale_rows``), and the rows stored before it.

The workers store three kinds of pending rows: the door's rendered rows (no parsing
in the worker), the JSON ``sale`` of rows stored before them, and the bare body of rows
older still (validated in the worker).  All three give the same shard rows, and a
rendered text that does not add up is rejected alone.
"""

import datetime
import json
import random
from collections import defaultdict

import sqlalchemy as sa

from fls_dev.loopback.shops import make_order
from rattail_fls import jsontext
from rattail_fls.sales import inbox, store
from rattail_fls.sales.store import TABLES

from conftest import make_shop

DAY = datetime.date.today() - datetime.timedelta(days=2)
FORMATS = {'sale_rows': 9601, 'json': 9602, 'body': 9603}  # -> the shop storing that kind of row (ids no other test uses)


def order_for(rp):
    order = make_order(random.Random(7), rp, DAY, 1)
    order['name'] = 'Sale 1'  # not the shop's sale_num
    # values COPY text must escape
    order['customer_name'] = 'Tab\there, back\\slash, "quoted", ünïcødé'
    order['sale_line_ids'][0]['name'] = 'line\\n not a newline'
    return order


def accept(conn, intake, kind, order):
    """One pending row of ``kind`` for ``order``, stored as that kind of row is."""
    sale, errors = intake.check_sale(order)
    assert errors is None, errors
    item = intake.inbox_item(order, sale, None)
    (received_on, inbox_id), = inbox.accept(conn, [item], 'sale', 'file')
    if kind != 'sale_rows':
        conn.execute(sa.text("UPDATE fls_inbox SET sale = :sale, sale_rows = NULL WHERE received_on = :d AND id = :i"),
                     {'sale': jsontext.dumps(sale) if kind == 'json' else None, 'd': received_on, 'i': inbox_id})
    return inbox_id


def shard_rows(shards, rp):
    """The shop's rows in the four tables, without what differs between shops or runs."""
    skip = {'sale_id', 'inbox_id', 'stored_at', 'retail_point_id', 'retail_point_name', 'local_retail_point_db_id',
            'sale_num'}
    with shards.begin('s01') as conn:
        found = {}
        for table in TABLES:
            rows = conn.execute(sa.text(f"SELECT * FROM {table} WHERE retail_point_id = :rp"), {'rp': rp}).mappings()
            found[table] = sorted(tuple(sorted((k, v) for k, v in r.items() if k not in skip)) for r in rows)
    return found


def test_the_three_kinds_of_rows_store_the_same(config, app, shards):
    for rp in FORMATS.values():
        make_shop(app, shards, rp, 's01')
    intake = config.get_app().get_fls_handler().get_intake()
    with config.appdb_engine.begin() as conn:
        ids = [accept(conn, intake, kind, order_for(rp)) for kind, rp in FORMATS.items()]
        stored_rows = conn.execute(sa.text("SELECT sale_rows FROM fls_inbox WHERE id = :i"), {'i': ids[0]}).scalar()
    assert stored_rows.split('\n')[0].count('\t') == 3  # content hash, then the counts

    counts = config.get_app().get_fls_handler().get_processor().drain(ids, only=True)

    assert counts == {'done': 3}, counts
    by_kind = {kind: shard_rows(shards, rp) for kind, rp in FORMATS.items()}
    assert by_kind['sale_rows'] == by_kind['json'] == by_kind['body']
    sale = dict(by_kind['sale_rows']['sale'][0])
    assert sale['customer_name'] == 'Tab\there, back\\slash, "quoted", ünïcødé'
    assert [dict(r)['name'] for r in by_kind['sale_rows']['sale_line'] if dict(r)['line_no'] == 0] == \
        ['line\\n not a newline']
    assert len(by_kind['sale_rows']['sale_line']) == len(order_for(9601)['sale_line_ids'])


def test_rendered_rows_that_do_not_add_up_are_rejected_alone(config, app, shards):
    make_shop(app, shards, 9604, 's01')
    intake = config.get_app().get_fls_handler().get_intake()
    orders = [make_order(random.Random(n), 9604, DAY, n) for n in range(5)]
    items = [intake.inbox_item(o, *intake.check_sale(o)) for o in orders]
    rows = items[2]['sale_rows'].split('\n')
    items[2]['sale_rows'] = '\n'.join(rows[:-1])  # a row lost: the counts no longer add up
    with config.appdb_engine.begin() as conn:
        ids = [key[1] for key in inbox.accept(conn, items, 'sale', 'file')]

    counts = config.get_app().get_fls_handler().get_processor().drain(ids, only=True)

    assert counts == {'done': 4, 'rejected': 1}, counts
    with config.appdb_engine.connect() as conn:
        status, errors = conn.execute(sa.text("SELECT status, errors FROM fls_inbox WHERE id = :i"),
                                      {'i': ids[2]}).one()
    assert status == 'rejected' and 'expected 1 +' in json.loads(errors)[0]['reason']
    with shards.begin('s01') as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sale WHERE retail_point_id = 9604")).scalar() == 4


def test_rendering_is_the_copy_of_the_normalised_sale(config):
    """Same sale, same bytes: the door's text is what a row stored as JSON renders to, and the
    workers' COPY gets it with the keys added."""
    intake = config.get_app().get_fls_handler().get_intake()
    sale, _ = intake.check_sale(order_for(9605))
    text = store.sale_rows(sale)
    assert text == store.sale_rows(jsontext.loads(jsontext.dumps(sale)))
    sales, lines, lots, _ = store.render_sales([(41, 42, sale)], defaultdict(lambda: [0, 0]))
    assert sales == f"{sale['sale_date'].isoformat()}\t41\t9605\t42\t{text.split(chr(10))[1]}\n"
    assert lines.count('\n') == len(sale['lines']) and lots.count('\n') == len(sale['lots'])
    # sales loaded without an inbox row (the benches' history, a restore) have a NULL inbox_id
    unsourced, *_ = store.render_sales([(41, None, sale)], defaultdict(lambda: [0, 0]))
    assert unsourced == f"{sale['sale_date'].isoformat()}\t41\t9605\t\\N\t{text.split(chr(10))[1]}\n"

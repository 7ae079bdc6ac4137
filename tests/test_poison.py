"""One bad row harms only itself: row faults are isolated and rejected with the reason while the
rest of the batch is stored in the same drain; shard faults leave rows pending with a reason and a
backoff, then dead-letter them, and dead rows can be replayed."""

import datetime
import json
import random

import sqlalchemy as sa
from rattail_fls import jsontext
from rattail_fls.sales import inbox

from fls_dev.loopback.shops import generate_orders, make_order

from conftest import another_config, make_shop, write_test_config

DAY = datetime.date.today() - datetime.timedelta(days=3)
SHOPS = {'s01': (951, 952), 's02': (953, 954)}


def pending_item(intake, order, corrupt=None):
    """An inbox row as the door would write it; ``corrupt(sale)`` then breaks the normalised sale
    the way a contract that disagreed with the columns would have let through (kept as JSON, as
    rows stored before ``sale_rows`` are: rendered by the worker)."""
    sale, errors = intake.check_sale(order)
    assert errors is None, errors
    item = intake.inbox_item(order, sale, None)
    if corrupt:
        corrupt(sale)
        item['legacy_sale'] = jsontext.dumps(sale)
    return item


def accept(conn, items):
    """Store ``items`` as pending rows; the corrupted ones as rows stored before ``sale_rows``."""
    keys = inbox.accept(conn, items, 'sale', 'file')
    legacy = [(key, item['legacy_sale']) for key, item in zip(keys, items) if 'legacy_sale' in item]
    if legacy:
        conn.execute(sa.text("""
            UPDATE fls_inbox i SET sale = u.sale, sale_rows = NULL
            FROM unnest(CAST(:day AS date[]), CAST(:id AS bigint[]), CAST(:sale AS text[])) AS u(day, id, sale)
            WHERE i.received_on = u.day AND i.id = u.id"""), {
            'day': [k[0] for k, _ in legacy], 'id': [k[1] for k, _ in legacy], 'sale': [s for _, s in legacy]})
    return keys


def set_line(field, value):
    def corrupt(sale):
        sale['lines'][0][field] = value
    return corrupt


def drop(key):
    def corrupt(sale):
        del sale[key]
    return corrupt


POISON = {  # kind -> (shard, corruption, words the reason must hold)
    'numeric overflow': ('s01', set_line('vat_percent', '123456.0000'), 'numeric field overflow'),
    'NUL in text': ('s02', set_line('name', 'bad\x00name'), '0x00'),
    'integer out of range': ('s01', set_line('product_id', 2 ** 40), 'out of range'),
    # random text: a repeated letter would compress into the index
    'index row too large': ('s02', lambda s: s.update(sale_num=''.join(random.Random(5).choices(
        'abcdefghijklmnopqrstuvwxyz0123456789', k=9000))), 'index row'),
    'not null': ('s01', set_line('price_unit', None), 'null value'),
    'python error': ('s02', drop('lines'), "KeyError"),
}


def test_poison_rows_are_isolated_and_the_rest_stored_in_one_drain(config, app, shards):
    for shard, points in SHOPS.items():
        for rp in points:
            make_shop(app, shards, rp, shard)
    intake = config.get_app().get_fls_handler().get_intake()
    orders = generate_orders([rp for points in SHOPS.values() for rp in points], [DAY], 125, seed=11)
    assert len(orders) == 500
    bad_orders = {kind: make_order(random.Random(i), SHOPS[shard][i % 2], DAY, 9000 + i)
                  for i, (kind, (shard, _, _)) in enumerate(POISON.items())}
    items = [pending_item(intake, o) for o in orders[:250]]
    items += [pending_item(intake, bad_orders[kind], corrupt) for kind, (_, corrupt, _) in POISON.items()]
    items += [pending_item(intake, o) for o in orders[250:]]
    with config.appdb_engine.begin() as conn:
        keys = accept(conn, items)
    ids = [key[1] for key in keys]
    processor = config.get_app().get_fls_handler().get_processor()
    processor.batch_size = len(ids)

    counts = processor.drain(ids, only=True)

    assert counts == {'done': 500, 'rejected': len(POISON)}, counts
    with config.appdb_engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.text("SELECT id, status, errors, attempts FROM fls_inbox "
                                                      "WHERE id = ANY(:ids)"), {'ids': ids})}
    for kind, key in zip(POISON, keys[250:250 + len(POISON)]):
        row = rows[key[1]]
        assert row.status == 'rejected', (kind, row.status)
        reason = json.loads(row.errors)[0]['reason']
        assert POISON[kind][2].lower() in reason.lower(), (kind, reason)
        assert row.attempts == 1
    for shard, points in SHOPS.items():
        with shards.begin(shard) as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM sale WHERE retail_point_id = ANY(:p)"),
                                  {'p': list(points)}).scalar()
            lines = conn.execute(sa.text("SELECT count(*) FROM sale_line WHERE retail_point_id = ANY(:p)"),
                                 {'p': list(points)}).scalar()
        expected = [o for o in orders if o['retail_point_id'] in points]
        assert stored == len(expected) and lines == sum(len(o['sale_line_ids']) for o in expected)
    with config.appdb_engine.connect() as conn:
        counted = conn.execute(sa.text("SELECT sum(sale_count) FROM fls_business_day WHERE retail_point_id "
                                       "= ANY(:p)"), {'p': [rp for p in SHOPS.values() for rp in p]}).scalar()
    assert counted == 500
    print(f"poison rows: {len(POISON)} rejected with their reasons, 500 good sales stored in one drain")


def test_shard_fault_leaves_rows_pending_then_dead_then_replayable(config, databases, app, shards, tmp_path):
    """A shard whose server is gone: the rows wait with the reason and a backoff; past
    intake.max_attempts they are dead-lettered; once the shard is back, a replay stores them."""
    make_shop(app, shards, 961, "s02")
    make_shop(app, shards, 951, "s01")
    broken = write_test_config(tmp_path / 'broken.conf', databases['main_url'],
                               'postgresql://postgres@127.0.0.1:1/nowhere',
                               {('rattail_fls', 'intake.max_attempts'): '2',
                                ('rattail_fls', 'intake.retry_base_seconds'): '0'})
    broken_config = another_config(broken)
    intake = broken_config.get_app().get_fls_handler().get_intake()
    orders = [make_order(random.Random(n), 961, DAY, n) for n in range(5)]
    good_elsewhere = make_order(random.Random(99), 951, DAY, 999)  # not one of the first test's sales
    with broken_config.appdb_engine.begin() as conn:
        keys = accept(conn, [pending_item(intake, o) for o in orders + [good_elsewhere]])
    ids = [k[1] for k in keys]
    processor = broken_config.get_app().get_fls_handler().get_processor()

    first = processor.process(ids, only=True)
    assert first == {'pending': 5, 'done': 1}, first   # the other shard's sale is not held back
    with broken_config.appdb_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, errors, next_attempt_at, attempts FROM fls_inbox "
                                    "WHERE id = ANY(:ids) AND retail_point_id = 961"), {'ids': ids}).all()
    assert all(r.status == 'pending' and r.next_attempt_at is not None and r.attempts == 1 for r in rows)
    assert all('shard s02 unavailable' in json.loads(r.errors)[0]['reason'] for r in rows)

    second = processor.process(ids, only=True)
    assert second == {'dead': 5}, second
    with broken_config.appdb_engine.connect() as conn:
        statuses = conn.execute(sa.text("SELECT DISTINCT status FROM fls_inbox WHERE id = ANY(:ids) "
                                        "AND retail_point_id = 961"), {'ids': ids}).scalars().all()
    assert statuses == ['dead']

    done = config.get_app().get_fls_handler().get_intake().replay(ids=ids[:5], statuses=['dead'])
    assert len(done['pending']) == 5
    assert config.get_app().get_fls_handler().get_processor().drain(ids[:5], only=True) == {'done': 5}

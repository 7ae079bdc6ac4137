"""Sales intake end to end: HTTP API, inbox, Redis/RQ workers, shards."""

import datetime
import json
import random
import threading
import time

import pytest
import requests
import simplejson
import sqlalchemy as sa

from fls_dev.loopback.shops import make_order
from rattail_fls.sales import inbox

from conftest import make_shop, run_workers

TODAY = datetime.date.today()
DAY = TODAY - datetime.timedelta(days=2)


def body(value):
    return simplejson.dumps(value, use_decimal=True)


def order(rp, number, day=DAY, **changes):
    result = make_order(random.Random(number), rp, day, number)
    result.update(changes)
    return result


@pytest.fixture(scope='module')
def shops(app, shards, redis_conn, intake_url):
    redis_conn.flushdb()
    return {'a': make_shop(app, shards, 301, 's01'), 'b': make_shop(app, shards, 302, 's02')}


def post(url, token, data, path='/sales/enqueue_sales/', **kw):
    headers = {'Content-Type': 'application/json'}
    if token:
        headers['Authorization'] = f'Token {token}'
    return requests.post(url + path, data=data, headers=headers, timeout=10, **kw)


def inbox_row(config, inbox_id):
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM fls_inbox WHERE id = :i"), {'i': inbox_id}).first()


def stored(shards, shard, rp, sale_num):
    with shards.begin(shard) as conn:
        sale = conn.execute(sa.text("SELECT * FROM sale WHERE retail_point_id = :r AND sale_num = :n"),
                            {'r': rp, 'n': sale_num}).all()
        lines = conn.execute(sa.text("SELECT count(*) FROM sale_line l JOIN sale s USING (sale_date, sale_id) "
                                     "WHERE s.retail_point_id = :r AND s.sale_num = :n"),
                             {'r': rp, 'n': sale_num}).scalar()
    return sale, lines


def test_compat_endpoint_double_encoded_body(config, shards, shops, intake_url):
    sale = order(301, 1)
    answer = post(intake_url, shops['a'], json.dumps(body(sale)))  # a JSON string holding the order
    assert answer.status_code == 202, answer.text
    data = answer.json()
    assert data['status'] == 'queued' and data['job_id'] and data['inbox_id']
    assert inbox_row(config, data['inbox_id']).status == 'pending'  # committed before the answer
    run_workers(config)
    assert inbox_row(config, data['inbox_id']).status == 'done'
    rows, lines = stored(shards, 's01', 301, sale['sale_num'])
    assert len(rows) == 1 and lines == len(sale['sale_line_ids'])
    assert str(rows[0].sale_date) == sale['sale_date']
    assert rows[0].total_including_miscellaneous == sale['total_including_miscellaneous']


def test_requests_while_a_drain_job_waits_join_it(config, shards, shops, intake_url, redis_conn):
    """One Redis call per request: while a drain job waits, later requests answer its id and
    queue nothing; its run stores all of them."""
    from rattail_fls.queue.enqueue import get_queue
    run_workers(config)
    queue = get_queue(config, 'sales_processing')
    sales = [order(301, 60 + n) for n in range(3)]
    answers = [post(intake_url, shops['a'], body(sale)).json() for sale in sales]
    assert len({a['job_id'] for a in answers}) == 1 and answers[0]['job_id']
    assert queue.job_ids == [answers[0]['job_id']]
    run_workers(config)
    assert [inbox_row(config, a['inbox_id']).status for a in answers] == ['done'] * 3


def waiting_on_a_lock(engine, table):
    """Wait until some session waits for a lock on ``table`` of ``engine``'s database (fails after 60 s)."""
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while not conn.execute(sa.text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE NOT l.granted AND c.relname = :t"), {'t': table}).scalar():
            assert time.monotonic() < deadline, f"no session came to wait on {table}"
            time.sleep(0.01)


def test_requests_while_a_drain_job_runs_join_it(config, shards, shops, intake_url, redis_conn):
    """The drain job keeps the wake flag while it works: a sale accepted meanwhile queues no job
    of its own and is stored by the running job before it ends; after it, a request queues a new one."""
    from rattail_fls.queue.enqueue import get_queue
    run_workers(config)
    queue = get_queue(config, 'sales_processing')
    first, second, third = (order(301, n) for n in (80, 81, 82))
    job_id = post(intake_url, shops['a'], body(first)).json()['job_id']
    seen = {}
    blocker = config.appdb_engine.connect()
    held = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE fls_business_day IN EXCLUSIVE MODE"))  # the job's batch waits

    def meanwhile():
        try:
            waiting_on_a_lock(config.appdb_engine, 'fls_business_day')
            seen['answer'] = post(intake_url, shops['a'], body(second)).json()
            seen['queued'] = list(queue.job_ids)
        finally:
            held.rollback()
            blocker.close()

    thread = threading.Thread(target=meanwhile)
    thread.start()
    run_workers(config)
    thread.join()
    assert seen['answer']['job_id'] == job_id and seen['queued'] == []
    assert inbox_row(config, seen['answer']['inbox_id']).status == 'done'
    assert len(stored(shards, 's01', 301, first['sale_num'])[0]) == 1
    later = post(intake_url, shops['a'], body(third)).json()
    assert later['job_id'] != job_id and queue.job_ids == [later['job_id']]
    run_workers(config)
    assert inbox_row(config, later['inbox_id']).status == 'done'


def test_a_drain_job_gives_the_flag_up_after_a_full_batch(app, config, shards, shops, intake_url, redis_conn):
    """A full batch means a backlog: the running job clears the wake flag, so the next request
    queues a second job (for another worker) instead of joining it."""
    from rattail_fls.queue.enqueue import get_queue
    run_workers(config)
    queue = get_queue(config, 'sales_processing')
    processor = app.get_fls_handler().get_processor()
    first, second, third = order(301, 90), order(302, 91), order(301, 92)
    job_id = post(intake_url, shops['a'], body(first)).json()['job_id']
    assert post(intake_url, shops['b'], body(second)).json()['job_id'] == job_id
    seen = {}
    blocker = shards.engine(shards.specs['s02'].engine_key).connect()
    held = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE fls_s02.sale_ident IN EXCLUSIVE MODE"))  # the second batch waits

    def meanwhile():
        try:
            waiting_on_a_lock(blocker.engine, 'sale_ident')  # the first batch (full) is stored
            seen['answer'] = post(intake_url, shops['a'], body(third)).json()
            seen['queued'] = list(queue.job_ids)
        finally:
            held.rollback()
            blocker.close()

    batch_size, processor.batch_size = processor.batch_size, 1
    try:
        thread = threading.Thread(target=meanwhile)
        thread.start()
        run_workers(config)
        thread.join()
    finally:
        processor.batch_size = batch_size
    assert seen['answer']['job_id'] != job_id and seen['queued'] == [seen['answer']['job_id']]
    assert len(stored(shards, 's02', 302, second['sale_num'])[0]) == 1
    assert inbox_row(config, seen['answer']['inbox_id']).status == 'done'


def test_compat_endpoint_plain_object_and_second_shard(config, shards, shops, intake_url):
    sale = order(302, 2)
    answer = post(intake_url, shops['b'], body(sale))
    assert answer.status_code == 202
    run_workers(config)
    rows, _ = stored(shards, 's02', 302, sale['sale_num'])
    assert len(rows) == 1


def test_inbox_keeps_each_order_as_sent(config, shards, shops, intake_url):
    """The inbox body of each order is its text as the shop sent it (spacing, key order, 10.50
    and all), not our re-encoding; a double-encoded order's is the text inside the string."""
    first, second, third = order(301, 70), order(301, 71), order(301, 72)
    second['sale_line_ids'][0]['price_unit'] = 'twelve'  # rejected, kept as sent too
    texts = [simplejson.dumps(first, use_decimal=True, indent=2),
             simplejson.dumps(dict(reversed(list(second.items()))), use_decimal=True)]
    answer = post(intake_url, shops['a'], f"[ {texts[0]} ,\n{texts[1]}\n]", path='/api/fls/sales').json()
    assert [r['status'] for r in answer['results']] == ['accepted', 'rejected']
    assert [inbox_row(config, r['inbox_id']).body for r in answer['results']] == texts
    inner = simplejson.dumps(third, use_decimal=True, separators=(', ', ' : '))
    single = post(intake_url, shops['a'], json.dumps(inner)).json()
    assert inbox_row(config, single['inbox_id']).body == inner
    run_workers(config)
    assert inbox_row(config, answer['results'][0]['inbox_id']).status == 'done'
    assert len(stored(shards, 's01', 301, first['sale_num'])[0]) == 1
    assert len(stored(shards, 's01', 301, third['sale_num'])[0]) == 1


def test_native_batch_answers_per_sale(config, shards, shops, intake_url):
    good, bad = order(301, 10), order(301, 11)
    bad['sale_line_ids'][0]['price_unit'] = 'twelve'
    del bad['sale_date']
    answer = post(intake_url, shops['a'], body([good, bad, good]), path='/api/fls/sales')
    assert answer.status_code == 200
    data = answer.json()
    assert [r['status'] for r in data['results']] == ['accepted', 'rejected', 'accepted']
    assert {'field': 'sale_date', 'reason': 'is required'} in data['results'][1]['errors']
    assert {'field': 'sale_line_ids[0].price_unit', 'reason': 'must be a number'} in data['results'][1]['errors']
    assert inbox_row(config, data['results'][1]['inbox_id']).status == 'rejected'  # kept
    run_workers(config)
    statuses = sorted(inbox_row(config, r['inbox_id']).status for r in data['results'])
    assert statuses == ['done', 'duplicate', 'rejected']
    assert len(stored(shards, 's01', 301, good['sale_num'])[0]) == 1
    again = post(intake_url, shops['a'], body([good]), path='/api/fls/sales').json()
    assert again['duplicate'] == 1 and again['results'][0]['status'] == 'duplicate'


def test_auth_boundaries(config, shops, intake_url):
    sale = order(302, 20)
    assert post(intake_url, None, body(sale)).status_code == 401
    assert post(intake_url, 'not-a-token', body(sale)).status_code == 401
    forbidden = post(intake_url, shops['a'], body(sale))  # shop A's token, shop B's sale
    assert forbidden.status_code == 403 and '302' in forbidden.json()['error']
    mixed = post(intake_url, shops['a'], body([order(301, 21), sale]), path='/api/fls/sales')
    assert mixed.status_code == 403
    with config.appdb_engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT count(*) FROM fls_inbox WHERE sale_num IN (:a, :b)"),
                                {'a': sale['sale_num'], 'b': order(301, 21)['sale_num']}).scalar()


def test_bad_input_gets_clear_answers_never_500(config, shops, intake_url):
    big = post(intake_url, shops['a'], b'x' * 6_000_000)
    assert big.status_code == 413
    garbage = post(intake_url, shops['a'], b'{"retail_point_id": 301,')
    assert garbage.status_code == 400 and garbage.json()['errors'][0]['field'] == 'body'
    assert inbox_row(config, garbage.json()['inbox_id']).status == 'rejected'
    for payload in [b'', b'null', b'42', b'"just text"', b'[[]]', '{"\u00e9": "\ud800"}'.encode('utf-8', 'surrogatepass'),
                    b'\xff\xfe', body({'retail_point_id': 301, 'sale_line_ids': 'x'}).encode()]:
        answer = post(intake_url, shops['a'], payload)
        assert answer.status_code in (400, 422), (payload, answer.status_code, answer.text)
        assert 'Traceback' not in answer.text
    assert requests.get(intake_url + '/sales/enqueue_sales/', timeout=5).status_code == 405
    assert requests.get(intake_url + '/nowhere', timeout=5).status_code == 404
    assert requests.get(intake_url + '/api/fls/health', timeout=5).json() == {'status': 'ok'}


def test_business_rule_rejection_then_fix_and_replay(config, shards, shops, intake_url):
    sale = order(301, 30)
    sale['sale_line_ids'][0]['product_uom_qty'] = -2
    answer = post(intake_url, shops['a'], body(sale))
    assert answer.status_code == 422
    assert answer.json()['errors'][0]['field'] == 'sale_line_ids[0].product_uom_qty'
    inbox_id = answer.json()['inbox_id']
    fixed = order(301, 30)
    done = config.get_app().get_fls_handler().get_intake().replay(ids=[inbox_id], body=body(fixed))
    assert [k[1] for k in done['pending']] == [inbox_id] and not done['rejected']
    assert config.get_app().get_fls_handler().get_processor().drain([inbox_id])['done'] == 1
    assert inbox_row(config, inbox_id).status == 'done'
    assert len(stored(shards, 's01', 301, fixed['sale_num'])[0]) == 1


def test_totals_that_do_not_add_up_are_rejected(shops, intake_url):
    sale = order(301, 31)
    sale['total_including_miscellaneous'] += 500
    answer = post(intake_url, shops['a'], body(sale))
    assert answer.status_code == 422
    assert answer.json()['errors'][0]['field'] == 'total_including_miscellaneous'


def test_changed_resend_replaces_and_moves_day(config, shards, shops, intake_url):
    first = order(301, 40)
    post(intake_url, shops['a'], body(first))
    run_workers(config)
    changed = order(301, 40, day=DAY - datetime.timedelta(days=1), sale_num=first['sale_num'],
                    customer_name='Corrected')
    answer = post(intake_url, shops['a'], body(changed))
    run_workers(config)
    assert inbox_row(config, answer.json()['inbox_id']).status == 'replaced'
    rows, _ = stored(shards, 's01', 301, first['sale_num'])
    assert len(rows) == 1 and rows[0].customer_name == 'Corrected'
    assert rows[0].sale_date == DAY - datetime.timedelta(days=1)
    with config.appdb_engine.connect() as conn:
        days = dict(conn.execute(sa.text(
            "SELECT sale_date, sale_count FROM fls_business_day WHERE retail_point_id = 301")).all())
    assert days[DAY - datetime.timedelta(days=1)] >= 1
    # an older version replayed late does not win
    with shards.begin('s01') as conn:
        revision = conn.execute(sa.text("SELECT revision FROM sale_ident WHERE retail_point_id = 301 "
                                        "AND sale_num = :n"), {'n': first['sale_num']}).scalar()
    assert revision == 2


def test_unknown_retail_point_is_rejected_by_worker(config, app, shards, shops):
    with config.appdb_engine.begin() as conn:
        keys = inbox.accept(conn, [{'body': body(order(399, 50))}], 'sale', 'file')
    config.get_app().get_fls_handler().get_processor().drain([keys[0][1]])
    row = inbox_row(config, keys[0][1])
    assert row.status == 'rejected' and 'retail point 399 is unknown' in row.errors


def test_redis_flushed_with_work_outstanding(config, shards, shops, intake_url, redis_conn):
    from rattail_fls.queue.sweeper import sweep
    sales = [order(302, n) for n in range(60, 70)]
    for sale in sales:
        assert post(intake_url, shops['b'], body(sale)).status_code == 202
    redis_conn.flushdb()  # Redis restarted without persistence: the queue is gone
    run_workers(config)
    assert len(stored(shards, 's02', 302, sales[0]['sale_num'])[0]) == 0
    config.setdefault('rattail_fls.intake.sweep_after_seconds', '1')
    with config.appdb_engine.begin() as conn:
        conn.execute(sa.text("UPDATE fls_inbox SET received_at = received_at - interval '1 hour' "
                             "WHERE status = 'pending'"))
    assert sweep(config)['sales_processing'] >= 10
    run_workers(config)
    for sale in sales:
        assert len(stored(shards, 's02', 302, sale['sale_num'])[0]) == 1


def test_accept_is_prepared_once_per_connection(config):
    """The inbox INSERT is prepared once per database connection: it outlives a rolled-back
    transaction, and a connection that replaced a broken one prepares it again."""
    def prepared(conn):
        return conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements "
                                    "WHERE name = 'fls_inbox_accept'").scalar()

    def item(n):
        return {'body': f'{{"n": {n}}}', 'status': 'rejected', 'errors': '[]'}

    with config.appdb_engine.connect() as conn:
        rolled_back = conn.begin()
        inbox.accept(conn, [item(1)], 'sale', 'file')
        rolled_back.rollback()
        with conn.begin():
            keys = inbox.accept(conn, [item(2), item(3)], 'sale', 'file')
        assert prepared(conn) == 1 and len(keys) == 2 and keys[0][1] < keys[1][1]
        conn.invalidate()  # as after a lost server: the pool replaces the connection
        with conn.begin():
            again = inbox.accept(conn, [item(4)], 'sale', 'file')
        assert prepared(conn) == 1 and again[0][1] > keys[1][1]
        bodies = conn.execute(sa.text("SELECT body FROM fls_inbox WHERE id = ANY(:ids) ORDER BY id"),
                              {'ids': [k[1] for k in keys + again]}).scalars().all()
        assert bodies == ['{"n": 2}', '{"n": 3}', '{"n": 4}']

"""Day close at scale: one business date of 200 retail points (~400,000 lines with BENCH_SIZE=full) (`make bench`).

Sales are loaded straight into the shards (COPY, untimed); then, in one run:
* **close**: `DayCloser.close()` for every retail point: aggregation per counter
  and journal with lines, lots and misc lots, reconciliation, versioned
  summaries stored in the main DB;
* **one SQL aggregate**: a single hand-written statement grouping the same rows
  into the same content (sale sums and latest fields per summary, lines per line
  key, lots per line and lot, misc lots), returned in order, nothing stored, in a
  transaction with the close's settings.
Both on the same shard storage, after a VACUUM ANALYZE and an untimed run of the aggregate (neither
pays for the load's hint bits or for reading from disk).  Prints both times and the ratio (last).
Options: --retail-points N,
--orders N (per point), --storage partitions|timescaledb|both (default: what the server
supports; `both` prints them side by side).  Sizes default to ``BENCH_SIZE``: unset, 40 retail
points x 150 orders (~21,000 lines, for `make bench`); ``full``, the issue's 200 x 570 (~400,000).
"""

import argparse
import datetime
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fls_dev import benchsize, benchstorage, db as devdb  # noqa: E402
from fls_dev.loopback.shops import make_order  # noqa: E402

SIZES = {benchsize.QUICK: (40, 150), benchsize.FULL: (200, 570)}
REDIS_URL = os.environ.get('FLS_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')
DAY = datetime.date.today() - datetime.timedelta(days=1)

# What a summary holds, grouped by hand in one statement (the close's content, none of its code):
# per summary the sale sums and latest header fields, per line key the sums, name and latest
# stock, per line key and lot the quantities (a lot goes with the first line of its product), per
# misc lot the quantities; each kind of group a row, in a total order.
ONE_AGGREGATE = """
WITH s AS (SELECT * FROM {schema}.sale WHERE sale_date = :day),
l AS (SELECT s.retail_point_id AS rp, s.sale_counter_id AS c, s.payment_journal_id AS j, s.confirmed_on, x.sale_id,
             x.line_no, x.product_id, x.price_unit, x.product_uom, x.vat_percent, x.account_id, x.retail_sale_mrp,
             x.cess_id, x.cess_amount, x.sale_type, x.name, x.product_uom_qty, x.total_cess, x.qty_available
      FROM {schema}.sale_line x JOIN s ON s.sale_id = x.sale_id WHERE x.sale_date = :day)
SELECT 1 AS kind, rp, c, j, product_id, price_unit, product_uom, vat_percent, account_id, retail_sale_mrp, cess_id,
       cess_amount, sale_type, NULL::integer AS lot_id, min(name) AS text, count(*) AS n, sum(product_uom_qty) AS a,
       sum(coalesce(total_cess, 0)) AS b, (array_agg(qty_available ORDER BY confirmed_on DESC NULLS LAST,
       sale_id DESC, line_no DESC))[1] AS c2, NULL::numeric AS d
FROM l GROUP BY rp, c, j, product_id, price_unit, product_uom, vat_percent, account_id, retail_sale_mrp, cess_id,
         cess_amount, sale_type
UNION ALL
SELECT 2, f.rp, f.c, f.j, f.product_id, f.price_unit, f.product_uom, f.vat_percent, f.account_id, f.retail_sale_mrp,
       f.cess_id, f.cess_amount, f.sale_type, t.lot_id, NULL, count(*), sum(t.quantity), NULL, NULL, NULL
FROM {schema}.sale_lot t
JOIN (SELECT DISTINCT ON (sale_id, product_id) * FROM l ORDER BY sale_id, product_id, line_no) f
     ON f.sale_id = t.sale_id AND f.product_id = t.product_id
WHERE t.sale_date = :day
GROUP BY f.rp, f.c, f.j, f.product_id, f.price_unit, f.product_uom, f.vat_percent, f.account_id, f.retail_sale_mrp,
         f.cess_id, f.cess_amount, f.sale_type, t.lot_id
UNION ALL
SELECT 3, s.retail_point_id, s.sale_counter_id, s.payment_journal_id, max(m.product_id), NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, max(m.product_name), m.lot_id, max(m.lot_name), count(*), sum(m.quantity), NULL, NULL, NULL
FROM {schema}.sale_misc_lot m JOIN s ON s.sale_id = m.sale_id WHERE m.sale_date = :day
GROUP BY s.retail_point_id, s.sale_counter_id, s.payment_journal_id, m.lot_id
UNION ALL
SELECT 0, retail_point_id, sale_counter_id, payment_journal_id,
       (array_agg(local_retail_point_db_id ORDER BY confirmed_on DESC NULLS LAST, sale_id DESC))[1],
       sum(total_including_miscellaneous), (array_agg(debtors_account_id ORDER BY confirmed_on DESC NULLS LAST,
       sale_id DESC))[1], sum(coalesce(total_cess, 0)), (array_agg(sale_journal_id ORDER BY confirmed_on DESC
       NULLS LAST, sale_id DESC))[1], sum(coalesce(miscellaneous_qty, 0)), max(miscellaneous_product_id),
       sum(coalesce(miscellaneous_qty, 0) * coalesce(miscellaneous_sale_price, 0)),
       (array_agg(store_type ORDER BY confirmed_on DESC NULLS LAST, sale_id DESC))[1], NULL,
       string_agg(DISTINCT nullif(miscellaneous_invoice_num, ''), ','
                  ORDER BY nullif(miscellaneous_invoice_num, '')),
       count(*), NULL, NULL, NULL, NULL
FROM s GROUP BY retail_point_id, sale_counter_id, payment_journal_id
ORDER BY 2, 3, 4, 1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    retail_points, orders = SIZES[benchsize.bench_size()]
    parser.add_argument('--retail-points', type=int, default=retail_points)
    parser.add_argument('--orders', type=int, default=orders, help="orders per retail point")
    benchstorage.add_argument(parser)
    benchstorage.run(parser.parse_args(), measure)


def measure(storage, server, args):
    """The close and the one aggregate on shards of ``storage`` on ``server``; returns the figures."""
    base = f'fls_bench_dayclose_{storage}_{os.getpid()}'  # benches run side by side never drop each other's
    names = (base, f'{base}_shards2')
    urls = [devdb.create_database(server, n) for n in names]
    config_path = devdb.write_app_config(Path(tempfile.mkdtemp()) / 'rattail.conf', *urls, f'{REDIS_URL}/14',
                                         {('rattail_fls', 'storage'): storage})
    devdb.migrate(config_path)

    from rattail.config import make_config
    config = make_config([str(config_path)], versioning=True)  # before any model is imported
    from rattail_fls import jsontext
    from rattail_fls.db import storage as st
    from rattail_fls.sales import contract
    from rattail_fls.sales.processor import bump_business_days
    from rattail_fls.sales.store import COPY_COLUMNS, TABLES, copy_text, render_sales

    app = config.get_app()
    shards = app.get_fls_handler().shards
    session = app.make_session()
    shards.upgrade(session)
    points = list(range(1001, 1001 + args.retail_points))
    for rp in points:
        point = app.model.FlsRetailPoint(retail_point_id=rp, name=f'Bench {rp}')
        session.add(point)
        shards.assign(session, point)
    session.commit()

    rng, rules = random.Random(5), contract.Rules()
    by_shard, changes, lines = defaultdict(list), defaultdict(lambda: [0, 0]), 0
    routes = shards.routes(session, points)
    sale_id = 0
    for rp in points:
        for n in range(args.orders):
            sale_id += 1
            order = make_order(rng, rp, DAY, n)
            sale = contract.validate_sale(contract.decode_body(jsontext.dumps(order)), rules, DAY)
            by_shard[routes[rp]].append((sale_id, None, sale))
            lines += len(sale['lines'])
    for shard, items in by_shard.items():
        with shards.begin(shard) as conn:
            st.premake_days(conn, storage, [DAY])
            for table, columns, text in zip(TABLES, COPY_COLUMNS, render_sales(items, changes)):
                copy_text(conn, table, columns, text)
    with config.appdb_engine.begin() as conn:
        bump_business_days(conn, changes)
    for key in {spec.engine_key for spec in shards.specs.values()}:  # before either is timed: statistics,
        with shards.engine(key).connect().execution_options(isolation_level='AUTOCOMMIT') as conn:  # hint bits
            conn.execute(sa.text("VACUUM ANALYZE"))
    one_aggregate(shards)  # and both read the day from memory
    print(f"data ({storage}): {len(points)} retail points, {sale_id} sales, {lines} lines on {DAY} "
          "over 2 shards", file=sys.stderr)

    closer = app.get_fls_handler().get_closer()
    start = time.perf_counter()
    results = closer.close_many(points, DAY)
    close_time = time.perf_counter() - start
    summaries = sum(r['new'] for r in results)
    held = sum(r['held'] for r in results)

    start = time.perf_counter()
    groups = one_aggregate(shards)
    sql_time = time.perf_counter() - start

    session.close()
    config.appdb_engine.dispose()
    for engine in shards.engines():
        engine.dispose()
    for name in names:
        devdb.drop_database(server, name)
    return [
        ("close all", f"{close_time:.2f}s ({summaries} summaries, {held} held; {lines / close_time:,.0f} lines/s)"),
        ("one SQL aggregate", f"{sql_time:.2f}s ({groups} groups, nothing stored)"),
        ("ratio close/aggregate", f"{close_time / sql_time:.1f}x"),
    ]


def one_aggregate(shards):
    """:data:`ONE_AGGREGATE` on every shard, with the close's settings; returns the number of groups."""
    from rattail_fls.summaries.aggregate import AGGREGATE_SETTINGS
    groups = 0
    for spec in shards.specs.values():
        with shards.engine(spec.engine_key).begin() as conn:
            conn.execute(sa.text(AGGREGATE_SETTINGS))
            groups += len(conn.execute(sa.text(ONE_AGGREGATE.format(schema=spec.schema)), {'day': DAY}).all())
    return groups


if __name__ == '__main__':
    main()

"""Day close at scale: one business date of 200 retail points (~400,000 lines with BENCH_SIZE=full) (`make bench`).

Sales are loaded straight into the shards (COPY, untimed); then, in one run:
* **close**: `DayCloser.close()` for every retail point: aggregation per counter
  and journal with lines, lots and misc lots, reconciliation, versioned
  summaries stored in the main DB;
* **one SQL aggregate**: a single hand-written GROUP BY over the same rows
  (the lines per counter, journal, product and price), no lots, no storage.
Both on the same shard storage.  Prints both times and the ratio (last).  Options: --retail-points N,
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

ONE_AGGREGATE = """
SELECT s.retail_point_id, s.sale_counter_id, s.payment_journal_id, l.product_id, l.price_unit,
       sum(l.product_uom_qty), sum(l.total_cess), count(*)
FROM {schema}.sale_line l JOIN {schema}.sale s ON s.sale_date = l.sale_date AND s.sale_id = l.sale_id
WHERE l.sale_date = :day AND s.sale_date = :day
GROUP BY 1, 2, 3, 4, 5
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
    names = (f'fls_bench_dayclose_{storage}', f'fls_bench_dayclose_{storage}_shards2')
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
            conn.execute(sa.text("ANALYZE sale; ANALYZE sale_line; ANALYZE sale_lot; ANALYZE sale_misc_lot"))
    with config.appdb_engine.begin() as conn:
        bump_business_days(conn, changes)
    print(f"data ({storage}): {len(points)} retail points, {sale_id} sales, {lines} lines on {DAY} "
          "over 2 shards", file=sys.stderr)

    closer = app.get_fls_handler().get_closer()
    start = time.perf_counter()
    results = closer.close_many(points, DAY)
    close_time = time.perf_counter() - start
    summaries = sum(r['new'] for r in results)
    held = sum(r['held'] for r in results)

    start = time.perf_counter()
    groups = 0
    for spec in shards.specs.values():
        with shards.engine(spec.engine_key).connect() as conn:
            groups += len(conn.execute(sa.text(ONE_AGGREGATE.format(schema=spec.schema)), {'day': DAY}).all())
    sql_time = time.perf_counter() - start

    session.close()
    config.appdb_engine.dispose()
    for engine in shards.engines():
        engine.dispose()
    for name in names:
        devdb.drop_database(server, name)
    return [
        ("close all", f"{close_time:.2f}s ({summaries} summaries, {held} held; {lines / close_time:,.0f} lines/s)"),
        ("one SQL aggregate", f"{sql_time:.2f}s ({groups} line groups, nothing stored)"),
        ("ratio close/aggregate", f"{close_time / sql_time:.1f}x"),
    ]


if __name__ == '__main__':
    main()

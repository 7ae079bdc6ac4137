"""The old system's path, for comparison only: one forked RQ job per sale order,
parsed with floats and written row by row (one INSERT round trip per row)."""

import json
import os

import psycopg2

SALE = ("INSERT INTO {s}.sale (sale_date, sale_id, retail_point_id, sale_num, sale_counter_id, "
        "payment_journal_id, total_including_miscellaneous) VALUES (%s, %s, %s, %s, %s, %s, %s)")
LINE = ("INSERT INTO {s}.sale_line (sale_date, sale_id, line_no, retail_point_id, product_id, "
        "product_uom_qty, price_unit) VALUES (%s, %s, %s, %s, %s, %s, %s)")
LOT = ("INSERT INTO {s}.sale_lot (sale_date, sale_id, lot_no, retail_point_id, lot_id, product_id, quantity) "
       "VALUES (%s, %s, %s, %s, %s, %s, %s)")


def store_order(body, sale_id):
    order = json.loads(json.loads(body) if body.startswith('"') else body)
    conn = psycopg2.connect(os.environ['NAIVE_DSN'])  # a new connection per job, as a forked job has
    schema = os.environ['NAIVE_SCHEMA']
    with conn, conn.cursor() as cur:
        day, rp = order['sale_date'], order['retail_point_id']
        cur.execute(SALE.format(s=schema), (day, sale_id, rp, order['sale_num'], order['sale_counter_id'],
                                            order['payment_journal_id'], order['total_including_miscellaneous']))
        for n, line in enumerate(order['sale_line_ids']):
            cur.execute(LINE.format(s=schema), (day, sale_id, n, rp, line['product_id'],
                                                line['product_uom_qty'], line['price_unit']))
        for n, lot in enumerate(order.get('lot_details_ids') or []):
            cur.execute(LOT.format(s=schema), (day, sale_id, n, rp, lot['lot_id'], lot['product_id'],
                                               lot['quantity']))
    conn.close()

"""Aggregate one shop's business date in its shard into summaries, and reconcile them.

One summary per (sale counter, payment journal), in the payload shape Odoo
Cloud reads (contract section 3).  Unlike the old aggregation: a product sold
at two prices gives two lines (lines group by product *and* price and the other
line attributes), cess and quantities are summed, lot quantities are summed per
lot, and the miscellaneous item and its lots are included.

Every pick of one value among several, every list of the payload and the
summaries themselves come in a total order (ties broken down to the unique
keys: sale, line number, grouping key), so the same rows give the same bytes
whatever their physical order: after a chunk is compressed or a partition
rewritten, a re-close finds the summary unchanged.

Every query filters on ``sale_date = :day`` and ``retail_point_id``: on native
partitions that prunes to the day's partition, on TimescaleDB it excludes all
chunks but the day's (a continuous aggregate would not pay for a one-day,
one-shop close, which must also see late corrections at once).  The
reconciliation uses separate, simpler queries over the same snapshot
(REPEATABLE READ), so a defect in the grouping shows up as a mismatch.
"""

from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa

ZERO = Decimal(0)
FOUR = Decimal('0.0001')

_HEADERS = """
SELECT retail_point_id, sale_counter_id, payment_journal_id, count(*) AS sales,
       sum(total_including_miscellaneous) AS total, sum(coalesce(total_cess, 0)) AS cess,
       sum(coalesce(miscellaneous_qty, 0)) AS misc_qty,
       sum(coalesce(miscellaneous_qty, 0) * coalesce(miscellaneous_sale_price, 0)) AS misc_amount,
       max(miscellaneous_product_id) FILTER (WHERE miscellaneous_qty > 0) AS misc_product_id,
       string_agg(DISTINCT nullif(miscellaneous_invoice_num, ''), ','
                  ORDER BY nullif(miscellaneous_invoice_num, '')) AS misc_invoices,
       max(confirmed_on) AS confirmed_on,
       (array_agg(local_retail_point_db_id ORDER BY confirmed_on DESC NULLS LAST, sale_id DESC))[1] AS local_rp,
       (array_agg(debtors_account_id ORDER BY confirmed_on DESC NULLS LAST, sale_id DESC))[1] AS debtors,
       (array_agg(sale_journal_id ORDER BY confirmed_on DESC NULLS LAST, sale_id DESC))[1] AS sale_journal,
       (array_agg(store_type ORDER BY confirmed_on DESC NULLS LAST, sale_id DESC))[1] AS store_type,
       bool_and(coalesce(is_default_customer, false)) AS default_customer,
       CASE WHEN count(DISTINCT customer_name) = 1 THEN max(customer_name) END AS customer_name
FROM sale WHERE retail_point_id = ANY(:rps) AND sale_date = :day
GROUP BY retail_point_id, sale_counter_id, payment_journal_id
ORDER BY retail_point_id, sale_counter_id, payment_journal_id
"""

_LINE_KEY = ("l.product_id, l.price_unit, l.product_uom, l.vat_percent, l.account_id, "
             "l.retail_sale_mrp, l.cess_id, l.cess_amount, l.sale_type")

_LINES = f"""
SELECT s.retail_point_id, s.sale_counter_id, s.payment_journal_id, {_LINE_KEY},
       min(l.name) AS name, sum(l.product_uom_qty) AS qty, sum(coalesce(l.total_cess, 0)) AS total_cess,
       (array_agg(l.qty_available ORDER BY s.confirmed_on DESC NULLS LAST, s.sale_id DESC,
                  l.line_no DESC))[1] AS qty_available
FROM sale_line l JOIN sale s ON s.sale_date = l.sale_date AND s.sale_id = l.sale_id
WHERE l.retail_point_id = ANY(:rps) AND l.sale_date = :day AND s.sale_date = :day
GROUP BY s.retail_point_id, s.sale_counter_id, s.payment_journal_id, {_LINE_KEY}
ORDER BY s.retail_point_id, s.sale_counter_id, s.payment_journal_id, {_LINE_KEY}
"""

# A lot belongs to the (first) line of its product in the same sale.
_LOTS = f"""
WITH l AS (
    SELECT DISTINCT ON (sale_id, product_id) * FROM sale_line
    WHERE retail_point_id = ANY(:rps) AND sale_date = :day ORDER BY sale_id, product_id, line_no)
SELECT s.retail_point_id, s.sale_counter_id, s.payment_journal_id, {_LINE_KEY}, t.lot_id,
       sum(t.quantity) AS quantity
FROM sale_lot t
JOIN sale s ON s.sale_date = t.sale_date AND s.sale_id = t.sale_id
JOIN l ON l.sale_id = t.sale_id AND l.product_id = t.product_id
WHERE t.retail_point_id = ANY(:rps) AND t.sale_date = :day AND s.sale_date = :day
GROUP BY s.retail_point_id, s.sale_counter_id, s.payment_journal_id, {_LINE_KEY}, t.lot_id
ORDER BY t.lot_id, s.retail_point_id, s.sale_counter_id, s.payment_journal_id, {_LINE_KEY}
"""

_MISC_LOTS = """
SELECT s.retail_point_id, s.sale_counter_id, s.payment_journal_id, m.lot_id, max(m.lot_name) AS lot_name,
       max(m.product_id) AS product_id, max(m.product_name) AS product_name, sum(m.quantity) AS quantity
FROM sale_misc_lot m JOIN sale s ON s.sale_date = m.sale_date AND s.sale_id = m.sale_id
WHERE m.retail_point_id = ANY(:rps) AND m.sale_date = :day AND s.sale_date = :day
GROUP BY s.retail_point_id, s.sale_counter_id, s.payment_journal_id, m.lot_id
ORDER BY m.lot_id
"""

# Reconciliation: plain sums per (counter, journal) straight from each table.
_CHECK_SALES = """
SELECT retail_point_id, sale_counter_id, payment_journal_id, count(*), sum(total_including_miscellaneous),
       sum(coalesce(total_cess, 0)), sum(coalesce(miscellaneous_qty, 0))
FROM sale WHERE retail_point_id = ANY(:rps) AND sale_date = :day GROUP BY 1, 2, 3
"""
_CHECK_TABLE = """
SELECT s.retail_point_id, s.sale_counter_id, s.payment_journal_id, {sums}
FROM {table} x JOIN sale s ON s.sale_date = x.sale_date AND s.sale_id = x.sale_id
WHERE x.retail_point_id = ANY(:rps) AND x.sale_date = :day AND s.sale_date = :day
GROUP BY 1, 2, 3
"""


def tidy(value):
    """Decimal for the payload: integral values as int, others without trailing zeros
    (at most 4 decimal places here, so never in exponent notation)."""
    if value is None:
        return None
    integral = int(value)
    return integral if integral == value else value.normalize()


def summary_sale_num(day, retail_point_id, counter, journal):
    return f"{day:%Y%m%d}/{retail_point_id}/{counter}/{journal}"


def aggregate_day(conn, retail_point_ids, day, tolerance):
    """Summaries of one date for retail points of one shard, in one pass (a fixed number of
    queries whatever their number): ``[{'key': (rp, counter, journal), 'payload', 'totals',
    'checks', 'reconciled'}]``.

    ``conn`` is a connection routed to that shard; run it in a REPEATABLE READ
    transaction so the reconciliation sees the same sales.
    """
    params = {'rps': list(retail_point_ids), 'day': day}
    lots, misc_lots, lines = defaultdict(list), defaultdict(list), defaultdict(list)
    for row in conn.execute(sa.text(_LOTS), params):
        lots[tuple(row[:12])].append([0, 0, {'lot_id': row.lot_id, 'quantity': tidy(row.quantity)}])
    for row in conn.execute(sa.text(_MISC_LOTS), params):
        misc_lots[tuple(row[:3])].append([0, 0, {
            'lot_id': row.lot_id, 'lot_name': row.lot_name, 'product_id': row.product_id,
            'product_name': row.product_name, 'quantity': tidy(row.quantity)}])
    for row in conn.execute(sa.text(_LINES), params):
        lines[tuple(row[:3])].append(row)
    checks = _reconciliation_sources(conn, params)
    result = []
    for head in conn.execute(sa.text(_HEADERS), params):
        key = head.retail_point_id, head.sale_counter_id, head.payment_journal_id
        retail_point_id = key[0]
        payload_lines = [[0, 0, {
            'product_id': l.product_id, 'name': l.name, 'product_uom_qty': tidy(l.qty),
            'product_uom': l.product_uom, 'vat_percent': tidy(l.vat_percent), 'price_unit': tidy(l.price_unit),
            'account_id': l.account_id, 'retail_sale_mrp': tidy(l.retail_sale_mrp), 'cess_id': l.cess_id,
            'taxes_ids': [], 'cess_amount': tidy(l.cess_amount), 'total_cess': tidy(l.total_cess),
            'qty_available': tidy(l.qty_available), 'sale_type': l.sale_type,
            'lot_details_ids': lots.get(tuple(l[:12]), [])}] for l in lines[key]]
        amount = sum((l.qty * l.price_unit for l in lines[key]), ZERO)
        sale_num = summary_sale_num(day, *key)
        misc_names = {lot[2]['product_name'] for lot in misc_lots[key]} - {None}
        payload = {
            'local_retail_point_db_id': head.local_rp, 'retail_point_id': retail_point_id,
            'sale_date': day.isoformat(), 'payment_journal_id': key[2],
            'debtors_account_id': head.debtors, 'sale_journal_id': head.sale_journal,
            'miscelleneous_sale_price': tidy((head.misc_amount / head.misc_qty).quantize(FOUR))
            if head.misc_qty else 0,
            'miscellaneous_product_id': head.misc_product_id or 0, 'miscellaneous_qty': tidy(head.misc_qty),
            'miscellaneous_invoice_num': head.misc_invoices or '', 'sale_num': sale_num, 'name': sale_num,
            'miscellaneous_name': ', '.join(sorted(misc_names)), 'sale_counter_id': key[1],
            'customer_name': head.customer_name or '', 'is_default_customer': head.default_customer,
            'total_including_miscellaneous': tidy(head.total), 'total_cess': tidy(head.cess),
            'amount_total': tidy(amount),
            'confirmed_on': head.confirmed_on.isoformat(sep=' ') if head.confirmed_on else None,
            'store_type': head.store_type, 'sale_line_ids': payload_lines,
            'miscellaneous_lot_details_ids': misc_lots[key],
        }
        totals = {'total_including_miscellaneous': head.total, 'amount_total': amount,
                  'total_cess': head.cess, 'sale_count': head.sales,
                  'line_count': sum(1 for _ in lines[key])}
        check_list = reconcile(payload, head, checks[key], tolerance)
        result.append({'key': key, 'sale_num': sale_num, 'payload': payload, 'totals': totals,
                       'checks': check_list, 'reconciled': all(c['ok'] for c in check_list)})
    return result


def _reconciliation_sources(conn, params):
    sources = defaultdict(dict)
    for rp, c, j, count, total, cess, misc_qty in conn.execute(sa.text(_CHECK_SALES), params):
        sources[rp, c, j].update(sales=count, total=total, cess=cess, misc_qty=misc_qty)
    for table, sums, names in [
            ('sale_line', 'sum(x.product_uom_qty), sum(coalesce(x.total_cess, 0)), '
                          'sum(x.product_uom_qty * x.price_unit)', ('line_qty', 'line_cess', 'line_amount')),
            ('sale_lot', 'sum(x.quantity)', ('lot_qty',)),
            ('sale_misc_lot', 'sum(x.quantity)', ('misc_lot_qty',))]:
        for row in conn.execute(sa.text(_CHECK_TABLE.format(table=table, sums=sums)), params):
            sources[tuple(row[:3])].update(zip(names, row[3:]))
    return sources


def reconcile(payload, head, source, tolerance):
    """The checks stored with a summary: each figure against the same sum over its sales."""
    lines = [line[2] for line in payload['sale_line_ids']]

    def total(values):
        return sum((Decimal(str(v)) for v in values if v is not None), ZERO)

    checks = [
        ('sale count', head.sales, source.get('sales', 0), 0),
        ('total_including_miscellaneous', total([payload['total_including_miscellaneous']]),
         source.get('total', ZERO), 0),
        ('total_cess', total([payload['total_cess']]), source.get('cess', ZERO), 0),
        ('line quantities', total(l['product_uom_qty'] for l in lines), source.get('line_qty', ZERO), 0),
        ('line cess', total(l['total_cess'] for l in lines), source.get('line_cess', ZERO), 0),
        ('amount_total', total([payload['amount_total']]), source.get('line_amount', ZERO), 0),
        ('lot quantities', total(t[2]['quantity'] for l in lines for t in l['lot_details_ids']),
         source.get('lot_qty', ZERO), 0),
        ('miscellaneous quantity', total([payload['miscellaneous_qty']]), source.get('misc_qty', ZERO), 0),
        ('miscellaneous lot quantities', total(t[2]['quantity'] for t in payload['miscellaneous_lot_details_ids']),
         source.get('misc_lot_qty', ZERO), 0),
    ]
    if tolerance is not None:
        misc_amount = total([payload['miscellaneous_qty']]) * total([payload['miscelleneous_sale_price']])
        checks.append(('total against lines and miscellaneous item',
                       total([payload['total_including_miscellaneous']]),
                       total([payload['amount_total']]) + misc_amount, tolerance * max(head.sales, 1)))
    return [{'check': name, 'summary': str(ours), 'sales': str(theirs),
             'ok': abs(Decimal(ours) - Decimal(theirs)) <= allowed}
            for name, ours, theirs, allowed in checks]


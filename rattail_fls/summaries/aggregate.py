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

It is all one statement per shard and date (:data:`_SUMMARIES`): one row per
summary, its lines, lots and miscellaneous lots as arrays (the arrays of one
GROUP BY are aligned: its aggregates see its rows in the same order).  Each
table is read with ``sale_date = :day`` and ``retail_point_id``: on native
partitions that prunes to the day's partition, on TimescaleDB it excludes all
chunks but the day's (a continuous aggregate would not pay for a one-day,
one-shop close, which must also see late corrections at once).

The groupings hash (no aggregate orders its input, so no sort of every line):
the latest line of a group is picked by ``max`` over a sortable array, a line's
position in its summary is numbered once the groups are made, and lots and
miscellaneous lots are put in order here (integers, nulls last, as PostgreSQL
orders them).  The reconciliation's sums per table are separate, simpler
aggregates in the same statement (one snapshot): a defect in the grouping shows
up as a mismatch.
"""

from decimal import Decimal

import sqlalchemy as sa

ZERO = Decimal(0)
FOUR = Decimal('0.0001')

#: Settings for :data:`_SUMMARIES`' transaction: its joins and groupings cover a whole day, in
#: memory: hash joins, never a loop of index probes (the nested loop left is unnest's), hashed
#: groupings rather than a sort of every line (the planner would sort to number the lines), and it
#: is one short statement: compiling it (JIT) would cost more than it saves.
AGGREGATE_SETTINGS = ("SET LOCAL work_mem = '64MB'; SET LOCAL enable_nestloop = off; SET LOCAL enable_sort = off; "
                      "SET LOCAL jit = off")

_GROUP = "retail_point_id, sale_counter_id, payment_journal_id"
_LINE_KEY = ("product_id, price_unit, product_uom, vat_percent, account_id, retail_sale_mrp, cess_id, "
             "cess_amount, sale_type")
#: A summary's line columns, arrays in its row (``pos`` numbers them in ``_LINE_KEY`` order).
_LINE_ARRAYS = ("pos", *_LINE_KEY.split(', '), "name", "qty", "total_cess", "qty_available")
_MISC_ARRAYS = ("lot_id", "lot_name", "product_id", "product_name", "quantity")


def _columns(alias, names):
    return ', '.join(f'{alias}.{name}' for name in names.split(', '))


def _arrays(names, prefix=''):
    return ', '.join(f'array_agg({name}) AS {prefix}{name}' for name in names)


_LATEST = "ORDER BY confirmed_on DESC NULLS LAST, sale_id DESC"

_SUMMARIES = f"""
WITH s AS (
    SELECT sale_id, {_GROUP}, confirmed_on FROM sale WHERE sale_date = :day),
l AS (  -- the lines with their summary; latest sorts them like ORDER BY confirmed_on DESC NULLS LAST,
        -- sale_id DESC, line_no DESC, so max(latest) is the first of that order
    SELECT {_columns('s', _GROUP)}, x.sale_id, x.line_no, {_columns('x', _LINE_KEY)}, x.name, x.product_uom_qty,
           x.total_cess, ARRAY[(s.confirmed_on IS NOT NULL)::integer,
                               coalesce(extract(epoch FROM s.confirmed_on), 0),
                               x.sale_id, x.line_no, x.qty_available] AS latest
    FROM sale_line x JOIN s ON s.sale_id = x.sale_id
    WHERE x.retail_point_id = ANY(:rps) AND x.sale_date = :day),
t AS (
    SELECT {_columns('s', _GROUP)}, x.sale_id, x.product_id, x.lot_id, x.quantity
    FROM sale_lot x JOIN s ON s.sale_id = x.sale_id
    WHERE x.retail_point_id = ANY(:rps) AND x.sale_date = :day),
m AS (
    SELECT {_columns('s', _GROUP)}, x.lot_id, x.lot_name, x.product_id, x.product_name, x.quantity
    FROM sale_misc_lot x JOIN s ON s.sale_id = x.sale_id
    WHERE x.retail_point_id = ANY(:rps) AND x.sale_date = :day),
grouped AS MATERIALIZED (  -- a summary's lines: one per line key, with the lots of the first line
                          -- of its product in each sale (hashed: numbered apart, below)
    SELECT {_GROUP}, {_LINE_KEY}, min(name) AS name, sum(qty) AS qty, sum(cess) AS total_cess,
           (max(latest))[5] AS qty_available,
           array_agg(lot_id) FILTER (WHERE is_lot) AS lot_ids, array_agg(lot_qty) FILTER (WHERE is_lot) AS lot_qtys
    FROM (SELECT {_GROUP}, {_LINE_KEY}, false AS is_lot, name, product_uom_qty AS qty,
                 coalesce(total_cess, 0) AS cess, latest, NULL::integer AS lot_id, NULL::numeric AS lot_qty FROM l
          UNION ALL
          SELECT {_columns('l', _GROUP)}, {_columns('l', _LINE_KEY)}, true, NULL, NULL, NULL, NULL, t.lot_id,
                 sum(t.quantity)
          FROM t JOIN (SELECT sale_id, product_id, min(line_no) AS line_no FROM l GROUP BY sale_id, product_id) f
                      ON f.sale_id = t.sale_id AND f.product_id = t.product_id
          JOIN l ON l.sale_id = f.sale_id AND l.line_no = f.line_no
          GROUP BY {_columns('l', _GROUP)}, {_columns('l', _LINE_KEY)}, t.lot_id) u
    GROUP BY {_GROUP}, {_LINE_KEY}),
g AS (SELECT *, row_number() OVER (PARTITION BY {_GROUP} ORDER BY {_LINE_KEY}) AS pos FROM grouped),
lines AS (
    SELECT {_GROUP}, {_arrays(_LINE_ARRAYS)} FROM g GROUP BY {_GROUP}),
lots AS (
    SELECT {_columns('g', _GROUP)}, array_agg(g.pos) AS lot_pos, array_agg(u.lot_id) AS lot_id,
           array_agg(u.qty) AS lot_qty
    FROM g CROSS JOIN LATERAL unnest(g.lot_ids, g.lot_qtys) AS u(lot_id, qty) GROUP BY {_columns('g', _GROUP)}),
misc AS (
    SELECT {_GROUP}, {_arrays(_MISC_ARRAYS, 'misc_lot_')} FROM (
        SELECT {_GROUP}, lot_id, max(lot_name) AS lot_name, max(product_id) AS product_id,
               max(product_name) AS product_name, sum(quantity) AS quantity
        FROM m GROUP BY {_GROUP}, lot_id) mg
    GROUP BY {_GROUP}),
heads AS (
    SELECT {_GROUP}, count(*) AS sales,
           sum(total_including_miscellaneous) AS total, sum(coalesce(total_cess, 0)) AS cess,
           sum(coalesce(miscellaneous_qty, 0)) AS misc_qty,
           sum(coalesce(miscellaneous_qty, 0) * coalesce(miscellaneous_sale_price, 0)) AS misc_amount,
           max(miscellaneous_product_id) FILTER (WHERE miscellaneous_qty > 0) AS misc_product_id,
           string_agg(DISTINCT nullif(miscellaneous_invoice_num, ''), ','
                      ORDER BY nullif(miscellaneous_invoice_num, '')) AS misc_invoices,
           max(confirmed_on) AS confirmed_on,
           (array_agg(local_retail_point_db_id {_LATEST}))[1] AS local_rp,
           (array_agg(debtors_account_id {_LATEST}))[1] AS debtors,
           (array_agg(sale_journal_id {_LATEST}))[1] AS sale_journal,
           (array_agg(store_type {_LATEST}))[1] AS store_type,
           bool_and(coalesce(is_default_customer, false)) AS default_customer,
           CASE WHEN count(DISTINCT customer_name) = 1 THEN max(customer_name) END AS customer_name
    FROM sale WHERE retail_point_id = ANY(:rps) AND sale_date = :day
    GROUP BY {_GROUP}),
-- reconciliation: plain sums per summary straight from each table
line_sums AS (
    SELECT {_GROUP}, sum(product_uom_qty) AS sum_line_qty, sum(coalesce(total_cess, 0)) AS sum_line_cess,
           sum(product_uom_qty * price_unit) AS sum_line_amount FROM l GROUP BY {_GROUP}),
lot_sums AS (SELECT {_GROUP}, sum(quantity) AS sum_lot_qty FROM t GROUP BY {_GROUP}),
misc_sums AS (SELECT {_GROUP}, sum(quantity) AS sum_misc_lot_qty FROM m GROUP BY {_GROUP})
SELECT * FROM heads
LEFT JOIN lines USING ({_GROUP}) LEFT JOIN lots USING ({_GROUP}) LEFT JOIN misc USING ({_GROUP})
LEFT JOIN line_sums USING ({_GROUP}) LEFT JOIN lot_sums USING ({_GROUP}) LEFT JOIN misc_sums USING ({_GROUP})
ORDER BY {_GROUP}
"""


def _nulls_last(item):
    """Sort key of ``(integer or None, ...)``: PostgreSQL's ascending order."""
    return item[0] is None, item[0] or 0


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
    """Summaries of one date for retail points of one shard, in one statement whatever their
    number: ``[{'key': (rp, counter, journal), 'payload', 'totals', 'checks', 'reconciled'}]``.

    ``conn`` is a connection routed to that shard.
    """
    result = []
    for row in conn.execute(sa.text(_SUMMARIES), {'rps': list(retail_point_ids), 'day': day}):
        row = row._mapping
        key = row['retail_point_id'], row['sale_counter_id'], row['payment_journal_id']
        lots = {}  # line position -> [(lot_id, quantity)]
        for pos, lot_id, quantity in zip(*(row[c] or () for c in ('lot_pos', 'lot_id', 'lot_qty'))):
            lots.setdefault(pos, []).append((lot_id, quantity))
        lines = sorted(zip(*(row[c] or () for c in _LINE_ARRAYS)))
        payload_lines = [[0, 0, {
            'product_id': product_id, 'name': name, 'product_uom_qty': tidy(qty), 'product_uom': uom,
            'vat_percent': tidy(vat), 'price_unit': tidy(price), 'account_id': account_id,
            'retail_sale_mrp': tidy(mrp), 'cess_id': cess_id, 'taxes_ids': [], 'cess_amount': tidy(cess_amount),
            'total_cess': tidy(total_cess), 'qty_available': tidy(qty_available), 'sale_type': sale_type,
            'lot_details_ids': [[0, 0, {'lot_id': lot_id, 'quantity': tidy(quantity)}]
                                for lot_id, quantity in sorted(lots.get(pos, ()), key=_nulls_last)]}]
            for (pos, product_id, price, uom, vat, account_id, mrp, cess_id, cess_amount, sale_type,
                 name, qty, total_cess, qty_available) in lines]
        misc_lots = [[0, 0, {'lot_id': lot_id, 'lot_name': lot_name, 'product_id': product_id,
                             'product_name': product_name, 'quantity': tidy(quantity)}]
                     for lot_id, lot_name, product_id, product_name, quantity in sorted(
                         zip(*(row[f'misc_lot_{c}'] or () for c in _MISC_ARRAYS)), key=_nulls_last)]
        amount = sum((line[11] * line[2] for line in lines), ZERO)
        sale_num = summary_sale_num(day, *key)
        misc_names = {lot[2]['product_name'] for lot in misc_lots} - {None}
        misc_qty = row['misc_qty']
        payload = {
            'local_retail_point_db_id': row['local_rp'], 'retail_point_id': key[0],
            'sale_date': day.isoformat(), 'payment_journal_id': key[2],
            'debtors_account_id': row['debtors'], 'sale_journal_id': row['sale_journal'],
            'miscelleneous_sale_price': tidy((row['misc_amount'] / misc_qty).quantize(FOUR)) if misc_qty else 0,
            'miscellaneous_product_id': row['misc_product_id'] or 0, 'miscellaneous_qty': tidy(misc_qty),
            'miscellaneous_invoice_num': row['misc_invoices'] or '', 'sale_num': sale_num, 'name': sale_num,
            'miscellaneous_name': ', '.join(sorted(misc_names)), 'sale_counter_id': key[1],
            'customer_name': row['customer_name'] or '', 'is_default_customer': row['default_customer'],
            'total_including_miscellaneous': tidy(row['total']), 'total_cess': tidy(row['cess']),
            'amount_total': tidy(amount),
            'confirmed_on': row['confirmed_on'].isoformat(sep=' ') if row['confirmed_on'] else None,
            'store_type': row['store_type'], 'sale_line_ids': payload_lines,
            'miscellaneous_lot_details_ids': misc_lots,
        }
        totals = {'total_including_miscellaneous': row['total'], 'amount_total': amount,
                  'total_cess': row['cess'], 'sale_count': row['sales'], 'line_count': len(lines)}
        check_list = reconcile(payload, row, tolerance)
        result.append({'key': key, 'sale_num': sale_num, 'payload': payload, 'totals': totals,
                       'checks': check_list, 'reconciled': all(c['ok'] for c in check_list)})
    return result


def reconcile(payload, sums, tolerance):
    """The checks stored with a summary: each figure against the same sum over its sales
    (``sums``: the summary's row, whose ``sum_*`` come straight from each table)."""
    lines = [line[2] for line in payload['sale_line_ids']]

    def total(values):  # payload numbers are int or Decimal: exact either way
        return sum((v for v in values if v is not None), ZERO)

    def source(name):  # no row to sum is a sum of zero
        value = sums[name]
        return ZERO if value is None else value

    checks = [
        ('sale count', sums['sales'], sums['sales'], 0),
        ('total_including_miscellaneous', total([payload['total_including_miscellaneous']]), sums['total'], 0),
        ('total_cess', total([payload['total_cess']]), sums['cess'], 0),
        ('line quantities', total(l['product_uom_qty'] for l in lines), source('sum_line_qty'), 0),
        ('line cess', total(l['total_cess'] for l in lines), source('sum_line_cess'), 0),
        ('amount_total', total([payload['amount_total']]), source('sum_line_amount'), 0),
        ('lot quantities', total(t[2]['quantity'] for l in lines for t in l['lot_details_ids']),
         source('sum_lot_qty'), 0),
        ('miscellaneous quantity', total([payload['miscellaneous_qty']]), sums['misc_qty'], 0),
        ('miscellaneous lot quantities', total(t[2]['quantity'] for t in payload['miscellaneous_lot_details_ids']),
         source('sum_misc_lot_qty'), 0),
    ]
    if tolerance is not None:
        misc_amount = total([payload['miscellaneous_qty']]) * total([payload['miscelleneous_sale_price']])
        checks.append(('total against lines and miscellaneous item',
                       total([payload['total_including_miscellaneous']]),
                       total([payload['amount_total']]) + misc_amount, tolerance * max(sums['sales'], 1)))
    return [{'check': name, 'summary': str(ours), 'sales': str(theirs),
             'ok': abs(Decimal(ours) - Decimal(theirs)) <= allowed}
            for name, ours, theirs, allowed in checks]


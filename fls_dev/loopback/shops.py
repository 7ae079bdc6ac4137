"""Realistic generated sale orders, exactly in the shops' JSON contract.

For the demo, the tests and the benches: several retail points and days,
lines with lots, miscellaneous items with their lots, cess, products sold at
more than one price.  Deterministic for a given seed; totals add up.
"""

import datetime
import random
from decimal import Decimal

PRODUCTS = [  # (product_id, name, uom, vat, mrp, cess_id)
    (5001, "Premium Whisky 750ml", 1, Decimal('18'), Decimal('1450.00'), 7),
    (5002, "Classic Rum 750ml", 1, Decimal('18'), Decimal('780.00'), 7),
    (5003, "Dry Gin 375ml", 1, Decimal('18'), Decimal('520.00'), 7),
    (5004, "Lager Beer 650ml", 1, Decimal('12'), Decimal('180.00'), 8),
    (5005, "Strong Beer 500ml", 1, Decimal('12'), Decimal('160.00'), 8),
    (5006, "Red Wine 750ml", 1, Decimal('12'), Decimal('950.00'), 9),
    (5007, "Vodka 180ml", 1, Decimal('18'), Decimal('210.00'), 7),
    (5008, "Brandy 375ml", 1, Decimal('18'), Decimal('430.00'), 7),
]
MISC_PRODUCT = (9001, "Carry Bag")
CENT = Decimal('0.01')


def money(value):
    return value.quantize(CENT)


def make_order(rng, retail_point_id, day, number, lines=None, counter_ids=(1, 2), journal_ids=(11, 12)):
    """One sale order (dict with Decimal numbers) for ``retail_point_id`` on ``day``."""
    counter, journal = rng.choice(counter_ids), rng.choice(journal_ids)
    sale_lines, lots, total, cess_total = [], [], Decimal(0), Decimal(0)
    for sl_no in range(1, (lines or rng.randint(1, 6)) + 1):
        pid, name, uom, vat, mrp, cess_id = rng.choice(PRODUCTS)
        price = mrp - rng.choice([Decimal(0), Decimal(0), Decimal('20.00')])  # some sold at a discount
        qty = Decimal(rng.randint(1, 3))
        cess = money(price * Decimal('0.02'))
        sale_lines.append({
            'sl_no': sl_no, 'product_id': pid, 'name': name, 'product_uom_qty': qty, 'product_uom': uom,
            'vat_percent': vat, 'price_unit': price, 'account_id': 400, 'retail_sale_mrp': mrp,
            'cess_id': cess_id, 'cess_amount': cess, 'total_cess': money(cess * qty),
            'sale_type': 'retail', 'qty_available': rng.randint(0, 200)})
        lots.append({'lot_id': pid * 10 + rng.randint(1, 3), 'product_id': pid,
                     'lot_name': f"LOT-{pid}-{rng.randint(1, 3)}", 'product_name': name, 'quantity': qty})
        total += price * qty
        cess_total += cess * qty
    misc_qty = Decimal(rng.choice([0, 0, 1, 2]))
    misc_price = Decimal('5.00')
    total += misc_qty * misc_price
    sale_num = f"RP{retail_point_id}/{day:%Y%m%d}/{number:05d}"
    return {
        'retail_point_id': retail_point_id, 'sale_counter_id': counter,
        'total_including_miscellaneous': money(total), 'payment_journal_id': journal,
        'sale_num': sale_num, 'name': sale_num, 'sale_date': day.isoformat(),
        'confirmed_on': f"{day.isoformat()} {9 + number % 12:02d}:{number % 60:02d}:00",
        'retail_point_name': f"Shop {retail_point_id}", 'sale_counter_name': f"Counter {counter}",
        'payment_method_name': 'Cash' if journal == 11 else 'Card', 'confirmed_by_name': 'Cashier',
        'customer_name': 'Walk-in Customer', 'remarks': False, 'store_type': 'FLS',
        'local_retail_point_db_id': retail_point_id, 'sale_journal_id': 21, 'partner_id': 3,
        'debtors_account_id': 120, 'confirmed_by': 2, 'is_default_customer': True,
        'total_cess': money(cess_total),
        'miscellaneous_product_id': MISC_PRODUCT[0] if misc_qty else 0,
        'miscellaneous_qty': misc_qty, 'miscelleneous_sale_price': misc_price if misc_qty else Decimal(0),
        'miscellaneous_invoice_num': f"M-{sale_num}" if misc_qty else '',
        'sale_line_ids': sale_lines, 'lot_details_ids': lots,
        'miscellaneous_lot_details_ids': [{
            'lot_id': 90011, 'product_id': MISC_PRODUCT[0], 'lot_name': 'BAG-1',
            'product_name': MISC_PRODUCT[1], 'quantity': misc_qty}] if misc_qty else [],
    }


def generate_orders(retail_point_ids, days, orders_per_day, seed=0, lines=None):
    """Orders for every retail point and day (``days``: list of dates)."""
    rng = random.Random(seed)
    return [make_order(rng, rp, day, n, lines=lines)
            for rp in retail_point_ids for day in days for n in range(1, orders_per_day + 1)]


def recent_days(count, end=None):
    end = end or datetime.date.today() - datetime.timedelta(days=1)
    return [end - datetime.timedelta(days=i) for i in reversed(range(count))]

"""Validation libraries for the sale contract, measured on bench/ingest.py's orders (`make bench`).

The contract (rattail_fls/sales/contract.py) is declared on pydantic v2.  This
bench times, on the same JSON bodies, in one run:

* **pydantic**: the project's door, ``decode_body`` (strict JSON: duplicate
  keys, NaN, depth, surrogates) + ``validate_sale`` (every field and bound,
  Odoo quirks, rules, hash);
* **msgspec**: the same shape declared as ``msgspec.Struct`` types with the same
  bounds (``Meta``), decoded straight from bytes; the Odoo ``false`` quirk,
  digit-string integers, rounding to the column scale, duplicate keys and the
  business rules are *not* in it (msgspec has no hook for them: ``false`` is
  accepted as a value of its own), so it is a
  lower bound of what a msgspec contract would cost;
* **json only**: ``json.loads`` of the body, the floor of any Python validation.

Prints orders per second and lines per second for each, and the ratios.
Options: --orders N.
"""

import argparse
import datetime
import decimal
import json
import sys
import time
from pathlib import Path
from typing import Annotated, List, Optional, Union

import msgspec
import simplejson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))
from rattail_fls.sales import contract  # noqa: E402
from ingest import lines_of, orders_for  # noqa: E402

Int4 = Annotated[int, msgspec.Meta(ge=-2 ** 31, le=2 ** 31 - 1)]
Money = decimal.Decimal  # msgspec takes no bounds on a Decimal (Meta accepts int or float only)
Text = Annotated[str, msgspec.Meta(max_length=1000, pattern='^[^\x00]*$')]
# Odoo's false for an empty field: accepted as a value (msgspec cannot turn it into None)
OInt, OMoney, OText = (Optional[Union[t, bool]] for t in (Int4, Money, Text))


class Line(msgspec.Struct):
    product_id: Int4
    product_uom_qty: Money
    price_unit: Money
    sl_no: OInt = None
    name: OText = None
    product_uom: OInt = None
    vat_percent: OMoney = None
    account_id: OInt = None
    retail_sale_mrp: OMoney = None
    cess_id: OInt = None
    cess_amount: OMoney = None
    total_cess: OMoney = None
    sale_type: OText = None
    qty_available: OMoney = None


class Lot(msgspec.Struct):
    quantity: Money
    lot_id: OInt = None
    product_id: OInt = None
    lot_name: OText = None
    product_name: OText = None


class Order(msgspec.Struct):
    retail_point_id: Int4
    sale_counter_id: Int4
    total_including_miscellaneous: Money
    payment_journal_id: Int4
    sale_num: Annotated[str, msgspec.Meta(max_length=200)]
    sale_date: datetime.date
    sale_line_ids: List[Line]
    name: OText = None
    confirmed_on: Optional[Union[str, bool]] = None
    retail_point_name: OText = None
    sale_counter_name: OText = None
    payment_method_name: OText = None
    confirmed_by_name: OText = None
    customer_name: OText = None
    remarks: OText = None
    store_type: OText = None
    local_retail_point_db_id: OInt = None
    sale_journal_id: OInt = None
    partner_id: OInt = None
    debtors_account_id: OInt = None
    confirmed_by: OInt = None
    is_default_customer: Optional[bool] = None
    total_cess: OMoney = None
    miscellaneous_product_id: OInt = None
    miscellaneous_qty: OMoney = None
    miscelleneous_sale_price: OMoney = None
    miscellaneous_invoice_num: OText = None
    lot_details_ids: Union[List[Lot], bool] = []
    miscellaneous_lot_details_ids: Union[List[Lot], bool] = []


def timed(function, bodies):
    started = time.perf_counter()
    for body in bodies:
        function(body)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--orders', type=int, default=5000)
    args = parser.parse_args()
    orders = orders_for(args.orders, seed=3, prefix='C')
    bodies = [simplejson.dumps(o, use_decimal=True).encode() for o in orders]
    lines = lines_of(orders)
    rules = contract.Rules(max_past_days=30)
    today = datetime.date.today()
    decoder = msgspec.json.Decoder(Order, float_hook=decimal.Decimal)
    runs = {
        'pydantic (the contract)': lambda b: contract.validate_sale(contract.decode_body(b), rules, today),
        'msgspec (shape and bounds only)': decoder.decode,
        'json.loads only': lambda b: json.loads(b, parse_float=decimal.Decimal),
    }
    for function in runs.values():  # warm up, and prove each accepts the data
        function(bodies[0])
    seconds = {name: timed(function, bodies) for name, function in runs.items()}
    print(f"{len(bodies)} orders, {lines} lines")
    for name, took in seconds.items():
        print(f"  {name:34s} {len(bodies) / took:9.0f} orders/s  {lines / took:9.0f} lines/s")
    ours, other, floor = seconds.values()
    print(f"ratio pydantic/msgspec time: {ours / other:.2f}x; pydantic/json.loads time: {ours / floor:.2f}x")


if __name__ == '__main__':
    main()

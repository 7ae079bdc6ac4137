"""The sale contract's two readers, measured on bench/ingest.py's orders (`make bench`).

The contract (rattail_fls/sales/contract.py) is declared once, on pydantic v2; the door reads
bodies with its msgspec compilation (rattail_fls/sales/contract_fast.py), which leaves to the
models whatever it does not take as it is.  This bench times, on the same JSON bodies, in one
run:

* **the models**: ``decode_body`` (strict JSON: duplicate keys, NaN, depth, surrogates) +
  ``validate_sale`` (every field and bound, Odoo quirks, rules, hash), the path of any order the
  fast path leaves to them;
* **the fast path**: ``read_sales`` + ``finish_sale`` (the same checks, the same result), the
  door's path for the orders shops send;
* **json.loads only**: ``json.loads`` of the body, the floor of any Python validation.

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

import simplejson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))
from rattail_fls.sales import contract, contract_fast  # noqa: E402
from ingest import lines_of, orders_for  # noqa: E402


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

    def fast(body):
        sale, = contract_fast.read_sales(body)[2]
        return contract.finish_sale(sale, rules, today)  # a None here would mean the models read it
    runs = {
        'the models (pydantic)': lambda b: contract.validate_sale(contract.decode_body(b), rules, today),
        'the fast path (msgspec)': fast,
        'json.loads only': lambda b: json.loads(b, parse_float=decimal.Decimal),
    }
    for function in runs.values():  # warm up, and prove each accepts the data
        function(bodies[0])
    assert all(fast(b) == runs['the models (pydantic)'](b) for b in bodies[:50])
    seconds = {name: timed(function, bodies) for name, function in runs.items()}
    print(f"{len(bodies)} orders, {lines} lines")
    for name, took in seconds.items():
        print(f"  {name:34s} {len(bodies) / took:9.0f} orders/s  {lines / took:9.0f} lines/s")
    models, door, floor = seconds.values()
    print(f"ratio models/fast path time: {models / door:.2f}x; fast path/json.loads time: {door / floor:.2f}x")


if __name__ == '__main__':
    main()

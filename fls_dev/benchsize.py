"""``BENCH_SIZE`` for the benches: unset, the quick sizes `make bench` runs in minutes;
``full``, the sizes of the performance issue.  Anything else stops the bench with the reason."""

import os
import sys

QUICK, FULL = 'quick', 'full'


def bench_size():
    value = os.environ.get('BENCH_SIZE') or QUICK
    if value not in (QUICK, FULL):
        sys.exit(f"error: BENCH_SIZE must be unset, {QUICK!r} or {FULL!r}, not {value!r}")
    return value

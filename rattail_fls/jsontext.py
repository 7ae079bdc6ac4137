"""JSON text with exact decimals: one encoder and decoder for everything we store or send.

Money and quantities are ``Decimal`` end to end, so JSON numbers with a
fraction are read as ``Decimal`` (never float) and written back digit for
digit.  Dates and times are written as ISO 8601 text.  Output is compact and
keeps each mapping's own key order, which the payloads we build keep stable,
so equal values give equal text.
"""

import datetime
import decimal
import json

import simplejson


def loads(text):
    """JSON text -> value, fractions as ``Decimal``."""
    return json.loads(text, parse_float=decimal.Decimal)


def dumps(value):
    """Value -> compact JSON text, ``Decimal`` exact, dates and times as ISO 8601."""
    # values are trees of dicts, lists and scalars: looking at every one for a namedtuple's
    # ``_asdict`` and keeping cycle markers cost more than the encoding itself (a namedtuple
    # is written as an array)
    return simplejson.dumps(value, separators=(',', ':'), use_decimal=True, default=_default,
                            namedtuple_as_object=False, check_circular=False)


def _default(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

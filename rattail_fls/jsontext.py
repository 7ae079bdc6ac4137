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


def _default(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Made once: ``json.loads``/``simplejson.dumps`` given options build a new codec per call,
# which costs as much as the work itself on the door's and the workers' hot paths.  Values are
# trees of dicts, lists and scalars: looking at every one for a namedtuple's ``_asdict`` and
# keeping cycle markers cost more than the encoding itself (a namedtuple is written as an array).
_DECODER = json.JSONDecoder(parse_float=decimal.Decimal)
_ENCODER = simplejson.JSONEncoder(separators=(',', ':'), use_decimal=True, default=_default,
                                  namedtuple_as_object=False, check_circular=False)


def loads(text):
    """JSON text -> value, fractions as ``Decimal``."""
    return _DECODER.decode(text)


def dumps(value):
    """Value -> compact JSON text, ``Decimal`` exact, dates and times as ISO 8601."""
    return _ENCODER.encode(value)

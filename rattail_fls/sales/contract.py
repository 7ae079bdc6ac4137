"""The shops' JSON contract: decode, validate and normalise sale orders and day closes.

Accepts the payloads as existing clients send them (double-encoded bodies,
Odoo's ``false`` for empty fields, the ``miscelleneous_sale_price`` spelling)
and turns them into rows for the shard tables.  Money and quantities are
``Decimal`` end to end (JSON floats are parsed as Decimal, never float).  Every
problem is reported as ``{"field": <path>, "reason": <text>}``.
"""

import datetime
import decimal
import hashlib
import json
from dataclasses import dataclass

import simplejson

from rattail_fls import config as fls_config

D = decimal.Decimal
FOUR_PLACES = D('0.0001')
MAX_NUMERIC = D('1e14')  # NUMERIC(18,4)


class Invalid(ValueError):
    """The payload cannot be used; ``errors`` says where and why."""

    def __init__(self, errors):
        super().__init__('; '.join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


def error(path, reason):
    return {'field': path, 'reason': reason}


# -- decoding ---------------------------------------------------------------------

def loads(text):
    return json.loads(text, parse_float=D)


def decode_body(raw):
    """Request body -> JSON value; a JSON string holding JSON (old clients) is decoded again."""
    try:
        value = loads(raw.decode('utf-8') if isinstance(raw, bytes) else raw)
    except UnicodeDecodeError:
        raise Invalid([error('body', 'is not UTF-8 text')]) from None
    except ValueError as exc:
        raise Invalid([error('body', f'is not valid JSON ({exc})')]) from None
    if isinstance(value, str):
        try:
            value = loads(value)
        except ValueError as exc:
            raise Invalid([error('body', f'is a JSON string whose content is not JSON ({exc})')]) from None
    if not isinstance(value, (dict, list)):
        raise Invalid([error('body', 'must be a sale order object or a list of them')])
    return value


def dumps(value):
    """Compact JSON text with exact decimals (keys in the value's own order, which the
    payloads we build keep stable, so equal values give equal text)."""
    return simplejson.dumps(value, separators=(',', ':'), use_decimal=True, default=_json_default)


def _json_default(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- field types --------------------------------------------------------------------

def _integer(value):
    if isinstance(value, bool):
        raise ValueError('must be an integer, not a boolean')
    if isinstance(value, int):
        return value
    if isinstance(value, D) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip('-').isdigit():
        return int(value)
    raise ValueError('must be an integer')


def _decimal(value):
    if isinstance(value, bool):
        raise ValueError('must be a number, not a boolean')
    if isinstance(value, (int, D)):
        number = D(value)
    elif isinstance(value, str):
        try:
            number = D(value.strip())
        except decimal.InvalidOperation:
            raise ValueError('must be a number') from None
    else:
        raise ValueError('must be a number')
    if not number.is_finite() or abs(number) >= MAX_NUMERIC:
        raise ValueError('must be a finite number below 10^14')
    return number.quantize(FOUR_PLACES, rounding=decimal.ROUND_HALF_EVEN)


def _string(value):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError('must be a string')
    return str(value)


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError('must be true or false')
    return value


def _date(value):
    try:
        return datetime.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        pass
    raise ValueError('must be a date "YYYY-MM-DD"')


def _datetime(value):
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError('must be a date and time "YYYY-MM-DD HH:MM:SS"')


INT, NUM, STR, BOOL, DATE, DATETIME = _integer, _decimal, _string, _boolean, _date, _datetime

# (json name, column name, type, required)
HEADER = [
    ('retail_point_id', 'retail_point_id', INT, True),
    ('sale_counter_id', 'sale_counter_id', INT, True),
    ('total_including_miscellaneous', 'total_including_miscellaneous', NUM, True),
    ('payment_journal_id', 'payment_journal_id', INT, True),
    ('sale_num', 'sale_num', STR, True),
    ('sale_date', 'sale_date', DATE, True),
    ('name', 'name', STR, False),
    ('confirmed_on', 'confirmed_on', DATETIME, False),
    ('retail_point_name', 'retail_point_name', STR, False),
    ('sale_counter_name', 'sale_counter_name', STR, False),
    ('payment_method_name', 'payment_method_name', STR, False),
    ('confirmed_by_name', 'confirmed_by_name', STR, False),
    ('customer_name', 'customer_name', STR, False),
    ('remarks', 'remarks', STR, False),
    ('store_type', 'store_type', STR, False),
    ('local_retail_point_db_id', 'local_retail_point_db_id', INT, False),
    ('sale_journal_id', 'sale_journal_id', INT, False),
    ('partner_id', 'partner_id', INT, False),
    ('debtors_account_id', 'debtors_account_id', INT, False),
    ('confirmed_by', 'confirmed_by', INT, False),
    ('is_default_customer', 'is_default_customer', BOOL, False),
    ('total_cess', 'total_cess', NUM, False),
    ('miscellaneous_product_id', 'miscellaneous_product_id', INT, False),
    ('miscellaneous_qty', 'miscellaneous_qty', NUM, False),
    ('miscelleneous_sale_price', 'miscellaneous_sale_price', NUM, False),
    ('miscellaneous_invoice_num', 'miscellaneous_invoice_num', STR, False),
]
LINE = [
    ('sl_no', 'sl_no', INT, False),
    ('product_id', 'product_id', INT, True),
    ('name', 'name', STR, False),
    ('product_uom_qty', 'product_uom_qty', NUM, True),
    ('product_uom', 'product_uom', INT, False),
    ('vat_percent', 'vat_percent', NUM, False),
    ('price_unit', 'price_unit', NUM, True),
    ('account_id', 'account_id', INT, False),
    ('retail_sale_mrp', 'retail_sale_mrp', NUM, False),
    ('cess_id', 'cess_id', INT, False),
    ('cess_amount', 'cess_amount', NUM, False),
    ('total_cess', 'total_cess', NUM, False),
    ('sale_type', 'sale_type', STR, False),
    ('qty_available', 'qty_available', NUM, False),
]
LOT = [
    ('lot_id', 'lot_id', INT, False),
    ('product_id', 'product_id', INT, False),
    ('lot_name', 'lot_name', STR, False),
    ('product_name', 'product_name', STR, False),
    ('quantity', 'quantity', NUM, True),
]


def _fields(obj, spec, path, errors):
    """Typed, renamed fields of ``obj``; Odoo's ``false`` means empty except for booleans."""
    row = {}
    for name, column, kind, required in spec:
        value = obj.get(name)
        if value is False and kind is not BOOL:
            value = None
        if value is None or value == '' and kind is not STR:
            if required:
                errors.append(error(f'{path}{name}', 'is required'))
            row[column] = None
            continue
        try:
            row[column] = kind(value)
        except ValueError as exc:
            errors.append(error(f'{path}{name}', str(exc)))
    return row


def _rows(obj, key, spec, errors, required):
    value = obj.get(key)
    if value in (None, False) and not required:
        return []
    if not isinstance(value, list):
        errors.append(error(key, 'must be a list' if value is not None else 'is required'))
        return []
    rows = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append(error(f'{key}[{i}]', 'must be an object'))
            continue
        rows.append(_fields(item, spec, f'{key}[{i}].', errors))
    return rows


# -- rules --------------------------------------------------------------------------

def total_tolerance(config):
    """``[rattail_fls] intake.total_tolerance`` as a Decimal, or None when the check is off."""
    if not fls_config.get_setting(config, 'intake.total_tolerance'):
        return None
    return fls_config.get_number(config, 'intake.total_tolerance', D)


@dataclass
class Rules:
    """Business rules from ``[rattail_fls] intake.*`` (see app/rattail.conf.example)."""

    allow_negative_qty: bool = False
    total_tolerance: D = D('1.00')
    max_past_days: int = 400
    max_future_days: int = 1
    timezone: datetime.tzinfo = None

    @property
    def today(self):
        """Today in the app's time zone (read per sale: a long-lived worker crosses midnight)."""
        return datetime.datetime.now(self.timezone).date()

    @classmethod
    def from_config(cls, config):
        """Read once per process: config lookups are far too slow for every request."""
        return cls(
            allow_negative_qty=config.get_bool('rattail_fls.intake.allow_negative_qty',
                                               default=False, usedb=False),
            total_tolerance=total_tolerance(config),
            max_past_days=fls_config.get_number(config, 'intake.max_past_days', int, 0),
            max_future_days=fls_config.get_number(config, 'intake.max_future_days', int, 0),
            timezone=config.get_app().get_timezone())


def _check_rules(sale, rules, errors):
    day = sale['sale_date']
    if day and not (rules.today - datetime.timedelta(days=rules.max_past_days) <= day
                    <= rules.today + datetime.timedelta(days=rules.max_future_days)):
        errors.append(error('sale_date', f'{day} is outside the accepted range '
                                         f'({rules.max_past_days} days back, {rules.max_future_days} ahead)'))
    for i, line in enumerate(sale['lines']):
        qty, price = line.get('product_uom_qty'), line.get('price_unit')
        if qty is not None and qty < 0 and not rules.allow_negative_qty:
            errors.append(error(f'sale_line_ids[{i}].product_uom_qty', 'must not be negative'))
        if price is not None and price < 0:
            errors.append(error(f'sale_line_ids[{i}].price_unit', 'must not be negative'))
    for key, rows in (('lot_details_ids', sale['lots']), ('miscellaneous_lot_details_ids', sale['misc_lots'])):
        for i, lot in enumerate(rows):
            if lot.get('quantity') is not None and lot['quantity'] < 0 and not rules.allow_negative_qty:
                errors.append(error(f'{key}[{i}].quantity', 'must not be negative'))
    if rules.total_tolerance is None or errors:
        return
    computed = sum((line['product_uom_qty'] * line['price_unit'] for line in sale['lines']), D(0))
    computed += (sale['miscellaneous_qty'] or 0) * (sale['miscellaneous_sale_price'] or 0)
    if abs(computed - sale['total_including_miscellaneous']) > rules.total_tolerance:
        errors.append(error('total_including_miscellaneous',
                            f"{sale['total_including_miscellaneous']} does not match the lines "
                            f"and miscellaneous item ({computed.normalize():f}) within "
                            f"{rules.total_tolerance}"))
    line_cess = [line['total_cess'] for line in sale['lines'] if line['total_cess'] is not None]
    if sale['total_cess'] is not None and line_cess:
        if abs(sum(line_cess, D(0)) - sale['total_cess']) > rules.total_tolerance:
            errors.append(error('total_cess', f"{sale['total_cess']} does not match the sum of the "
                                              f"lines' total_cess ({sum(line_cess, D(0))})"))


# -- entry points ---------------------------------------------------------------------

def identity(obj):
    """Best-effort ``(retail_point_id, sale_num, sale_date)`` of a raw order, for the inbox."""
    if not isinstance(obj, dict):
        return None, None, None
    ident = []
    for name, kind in (('retail_point_id', INT), ('sale_num', STR), ('sale_date', DATE)):
        try:
            ident.append(kind(obj.get(name)) if obj.get(name) not in (None, False) else None)
        except ValueError:
            ident.append(None)
    return tuple(ident)


def validate_sale(obj, rules):
    """A raw sale order -> normalised sale (header columns + ``lines``, ``lots``, ``misc_lots``,
    ``content_hash``), or :class:`Invalid`."""
    if not isinstance(obj, dict):
        raise Invalid([error('body', 'a sale order must be a JSON object')])
    errors = []
    sale = _fields(obj, HEADER, '', errors)
    sale['lines'] = _rows(obj, 'sale_line_ids', LINE, errors, required=True)
    sale['lots'] = _rows(obj, 'lot_details_ids', LOT, errors, required=False)
    sale['misc_lots'] = _rows(obj, 'miscellaneous_lot_details_ids', LOT, errors, required=False)
    if not errors:
        _check_rules(sale, rules, errors)
    if errors:
        raise Invalid(errors)
    # repr of the normalised sale is canonical (fields in contract order, Decimals
    # quantised) and much cheaper than JSON: whitespace, key order, 10.5 vs 10.50
    # or double encoding in the request do not change it.
    sale['content_hash'] = hashlib.sha256(repr(sale).encode('utf-8')).hexdigest()
    return sale


def validate_day_close(form, today):
    """The form-encoded day close -> ``{'retail_point_id', 'close_date'}``, or :class:`Invalid`.

    The ``url`` field old clients send is ignored: the Odoo endpoint is server
    configuration, never taken from a client.
    """
    errors = []
    result = _fields(form, [('retail_point_id', 'retail_point_id', INT, True)], '', errors)
    raw_date = form.get('close_date') or None
    try:
        result['close_date'] = DATE(raw_date) if raw_date else today
    except ValueError as exc:
        errors.append(error('close_date', str(exc)))
    if errors:
        raise Invalid(errors)
    return result

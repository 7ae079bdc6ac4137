"""The shops' JSON contract, declared once: the sale order and the day-close form.

The models below are the only statement of what a shop may send.  The intake
validates every payload against them once, at the door, and stores the
normalised result; the workers write it without looking again.  So every type
and bound is taken from the shard column the field lands in
(:func:`column_type`): whatever the door accepts, the shards can store.  The
models also give the published JSON Schema (``GET /api/fls/schema``).

Accepted as the existing clients send it: bodies double-encoded as a JSON
string, Odoo's ``false`` for an empty field, the ``miscelleneous_sale_price``
spelling, integers sent as digit strings.  Refused with the field and the
reason: wrong types, values beyond the columns (int4/int2 ranges, NUMERIC
precision), text with NUL characters or longer than its limit, dates that are
not ISO ``YYYY-MM-DD``, NaN or Infinity, lone surrogates, duplicated keys and
nesting deeper than :data:`MAX_DEPTH` (see :func:`decode_body`).

Money and quantities are ``Decimal`` end to end, rounded half-even to the
column's scale (as PostgreSQL would), never float.
"""

import datetime
import decimal
import functools
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Annotated, List, Optional

import msgspec
import sqlalchemy as sa
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError,
                      WithJsonSchema)
from pydantic.json_schema import models_json_schema

from rattail_fls import config as fls_config, jsontext
from rattail_fls.db.model import sales as tables

D = decimal.Decimal

#: Deepest nesting of arrays and objects a body may have (a batch of sale
#: orders with lots needs 4; a JSON string holding the body counts once more).
MAX_DEPTH = 16
#: Longest text accepted in a field whose column has no length of its own.
TEXT_MAX = 1000
#: ``sale_num`` is part of the shards' btree key (``sale_ident``): an entry
#: must stay far below PostgreSQL's index row limit (~2,700 bytes).
SALE_NUM_MAX = 200


class Invalid(ValueError):
    """The payload cannot be used; ``errors`` says where and why."""

    def __init__(self, errors):
        super().__init__('; '.join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


def error(path, reason):
    return {'field': path, 'reason': reason}


# -- decoding ---------------------------------------------------------------------

def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicated key {key!r} (each key may appear once in an object)")
        obj[key] = value
    return obj


_decoder = json.JSONDecoder(parse_float=D, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
_split = msgspec.json.Decoder(list[msgspec.Raw]).decode
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r'\\u[dD][89a-fA-F][0-9a-fA-F]{2}')
_DEPTH = {'[': 1, '{': 1, ']': -1, '}': -1}
_NOT_BRACKETS = re.compile(r'[^\[\]{}]+')
_NOT_BRACKET_BYTES = bytes(c for c in range(256) if c not in b'[]{}')
JSON_WHITESPACE = ' \t\n\r'  # JSON's
_SPACE = re.compile(f'[{JSON_WHITESPACE}]*')


def first_char(text):
    """The first character of the JSON value ``text`` ('' if none)."""
    start = _SPACE.match(text).end()
    return text[start:start + 1]


def may_hold_surrogate(text):
    """True if ``text`` escapes a UTF-16 surrogate (``\\ud800``-``\\udfff``), lone or paired."""
    return _SURROGATE_ESCAPE.search(text) is not None


def decode_value(text):
    """JSON text -> value, as :func:`decode_body` decodes it but without its checks (depth,
    surrogates) or a second decode of a string: for a text already checked as part of a body."""
    return _decoder.decode(text)


def too_deep(text):
    """True if ``text`` nests arrays and objects deeper than :data:`MAX_DEPTH`, without recursing.

    Fast path: keep the brackets alone and peel off matched innermost pairs, one kind at a
    time (each peel lowers the depth by one at most), at most MAX_DEPTH peels; only if some are
    left (deep, or brackets inside strings) are the strings taken out and the depth counted
    exactly.
    """
    brackets = text.encode('utf-8', 'surrogatepass').translate(None, _NOT_BRACKET_BYTES)
    peels = 0
    while brackets and peels <= MAX_DEPTH:
        before = brackets
        for pair in (b'[]', b'{}'):
            peeled = brackets.replace(pair, b'')
            if peeled != brackets:
                brackets, peels = peeled, peels + 1
        if brackets == before:
            break
    if not brackets and peels <= MAX_DEPTH:
        return False
    exact = _NOT_BRACKETS.sub('', _STRINGS.sub('', text))
    return max(itertools.accumulate(_DEPTH[c] for c in exact), default=0) > MAX_DEPTH


def _has_surrogate(value):
    if isinstance(value, str):
        return any('\ud800' <= c <= '\udfff' for c in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def element_texts(text):
    """Each element's JSON text as it stands in the JSON array ``text`` (str or bytes): what the
    shop sent for it, to be stored as it came.  msgspec.DecodeError if ``text`` is not one."""
    return [bytes(item).decode('utf-8') for item in _split(text)]


def _parse(text, what, texts=None):
    # a string (a double-encoded body) nests nothing: only what it holds is measured
    if first_char(text) != '"' and too_deep(text):
        raise Invalid([error('body', f'{what} is nested deeper than {MAX_DEPTH} levels')])
    try:
        value = _decoder.decode(text)
    except ValueError as exc:
        raise Invalid([error('body', f'{what} is not valid JSON ({exc})')]) from None
    if texts is not None and isinstance(value, list):
        try:
            texts.extend(element_texts(text))
        except (msgspec.DecodeError, UnicodeError):  # what msgspec does not split: encoded again
            texts.extend(jsontext.dumps(item) for item in value)
    elif texts is not None:
        texts.append(text.strip(JSON_WHITESPACE))
    if may_hold_surrogate(text) and _has_surrogate(value):
        raise Invalid([error('body', f'{what} holds a lone UTF-16 surrogate (\\ud800-\\udfff), '
                                     'which is not a character')])
    return value


def decode_body(raw, texts=None):
    """Request body -> JSON value, strictly; a JSON string holding JSON (old clients) is decoded again.

    Duplicated keys are refused rather than resolved (no "last one wins"):
    the shop would otherwise not know which value we kept.  Given a list as ``texts``, the JSON
    text of each sale order as sent (the body's, or each element's of a list) is appended to it,
    so that the inbox keeps what the shop sent without encoding it again.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise Invalid([error('body', f'is not UTF-8 text (byte {exc.start})')]) from None
    value = _parse(raw, 'the body', texts)
    if isinstance(value, str):
        if texts is not None:
            texts.clear()
        value = _parse(value, 'the JSON string in the body', texts)
    if not isinstance(value, (dict, list)):
        raise Invalid([error('body', 'must be a sale order object or a list of them')])
    return value


# -- field types, taken from the shard columns ------------------------------------------

def _odoo_empty(value):
    """Odoo sends ``false`` (and some clients ``""``) for an empty field."""
    return None if value is False or value == '' else value


def _integer(value):
    if isinstance(value, bool):
        raise ValueError('must be an integer, not a boolean')
    if isinstance(value, D) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r'-?[0-9]{1,20}', value.strip()):
        return int(value)
    if not isinstance(value, int):
        raise ValueError('must be an integer')
    return value


def _decimal(value):
    if isinstance(value, bool):
        raise ValueError('must be a number, not a boolean')
    if isinstance(value, str):
        try:
            return D(value.strip())
        except decimal.InvalidOperation:
            raise ValueError('must be a number') from None
    if isinstance(value, float):
        return D(repr(value))
    if isinstance(value, int):
        return D(value)
    if not isinstance(value, D):
        raise ValueError('must be a number')
    return value


def fitted(precision, scale):
    """``fit(decimal)``: the value as ``NUMERIC(precision, scale)`` stores it (rounded half-even),
    or ValueError if it cannot be stored."""
    limit = D(10) ** (precision - scale)
    low, step, half_even = -limit, D(1).scaleb(-scale), decimal.ROUND_HALF_EVEN

    def fit(value):
        try:
            if low < value < limit:
                rounded = value.quantize(step, half_even)
                if low < rounded < limit:  # 999.995 rounds to 1000.00, which NUMERIC(5,2) cannot hold
                    return rounded
        except decimal.InvalidOperation:  # NaN is not ordered
            pass
        if not value.is_finite():
            raise ValueError('must be a finite number')
        raise ValueError(f'must be less than 10^{precision - scale} in absolute value once rounded to '
                         f'{scale} decimal places (NUMERIC({precision},{scale}))')
    return fit


def numeric(precision, scale):
    """The coercion of a number sent for a ``NUMERIC(precision, scale)`` column."""
    fit = fitted(precision, scale)
    return lambda value: fit(_decimal(value))


def _text(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError('must be a string')
    if '\x00' in value:
        raise ValueError('must not contain NUL characters')
    return value


_ISO_DATE = re.compile(r'[0-9]{4}-[0-9]{2}-[0-9]{2}')
_ISO_DATETIME = re.compile(r'[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?')


def iso_date(value):
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f'{value!r} is not a calendar date') from None
    raise ValueError('must be a date "YYYY-MM-DD"')


def local_datetime(value):
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f'{value!r} is not a calendar date and time') from None
    raise ValueError('must be a local date and time "YYYY-MM-DD HH:MM:SS" (no zone)')


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError('must be true or false')
    return value


#: JSON Schema pattern of text without NUL (PostgreSQL text cannot hold it).
NO_NUL = '^[^\\x00]*$'
_INT_RANGES = {sa.SmallInteger: 2 ** 15, sa.BigInteger: 2 ** 63, sa.Integer: 2 ** 31}


def int_bound(kind):
    """``2**(bits-1)`` of an integer column type: values lie in ``[-bound, bound - 1]``."""
    return next(b for t, b in _INT_RANGES.items() if isinstance(kind, t))


def text_limit(column, max_length=None):
    """The most characters a text field stored in ``column`` may have."""
    return column.type.length or max_length or TEXT_MAX


@dataclass(frozen=True, eq=False)
class Stored:
    """A field's column and whether it is required: what :mod:`.contract_fast` compiles the field
    from (pydantic keeps it in the field's metadata and ignores it)."""
    column: sa.Column
    required: bool
    max_length: Optional[int] = None


@dataclass(frozen=True, eq=False)
class Rows:
    """A list field of ``model``: at most ``limit`` items; ``optional``: missing, ``null`` and
    ``false`` are the empty list."""
    model: type
    limit: int
    optional: bool


def column_type(column, max_length=None):
    """The contract type of a value stored in ``column``: its Python type, bounds and JSON Schema.

    (Constraints come before the coercing validator so that they show in the JSON Schema.)
    """
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return Annotated[bool, BeforeValidator(_boolean)]
    if isinstance(kind, sa.Integer):
        bound = int_bound(kind)
        return Annotated[int, Field(ge=-bound, le=bound - 1), BeforeValidator(_integer)]
    if isinstance(kind, sa.Numeric):
        limit = 10 ** (kind.precision - kind.scale)
        return Annotated[D, WithJsonSchema({
            'type': ['number', 'string'], 'exclusiveMinimum': -limit, 'exclusiveMaximum': limit,
            'description': f'NUMERIC({kind.precision},{kind.scale}): rounded half-even to '
                           f'{kind.scale} decimal places'}),
            BeforeValidator(numeric(kind.precision, kind.scale))]
    if isinstance(kind, sa.DateTime):
        return Annotated[datetime.datetime, WithJsonSchema({
            'type': 'string', 'pattern': f'^{_ISO_DATETIME.pattern}$',
            'description': "the shop's local time, no zone"}), BeforeValidator(local_datetime)]
    if isinstance(kind, sa.Date):
        return Annotated[datetime.date, WithJsonSchema({'type': 'string', 'format': 'date',
                                                        'pattern': f'^{_ISO_DATE.pattern}$'}),
                         BeforeValidator(iso_date)]
    if isinstance(kind, sa.String):
        return Annotated[str, Field(max_length=text_limit(column, max_length), pattern=NO_NUL),
                         BeforeValidator(_text)]
    raise TypeError(f"no contract type for column {column} ({kind})")


def _present(value):
    if value is None or value is False or value == '':
        raise ValueError('is required')
    return value


def required(column, **kwargs):
    """A field that must be present and not empty (``null``, ``false`` and ``""`` are not values)."""
    return Annotated[column_type(column, **kwargs), BeforeValidator(_present), Stored(column, True, **kwargs)]


def optional(column, **kwargs):
    """A field that may be missing, ``null``, ``""`` or Odoo's ``false`` (all stored as NULL);
    for a boolean, ``false`` is the value false."""
    empty = _odoo_empty if not isinstance(column.type, sa.Boolean) else (lambda v: None if v == '' else v)
    return Annotated[Optional[column_type(column, **kwargs)], BeforeValidator(empty),
                     Stored(column, False, **kwargs)]


def _empty_list(value):
    return [] if value is None or value is False else value


def _rows(model, column, optional=False):
    """A list of ``model``, at most as many as the column numbering them can count; ``optional``:
    ``null`` and ``false`` are the empty list."""
    limit = int_bound(column.type) - 1
    rows = Annotated[List[model], Field(max_length=limit)]
    if optional:
        rows = Annotated[rows, BeforeValidator(_empty_list)]
    return Annotated[rows, Rows(model, limit, optional)]


S, L, T = tables.Sale.__table__.c, tables.SaleLine.__table__.c, tables.SaleLot.__table__.c


class Record(BaseModel):
    """Unknown fields are ignored (clients send more than we keep); field names are the columns'."""
    model_config = ConfigDict(extra='ignore', populate_by_name=True, frozen=True)


class SaleLine(Record):
    """``sale_line_ids[]``."""
    sl_no: optional(L.sl_no) = None
    product_id: required(L.product_id)
    name: optional(L.name) = None
    product_uom_qty: required(L.product_uom_qty)
    product_uom: optional(L.product_uom) = None
    vat_percent: optional(L.vat_percent) = None
    price_unit: required(L.price_unit)
    account_id: optional(L.account_id) = None
    retail_sale_mrp: optional(L.retail_sale_mrp) = None
    cess_id: optional(L.cess_id) = None
    cess_amount: optional(L.cess_amount) = None
    total_cess: optional(L.total_cess) = None
    sale_type: optional(L.sale_type) = None
    qty_available: optional(L.qty_available) = None


class SaleLot(Record):
    """``lot_details_ids[]`` and ``miscellaneous_lot_details_ids[]``."""
    lot_id: optional(T.lot_id) = None
    product_id: optional(T.product_id) = None
    lot_name: optional(T.lot_name) = None
    product_name: optional(T.product_name) = None
    quantity: required(T.quantity)


class SaleOrder(Record):
    """A sale order as a shop's Odoo posts it (field order = the canonical order of the hash)."""
    retail_point_id: required(S.retail_point_id)
    sale_counter_id: required(S.sale_counter_id)
    total_including_miscellaneous: required(S.total_including_miscellaneous)
    payment_journal_id: required(S.payment_journal_id)
    sale_num: required(S.sale_num, max_length=SALE_NUM_MAX)
    sale_date: required(S.sale_date)
    name: optional(S.name) = None
    confirmed_on: optional(S.confirmed_on) = None
    retail_point_name: optional(S.retail_point_name) = None
    sale_counter_name: optional(S.sale_counter_name) = None
    payment_method_name: optional(S.payment_method_name) = None
    confirmed_by_name: optional(S.confirmed_by_name) = None
    customer_name: optional(S.customer_name) = None
    remarks: optional(S.remarks) = None
    store_type: optional(S.store_type) = None
    local_retail_point_db_id: optional(S.local_retail_point_db_id) = None
    sale_journal_id: optional(S.sale_journal_id) = None
    partner_id: optional(S.partner_id) = None
    debtors_account_id: optional(S.debtors_account_id) = None
    confirmed_by: optional(S.confirmed_by) = None
    is_default_customer: optional(S.is_default_customer) = None
    total_cess: optional(S.total_cess) = None
    miscellaneous_product_id: optional(S.miscellaneous_product_id) = None
    miscellaneous_qty: optional(S.miscellaneous_qty) = None
    miscellaneous_sale_price: optional(S.miscellaneous_sale_price) = Field(
        None, alias='miscelleneous_sale_price', description='spelt as the existing clients spell it')
    miscellaneous_invoice_num: optional(S.miscellaneous_invoice_num) = None
    lines: _rows(SaleLine, tables.SaleLine.__table__.c.line_no) = Field(alias='sale_line_ids')
    lots: _rows(SaleLot, T.lot_no, optional=True) = Field(
        default_factory=list, alias='lot_details_ids')
    misc_lots: _rows(SaleLot, T.lot_no, optional=True) = Field(
        default_factory=list, alias='miscellaneous_lot_details_ids')


class DayCloseForm(Record):
    """``POST /sales/enqueue_day_close/``; ``url`` is accepted and ignored (server configuration)."""
    retail_point_id: required(S.retail_point_id)
    close_date: optional(S.sale_date) = Field(None, description="default: today in the shop's time zone")
    url: Optional[str] = Field(None, description='ignored: the Odoo endpoint is server configuration')


@functools.cache
def schema():
    """The published JSON Schema of both payloads (``GET /api/fls/schema``); built once (7 ms), not
    to be changed by callers."""
    _, defs = models_json_schema([(SaleOrder, 'validation'), (DayCloseForm, 'validation')], by_alias=True,
                                 title='FLS intake payloads')
    defs['description'] = (
        "A sale order (POST /sales/enqueue_sales/ or /api/fls/sales; also a list of them, or a JSON "
        "string holding either) and a day close (POST /sales/enqueue_day_close/, form-encoded). "
        f"Nesting deeper than {MAX_DEPTH} levels, duplicated keys, NaN and Infinity are refused. "
        "Odoo's false is accepted for any empty optional field.")
    return defs


# -- errors -------------------------------------------------------------------------

_PATTERN_REASONS = {NO_NUL: 'must not contain NUL characters'}


def _path(loc):
    text = ''
    for part in loc:
        text += f'[{part}]' if isinstance(part, int) else (f'.{part}' if text else str(part))
    return text or 'body'


def _reason(item):
    if item['type'] == 'value_error':
        return str(item['ctx']['error'])
    if item['type'] == 'missing':
        return 'is required'
    if item['type'] == 'less_than_equal':
        return f"must be at most {item['ctx']['le']}"
    if item['type'] == 'greater_than_equal':
        return f"must be at least {item['ctx']['ge']}"
    if item['type'] == 'string_too_long':
        return f"must be at most {item['ctx']['max_length']} characters long"
    if item['type'] == 'too_long':
        return f"must have at most {item['ctx']['max_length']} items"
    if item['type'] == 'string_pattern_mismatch':
        return _PATTERN_REASONS.get(item['ctx']['pattern'], item['msg'])
    if item['type'] in ('model_type', 'model_attributes_type', 'dict_type'):
        return 'must be an object'
    if item['type'] == 'list_type':
        return 'must be a list'
    return item['msg']


def invalid(exc: ValidationError):
    """A pydantic error -> :class:`Invalid` whose fields use the shops' JSON names.

    Of a union (``null`` or a value), only the value's complaint is kept.
    """
    errors = {}
    for item in exc.errors(include_url=False):
        loc = tuple(p for p in item['loc'] if not (isinstance(p, str) and p.startswith(('function-', 'none'))))
        loc = tuple(p for p in loc if p not in ('int', 'str', 'decimal', 'date', 'datetime', 'bool'))
        errors.setdefault(_path(loc), _reason(item))
    return Invalid([error(path, reason) for path, reason in errors.items()])


# -- rules --------------------------------------------------------------------------

@dataclass
class Rules:
    """Business rules from ``[rattail_fls] intake.*`` (see app/rattail.conf.example)."""

    allow_negative_qty: bool = False
    total_tolerance: D = D('1.00')
    max_past_days: int = 400
    max_future_days: int = 1

    @classmethod
    def from_config(cls, config):
        """Read once per process: config lookups are far too slow for every request."""
        return cls(
            allow_negative_qty=config.get_bool('rattail_fls.intake.allow_negative_qty',
                                               default=False, usedb=False),
            total_tolerance=fls_config.get_total_tolerance(config),
            max_past_days=fls_config.get_number(config, 'intake.max_past_days', int, 0),
            max_future_days=fls_config.get_number(config, 'intake.max_future_days', int, 0))


def _check_rules(sale, rules, today, errors):
    day = sale['sale_date']
    if not (today - datetime.timedelta(days=rules.max_past_days) <= day
            <= today + datetime.timedelta(days=rules.max_future_days)):
        errors.append(error('sale_date', f'{day} is outside the accepted range '
                                         f'({rules.max_past_days} days back, {rules.max_future_days} ahead '
                                         f'of {today} in the shop\'s time zone)'))
    for i, line in enumerate(sale['lines']):
        if line['product_uom_qty'] < 0 and not rules.allow_negative_qty:
            errors.append(error(f'sale_line_ids[{i}].product_uom_qty', 'must not be negative'))
        if line['price_unit'] < 0:
            errors.append(error(f'sale_line_ids[{i}].price_unit', 'must not be negative'))
    for key, rows in (('lot_details_ids', sale['lots']), ('miscellaneous_lot_details_ids', sale['misc_lots'])):
        for i, lot in enumerate(rows):
            if lot['quantity'] < 0 and not rules.allow_negative_qty:
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

_IDENTITY = {name: TypeAdapter(SaleOrder.__annotations__[name])
             for name in ('retail_point_id', 'sale_num', 'sale_date')}


def identity(obj):
    """Best-effort ``(retail_point_id, sale_num, sale_date)`` of a raw order, for the inbox:
    each part only if it is valid on its own (so it always fits the inbox columns)."""
    if not isinstance(obj, dict):
        return None, None, None
    ident = []
    for name, adapter in _IDENTITY.items():
        try:
            ident.append(adapter.validate_python(obj.get(name)))
        except ValidationError:
            ident.append(None)
    return tuple(ident)


def shop_of(obj):
    """The raw order's ``retail_point_id`` if valid, else None (whose today bounds its date)."""
    try:
        return _IDENTITY['retail_point_id'].validate_python(obj.get('retail_point_id'))
    except (ValidationError, AttributeError):
        return None


def validate_sale(obj, rules, today):
    """A raw sale order -> normalised sale (columns + ``lines``, ``lots``, ``misc_lots``,
    ``content_hash``), or :class:`Invalid`; ``today`` is the shop's date."""
    if not isinstance(obj, dict):
        raise Invalid([error('body', 'a sale order must be a JSON object')])
    try:
        sale = SaleOrder.model_validate(obj).model_dump()
    except ValidationError as exc:
        raise invalid(exc) from None
    return finish_sale(sale, rules, today)


def finish_sale(sale, rules, today):
    """A sale the models have normalised (or :mod:`.contract_fast`, which makes the same) ->
    checked against the business rules and given its ``content_hash``; or :class:`Invalid`."""
    errors = []
    _check_rules(sale, rules, today, errors)
    if errors:
        raise Invalid(errors)
    # repr of the normalised sale is canonical (fields in contract order, Decimals
    # quantised) and much cheaper than JSON: whitespace, key order, 10.5 vs 10.50
    # or double encoding in the request do not change it.
    sale['content_hash'] = hashlib.sha256(repr(sale).encode('utf-8')).hexdigest()
    return sale


def validate_day_close(form, today):
    """The day-close form -> ``{'retail_point_id', 'close_date'}``, or :class:`Invalid`;
    ``today(retail_point_id)`` gives the default date, the shop's today."""
    if not isinstance(form, dict):
        raise Invalid([error('body', 'a day close must be an object')])
    try:
        request = DayCloseForm.model_validate(form)
    except ValidationError as exc:
        raise invalid(exc) from None
    return {'retail_point_id': request.retail_point_id,
            'close_date': request.close_date or today(request.retail_point_id)}

"""A loopback stand-in for CORE-POS Office's webservices API (``fannie/ws/``).

No CORE-POS can be installed on these machines, so tests, the demo and the
benches talk to this instead.  It answers ``FannieEntity`` and ``FannieMember``
JSON-RPC calls byte for byte like the real server whose answers are captured
in the project's reference notes (PHP 8.2, classic ``custdata`` member schema):
every value a string, NULL columns left out, each record JSON-encoded again
inside ``result.result``, PHP's ``json_encode`` escaping, HTTP 200 for JSON-RPC
errors and HTTP 500 with an empty body for PHP fatals.  It can also be told to
fail the ways a broken CORE does (see :data:`FAULTS`).

It also answers ``FannieItemInfo`` (its parameter checks are JSON-RPC errors),
and paths other than the endpoint as CORE's web server does (:func:`route`:
302 from the fannie root, 404 elsewhere).  It is not CORE-POS: the other
webservices (``FannieDeptLookup``...) answer like an unknown class does, with
HTTP 500.

Run standalone with ``python -m fls_dev.loopback.corepos --port 8080``.
"""

import argparse
import datetime
import json
import logging
import random
import re
import threading
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation, ROUND_HALF_UP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from json.encoder import encode_basestring_ascii
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

#: pyCOREPOS prefixes every method with this namespace.
NAMESPACE = 'COREPOS\\Fannie\\API\\webservices\\'

FAULTS = ('http500_empty', 'html_error', 'jsonrpc_error', 'false_record', 'hang',
          'empty_result', 'truncated')

SAMPLE = 'corepos_sample.json'

#: What a PHP fatal looks like when display_errors is on (HTTP 200, then no JSON).
HTML_FATAL = (
    '<br />\n<b>Fatal error</b>:  Uncaught TypeError: count(): Argument #1 ($value) must be '
    'of type Countable|array, stdClass given in /var/www/html/IS4C/fannie/classlib2.0/'
    'webservices/FannieEntity.php:57\nStack trace:\n#0 /var/www/html/IS4C/fannie/ws/'
    'index.php(122): COREPOS\\Fannie\\API\\webservices\\FannieEntity-&gt;run(Object(stdClass))'
    '\n#1 {main}\n  thrown in <b>/var/www/html/IS4C/fannie/classlib2.0/webservices/'
    'FannieEntity.php</b> on line <b>57</b><br />\n')

PARSE_ERROR = '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"JSON Parse Error"}}'

#: A LEFT JOIN that finds no memDates row gives this, as observed on the real server.
NO_DATE = '1900-01-01 00:00:00'


# -- PHP's json_encode ------------------------------------------------------------------

def php_json(value):
    """Encode like PHP's ``json_encode()`` with default flags: no spaces, ``\\/``, ``\\uXXXX``."""
    return json.dumps(value, ensure_ascii=True, separators=(',', ':')).replace('/', '\\/')


def _php_str(text):
    return encode_basestring_ascii(text).replace('/', '\\/')


class _Records(list):
    """A ``result.result`` list whose items are already JSON (a string literal, or ``false``)."""


def _encode(value):
    """``php_json()`` that splices pre-encoded records in instead of encoding them again."""
    if isinstance(value, _Records):
        return '[' + ','.join(value) + ']'
    if isinstance(value, dict):
        return '{' + ','.join(_php_str(str(k)) + ':' + _encode(v) for k, v in value.items()) + '}'
    return php_json(value)


# -- MySQL column values ----------------------------------------------------------------

_SCALES = {'money': Decimal('0.01'), 'dec3': Decimal('0.001')}
_FIXED = {'money': re.compile(r'-?(0|[1-9]\d*)\.\d\d$'),
          'dec3': re.compile(r'-?(0|[1-9]\d*)\.\d\d\d$')}
_NEGATIVE_ZERO = re.compile(r'-0\.0+$')
_DATETIME = re.compile(r'\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?$')


def _number(value):
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return number


def to_column(kind, value):
    """``value`` as CORE's MySQL hands it back from a column of ``kind`` (None for NULL).

    Kinds: ``str``, ``int``, ``money`` (DECIMAL(10,2)), ``dec3`` (DECIMAL(10,3)),
    ``double`` and ``datetime``.  Raises ValueError where strict MySQL would refuse it.
    """
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        raise ValueError(f"not a column value: {value!r}")
    if isinstance(value, bool):
        value = int(value)
    if kind == 'str':
        return _double(value) if isinstance(value, float) else str(value)
    if kind == 'int':
        if isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit()):
            return str(int(value))
        return str(int(_number(value).to_integral_value(ROUND_HALF_UP)))
    if kind in _SCALES:
        if isinstance(value, str) and _FIXED[kind].match(value) \
                and not _NEGATIVE_ZERO.match(value):
            return value
        number = _number(value).quantize(_SCALES[kind], ROUND_HALF_UP)
        return str(abs(number) if number == 0 else number)
    if kind == 'double':
        return _double(float(_number(value)))
    if kind == 'datetime':
        if isinstance(value, datetime.datetime):
            return value.strftime('%Y-%m-%d %H:%M:%S')
        if isinstance(value, datetime.date):
            return value.strftime('%Y-%m-%d 00:00:00')
        text = str(value).strip()
        if not _DATETIME.match(text):
            raise ValueError(f"not a datetime: {value!r}")
        return text if len(text) > 10 else text + ' 00:00:00'
    raise ValueError(f"unknown column kind {kind!r}")


def _double(number):
    """MySQL's shortest form of a DOUBLE: ``0.05``, ``0.1``, ``40``."""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _python(kind, text):
    """A stored value as the Python type a SQL driver would give back."""
    if text is None:
        return None
    if kind == 'int':
        return int(text)
    if kind in _SCALES:
        return Decimal(text)
    if kind == 'double':
        return float(text)
    if kind == 'datetime':
        # Python has no zero date ('0000-00-00 00:00:00'); NULL is the nearest.
        if text.startswith('0000'):
            return None
        return datetime.datetime.strptime(text, '%Y-%m-%d %H:%M:%S')
    return text


def _now():
    return datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')


# -- schema -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Entity:
    """One CORE model (``<name>Model``) as the webservices see it."""

    name: str
    table: str
    #: column -> kind, in the model's order, which is the key order of its JSON
    columns: dict
    #: column -> value the database fills in on INSERT
    defaults: dict
    #: the primary key: rows come back in its order
    key: tuple
    #: the columns ``set`` needs before it may save (``BasicModel::isUnique()``)
    unique: tuple
    increment: str = None


def _entity(name, table, spec, key, unique=None, increment=None):
    """Build an Entity from ``"column[:kind][=default] ..."`` (kind defaults to str)."""
    columns, defaults = {}, {}
    for token in spec.split():
        token, has_default, default = token.partition('=')
        column, _, kind = token.partition(':')
        columns[column] = kind or 'str'
        if has_default:
            defaults[column] = to_column(columns[column], default)
    key = tuple(key.split())
    return Entity(name, table, columns, defaults, key,
                  tuple(unique.split()) if unique else key, increment)


#: The CORE models served, with their columns as the captured server has them.
ENTITIES = {entity.name: entity for entity in (
    _entity('Departments', 'departments', '''
        dept_no:int dept_name dept_tax:int dept_fs:int dept_limit:money dept_minimum:money
        dept_discount:int dept_see_id:int=0 modified:datetime modifiedby:int margin:double
        salesCode:int memberOnly:int=0 line_item_discount:int=1 dept_wicable:int=0
        active:int=1''', key='dept_no'),
    _entity('SubDepts', 'subdepts', '''
        subdept_no:int subdept_name dept_ID:int subdept_tax:int=0 subdept_fs:int=0''',
            key='subdept_no'),
    _entity('Vendors', 'vendors', '''
        vendorID:int vendorName vendorAbbreviation shippingMarkup:double=0
        discountRate:double=0 phone fax email website address city state zip notes
        localOriginID:int=0 inactive:int=0 orderMinimum:money=0 halfCases:int=0''',
            key='vendorID'),
    _entity('Products', 'products', '''
        upc description brand formatted_name normal_price:money pricemethod:int
        groupprice:money quantity:int special_price:money specialpricemethod:int
        specialgroupprice:money specialquantity:int special_limit:int=0 start_date:datetime
        end_date:datetime department:int size tax:int foodstamp:int scale:int
        scaleprice:money mixmatchcode created:datetime modified:datetime batchID:int=0
        tareweight:double discount:int discounttype:int line_item_discountable:int=1
        unitofmeasure wicable:int=0 qttyEnforced:int idEnforced:int cost:dec3=0
        special_cost:dec3=0 received_cost:dec3=0 inUse:int numflag:int=0 subdept:int
        deposit:double local:int=0 store_id:int=1 default_vendor_id:int=0
        current_origin_id:int=0 auto_par:double=0 price_rule_id:int=0 last_sold:datetime
        id:int''', key='id', unique='upc', increment='id'),
    _entity('VendorItems', 'vendorItems', '''
        vendorItemID:int upc sku brand description size units:double=1 cost:dec3
        saleCost:dec3=0 vendorDept:int=0 vendorID:int srp:money modified:datetime''',
            key='sku vendorID', increment='vendorItemID'),
    _entity('Stores', 'Stores', '''
        storeID:int description dbHost dbDriver dbUser dbPassword transDB opDB push:int=1
        pull:int=1 hasOwnItems:int=1 webServiceUrl''', key='storeID', increment='storeID'),
    _entity('Employees', 'employees', '''
        emp_no:int CashierPassword AdminPassword FirstName LastName JobTitle EmpActive:int
        frontendsecurity:int backendsecurity:int birthdate:datetime''', key='emp_no'),
    _entity('Memtype', 'memtype', '''
        memtype:int=0 memDesc custdataType discount:int staff:int ssi:int salesCode:int
        ignoreSales:int=0 enabled:int=1''', key='memtype'),
    _entity('Tenders', 'tenders', '''
        TenderID:int TenderCode TenderName TenderType ChangeMessage MinAmount:money
        MaxAmount:money MaxRefund:money TenderModule SalesCode:int''', key='TenderID'),
    _entity('TaxRates', 'taxrates', 'id:int rate:double description salesCode:int', key='id'),
    # The member tables behind FannieMember.  CashBack and Balance take
    # pyCOREPOS's defaults (NOT NULL there) so office_op_rows() loads.
    _entity('Custdata', 'custdata', '''
        CardNo:int personNum:int LastName FirstName CashBack:money=60 Balance:money=0
        Discount:int MemDiscountLimit:money=0 ChargeLimit:money=0 ChargeOk:int=1
        WriteChecks:int=1 StoreCoupons:int=1 Type=PC memType:int staff:int=0 SSI:int=0
        Purchases:money=0 NumberOfChecks:int=0 memCoupons:int=1 blueLine Shown:int=1
        LastChange:datetime id:int''', key='id', increment='id'),
    _entity('Meminfo', 'meminfo', '''
        card_no:int last_name first_name othlast_name othfirst_name street city state zip
        phone email_1 email_2 ads_OK:int=1 modified:datetime''', key='card_no'),
    _entity('MemDates', 'memDates', 'card_no:int start_date:datetime end_date:datetime',
            key='card_no'),
    _entity('MemberCards', 'memberCards', 'card_no:int upc', key='card_no'),
    _entity('CustomerAccounts', 'CustomerAccounts', '''
        customerAccountID:int cardNo:int memberStatus=PC activeStatus= customerTypeID:int=1
        chargeBalance:money=0 chargeLimit:money=0 idCardUPC startDate:datetime
        endDate:datetime addressFirstLine addressSecondLine city state zip
        contactAllowed:int=1 contactMethod=mail modified:datetime''',
            key='customerAccountID', increment='customerAccountID'),
    _entity('Customers', 'Customers', '''
        customerID:int customerAccountID:int cardNo:int firstName lastName chargeAllowed:int=1
        checksAllowed:int=1 discount:int=0 accountHolder:int=0 staff:int=0 phone altPhone
        email memberPricingAllowed:int=0 memberCouponsAllowed:int=0 lowIncomeBenefits:int=0
        modified:datetime''', key='customerID', increment='customerID'),
)}

#: FannieEntity refuses ``set`` on these (checked before the entity exists).
SET_REFUSED = ('Custdata', 'Meminfo', 'MemDates', 'CustomerAccounts', 'Customers',
               'MemberCards', 'MemContact', 'VendorContact')

#: Their models' save() stamps ``modified`` with the current time.
_STAMPED = ('Products', 'VendorItems')

#: office_op table -> entity, for the member tables rattail reads over SQL.
OFFICE_OP_TABLES = {'custdata': 'Custdata', 'meminfo': 'Meminfo', 'memDates': 'MemDates',
                    'memberCards': 'MemberCards', 'memtype': 'Memtype',
                    'CustomerAccounts': 'CustomerAccounts', 'Customers': 'Customers'}


# -- in-memory tables -------------------------------------------------------------------

def _sort_value(kind, text):
    if text is None:
        return (0,)                     # NULL sorts first
    if kind == 'str':
        return (1, text.casefold())     # MySQL's default collation ignores case
    return (1, Decimal(text) if kind != 'datetime' else text)


class Table:
    """One CORE table: rows of canonical strings (NULLs absent, columns in model
    order) keyed by primary key.

    Each row's wire form is cached, and so is the whole table's, because a
    full ``get`` of 20,000 products must not re-encode them every time.
    """

    def __init__(self, entity):
        self.entity = entity
        self._rows = {}
        self._wire = {}
        self._order = None
        self._all = None
        self._next_id = 1

    def __len__(self):
        return len(self._rows)

    def rows(self):
        """Every row, in primary key order."""
        if self._order is None:
            self._order = sorted(self._rows)
        return [self._rows[key] for key in self._order]

    def coerce(self, values):
        """``values`` in canonical form; KeyError for a column the model lacks."""
        columns = self.entity.columns
        return {column: to_column(columns[column], value) for column, value in values.items()}

    def load(self, rows):
        """Put rows as given (seeding): no defaults; a row with the same key is replaced."""
        for values in rows:
            self._put({c: v for c, v in self.coerce(values).items() if v is not None})

    def insert(self, values):
        """INSERT: defaults fill the columns not given, auto-increment assigns the id."""
        row = dict(self.entity.defaults)
        row.update((c, v) for c, v in self.coerce(values).items() if v is not None)
        increment = self.entity.increment
        if increment and increment not in row:
            row[increment] = str(self._next_id)
        if self._key(row) in self._rows:
            raise ValueError(f"duplicate primary key in {self.entity.table}: {row}")
        return self._put(row)

    def update(self, row, values):
        """UPDATE one row with ``values`` (None values are skipped, as CORE's models do)."""
        new = dict(row)
        new.update((c, v) for c, v in self.coerce(values).items() if v is not None)
        if self._key(new) != self._key(row):
            if self._key(new) in self._rows:
                raise ValueError(f"duplicate primary key in {self.entity.table}: {new}")
            self.delete(row)
        return self._put(new)

    def delete(self, row):
        key = self._key(row)
        del self._rows[key]
        self._wire.pop(key, None)
        self._order = self._all = None

    def find(self, filters=None):
        """Rows equal to every ``column: value`` filter (None ignored), in primary key order."""
        tests = [(column, self._matcher(column, value))
                 for column, value in (filters or {}).items() if value is not None]
        return [row for row in self.rows() if all(test(row.get(c)) for c, test in tests)]

    def record_json(self, row):
        """``BasicModel::toJSON()``: the row's non-NULL columns, in model order."""
        return php_json(row)

    def wire(self, rows):
        """The rows as items of ``result.result``: each record JSON-encoded again."""
        if rows and len(rows) == len(self._rows):     # find() gave every row
            if self._all is None:
                self._all = _Records(self._wired(row) for row in rows)
            return self._all
        return _Records(self._wired(row) for row in rows)

    def _wired(self, row):
        key = self._key(row)
        if key not in self._wire:
            self._wire[key] = _php_str(self.record_json(row))
        return self._wire[key]

    def _key(self, row):
        columns = self.entity.columns
        return tuple(_sort_value(columns[c], row.get(c)) for c in self.entity.key)

    def _put(self, row):
        row = {column: row[column] for column in self.entity.columns if column in row}
        key = self._key(row)
        if key not in self._rows:
            self._order = None
        self._rows[key] = row
        self._wire.pop(key, None)
        self._all = None
        increment = self.entity.increment
        if increment and increment in row:
            self._next_id = max(self._next_id, int(row[increment]) + 1)
        return row

    def _matcher(self, column, value):
        kind = self.entity.columns[column]
        try:
            wanted = to_column(kind, value)
        except ValueError:
            return lambda text: False
        if kind == 'str':
            wanted = wanted.rstrip(' ').casefold()
            return lambda text: text is not None and text.rstrip(' ').casefold() == wanted
        return lambda text: text == wanted


class CoreStore:
    """CORE's op database in memory: a :class:`Table` per entity name, under one lock.

    ``hq_mode`` is CORE's ``$FANNIE_STORE_MODE = 'HQ'``: products have a row per
    store, and ``ProductsModel`` is unique on ``upc`` and ``store_id`` together.
    """

    def __init__(self, hq_mode=False):
        self.lock = threading.RLock()
        self.hq_mode = hq_mode
        self.clear()

    def __getitem__(self, entity):
        return self.tables[entity]

    def clear(self):
        entities = dict(ENTITIES)
        if self.hq_mode:
            entities['Products'] = replace(entities['Products'], unique=('upc', 'store_id'))
        self.tables = {name: Table(entity) for name, entity in entities.items()}

    def snapshot(self):
        """``{entity: [row, ...]}`` of the non-empty tables, as :meth:`load_snapshot` takes."""
        return {name: [dict(row) for row in table.rows()]
                for name, table in self.tables.items() if len(table)}

    def load_snapshot(self, snapshot):
        for name, rows in snapshot.items():
            self.tables[name].load(rows)
        return self

    @classmethod
    def sample(cls):
        """A store holding the rows behind the answers captured from a real CORE-POS."""
        text = resources.files(__package__).joinpath(SAMPLE).read_text(encoding='utf-8')
        return cls().load_snapshot(json.loads(text))

    def office_op_rows(self):
        """``{table: [row, ...]}`` of the member tables, for loading into the office_op
        database rattail's importers read over SQL.

        Rows have exactly the columns of pyCOREPOS's office_op model, with Python
        values its types accept: where it declares a Boolean (``Customers.discount``,
        a percentage in CORE), any non-zero value becomes True.
        """
        import sqlalchemy as sa     # pyCOREPOS's model is only needed here
        from corepos.db.office_op.model import Base

        result = {}
        for table_name, entity in OFFICE_OP_TABLES.items():
            kinds = ENTITIES[entity].columns
            columns = Base.metadata.tables[table_name].columns
            result[table_name] = rows = []
            for row in self.tables[entity].rows():
                values = {}
                for column in columns:
                    value = _python(kinds[column.name], row.get(column.name))
                    if isinstance(column.type, sa.Boolean) and value is not None:
                        value = bool(value)
                    values[column.name] = value
                rows.append(values)
        return result


# -- FannieEntity -----------------------------------------------------------------------

class _Fatal(Exception):
    """A PHP fatal error: CORE then answers HTTP 500 with an empty body."""


def _error(code, message):
    return {'error': {'code': code, 'message': message}}


def _php_lower(value):
    """PHP's ``strtolower()`` of a decoded JSON value: '' for null, a fatal for an array."""
    if isinstance(value, (list, dict)):
        raise _Fatal("strtolower() on an array")
    return '' if value is None else str(value).lower()


def _fannie_entity(store, params):
    """``FannieEntity::run()``: get/set any model's rows."""
    if not isinstance(params, dict):
        raise _Fatal("property_exists() on an array")
    if not all(name in params for name in ('entity', 'submethod', 'columns')):
        return _error(-32602, 'Invalid parameters')
    columns = params['columns']
    if isinstance(columns, list):
        if not columns:
            return _error(-32601, 'Columns cannot be empty')
        columns = {str(i): value for i, value in enumerate(columns)}
    elif not isinstance(columns, dict):
        raise _Fatal("count() on a scalar")
    submethod = _php_lower(params['submethod'])
    if submethod not in ('get', 'set'):
        return _error(-32601, 'Invalid submethod')
    name = params['entity']
    if submethod == 'set' and name in SET_REFUSED:
        return _error(-32600, 'Set not allowed on this entity')
    if not isinstance(name, str) or name not in ENTITIES:
        return _error(-32600, 'Invalid entity')
    table = store[name]
    for column in columns:
        if column not in table.entity.columns:
            return _error(-32600, f'Invalid column {column}')
    if submethod == 'get':
        return {'result': table.wire(table.find(columns))}
    return _entity_set(table, columns)


def _entity_set(table, columns):
    """Save like ``BasicModel::save()``: an upsert on the model's unique columns.

    Both the INSERT and the UPDATE leave an auto-increment column out, so an
    explicit id that is not in the table inserts a row with the next id; then
    ``load()`` by that id finds nothing and CORE answers the model's instance,
    which is the input as sent.  CORE's fallback to an auto-increment INSERT
    without the unique columns never runs (its ``canIncrementInsert()`` indexes
    a filtered array by 0), so then the answer is always "Invalid set of columns".
    """
    entity = table.entity
    if any(columns.get(column) is None for column in entity.unique):
        return _error(-32600, 'Invalid set of columns')
    values = {column: value for column, value in columns.items() if column != entity.increment}
    if entity.name in _STAMPED:
        values['modified'] = _now()
    unique = {column: columns[column] for column in entity.unique}
    try:
        table.coerce({**columns, **values})
        matches = table.find(unique)
        for row in matches:
            table.update(row, values)
        if not matches:
            table.insert(values)
    except ValueError as error:
        log.debug("set on %s failed: %s", entity.name, error)
        return _error(-32000, 'Error saving data')
    reloaded = table.find(unique)
    if not reloaded:
        return {'result': php_json({**columns, **values})}
    return {'result': table.record_json(reloaded[0])}


# -- FannieItemInfo ---------------------------------------------------------------------

#: What ``FannieItemInfo`` answers of the first matching vendor item, in its order.
_ITEM_INFO = ('sku', 'upc', 'size', 'units', 'brand', 'description', 'cost')


def _fannie_item_info(store, params):
    """``FannieItemInfo::run()``: one vendor item by ``vendor_id`` and ``sku`` or ``upc``;
    its own checks answer JSON-RPC errors, no match answers ``[]``."""
    if not isinstance(params, dict):
        raise _Fatal("property_exists() on an array")
    if 'type' not in params:
        return _error(-32602, 'Invalid parameters needs type')
    if _php_lower(params['type']) != 'vendor':
        return _error(-32602, 'Invalid parameters')
    if 'vendor_id' not in params:
        return _error(-32602, 'Invalid parameters needs vendor_id')
    if 'sku' not in params and 'upc' not in params:
        return _error(-32602, 'Invalid parameters needs sku or upc')
    lookup = 'sku' if 'sku' in params else 'upc'
    rows = store['VendorItems'].find({'vendorID': params['vendor_id'], lookup: params[lookup]})
    if not rows:
        return []
    return {column: rows[0].get(column) for column in _ITEM_INFO}


# -- FannieMember (MemberREST, classic custdata schema) ---------------------------------

def _php_loosely_null(value):
    """PHP 8's ``$value == null``."""
    return value is None or value is False or value == '' or value == [] or (
        isinstance(value, (int, float)) and value == 0)


def _php_zero(value):
    """PHP 8's ``$value == 0``."""
    if value is None or isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, str):
        try:
            return float(value.strip()) == 0
        except ValueError:
            return False
    return False


def _php_truthy(value):
    return value not in (None, False, 0, '', '0', [])


def _fannie_member(store, params):
    """``FannieMember::run()``: get or set one member account (or get them all)."""
    if not isinstance(params, dict):
        raise _Fatal("property_exists() on an array")
    if 'cardNo' not in params or 'method' not in params:
        return _error(-32602, 'Invalid parameters')
    method = _php_lower(params['method'])
    if method not in ('get', 'set'):
        return _error(-32602, 'Method must be "get" or "set"')
    card = params['cardNo']
    if method == 'get':
        return _all_members(store) if _php_zero(card) else _member(store, card)
    if 'member' not in params:
        return _error(-32602, 'Invalid parameters')
    # PHP casts member and each customer to arrays; what is not an object
    # casts to an array without those keys (customers to none at all).
    member = params['member'] if isinstance(params['member'], dict) else {}
    customers = member.get('customers')
    customers = customers if isinstance(customers, list) else []
    member = {**member, 'customers': [c if isinstance(c, dict) else {} for c in customers]}
    return _set_member(store, card, member)


def _one(store, entity, **filters):
    """The first row matching, or {} (a LEFT JOIN that found nothing)."""
    if any(value is None for value in filters.values()):
        return {}
    rows = store[entity].find(filters)
    return rows[0] if rows else {}


def _person_number(row):
    number = row.get('personNum')
    return -1 if number is None else int(number)


def _person_fields(person, info):
    """The fields a member account's person shows, in CORE's order (shared by get and list)."""
    return {
        'firstName': person.get('FirstName'),
        'lastName': person.get('LastName'),
        'chargeAllowed': person.get('ChargeOk'),
        'checksAllowed': person.get('WriteChecks'),
        'discount': person.get('Discount'),
        'staff': person.get('staff'),
        'lowIncomeBenefits': person.get('SSI'),
        'modified': _later(person.get('LastChange'), info.get('modified')),
    }


def _later(changed, modified):
    """``CASE WHEN c.LastChange > m.modified THEN c.LastChange ELSE m.modified END``."""
    if changed is not None and modified is not None and changed > modified:
        return changed
    return modified


def _split_street(street):
    first, _, second = (street or '').partition('\n')
    return first, second


def _joined(store, card, person):
    """The rows getCustdata() LEFT JOINs to a custdata row ({} where none):
    meminfo, memDates, memberCards and memtype."""
    return (_one(store, 'Meminfo', card_no=card), _one(store, 'MemDates', card_no=card),
            _one(store, 'MemberCards', card_no=card),
            _one(store, 'Memtype', memtype=person.get('memType')))


def _account(card, person, info, dates, card_row, memtype):
    """The account-level fields of ``MemberREST::getCustdata()``, from one custdata row."""
    first, second = _split_street(info.get('street'))
    return {
        'cardNo': card,
        'memberStatus': person.get('Type'),
        'activeStatus': '',
        'customerTypeID': person.get('memType'),
        'customerType': memtype.get('memDesc'),
        'chargeLimit': person.get('ChargeLimit'),
        'chargeBalance': person.get('Balance'),
        'idCardUPC': card_row.get('upc', ''),
        'startDate': dates.get('start_date', NO_DATE),
        'endDate': dates.get('end_date', NO_DATE),
        'city': info.get('city', ''),
        'state': info.get('state', ''),
        'zip': info.get('zip', ''),
        'contactAllowed': info.get('ads_OK', 1),
        # CORE writes `$ret['contactMethod'] == 'email'`, so it is always 'mail'.
        'contactMethod': 'mail',
        'addressFirstLine': first,
        'addressSecondLine': second,
        'customers': [],
        'modified': _later(person.get('LastChange'), info.get('modified')),
    }


def _member(store, card):
    """``MemberREST::get($id)`` for one card: the account, or False."""
    people = sorted(store['Custdata'].find({'CardNo': card}), key=_person_number)
    holder = next((p for p in people if p.get('personNum') == '1'), None)
    if holder is None:
        return False
    info, dates, card_row, memtype = _joined(store, card, holder)
    account = _account(card, holder, info, dates, card_row, memtype)
    for person in people:
        customer = {'customerID': 0, **_person_fields(person, info)}
        if person is holder:
            customer.update(accountHolder=1, phone=info.get('phone', ''),
                            email=info.get('email_1', ''), altPhone=info.get('email_2', ''))
        else:
            customer.update(accountHolder=0, phone='', email='', altPhone='')
        if person.get('Type') == 'PC':
            customer.update(memberPricingAllowed=1, memberCouponsAllowed=1)
        account['customers'].append(customer)

    # Classic mode still migrates the account into CustomerAccounts/Customers
    # (a write inside a GET) and adds their ids: an int just after migrating,
    # a string (read back from MySQL) from then on.
    existing = store['CustomerAccounts'].find({'cardNo': card})
    if existing:
        account_id = existing[0]['customerAccountID']
    else:
        account_id = _migrate_account(store, account, dates)
    account['customerAccountID'] = account_id
    customers = store['Customers']
    current = customers.find({'cardNo': card})
    if len(current) != len(people):
        for row in current:
            customers.delete(row)
        _migrate_customers(store, card, people, info, account_id)
    for row in customers.find({'cardNo': card}):
        for customer in account['customers']:
            if (customer['firstName'] == row.get('firstName')
                    and customer['lastName'] == row.get('lastName')):
                customer['customerID'] = row['customerID']
                customer['customerAccountID'] = account_id
                break
    return account


def _migrate_account(store, account, dates):
    """``CustomerAccountsModel::migrateAccount()``; returns the new id as an int."""
    row = store['CustomerAccounts'].insert({
        **{column: account[column] for column in ENTITIES['CustomerAccounts'].columns
           if column in account},
        'idCardUPC': account['idCardUPC'] or None,
        'startDate': dates.get('start_date'),
        'endDate': dates.get('end_date'),
    })
    return int(row['customerAccountID'])


def _migrate_customers(store, card, people, info, account_id):
    """``CustomersModel::migrateAccount()``: one Customers row per custdata person."""
    for person in people:
        holder = person.get('personNum') == '1'
        member = 1 if person.get('Type') == 'PC' else 0
        store['Customers'].insert({
            'customerAccountID': account_id,
            'cardNo': card,
            'firstName': person.get('FirstName'),
            'lastName': person.get('LastName'),
            'chargeAllowed': person.get('ChargeOk'),
            'checksAllowed': person.get('WriteChecks'),
            'discount': person.get('Discount'),
            'accountHolder': 1 if holder else 0,
            'staff': person.get('staff'),
            'phone': info.get('phone') if holder else '',
            'altPhone': info.get('email_2') if holder else '',
            'email': info.get('email_1') if holder else '',
            'memberPricingAllowed': member,
            'memberCouponsAllowed': member,
            'lowIncomeBenefits': person.get('SSI'),
            'modified': _later(person.get('LastChange'), info.get('modified')),
        })


def _by_card(store, entity, column):
    rows = {}
    for row in store[entity].rows():
        rows.setdefault(row.get(column), row)
    return rows


def _all_members(store):
    """``MemberREST::getAllCustdata()`` (``cardNo`` null or 0): every account, unmigrated.

    ``customerID`` stays 0, and ``memberPricingAllowed`` of each non-holder comes
    from whichever account was built last: CORE's loop reuses ``$account``.
    """
    infos = _by_card(store, 'Meminfo', 'card_no')
    dates = _by_card(store, 'MemDates', 'card_no')
    cards = _by_card(store, 'MemberCards', 'card_no')
    types = _by_card(store, 'Memtype', 'memtype')
    migrated = _by_card(store, 'CustomerAccounts', 'cardNo')
    accounts, last = {}, None
    for person in sorted(store['Custdata'].rows(), key=_person_number):
        card = person.get('CardNo')
        info = infos.get(card, {})
        if card not in accounts:
            last = accounts[card] = _account(card, person, info, dates.get(card, {}),
                                             cards.get(card, {}),
                                             types.get(person.get('memType'), {}))
            last['customerAccountID'] = migrated.get(card, {}).get('customerAccountID', 0)
        holder = person.get('personNum') == '1'
        pricing = 1 if last['memberStatus'] == 'PC' else 0
        accounts[card]['customers'].append({
            'customerID': 0,
            'accountHolder': 1 if holder else 0,
            **_person_fields(person, info),
            'phone': info.get('phone', '') if holder else '',
            'email': info.get('email_1', '') if holder else '',
            'altPhone': info.get('email_2', '') if holder else '',
            'memberPricingAllowed': pricing,
            'memberCouponsAllowed': pricing,
        })
    return list(accounts.values())


#: customers[] field -> custdata column, for MemberREST::postCustdata()
_PERSON_FIELDS = (('firstName', 'FirstName'), ('lastName', 'LastName'),
                  ('chargeAllowed', 'ChargeOk'), ('checksAllowed', 'WriteChecks'),
                  ('staff', 'staff'), ('discount', 'Discount'), ('lowIncomeBenefits', 'SSI'))


def _upsert(table, key, values):
    rows = table.find(key)
    for row in rows:
        table.update(row, values)
    if not rows:
        table.insert({**key, **values})


def _set_member(store, card, member):
    """``MemberREST::post()`` in classic mode: write custdata & co, then mirror the
    account into CustomerAccounts/Customers; answers the errors and the account."""
    now = _now()
    if _php_zero(card):
        card = _create_account(store, now)
    result = {'errors': 0, 'error-msg': ''}

    def attempt(tag, write, *args):
        try:
            write(*args)
        except ValueError as error:
            log.debug("FannieMember set %s: %s", tag, error)
            result['errors'] += 1
            result['error-msg'] += tag + ' '

    if member.get('startDate') is not None or member.get('endDate') is not None:
        attempt('ErrDates', _upsert, store['MemDates'], {'card_no': card},
                {'start_date': member.get('startDate'), 'end_date': member.get('endDate')})
    if member.get('idCardUPC') is not None:
        upc = str(member['idCardUPC']).strip()
        attempt('ErrCard', _upsert, store['MemberCards'], {'card_no': card},
                {'upc': upc.zfill(13) if upc else ''})

    info = {'modified': now}
    if member.get('addressFirstLine') is not None:
        street = str(member['addressFirstLine'])
        if member.get('addressSecondLine') is not None:
            street += '\n' + str(member['addressSecondLine'])
        info['street'] = street
    for field, column in (('city', 'city'), ('state', 'state'), ('zip', 'zip'),
                          ('contactAllowed', 'ads_OK')):
        if member.get(field) is not None:
            info[column] = member[field]
    shared = {}
    if member.get('activeStatus') not in (None, ''):
        shared['Type'] = member['activeStatus']
    elif member.get('memberStatus') is not None:
        shared['Type'] = member['memberStatus']
    if member.get('customerTypeID') is not None:
        shared['memType'] = member['customerTypeID']
    if member.get('chargeLimit') is not None:
        shared['ChargeLimit'] = shared['MemDiscountLimit'] = member['chargeLimit']
    if member.get('chargeBalance') is not None:
        shared['Balance'] = member['chargeBalance']

    custdata = store['Custdata']
    if member['customers']:
        next_person = 2
        for customer in member['customers']:
            if customer.get('accountHolder') is None:
                result['errors'] += 1
                result['error-msg'] += 'ErrAcctHolder '
                continue
            if _php_truthy(customer['accountHolder']):
                person = 1
                for field, column in (('phone', 'phone'), ('altPhone', 'email_2'),
                                      ('email', 'email_1')):
                    if customer.get(field) is not None:
                        info[column] = customer[field]
            elif (customer.get('firstName') is not None and customer.get('lastName') is not None
                  and not str(customer['firstName']).strip()
                  and not str(customer['lastName']).strip()):
                continue        # blank names: removed from the account
            else:
                person, next_person = next_person, next_person + 1
            values = {column: customer[field] for field, column in _PERSON_FIELDS
                      if customer.get(field) is not None}
            if values:
                attempt('ErrPerson', _upsert, custdata, {'CardNo': card, 'personNum': person},
                        {**values, 'LastChange': now})
        for row in custdata.find({'CardNo': card}):
            if _person_number(row) >= next_person:
                custdata.delete(row)
    attempt('ErrMeminfo', _upsert, store['Meminfo'], {'card_no': card}, info)
    if shared:
        for row in custdata.find({'CardNo': card}):
            attempt('ErrGlobal', custdata.update, row, {**shared, 'LastChange': now})
    _post_account(store, card, member)
    result['account'] = _member(store, card)
    return result


def _create_account(store, now):
    """``MemberREST::createAccount()``: the next card number, with empty rows."""
    card = max((int(row['CardNo']) for row in store['Custdata'].rows() if 'CardNo' in row),
               default=0) + 1
    store['CustomerAccounts'].insert({'cardNo': card})
    store['Custdata'].insert({'CardNo': card, 'personNum': 1, 'LastChange': now})
    store['Meminfo'].insert({'card_no': card, 'modified': now})
    return card


def _post_account(store, card, member):
    """``MemberREST::postAccount()``, which classic mode runs to mirror the new tables;
    its failures are not reported (CORE discards that return value too)."""
    skipped = ('cardNo', 'customerAccountID', 'modified')
    values = {column: member[column] for column in ENTITIES['CustomerAccounts'].columns
              if column not in skipped and member.get(column) is not None}
    customers = store['Customers']
    try:
        _upsert(store['CustomerAccounts'], {'cardNo': card}, values)
        for customer in member['customers']:
            values = {column: customer[column] for column in ENTITIES['Customers'].columns
                      if column not in ('cardNo', 'modified') and customer.get(column) is not None}
            customer_id = values.pop('customerID', None)
            if customer_id is not None and _php_zero(customer_id):
                customer_id = None
            blank = (customer.get('firstName') == '') + (customer.get('lastName') == '')
            if customer_id is not None and blank == 2:
                for row in customers.find({'customerID': customer_id}):
                    customers.delete(row)
            elif customer_id is None and blank == 2:
                continue
            elif customer_id is not None:
                _upsert(customers, {'customerID': customer_id}, {**values, 'cardNo': card})
            else:
                customers.insert({**values, 'cardNo': card})
    except ValueError as error:
        log.debug("FannieMember set, CustomerAccounts mirror: %s", error)


# -- JSON-RPC endpoint ------------------------------------------------------------------

_SERVICES = {'FannieEntity': _fannie_entity, 'FannieMember': _fannie_member,
             'FannieItemInfo': _fannie_item_info}


def _decode(text):
    """PHP's ``json_decode()``: ``(value, True)``, or ``(None, False)`` where PHP gives null."""
    if text is None:
        return None, False
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None, False
    return value, value is not None


def _reject_constant(name):
    raise ValueError(f"PHP does not accept {name}")


def _service_name(method):
    """The service CORE's ``class_exists()`` finds for ``method`` (None if none)."""
    if isinstance(method, (list, dict)):
        raise _Fatal("class_exists() on an array")
    name = method if isinstance(method, str) else ''
    name = name[1:] if name.startswith('\\') else name
    if name.startswith(NAMESPACE) and name[len(NAMESPACE):] in _SERVICES:
        return name[len(NAMESPACE):]
    if name.lower().startswith('corepos\\'):
        raise _Fatal(f"the autoloader throws for {name}")
    return None


def _target(payload):
    """What a fault's ``entity`` is matched against: the entity, or 'FannieMember'."""
    if not isinstance(payload, dict) or not isinstance(payload.get('method'), str):
        return None
    if payload['method'].endswith('FannieMember'):
        return 'FannieMember'
    params = payload.get('params')
    return params.get('entity') if isinstance(params, dict) else None


def _call(store, payload):
    """Run a decoded request like ``fannie/ws/index.php``.

    Returns ``(send_reply, id, service, output)``; a request without an id
    (or with a null-ish one) still runs, but gets no reply at all.
    """
    if isinstance(payload, str):
        return False, None, None, None   # property_exists() takes it for a class name
    if not isinstance(payload, dict):
        raise _Fatal("property_exists() on a non-object")
    request_id = payload.get('id')
    send = 'id' in payload and not _php_loosely_null(request_id)
    if 'method' not in payload:
        return send, request_id, None, _error(-32600, 'Invalid request: method not specified')
    service = _service_name(payload['method'])
    if service is None:
        return send, request_id, None, _error(-32601, 'Method not found')
    output = _SERVICES[service](store, payload.get('params', []))
    return send, request_id, service, output


def _envelope(request_id, output):
    if isinstance(output, dict) and 'error' in output:
        return '{"jsonrpc":"2.0","id":' + php_json(request_id) + ',"error":' + \
            php_json(output['error']) + '}'
    return '{"jsonrpc":"2.0","id":' + php_json(request_id) + ',"result":' + \
        _encode(output) + '}'


def respond(store, payload, parsed, fault=None):
    """``(status, body)`` for a decoded request, changed by ``fault`` if one applies."""
    if not parsed:
        return 200, PARSE_ERROR
    try:
        with store.lock:
            send, request_id, service, output = _call(store, payload)
    except _Fatal as error:
        log.debug("PHP fatal: %s", error)
        return 500, ''
    if not send:
        return 200, ''
    if fault is not None:
        output = fault.alter(service, output)
    body = _envelope(request_id, output)
    if fault is not None and fault.kind == 'truncated':
        body = body[:len(body) // 2]
    return 200, body


@dataclass
class Fault:
    """One injected misbehaviour, used up by ``count`` matching requests."""

    kind: str
    entity: str = None
    count: int = 1
    seconds: float = 30.0
    index: int = 0
    code: int = -32000
    message: str = 'Error saving data'

    def matches(self, target):
        return self.entity is None or self.entity == target

    def alter(self, service, output):
        """The service's output as this fault changes it."""
        if self.kind == 'jsonrpc_error':
            return _error(self.code, self.message)
        if isinstance(output, dict) and 'error' in output:
            return output
        if self.kind == 'empty_result':
            return {'result': _Records()} if service == 'FannieEntity' else False
        if self.kind == 'false_record' and service == 'FannieEntity':
            records = output['result']
            if isinstance(records, _Records) and records:
                records = _Records(records)
                records[min(self.index, len(records) - 1)] = 'false'
                return {'result': records}
        return output


def _request_text(path, content_type, body):
    """The request as ``index.php`` reads it: form field ``json`` (POST, then GET), else
    the raw body; None when the body is not UTF-8 (json_decode() fails on it)."""
    sources = [parse_qs(urlsplit(path).query)]
    if content_type.startswith('application/x-www-form-urlencoded'):
        sources.insert(0, parse_qs(body.decode('latin-1')))
    for fields in sources:
        if fields.get('json', [''])[0] != '':
            return fields['json'][0]
    try:
        return body.decode('utf-8')
    except UnicodeDecodeError:
        return None


#: The API endpoint's path (``fannie/ws/index.php``), as the URL names it.
API_PATH = '/fannie/ws/'

#: ``fannie/index.php`` redirects here (CORE's default home page).
HOME_PAGE = '/fannie/item/ItemEditorPage.php'

#: The stand-in for CORE's item editor page the fannie root redirects to.
HOME_HTML = ('<!DOCTYPE html>\n<html>\n<head>\n<title>Item Maintenance</title>\n</head>\n'
             '<body>\n<h1>Item Maintenance</h1>\n<form method="get" action="ItemEditorPage.php">'
             '\n<input type="text" name="searchupc" />\n</form>\n</body>\n</html>\n')


def apache_error(status, title, text, host, port):
    """Apache's own error page (it answers for paths PHP never sees)."""
    return (f'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
            f'<title>{status} {title}</title>\n</head><body>\n<h1>{title}</h1>\n<p>{text}</p>\n'
            f'<hr>\n<address>Apache/2.4.62 (Debian) Server at {host} Port {port}</address>\n'
            '</body></html>\n')


def route(path, host, port):
    """What CORE's web server answers for a URL path that is not the API endpoint:
    ``(status, headers, body)``, or None for the endpoint itself (``/fannie/ws/``,
    ``/fannie/ws/index.php``).

    The fannie root runs ``fannie/index.php``, whose ``header('Location: ...')``
    is a 302 with an empty body; a directory without its slash gets Apache's
    301; anything else is Apache's 404.
    """
    path = urlsplit(path).path
    if path in (API_PATH, API_PATH + 'index.php'):
        return None
    html = {'Content-Type': 'text/html; charset=UTF-8'}
    if path in ('/fannie/', '/fannie/index.php'):
        return 302, {**html, 'Location': HOME_PAGE}, ''
    if path in ('/fannie', API_PATH.rstrip('/')):
        location = f'http://{host}:{port}{path}/'
        return 301, {'Content-Type': 'text/html; charset=iso-8859-1', 'Location': location}, \
            apache_error(301, 'Moved Permanently',
                         f'The document has moved <a href="{location}">here</a>.', host, port)
    if path == HOME_PAGE:
        return 200, html, HOME_HTML
    return 404, {'Content-Type': 'text/html; charset=iso-8859-1'}, apache_error(
        404, 'Not Found', 'The requested URL was not found on this server.', host, port)


class _Handler(BaseHTTPRequestHandler):
    server_version = 'LoopbackCorePos/1.0'

    def do_POST(self):
        self._serve()

    def do_GET(self):
        self._serve()

    def _serve(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        other = route(self.path, *self.server.server_address[:2])
        if other is not None:
            self.server.loopback.record(f'{self.command} {self.path}')
            status, headers, reply = other
            self._send(status, headers, reply)
            return
        text = _request_text(self.path, self.headers.get('Content-Type', ''), body)
        answer = self.server.loopback.answer(text)
        if answer is None:
            self.close_connection = True
            return
        status, reply = answer
        self._send(status, {'Content-Type': 'application/json'}, reply)

    def _send(self, status, headers, reply):
        data = reply.encode('utf-8')
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)


class LoopbackCorePos:
    """A CORE-POS webservices endpoint on 127.0.0.1, served from a background thread.

    ``store`` holds the data (:class:`CoreStore`), ``requests`` lists every
    request as decoded (the raw text when it is not JSON; ``"METHOD /path"`` for
    a path that is not the endpoint, see :func:`route`), and :meth:`inject`
    queues misbehaviours.  Use as a context manager, or start()/stop().
    """

    def __init__(self, store=None, port=0, host='127.0.0.1'):
        self.store = store if store is not None else CoreStore()
        self.port = port
        self.host = host
        self.requests = []
        self._faults = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    @property
    def url(self):
        """The endpoint's URL (``http://127.0.0.1:PORT/fannie/ws/``), known once started."""
        if self._server is None:
            raise RuntimeError("LoopbackCorePos is not started")
        host, port = self._server.server_address[:2]
        return f'http://{host}:{port}{API_PATH}'

    def start(self):
        self._stopping.clear()
        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.daemon_threads = True
        self._server.loopback = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.05},
                                        name='loopback-corepos', daemon=True)
        self._thread.start()
        log.info("loopback CORE-POS listening at %s", self.url)
        return self

    def stop(self):
        """Stop serving; a request held by a 'hang' fault is dropped at once."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        if self._server is not None:
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def inject(self, fault, entity=None, count=1, **options):
        """Make the next ``count`` requests for ``entity`` (any request if None; the
        entity name, or 'FannieMember') fail as ``fault`` (one of :data:`FAULTS`).

        Options: ``seconds`` for 'hang' (default 30), ``index`` of the record
        for 'false_record' (default 0), ``code``/``message`` for 'jsonrpc_error'.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
        with self._lock:
            self._faults.append(Fault(fault, entity, count, **options))

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def record(self, request):
        with self._lock:
            self.requests.append(request)

    def answer(self, text):
        """``(status, body)`` for one request's text, or None to drop the connection."""
        payload, parsed = _decode(text)
        fault = self._take_fault(_target(payload))
        self.record(payload if parsed else text)
        if fault is not None:
            log.debug("injecting %s", fault)
            if fault.kind == 'hang' and self._stopping.wait(fault.seconds):
                return None
            if fault.kind == 'http500_empty':
                return 500, ''
            if fault.kind == 'html_error':
                return 200, HTML_FATAL
        return respond(self.store, payload, parsed, fault)

    def _take_fault(self, target):
        with self._lock:
            for fault in self._faults:
                if fault.matches(target):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


# -- seed data --------------------------------------------------------------------------

def seed_from_exchanges(store, exchanges):
    """Fill ``store`` (or a server's store) with the rows behind captured answers, so
    that replaying the captured requests gives the captured bytes.

    ``exchanges`` is a list of ``{'request_body': ..., 'response_body': ...}``;
    FannieEntity gets give rows as they are, FannieMember gets are taken apart
    into custdata, meminfo, memDates, memberCards and (when the answer's
    ``customerAccountID`` is a string, i.e. already migrated) CustomerAccounts
    and Customers.  Other exchanges add nothing.
    """
    store = getattr(store, 'store', store)
    for exchange in exchanges:
        request, parsed = _decode(exchange['request_body'])
        response, answered = _decode(exchange['response_body'])
        if not (parsed and answered and isinstance(request, dict)):
            continue
        params = request.get('params') or {}
        result = response.get('result')
        method = str(request.get('method', ''))
        if method.endswith('FannieEntity') and params.get('submethod') == 'get' and result:
            store[params['entity']].load(json.loads(record) for record in result['result'])
        elif method.endswith('FannieMember') and params.get('method') == 'get' and result:
            _seed_member(store, result)
    return store


def _seed_member(store, account):
    card = account['cardNo']
    if store['Custdata'].find({'CardNo': card}):
        return
    customers = account['customers']
    holder = next(c for c in customers if c['accountHolder'])
    next_person = 2
    for customer in customers:
        if customer is holder:
            person = 1
        else:
            person, next_person = next_person, next_person + 1
        store['Custdata'].insert({
            'CardNo': card, 'personNum': person,
            'LastName': customer['lastName'], 'FirstName': customer['firstName'],
            'Balance': account['chargeBalance'], 'Discount': customer['discount'],
            'MemDiscountLimit': account['chargeLimit'], 'ChargeLimit': account['chargeLimit'],
            'ChargeOk': customer['chargeAllowed'], 'WriteChecks': customer['checksAllowed'],
            'Type': account['memberStatus'], 'memType': account['customerTypeID'],
            'staff': customer['staff'], 'SSI': customer['lowIncomeBenefits'],
            'blueLine': f"{card} {customer['lastName']}", 'LastChange': customer['modified'],
        })
    street = account['addressFirstLine']
    if account['addressSecondLine']:
        street += '\n' + account['addressSecondLine']
    store['Meminfo'].insert({
        'card_no': card, 'last_name': holder['lastName'], 'first_name': holder['firstName'],
        'street': street, 'city': account['city'], 'state': account['state'],
        'zip': account['zip'], 'phone': holder['phone'], 'email_1': holder['email'],
        'email_2': holder['altPhone'], 'ads_OK': account['contactAllowed'],
        'modified': account['modified'],
    })
    store['MemDates'].insert({'card_no': card, 'start_date': account['startDate'],
                              'end_date': account['endDate']})
    if account['idCardUPC']:
        store['MemberCards'].insert({'card_no': card, 'upc': account['idCardUPC']})
    account_id = account.get('customerAccountID')
    if not isinstance(account_id, str):
        return      # this very answer migrated it: leave that to the replay
    columns = ENTITIES['CustomerAccounts'].columns
    store['CustomerAccounts'].insert({**{c: account[c] for c in columns if c in account},
                                      'cardNo': card, 'idCardUPC': account['idCardUPC'] or None})
    for customer in customers:
        store['Customers'].insert({
            **{c: customer[c] for c in ENTITIES['Customers'].columns if c in customer},
            'cardNo': card,
            'memberPricingAllowed': customer.get('memberPricingAllowed', 0),
            'memberCouponsAllowed': customer.get('memberCouponsAllowed', 0),
        })


# -- catalog generator ------------------------------------------------------------------

_DEPARTMENTS = ('GROCERY', 'BULK', 'PRODUCE', 'DAIRY', 'FROZEN', 'MEAT', 'DELI', 'BAKERY',
                'CHEESE', 'WELLNESS', 'BODY CARE', 'SUPPLEMENTS', 'BEER', 'WINE',
                'GENERAL MDSE', 'HOUSEHOLD', 'PET', 'BABY', 'SEAFOOD', 'FLORAL')
_TAXABLE = {'BODY CARE', 'BEER', 'WINE', 'GENERAL MDSE', 'HOUSEHOLD', 'PET', 'FLORAL'}
_BY_WEIGHT = {'BULK', 'PRODUCE', 'MEAT', 'DELI', 'CHEESE', 'SEAFOOD'}
_SUBDEPARTMENTS = ('GENERAL', 'ORGANIC', 'LOCAL')
_VENDORS = ('UNFI', 'ALBERTS ORGANICS', 'KEHE', 'FRONTIER CO-OP', 'CROPP COOPERATIVE',
            'CAPITAL CITY FRUIT', 'LOCAL FARM', 'SOUTHERN WINE', 'EQUAL EXCHANGE',
            'BADGER BALM', 'GARDEN OF LIFE', 'DANCING DEER')
_BRANDS = ('BOBS RED MILL', 'ORGANIC VALLEY', 'FIELD DAY', 'EQUAL EXCHANGE', 'ANNIES',
           'NATURES PATH', 'DR BRONNERS', 'SEVENTH GENERATION', 'CLIF', 'KIND', 'AMYS',
           'EDEN', 'LUNDBERG', 'MUIR GLEN', 'STONYFIELD', 'SIMPLY ORGANIC',
           'TRADITIONAL MEDICINALS', 'ALAFFIA', 'NEWMANS OWN', 'HONEST TEA')
_ADJECTIVES = ('ORGANIC', 'NATURAL', 'WHOLE', 'UNSWEETENED', 'LOW SODIUM', 'GLUTEN FREE',
               'RAW', 'SPROUTED', 'FAIR TRADE', 'CLASSIC')
_NOUNS = ('ROLLED OATS', 'BLACK BEANS', 'PEANUT BUTTER', 'GREEK YOGURT', 'CHEDDAR',
          'CRACKERS', 'GRANOLA', 'BROWN RICE', 'TOMATO SAUCE', 'APPLE JUICE', 'GREEN TEA',
          'DARK CHOCOLATE', 'PASTA', 'OLIVE OIL', 'HAND SOAP', 'DISH LIQUID', 'SALSA',
          'TORTILLA CHIPS', 'ALMONDS', 'COFFEE')
_SIZES = (('16', 'OZ'), ('32', 'OZ'), ('12', 'OZ'), ('8', 'OZ'), ('1', 'EA'), ('24', 'CT'))
_FIRST = ('Delinda', 'Winona', 'Royce', 'Darius', 'Anamaria', 'Maren', 'Tobias', 'Greta',
          'Lars', 'Ingrid', 'Mateo', 'Priya', 'Hollis', 'June', 'Arlo', 'Nadia', 'Soren',
          'Wren', 'Otis', 'Lena')
_LAST = ('Strother', 'Nall', 'Cutchin', 'Olson', 'Lindqvist', 'Berg', 'Johnson', 'Nguyen',
         'Hanson', 'Moreno', 'Peterson', 'Kowalski', 'Larson', 'Reyes', 'Carlson', 'Dahl',
         'Novak', 'Schmidt', 'Holm', 'Baker')
_STREETS = ('MAIN ST', 'SUPERIOR ST', 'LONDON RD', 'WOODLAND AVE', 'GRAND AVE',
            'LAKE AVE', 'JEFFERSON ST', 'TOWER AVE', 'BELKNAP ST', 'ARROWHEAD RD')
_TOWNS = (('DULUTH', 'MN', '55805'), ('DULUTH', 'MN', '55812'), ('SUPERIOR', 'WI', '54880'),
          ('HERMANTOWN', 'MN', '55811'), ('PROCTOR', 'MN', '55810'),
          ('TWO HARBORS', 'MN', '55616'))
#: (memtype, memDesc, custdataType, discount, staff, ssi)
_MEMBER_TYPES = ((0, 'Non-member', 'REG', 0, 0, 0), (1, 'Member', 'PC', 0, 0, 0),
                 (2, 'Staff Member', 'PC', 15, 1, 0), (3, 'Low Income Member', 'PC', 10, 0, 1))


def _stamp(rng, first_year=2015):
    start = datetime.datetime(first_year, 1, 1)
    return start + datetime.timedelta(seconds=rng.randrange((2024 - first_year) * 365 * 86400))


def generate_catalog(store, products=20000, departments=20, vendors=12, stores=2,
                     members=500, employees=10, seed=0):
    """Replace ``store``'s contents with a realistic, deterministic CORE catalog.

    Products reference existing departments, subdepartments and vendors (UPCs
    are 13-digit zero-padded strings, prices have 2 decimals); each has a
    vendor item from its default vendor, some a second one.  Members have
    custdata, meminfo, memDates, memberCards and already migrated
    CustomerAccounts/Customers rows, all consistent.
    """
    rng = random.Random(seed)
    store.clear()
    _generate_structure(store, rng, departments, vendors, stores, employees)
    _generate_products(store, rng, products, vendors)
    _generate_members(store, rng, members)
    return store


def _generate_structure(store, rng, departments, vendors, stores, employees):
    for number in range(1, departments + 1):
        name = _DEPARTMENTS[(number - 1) % len(_DEPARTMENTS)]
        if number > len(_DEPARTMENTS):
            name = f'{name} {(number - 1) // len(_DEPARTMENTS) + 1}'
        store['Departments'].insert({
            'dept_no': number, 'dept_name': name, 'dept_tax': int(name in _TAXABLE),
            'dept_fs': int(name not in _TAXABLE), 'dept_limit': 50, 'dept_minimum': '0.01',
            'dept_discount': 1, 'modified': _stamp(rng), 'modifiedby': 1, 'margin': 0.35,
            'salesCode': 40000 + number,
        })
        for k, suffix in enumerate(_SUBDEPARTMENTS, 1):
            store['SubDepts'].insert({'subdept_no': number * 10 + k,
                                      'subdept_name': f'{name} {suffix}'[:30],
                                      'dept_ID': number})
    for number in range(1, vendors + 1):
        name = _VENDORS[(number - 1) % len(_VENDORS)]
        if number > len(_VENDORS):
            name = f'{name} {(number - 1) // len(_VENDORS) + 1}'
        slug = re.sub('[^a-z]', '', name.lower())
        store['Vendors'].insert({
            'vendorID': number, 'vendorName': name,
            'vendorAbbreviation': name.replace(' ', '')[:10],
            'discountRate': rng.choice((0, 0.02, 0.05, 0.1)),
            'phone': f'800-555-{number:04d}', 'fax': f'800-555-{number + 5000:04d}',
            'email': f'orders@{slug}.example', 'orderMinimum': rng.choice((0, 250, 500)),
        })
    for number in range(1, stores + 1):
        store['Stores'].insert({'storeID': number, 'description': f'STORE {number}'})
    for number in range(1, employees + 1):
        password = f'{rng.randrange(1000, 10000)}'
        store['Employees'].insert({
            'emp_no': number, 'CashierPassword': password, 'AdminPassword': password,
            'FirstName': rng.choice(_FIRST), 'LastName': rng.choice(_LAST)[0],
            'JobTitle': 'MANAGER' if number == 1 else 'CASHIER',
            'EmpActive': int(rng.random() < 0.85), 'frontendsecurity': 30 if number == 1 else 20,
            'backendsecurity': 30 if number == 1 else 20, 'birthdate': NO_DATE,
        })
    for number, name, code, kind in ((1, 'Cash', 'CA', 'CA'), (2, 'Check', 'CK', 'CK'),
                                     (3, 'Credit Card', 'CC', 'CC'), (4, 'EBT Food', 'EF', 'EF')):
        store['Tenders'].insert({'TenderID': number, 'TenderCode': code, 'TenderName': name,
                                 'TenderType': kind, 'ChangeMessage': 'Change',
                                 'MinAmount': 0, 'MaxAmount': 1000, 'MaxRefund': 1000})
    store['TaxRates'].insert({'id': 1, 'rate': 0.07375, 'description': 'SALES TAX'})


def _generate_products(store, rng, count, vendors):
    departments = store['Departments'].rows()
    manufacturers = rng.sample(range(10000, 100000), len(_BRANDS))
    next_item = dict.fromkeys(_BRANDS, 10001)
    next_sku = dict.fromkeys(range(1, vendors + 1), 1)
    plu = 3000
    for number in range(1, count + 1):
        department = rng.choice(departments)
        name = department['dept_name']
        weighed = name.split(' ')[0] in _BY_WEIGHT and rng.random() < 0.6
        if weighed and plu < 5000:
            upc, brand, (size, unit) = f'{plu:013d}', '', ('', 'LB')
            plu += 1
        else:
            brand = rng.choice(_BRANDS)
            upc = f'000{manufacturers[_BRANDS.index(brand)]:05d}{next_item[brand]:05d}'
            next_item[brand] += 1
            size, unit = rng.choice(_SIZES)
            weighed = False
        price = rng.randrange(1, 30) + rng.choice((0.29, 0.49, 0.79, 0.99))
        cost = round(price * rng.uniform(0.45, 0.7), 3)
        vendor = rng.randrange(1, vendors + 1)
        created = _stamp(rng)
        description = f'{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}'[:30]
        store['Products'].insert({
            'upc': upc, 'description': description,
            'brand': brand, 'formatted_name': '', 'normal_price': f'{price:.2f}',
            'pricemethod': 0, 'groupprice': 0, 'quantity': 0, 'special_price': 0,
            'specialpricemethod': 0, 'specialgroupprice': 0, 'specialquantity': 0,
            'start_date': NO_DATE, 'end_date': NO_DATE,
            'department': department['dept_no'],
            'size': size, 'tax': int(name in _TAXABLE), 'foodstamp': int(name not in _TAXABLE),
            'scale': int(weighed), 'scaleprice': 0, 'mixmatchcode': '0', 'created': created,
            'modified': created + datetime.timedelta(days=rng.randrange(0, 400)),
            'tareweight': 0.01 if weighed else 0, 'discount': 1, 'discounttype': 0,
            'unitofmeasure': unit, 'qttyEnforced': 0, 'idEnforced': 0, 'cost': cost,
            'inUse': int(rng.random() < 0.97),
            'subdept': int(department['dept_no']) * 10 + rng.randrange(1, 4),
            'deposit': 0, 'local': int(rng.random() < 0.1), 'default_vendor_id': vendor,
            'last_sold': _stamp(rng, 2023) if rng.random() < 0.9 else NO_DATE,
            'id': number,
        })
        items = [(vendor, cost)]
        other = rng.randrange(1, vendors + 1)
        if other != vendor and rng.random() < 0.15:
            items.append((other, cost * 1.05))
        for item_vendor, item_cost in items:
            store['VendorItems'].insert({
                'upc': upc, 'sku': f'{item_vendor:02d}-{next_sku[item_vendor]:06d}',
                'brand': brand, 'description': description, 'size': f'{size} {unit}'.strip(),
                'units': rng.choice((1, 4, 6, 12, 24)), 'cost': round(item_cost, 3),
                'vendorID': item_vendor, 'modified': _stamp(rng, 2022),
            })
            next_sku[item_vendor] += 1


def _generate_members(store, rng, count):
    types = {memtype: store['Memtype'].insert({
        'memtype': memtype, 'memDesc': description, 'custdataType': kind,
        'discount': discount, 'staff': staff, 'ssi': ssi, 'salesCode': 0})
        for memtype, description, kind, discount, staff, ssi in _MEMBER_TYPES}
    for card in range(1001, 1001 + count):
        memtype = types[rng.choices((1, 2, 3), weights=(90, 3, 7))[0]]
        status = rng.choices(('PC', 'INACT', 'TERM'), weights=(90, 5, 5))[0]
        modified = _stamp(rng, 2020)
        limit = rng.choice(('0.00', '20.00'))
        last = rng.choice(_LAST)
        people = []
        # distinct first names: CORE matches Customers rows to people by name
        firsts = rng.sample(_FIRST, 1 + (rng.random() < 0.35) + (rng.random() < 0.1))
        for person, first in enumerate(firsts, 1):
            people.append(store['Custdata'].insert({
                'CardNo': card, 'personNum': person, 'LastName': last,
                'FirstName': first, 'Discount': memtype['discount'],
                'MemDiscountLimit': limit, 'ChargeLimit': limit,
                'ChargeOk': int(limit != '0.00'), 'Type': status, 'memType': memtype['memtype'],
                'staff': memtype['staff'], 'SSI': memtype['ssi'], 'blueLine': f'{card} {last}',
                'LastChange': modified,
            }))
            last = rng.choice(_LAST) if rng.random() < 0.3 else last
        holder = people[0]
        city, state, zipcode = rng.choice(_TOWNS)
        street = f'{rng.randrange(1, 9999)} {rng.choice(_STREETS)}'
        if rng.random() < 0.1:
            street += f'\nAPT {rng.randrange(1, 40)}'
        info = store['Meminfo'].insert({
            'card_no': card, 'last_name': holder['LastName'], 'first_name': holder['FirstName'],
            'street': street, 'city': city, 'state': state, 'zip': zipcode,
            'phone': f'218-555-{card % 10000:04d}',
            'email_1': f"{holder['FirstName']}.{holder['LastName']}{card}@example.com".lower(),
            'email_2': '', 'ads_OK': int(rng.random() < 0.7), 'modified': modified,
        })
        start = _stamp(rng, 2005)
        dates = store['MemDates'].insert({
            'card_no': card, 'start_date': start,
            'end_date': start + datetime.timedelta(days=rng.randrange(30, 3000))
            if status == 'TERM' else None,
        })
        card_row = {}
        if rng.random() < 0.6:
            card_row = store['MemberCards'].insert({'card_no': card,
                                                    'upc': f'{40000000000 + card:013d}'})
        account = _account(card, holder, info, dates, card_row, memtype)
        account_id = _migrate_account(store, account, dates)
        _migrate_customers(store, card, people, info, account_id)


def add_real_shapes(store):
    """Add to a generated catalog the shapes a real CORE-POS holds and the generator
    never makes; returns what was added, by shape.

    * products without a UPC (NULL ``upc``), and a second row for a UPC (CORE has
      no unique index on ``products.upc``);
    * rows of other stores for a UPC, as HQ mode keeps one per store;
    * a product whose department and subdepartment CORE does not have;
    * a member card without person number 1 (``FannieMember get`` answers false
      for it), and one whose member type has no ``memtype`` row.
    """
    products = store['Products']
    rows = products.rows()
    next_id = max(int(row['id']) for row in rows) + 1
    template = {k: v for k, v in rows[0].items() if k not in ('upc', 'id', 'store_id')}
    added = {'no_upc': [], 'duplicate': [], 'store_rows': []}

    def product(shape, **values):
        nonlocal next_id
        row = products.insert({**template, 'id': next_id, **values})
        next_id += 1
        if shape:
            added[shape].append(row['id'])
        return row

    for number in (1, 2):
        product('no_upc', description=f'NO UPC ITEM {number}')
    product('duplicate', upc=rows[0]['upc'], description='SECOND ROW, SAME UPC')
    for store_row in store['Stores'].rows()[1:]:
        for row in rows[:3]:
            product('store_rows', **{**row, 'id': next_id, 'store_id': store_row['storeID']})
    missing_department = max(int(d['dept_no']) for d in store['Departments'].rows()) + 57
    missing_subdept = max(int(d['subdept_no']) for d in store['SubDepts'].rows()) + 577
    added['orphan'] = product(None, upc='0000000099901', description='ORPHAN ITEM',
                              department=missing_department, subdept=missing_subdept)['upc']
    added['missing_department'], added['missing_subdept'] = missing_department, missing_subdept

    custdata = store['Custdata']
    people = custdata.rows()
    card = max(int(row['CardNo']) for row in people) + 1
    template = {k: v for k, v in people[0].items() if k not in ('CardNo', 'personNum', 'id',
                                                                 'FirstName', 'LastName')}
    for person, first in ((2, 'Hollis'), (3, 'June')):
        custdata.insert({**template, 'CardNo': card, 'personNum': person,
                         'FirstName': first, 'LastName': 'Nobody-First'})
    store['Meminfo'].insert({'card_no': card, 'last_name': 'Nobody-First', 'first_name': 'Hollis',
                             'street': '1 NO HOLDER RD', 'city': 'DULUTH', 'state': 'MN',
                             'zip': '55805'})
    added['no_person_1'] = card
    memtype = max(int(t['memtype']) for t in store['Memtype'].rows()) + 6
    custdata.insert({**template, 'CardNo': card + 1, 'personNum': 1, 'memType': memtype,
                     'FirstName': 'Otis', 'LastName': 'Untyped'})
    store['Meminfo'].insert({'card_no': card + 1, 'last_name': 'Untyped', 'first_name': 'Otis'})
    added['unknown_memtype'], added['missing_memtype'] = card + 1, memtype
    return added


# -- standalone -------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Serve a loopback CORE-POS webservices API (not a real CORE-POS).")
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8080)
    parser.add_argument('--products', type=int,
                        help="generate a catalog of this many products (default: serve the "
                             "sample captured from a real CORE-POS)")
    parser.add_argument('--members', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--real-shapes', action='store_true',
                        help="add what a real CORE-POS holds and the generator does not make: "
                             "rows without or sharing a UPC, a card without person 1... "
                             "(see add_real_shapes)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')

    if args.products is None:
        store = CoreStore.sample()
    else:
        store = generate_catalog(CoreStore(), products=args.products, members=args.members,
                                 seed=args.seed)
    if args.real_shapes:
        add_real_shapes(store)
    counts = ', '.join(f'{len(table)} {name}' for name, table in store.tables.items()
                       if len(table))
    with LoopbackCorePos(store, port=args.port, host=args.host) as server:
        print(f"loopback CORE-POS (not a real CORE-POS) at {server.url}", flush=True)
        print(f"serving {counts}; Ctrl-C stops", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)


if __name__ == '__main__':
    main()

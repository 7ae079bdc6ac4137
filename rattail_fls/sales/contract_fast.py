"""The sale contract compiled to msgspec: the door's fast path, never its judge.

:mod:`.contract`'s models stay the one declaration of what a shop may send.  Each of their
fields is compiled here, from the column it lands in (its :class:`~.contract.Stored` or
:class:`~.contract.Rows` mark), into a ``msgspec.Struct`` field with the same bounds, and
finished with the models' own coercions (rounding, dates, Odoo's ``false``).  A body is read in
C, once to split its orders keeping each one's text as sent, once into values (for the
duplicate-key check), which are then converted into the structs.

The fast path only ever says yes.  Whatever it does not take as it is (any refusal, any quirk
the models coerce, such as digit strings or a name instead of its alias) goes to the models,
which decide and word the reason: a whole body that is not plain JSON (duplicated keys, lone
surrogates, NUL, nesting) goes to :func:`.contract.decode_body`, an order that fails here to
:func:`.contract.validate_sale`.  A JSON string holding the body (old clients send that) is
read for what it holds.  What it accepts, it makes exactly as the models make it
(``tests/test_contract.py`` compares the two readers).
"""

import re
from typing import Annotated, Optional, Union

import msgspec
from msgspec.structs import asdict
import sqlalchemy as sa

from rattail_fls.sales import contract

D = contract.D


class _ToModels(Exception):
    """This value is the models' to judge."""


def _scalar(mark):
    """``(msgspec type, coercion or None)`` of a field stored in ``mark.column``: the coercion
    (the models' own) of a value the type let through, other than an empty one."""
    kind = mark.column.type
    coerce = None
    if isinstance(kind, sa.Boolean):
        return (bool if mark.required else Optional[bool]), None
    if isinstance(kind, sa.Integer):
        bound = contract.int_bound(kind)
        base = Annotated[int, msgspec.Meta(ge=-bound, le=bound - 1)]
    elif isinstance(kind, sa.Numeric):
        base, coerce = D, contract.fitted(kind.precision, kind.scale)
    elif isinstance(kind, (sa.DateTime, sa.Date)):
        base, coerce = str, contract.local_datetime if isinstance(kind, sa.DateTime) else contract.iso_date
    elif isinstance(kind, sa.String):
        # (NUL: see _ESCAPES)
        base = Annotated[str, msgspec.Meta(min_length=1 if mark.required else 0,
                                           max_length=contract.text_limit(mark.column, mark.max_length))]
    else:
        raise TypeError(f"no fast type for column {mark.column} ({kind})")
    # an optional field may also be null, "" or Odoo's false (true is the models' to refuse)
    return (base if mark.required else Union[base, bool, None]), coerce


def _compile(model):
    """``(msgspec.Struct of model, finish)``: ``finish(struct)`` is what ``model(...).model_dump()``
    gives, or raises :class:`_ToModels` or ValueError."""
    fields, empties, required, optional, rows = [], [], [], [], []
    for name, info in model.model_fields.items():
        if model is not contract.SaleOrder and info.alias and info.alias != name:
            raise TypeError(f"{model.__name__}.{name}: only the order's own fields may have an alias "
                            "(read_sales looks for their Python names there alone)")
        mark = next(m for m in info.metadata if isinstance(m, (contract.Stored, contract.Rows)))
        if isinstance(mark, contract.Rows):
            struct, finish_row = _compile(mark.model)
            kind = Annotated[list[struct], msgspec.Meta(max_length=mark.limit)]
            kind = Union[kind, bool, None] if mark.optional else kind
            rows.append((name, finish_row))
        else:
            kind, coerce = _scalar(mark)
            if coerce is not None:
                (required if mark.required else optional).append((name, coerce))
            elif not mark.required and not isinstance(mark.column.type, sa.Boolean):
                empties.append(name)
        default = msgspec.NODEFAULT if info.is_required() else None
        fields.append((name, kind, msgspec.field(default=default, name=info.alias or name)))
    struct = msgspec.defstruct(f'Fast{model.__name__}', fields, kw_only=True)

    def finish(value):
        out = asdict(value)
        for name in empties:
            item = out[name]
            if item is False or item == '':
                out[name] = None
            elif item is True:
                raise _ToModels
        for name, coerce in required:
            out[name] = coerce(out[name])
        for name, coerce in optional:  # a number or date ("" is the models' to read)
            item = out[name]
            if item is None or item is False:
                out[name] = None
            elif item is True:
                raise _ToModels
            else:
                out[name] = coerce(item)
        for name, finish_row in rows:
            items = out[name]
            if items is True:
                raise _ToModels
            out[name] = [finish_row(item) for item in items] if items else []
        return out
    return struct, finish


_Order, _finish_order = _compile(contract.SaleOrder)
#: fields the models also take by their Python name (``populate_by_name``): the models' to read
_RENAMED = frozenset(name for name, info in contract.SaleOrder.model_fields.items()
                     if info.alias and info.alias != name)
_read_any = msgspec.json.Decoder(float_hook=D).decode
_read_text = msgspec.json.Decoder(str).decode
_encode = msgspec.json.encode
#: escapes the fast path leaves to the models: NUL (refused in any text field; cheaper to look
#: for once than a pattern per field) and the colon (it would upset the duplicate-key count)
_ESCAPES = re.compile(r'\\u(?:0000|003[aA])')


def read_sales(raw):
    """A request body -> ``(orders, texts, sales)``, or :class:`.contract.Invalid` as
    :func:`.contract.decode_body` raises it.

    ``orders``: the decoded sale orders (a single object is a list of one); ``texts``: each one's
    JSON text as sent; ``sales``: each one normalised by the fast path (for
    :func:`.contract.finish_sale`), or None where the models are to validate it.
    """
    read = _fast(raw)
    if read is not None:
        return read
    texts = []
    value = contract.decode_body(raw, texts)
    orders = value if isinstance(value, list) else [value]
    return orders, texts, [None] * len(orders)


def _fast(raw):
    """:func:`read_sales` on a plain JSON object or list, else None (the models' to read)."""
    try:
        text = raw.decode('utf-8') if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return None
    start = contract.first_char(text)
    if start == '"':  # a JSON string holding the body (old clients): only what it holds is read
        try:
            inner = None if contract.may_hold_surrogate(text) else _read_text(raw)
        except msgspec.DecodeError:
            return None
        return _fast(inner) if inner is not None and contract.first_char(inner) in ('[', '{') else None
    if (start not in ('[', '{') or _ESCAPES.search(text) or contract.may_hold_surrogate(text)
            or contract.too_deep(text)):
        return None
    try:
        if start == '[':
            texts = contract.element_texts(raw)
        else:
            texts = [text.strip(contract.JSON_WHITESPACE)]
        orders = [_read_any(item) for item in texts]
    except msgspec.DecodeError:
        return None
    # Each member has one colon outside strings, and no colon inside a string is escaped, so the
    # decoded values hold as many colons as the text unless a duplicated key was dropped.
    if text.count(':') != _encode(orders).count(b':'):
        return None  # the models refuse the body
    sales = []
    for index, (order, item) in enumerate(zip(orders, texts)):
        try:
            if not isinstance(order, dict) or not _RENAMED.isdisjoint(order):
                raise _ToModels
            sales.append(_finish_order(msgspec.convert(order, _Order)))  # as strict as decoding it
        except (msgspec.DecodeError, _ToModels, ValueError):  # ValidationError is a DecodeError
            try:
                orders[index] = contract.decode_value(item)  # json's value, as the models always see
            except ValueError:
                return None  # what json does not take, the models refuse for the whole body
            sales.append(None)
    return orders, texts, sales

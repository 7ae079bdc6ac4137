"""Bulk writes of validated sales into one shard, in the caller's transaction.

The hot path: for a whole batch it runs a fixed number of statements (claim
identities, look up existing ones, COPY the four tables), never one round trip
per sale.  Resends are recognised by ``(retail_point_id, sale_num)``:

* same content (``content_hash``): **duplicate**, nothing written;
* changed content, sent later (higher inbox id): **replaced**, the stored sale
  is deleted and the new one written under the same ``sale_id``; both affected
  days get a business-day change, so day close sees them as stale;
* changed content from an older inbox row (a late replay): **superseded**, not
  applied.
"""

import datetime
import enum
import io
import operator
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from rattail_fls.db import storage as st
from rattail_fls.db.model import sales as tables

class Written(enum.StrEnum):
    """What the shard did with a sale of the batch."""
    CREATED = 'created'
    DUPLICATE = 'duplicate'
    REPLACED = 'replaced'
    SUPERSEDED = 'superseded'


CREATED, DUPLICATE, REPLACED, SUPERSEDED = Written

SALE_COLUMNS = [c.name for c in tables.Sale.__table__.columns if c.name != 'stored_at']
LINE_COLUMNS = [c.name for c in tables.SaleLine.__table__.columns]
LOT_COLUMNS = [c.name for c in tables.SaleLot.__table__.columns]


@dataclass
class Outcome:
    inbox_id: int
    result: str


_ESCAPES = str.maketrans({'\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r'})
_TO_ESCAPE = re.compile('[' + re.escape(''.join(chr(c) for c in _ESCAPES)) + ']')
_PLAIN = {int: str, Decimal: str, float: repr, datetime.date: datetime.date.isoformat,
          datetime.datetime: datetime.datetime.isoformat}


def _copy_value(value):
    """One value in COPY text format (the hot loop: dispatch on the exact type)."""
    if value is None:
        return '\\N'
    kind = type(value)
    if kind is str:  # translate() looks up every character: only for the rare text that needs it
        return value if _TO_ESCAPE.search(value) is None else value.translate(_ESCAPES)
    if kind is bool:
        return 't' if value else 'f'
    return _PLAIN[kind](value)


def copy_text(conn, table, columns, text):
    """COPY ``text`` (rows in COPY text format) into ``table`` on ``conn``'s transaction."""
    if not text:
        return
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(text))
    finally:
        cursor.close()


class ShardWriter:
    """Writes batches into shards; remembers which daily partitions exist (per process)."""

    def __init__(self):
        self._days = set()

    def write(self, conn, shard_key, storage, batch):
        """Store ``batch`` = [(inbox_id, :class:`StoredSale`)] on ``conn`` (routed to one shard; its
        days' partitions made by :meth:`ensure_days`).  Identity rows are inserted and locked in key
        order, so concurrent workers cannot deadlock on them.

        Returns (outcomes, day_changes) where day_changes maps
        ``(retail_point_id, sale_date)`` to ``[sale_delta, line_delta]``.
        """
        latest, outcomes = self._latest_per_sale([(inbox_id, sale.read()) for inbox_id, sale in batch])
        changes = defaultdict(lambda: [0, 0])
        sale_ids = self._claim_identities(conn, latest)
        existing = self._existing(conn, [pair for pair in latest if (
            pair[1].retail_point_id, pair[1].sale_num) not in sale_ids])
        to_write, to_delete, to_update = [], [], []
        for inbox_id, sale in latest:
            key = sale.retail_point_id, sale.sale_num
            if key in sale_ids:
                to_write.append((sale_ids[key], inbox_id, sale))
                outcomes.append(Outcome(inbox_id, CREATED))
                continue
            old = existing[key]
            if old['content_hash'] == sale.content_hash and old['inbox_id'] == inbox_id:
                # our own write whose inbox update was lost (crash between the commits):
                # settle it as created, and count it as the lost transaction would have
                outcomes.append(Outcome(inbox_id, CREATED))
                changes[key[0], sale.sale_date][0] += 1
                changes[key[0], sale.sale_date][1] += sale.line_count
            elif old['content_hash'] == sale.content_hash:
                outcomes.append(Outcome(inbox_id, DUPLICATE))
            elif old['inbox_id'] is not None and inbox_id < old['inbox_id']:
                outcomes.append(Outcome(inbox_id, SUPERSEDED))
            else:
                to_delete.append(old)
                to_update.append((old['sale_id'], inbox_id, sale))
                to_write.append((old['sale_id'], inbox_id, sale))
                outcomes.append(Outcome(inbox_id, REPLACED))
        self._delete(conn, to_delete, changes)
        self._update_identities(conn, to_update)
        copy_sales(conn, to_write, changes)
        return outcomes, dict(changes)

    def ensure_days(self, conn, shard_key, storage, sales):
        """Make the daily partitions ``sales`` need (partitions storage); returns the days made.

        Call :meth:`remember_days` with them once the transaction has committed:
        a rolled-back partition must not be taken for an existing one.
        """
        if storage != st.PARTITIONS:
            return set()
        days = {sale.sale_date for sale in sales} - {d for k, d in self._days if k == shard_key}
        if days:
            st.ensure_day_partitions(conn, days)
        return days

    def remember_days(self, shard_key, days):
        self._days.update((shard_key, d) for d in days)

    @staticmethod
    def _latest_per_sale(batch):
        """The last-received version of each sale in the batch; earlier ones are settled here."""
        latest, outcomes = {}, []
        for inbox_id, sale in sorted(batch, key=lambda pair: pair[0]):
            key = sale.retail_point_id, sale.sale_num
            if key in latest:
                earlier_id, earlier = latest[key]
                same = earlier.content_hash == sale.content_hash
                outcomes.append(Outcome(earlier_id, DUPLICATE if same else SUPERSEDED))
            latest[key] = (inbox_id, sale)
        return list(latest.values()), outcomes

    @staticmethod
    def _claim_identities(conn, pairs):
        """Insert identities of sales not seen before; ``{(rp, sale_num): sale_id}`` of those."""
        if not pairs:
            return {}
        rows = conn.execute(sa.text("""
            INSERT INTO sale_ident (retail_point_id, sale_num, sale_date, content_hash, inbox_id)
            SELECT * FROM unnest(CAST(:rp AS integer[]), CAST(:num AS varchar[]), CAST(:day AS date[]),
                                 CAST(:hash AS varchar[]), CAST(:inbox AS bigint[])) AS u(rp, num, day, hash, inbox)
            ORDER BY rp, num
            ON CONFLICT (retail_point_id, sale_num) DO NOTHING
            RETURNING retail_point_id, sale_num, sale_id"""), {
            'rp': [s.retail_point_id for _, s in pairs], 'num': [s.sale_num for _, s in pairs],
            'day': [s.sale_date for _, s in pairs], 'hash': [s.content_hash for _, s in pairs],
            'inbox': [i for i, _ in pairs]})
        return {(r.retail_point_id, r.sale_num): r.sale_id for r in rows}

    @staticmethod
    def _existing(conn, pairs):
        if not pairs:
            return {}
        rows = conn.execute(sa.text("""
            SELECT i.retail_point_id, i.sale_num, i.sale_id, i.sale_date, i.content_hash, i.inbox_id
            FROM sale_ident i
            JOIN unnest(CAST(:rp AS integer[]), CAST(:num AS varchar[])) AS k(rp, num)
              ON i.retail_point_id = k.rp AND i.sale_num = k.num
            ORDER BY i.retail_point_id, i.sale_num
            FOR UPDATE OF i"""), {'rp': [s.retail_point_id for _, s in pairs],
                                  'num': [s.sale_num for _, s in pairs]})
        return {(r.retail_point_id, r.sale_num): r._asdict() for r in rows}

    @staticmethod
    def _delete(conn, olds, changes):
        if not olds:
            return
        params = {'day': [o['sale_date'] for o in olds], 'id': [o['sale_id'] for o in olds]}
        keys = "(sale_date, sale_id) IN (SELECT * FROM unnest(CAST(:day AS date[]), CAST(:id AS bigint[])))"
        lines = conn.execute(sa.text(f"""
            SELECT retail_point_id, sale_date, count(*) FROM sale_line WHERE {keys}
            GROUP BY retail_point_id, sale_date"""), params)
        for rp, day, count in lines:
            changes[rp, day][1] -= count
        for old in olds:
            changes[old['retail_point_id'], old['sale_date']][0] -= 1
        for table in ('sale_misc_lot', 'sale_lot', 'sale_line', 'sale'):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE {keys}"), params)

    @staticmethod
    def _update_identities(conn, updates):
        if not updates:
            return
        conn.execute(sa.text("""
            UPDATE sale_ident i SET sale_date = u.day, content_hash = u.hash, inbox_id = u.inbox,
                   revision = i.revision + 1, stored_at = now()
            FROM unnest(CAST(:id AS bigint[]), CAST(:day AS date[]), CAST(:hash AS varchar[]),
                        CAST(:inbox AS bigint[])) AS u(id, day, hash, inbox)
            WHERE i.sale_id = u.id"""), {
            'id': [sid for sid, _, _ in updates], 'day': [s.sale_date for _, _, s in updates],
            'hash': [s.content_hash for _, _, s in updates], 'inbox': [i for _, i, _ in updates]})


# The key columns every sales table starts with; the rest come from the sale's dicts.
_KEY = ('sale_date', 'sale_id', 'retail_point_id')
SALE_TAIL = [c for c in SALE_COLUMNS if c not in _KEY + ('inbox_id',)]
LINE_TAIL = [c for c in LINE_COLUMNS if c not in _KEY + ('line_no',)]
LOT_TAIL = [c for c in LOT_COLUMNS if c not in _KEY + ('lot_no',)]
_SALE_VALUES, _LINE_VALUES, _LOT_VALUES = (operator.itemgetter(*tail) for tail in (SALE_TAIL, LINE_TAIL, LOT_TAIL))


def sale_rows(sale):
    """The normalised ``sale`` as COPY needs it, less the keys only the shard gives
    (``fls_inbox.sale_rows``: the door renders it once, the workers only prefix the keys).

    Lines of text: the content hash and the numbers of lines, lots and misc lots (tab-separated);
    the sale's columns; then each line's, lot's and misc lot's number and columns; every value
    in COPY text format.
    """
    v = _copy_value
    rows = [f"{sale['content_hash']}\t{len(sale['lines'])}\t{len(sale['lots'])}\t{len(sale['misc_lots'])}",
            '\t'.join(map(v, _SALE_VALUES(sale)))]
    rows += [f"{n}\t" + '\t'.join(map(v, _LINE_VALUES(line))) for n, line in enumerate(sale['lines'])]
    for items in (sale['lots'], sale['misc_lots']):
        rows += [f"{n}\t" + '\t'.join(map(v, _LOT_VALUES(lot))) for n, lot in enumerate(items)]
    return '\n'.join(rows)


class StoredSale:
    """A sale to write: its identity, and its rows (:func:`sale_rows`), read when it is written.

    From a new inbox row, the text as the door stored it; from an older row or one validated in
    the worker, the normalised sale, rendered when written (so a failure is isolated like a
    database refusal).
    """
    __slots__ = ('retail_point_id', 'sale_num', 'sale_date', '_text', '_sale', 'content_hash', 'line_count',
                 'tables')

    def __init__(self, retail_point_id, sale_num, sale_date, text=None, sale=None):
        self.retail_point_id, self.sale_num, self.sale_date = retail_point_id, sale_num, sale_date
        self._text, self._sale = text, sale

    @classmethod
    def of(cls, sale):
        """From a normalised sale (a dict)."""
        day = sale['sale_date']
        return cls(sale['retail_point_id'], sale['sale_num'],
                   datetime.date.fromisoformat(day) if isinstance(day, str) else day, sale=sale)

    def read(self):
        """Split the rows: sets ``content_hash``, ``line_count`` and ``tables`` (the sale's row, then
        the rows of lines, lots and misc lots); a text whose counts do not add up is refused."""
        head, *rows = (self._text if self._text is not None else sale_rows(self._sale)).split('\n')
        self.content_hash, *counts = head.split('\t')
        lines, lots, misc = map(int, counts)
        if len(rows) != 1 + lines + lots + misc:
            raise ValueError(f"stored rows of sale {self.sale_num!r}: {len(rows)} rows, "
                             f"expected 1 + {lines} + {lots} + {misc}")
        self.line_count = lines
        self.tables = (rows[:1], rows[1:1 + lines], rows[1 + lines:1 + lines + lots], rows[1 + lines + lots:])
        return self


def render_stored(to_write, changes):
    """COPY text for the four tables from ``to_write`` = [(sale_id, inbox_id, read StoredSale)];
    counts into ``changes``.  Per sale, only the keys are added: one join per table."""
    texts = ([], [], [], [])
    for sale_id, inbox_id, sale in to_write:
        key = f"{sale.sale_date.isoformat()}\t{sale_id}\t{sale.retail_point_id}\t"
        prefixes = (f"{key}{_copy_value(inbox_id)}\t", key, key, key)  # no inbox row: \N
        for text, prefix, rows in zip(texts, prefixes, sale.tables):
            if rows:
                text.append(prefix + f"\n{prefix}".join(rows) + '\n')
        changes[sale.retail_point_id, sale.sale_date][0] += 1
        changes[sale.retail_point_id, sale.sale_date][1] += sale.line_count
    return [''.join(text) for text in texts]


def render_sales(to_write, changes):
    """:func:`render_stored` for normalised sales: ``to_write`` = [(sale_id, inbox_id, sale dict)]."""
    return render_stored([(sale_id, inbox_id, StoredSale.of(sale).read()) for sale_id, inbox_id, sale in to_write],
                         changes)


#: Column order of the rendered text, per table.
COPY_COLUMNS = (list(_KEY) + ['inbox_id'] + SALE_TAIL, list(_KEY) + ['line_no'] + LINE_TAIL,
                list(_KEY) + ['lot_no'] + LOT_TAIL, list(_KEY) + ['lot_no'] + LOT_TAIL)
TABLES = ('sale', 'sale_line', 'sale_lot', 'sale_misc_lot')


def copy_sales(conn, to_write, changes):
    """COPY the sales of ``to_write`` (read :class:`StoredSale`) into the four sales tables."""
    for table, columns, text in zip(TABLES, COPY_COLUMNS, render_stored(to_write, changes)):
        copy_text(conn, table, columns, text)

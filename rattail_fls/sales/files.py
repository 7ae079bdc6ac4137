"""Sale orders from JSON files (backfill, replay): through the same door and write path as HTTP.

Files -> the intake (validated once, kept in the inbox, rejected ones too) ->
exactly those rows processed in place -> bulk writes.  A file holds one order,
a list of orders, a double-encoded order, or JSON lines (one order a line).  Read as the
HTTP door reads a body (:func:`.contract_fast.read_sales`): the inbox keeps each order's text
as the file holds it.
"""

import logging
from collections import Counter
from pathlib import Path

from rattail_fls import config as fls_config
from rattail_fls.db.model.inbox import DEAD, DONE, DUPLICATE, PENDING, REJECTED, REPLACED, SUPERSEDED
from rattail_fls.sales import contract, contract_fast

log = logging.getLogger(__name__)

SUFFIXES = ('.json', '.jsonl', '.ndjson')
#: What a run counts, in the order it reports them.
OUTCOMES = (DONE, REPLACED, DUPLICATE, SUPERSEDED, REJECTED, PENDING, DEAD)


def read_orders(path):
    """Yield ``(where, order_or_line, errors, text, read)`` for every order in one file: its text as
    the file holds it and, where the fast reader took it, the order as read
    (:func:`.contract_fast.read_sales`; None: the models validate it)."""
    text = path.read_text(encoding='utf-8', errors='replace')
    try:
        orders, texts, read = contract_fast.read_sales(text)
    except contract.Invalid:
        orders = None
    if orders is not None:
        for i, item in enumerate(zip(orders, texts, read)):
            yield f"{path.name}[{i}]", item[0], None, *item[1:]
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            if contract.first_char(line) == '{':  # one order: the fast reader's
                (order,), (order_text,), (order_read,) = contract_fast.read_sales(line)
                yield where, order, None, order_text, order_read
            else:  # anything else is one value, the models' to refuse or take
                yield where, contract.decode_body(line), None, None, None
        except contract.Invalid as invalid:
            yield where, line, [dict(e, field=where) for e in invalid.errors], None, None


class SalesFiles:
    """Loads a directory of sale files with the handler's intake and processor."""

    def __init__(self, config):
        handler = config.get_app().get_fls_handler()
        self.config = config
        self.intake = handler.get_intake()
        self.processor = handler.get_processor()
        self.batch_size = fls_config.get_number(config, 'intake.batch_size', int, 1)

    def load(self, directory, user_uuid=None, dry_run=False, progress=None):
        """Returns a Counter of :data:`OUTCOMES`; with ``dry_run`` what would happen, nothing written."""
        app = self.config.get_app()
        paths = sorted(p for p in Path(directory).iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not paths:
            log.warning("no %s files in %s", '/'.join(SUFFIXES), directory)
        orders = []
        app.progress_loop(lambda path, i: orders.extend(read_orders(path)), paths, progress,
                          message="Reading sale files")
        totals = Counter({outcome: 0 for outcome in OUTCOMES})
        chunks = [orders[i:i + self.batch_size] for i in range(0, len(orders), self.batch_size)]
        step = self._dry_run_chunk if dry_run else self._import_chunk
        app.progress_loop(lambda chunk, i: totals.update(step(chunk, user_uuid)), chunks, progress,
                          message=f"Storing {len(orders)} sale orders")
        return totals

    def _import_chunk(self, chunk, user_uuid):
        """Through the door (validated once, stored normalised), then exactly these rows are processed."""
        counts = Counter()
        broken = [(where, line, errors) for where, line, errors, _, _ in chunk if errors]
        readable = [(where, order, errors, text, read) for where, order, errors, text, read in chunk if not errors]
        for where, _, errors in broken:
            log.warning("rejected %s: %s", where, contract.Invalid(errors))
        if broken:
            with self.config.appdb_engine.begin() as conn:
                self.intake.keep_rejected(conn, [(line, errors) for _, line, errors in broken], 'file', user_uuid)
            counts[REJECTED] += len(broken)
        submission = self.intake.submit_sales(
            None, [order for _, order, _, _, _ in readable], source='file', check_stored=False,
            user_uuid=user_uuid, wake_workers=False, texts=[text for _, _, _, text, _ in readable],
            read=[read for *_, read in readable])
        pending = []
        for (where, *_), result in zip(readable, submission.results):
            if result['status'] == REJECTED:
                counts[REJECTED] += 1
                log.warning("rejected %s: %s", where, contract.Invalid(result['errors']))
            else:
                pending.append(result['inbox_id'])
        counts.update(self.processor.drain(pending, only=True))
        return counts

    def _dry_run_chunk(self, chunk, user_uuid):
        """Validate and look for duplicates, writing nothing."""
        counts, valid = Counter(), []
        for where, order, errors, _, read in chunk:
            sale, errors = (None, errors) if errors else self.intake.check_sale(order, read)
            if errors:
                counts[REJECTED] += 1
                log.warning("would reject %s: %s", where, contract.Invalid(errors))
            else:
                valid.append(sale)
        with self.config.appdb_engine.connect() as conn:
            stored = self.intake.stored_hashes(conn, valid)
        for sale in valid:
            known = stored.get((sale['retail_point_id'], sale['sale_num']))
            counts[DUPLICATE if known == sale['content_hash'] else REPLACED if known else DONE] += 1
        return counts

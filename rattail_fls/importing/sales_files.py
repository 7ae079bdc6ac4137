"""``rattail import-fls-sales``: sale orders from JSON files into the shards (backfill, replay).

A Rattail import handler (host: JSON files, local: the shards) whose importer
takes the same path as the HTTP intake: files -> inbox rows (kept, rejected
ones included) -> :class:`SalesProcessor` -> bulk writes.  A file holds one
order, a list of orders, a double-encoded order, or JSON lines.
"""

import logging
from collections import Counter, OrderedDict
from pathlib import Path

from rattail.importing import Importer, ImportHandler

from rattail_fls import config as fls_config
from rattail_fls.sales import contract

log = logging.getLogger(__name__)

SUFFIXES = ('.json', '.jsonl', '.ndjson')


def read_orders(path):
    """Yield ``(where, order_or_None, errors)`` for every order in one file."""
    text = path.read_text(encoding='utf-8', errors='replace')
    try:
        value = contract.decode_body(text)
    except contract.Invalid:
        value = None
    if value is not None:
        for i, order in enumerate(value if isinstance(value, list) else [value]):
            yield f"{path.name}[{i}]", order, None
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{path.name}:{number}", contract.decode_body(line), None
        except contract.Invalid as invalid:
            yield f"{path.name}:{number}", line, [dict(e, field=f"{path.name}:{number}") for e in invalid.errors]


class FromFlsJsonToShards(ImportHandler):
    """Handler for ``import-fls-sales``; ``input_dir`` comes from the command."""
    host_key = 'fls_json'
    local_key = 'fls_shards'
    generic_host_title = "FLS sales JSON files"
    generic_local_title = "FLS shards"
    host_title = "JSON files"
    local_title = "FLS shards"
    input_dir = None

    def get_importers(self):
        return OrderedDict(Sale=SaleImporter)

    def get_importer_kwargs(self, key, **kwargs):
        kwargs = super().get_importer_kwargs(key, **kwargs)
        kwargs['input_dir'] = self.input_dir
        return kwargs

    # The shards and inbox are written by the processor in their own
    # transactions; there is no handler-wide local session to commit.
    def begin_local_transaction(self):
        pass

    def commit_local_transaction(self):
        pass

    def rollback_local_transaction(self):
        pass


class SaleImporter(Importer):
    """Bulk importer: overrides ``import_data`` (the row-by-row diff machinery is not used)."""
    model_name = 'Sale'
    key = ('retail_point_id', 'sale_num')
    supported_fields = ['retail_point_id', 'sale_num', 'sale_date']
    allow_update = allow_delete = False
    caches_local_data = False
    input_dir = None

    def import_data(self, host_data=None, now=None, **kwargs):
        paths = sorted(p for p in Path(self.input_dir).iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not paths:
            log.warning("no %s files in %s", '/'.join(SUFFIXES), self.input_dir)
        orders = []
        self.progress_loop(lambda path, i: orders.extend(read_orders(path)), paths,
                           message="Reading sale files")
        batch = fls_config.get_number(self.config, 'intake.batch_size', int, 1)
        totals = Counter()
        chunks = [orders[i:i + batch] for i in range(0, len(orders), batch)]
        # one per run: they read their settings once and keep per-process caches
        handler = self.app.get_fls_handler()
        self.intake = handler.get_intake()
        self.processor = None if self.dry_run else handler.get_processor()
        step = self._dry_run_chunk if self.dry_run else self._import_chunk
        self.progress_loop(lambda chunk, i: totals.update(step(chunk)), chunks,
                           message=f"Storing {len(orders)} sale orders")
        self.handler.summary = totals
        created = [{'count': 1}] * (totals['done'] + totals['replaced'])
        return created, [], []

    def _import_chunk(self, chunk):
        """Through the door (validated once, stored normalised), then exactly these rows are processed."""
        user_uuid = self.runas_user.uuid if getattr(self, 'runas_user', None) else None
        counts = Counter()
        broken = [(where, order, errors) for where, order, errors in chunk if errors]
        readable = [(where, order) for where, order, errors in chunk if not errors]
        for where, _, errors in broken:
            log.warning("rejected %s: %s", where, contract.Invalid(errors))
        if broken:
            with self.config.appdb_engine.begin() as conn:
                self.intake.keep_rejected(conn, [(line, errors) for _, line, errors in broken], 'file', user_uuid)
            counts['rejected'] += len(broken)
        submission = self.intake.submit_sales(None, [order for _, order in readable], source='file',
                                              check_stored=False, user_uuid=user_uuid,
                                              wake_workers=False)
        pending = []
        for (where, _), result in zip(readable, submission.results):
            if result['status'] == 'rejected':
                counts['rejected'] += 1
                log.warning("rejected %s: %s", where, contract.Invalid(result['errors']))
            else:
                pending.append(result['inbox_id'])
        counts.update(self.processor.drain(pending, only=True))
        return counts

    def _dry_run_chunk(self, chunk):
        """Validate and look for duplicates, writing nothing."""
        counts, valid = Counter(), []
        for where, order, errors in chunk:
            sale, errors = (None, errors) if errors else self.intake.check_sale(order)
            if errors:
                counts['rejected'] += 1
                log.warning("would reject %s: %s", where, contract.Invalid(errors))
            else:
                valid.append(sale)
        with self.config.appdb_engine.connect() as conn:
            stored = self.intake.stored_hashes(conn, valid)
        for sale in valid:
            known = stored.get((sale['retail_point_id'], sale['sale_num']))
            counts['duplicate' if known == sale['content_hash'] else
                   'replaced' if known else 'done'] += 1
        return counts

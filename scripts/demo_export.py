"""`make demo`, Odoo export step: push the demo's day summaries to a local Odoo-compatible receiver.

No Odoo can be installed here, so the demo starts the loopback receiver
(``fls_dev.loopback.odoo``: same wire protocol and answers as Odoo Cloud's
``/api/sales-summary``, NOT a real Odoo), points ``[rattail_fls] odoo.url`` in
``app/rattail.conf`` at it for this step, runs the operator command
``rattail -c app/quiet.conf export-odoo-summary`` (which first closes any due
days, then pushes every due summary), prints what the receiver got, runs the
command again to show that nothing is sent twice, and puts ``odoo.url`` back.

Called by ``scripts/demo.py`` after the day close step::

    from demo_export import export_to_loopback
    export_to_loopback(run)

``export_to_loopback(run, config_path=APP / 'rattail.conf', quiet_config='app/quiet.conf',
args=(), again=True) -> list of dict``: ``run`` is the demo's ``run(*args, quiet=False)``
helper (shows the command, stops the demo if it fails); ``args`` are extra
``export-odoo-summary`` options; returns the records the receiver created (each
as the real controller would store it in ``cfed.local.data``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / 'app'

sys.path.insert(0, str(ROOT))
from fls_dev.config import render  # noqa: E402
from fls_dev.loopback.odoo import LoopbackOdoo  # noqa: E402

LABEL = "loopback Odoo-compatible receiver (not a real Odoo)"


def export_to_loopback(run, config_path=APP / 'rattail.conf', quiet_config='app/quiet.conf', args=(),
                       again=True):
    """Run ``export-odoo-summary`` against a loopback receiver; print and return what it created."""
    config_path = Path(config_path)
    original = config_path.read_text(encoding='utf-8')
    with LoopbackOdoo() as odoo:
        print(f"started a {LABEL} at {odoo.url}")
        config_path.write_text(render(original, {('rattail_fls', 'odoo.url'): odoo.url}), encoding='utf-8')
        print(f"[rattail_fls] odoo.url in {_shown(config_path)} points at it for this step")
        try:
            run('rattail', '-c', quiet_config, 'export-odoo-summary', *args)
            records = [dict(record, local_data_id=local_data_id)
                       for local_data_id, record in sorted(odoo.records.items())]
            print_records(records)
            if again:
                print("Running it again: every summary is already sent, so nothing is pushed twice.")
                run('rattail', '-c', quiet_config, 'export-odoo-summary', *args)
                if len(odoo.records) != len(records):
                    sys.exit(f"demo failed: the second export created "
                             f"{len(odoo.records) - len(records)} more records")
                print(f"the {LABEL} still holds {len(odoo.records)} records")
        finally:
            config_path.write_text(original, encoding='utf-8')
            print(f"[rattail_fls] odoo.url in {_shown(config_path)} restored; to try again, run "
                  "`.venv/bin/python -m fls_dev.loopback.odoo --port 8069` and set odoo.url = "
                  "http://127.0.0.1:8069/api/sales-summary")
    return records


def print_records(records):
    """One line per record the receiver created: what Odoo Cloud would have stored."""
    print(f"\nThe {LABEL} received {len(records)} summaries:")
    columns = ('local_data_id', 'sale_num', 'retail_point_id', 'date', 'payment_journal_id',
               'liquor_amount_total', 'total_including_miscellaneous', 'lines', 'total_cess')
    rows = [[str(value) for value in (
        r['local_data_id'], r['sale_num'], r['retail_point_id'], r['date'], r['payment_journal_id'],
        r['liquor_amount_total'], r['total_including_miscellaneous'],
        len(r['data'].get('sale_line_ids') or []), r['data'].get('total_cess'))] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    print('  '.join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in rows:
        print('  '.join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    print("(liquor_amount_total = the summary's amount_total, as the real controller stores it)\n")


def _shown(path):
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path

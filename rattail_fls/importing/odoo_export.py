"""``rattail export-odoo-summary``: day summaries from Rattail to Odoo Cloud.

A Rattail export handler (key ``to_odoo_summary.from_rattail.export``) whose
one importer, ``Summary``, overrides ``import_data`` to run the push path of
:mod:`rattail_fls.summaries.push` (claims, bounded concurrency, push log,
retries, holds) instead of the row-by-row diff machinery: Odoo's endpoint can
only create, never read or update, so there is nothing to diff against.

Before pushing it closes the business days that are due (never closed, or
stale because sales arrived after the close) up to yesterday, or up to the
``--end-date``/``--date`` given, unless ``close_days`` is off.
"""

import datetime
import logging
from collections import OrderedDict

from rattail.importing import FromRattailHandler, Importer

log = logging.getLogger(__name__)


class FromRattailToOdooSummary(FromRattailHandler):
    """Export handler; the command passes the attributes below as ``handler_kwargs``."""

    host_key = 'rattail'
    local_key = 'odoo_summary'
    direction = 'export'
    generic_host_title = "Rattail"
    generic_local_title = "Odoo (sales summary)"
    local_title = "Odoo"
    safe_for_web_app = False

    retail_point_ids = None
    sale_nums = None
    resend = False
    close_days = True
    workers = None

    #: Filled by the run: the push :class:`~rattail_fls.summaries.push.Report`,
    #: the day-close results, and the error that stopped closing (if any).
    report = None
    close_results = None
    close_error = None

    def get_importers(self):
        return OrderedDict(Summary=SummaryExporter)

    def get_importer_kwargs(self, key, **kwargs):
        kwargs = super().get_importer_kwargs(key, **kwargs)
        for name in ('retail_point_ids', 'sale_nums', 'resend', 'close_days', 'workers'):
            kwargs.setdefault(name, getattr(self, name))
        return kwargs


class SummaryExporter(Importer):
    """Pushes due summaries (see :mod:`rattail_fls.summaries.push`); honours ``dry_run``."""

    model_name = 'Summary'
    key = 'sale_num'
    supported_fields = ['sale_num', 'version', 'status', 'local_data_id']
    allow_update = allow_delete = False
    caches_local_data = False

    retail_point_ids = None
    sale_nums = None
    resend = False
    close_days = True
    workers = None
    start_date = end_date = None

    def import_data(self, host_data=None, now=None, **kwargs):
        from rattail_fls.summaries.push import OUT_SENT, OUT_WOULD_SEND, Selection, push_summaries

        if kwargs:
            self._setup(**kwargs)
        if self.close_days:
            self.close_due_days()
        selection = Selection(retail_point_ids=self.retail_point_ids or None,
                              sale_nums=self.sale_nums or None,
                              start_date=_as_date(self.start_date), end_date=_as_date(self.end_date))
        report = push_summaries(self.config, selection, resend=self.resend, dry_run=self.dry_run,
                                workers=self.workers, progress=self.progress)
        self.handler.report = report
        created = report.by(OUT_WOULD_SEND if self.dry_run else OUT_SENT)
        return created, [], []

    def close_due_days(self):
        """Close never-closed or stale days up to ``end_date`` (default yesterday); never raises.

        A dry run closes nothing.  A failure is logged and kept on the handler
        (the command then exits non-zero) so that pushing still goes ahead for
        the days already closed.
        """
        until = _as_date(self.end_date) or self.app.today() - datetime.timedelta(days=1)
        if self.dry_run:
            log.info("dry run: not closing due days up to %s", until)
            self.handler.close_results = []
            return
        try:
            self.handler.close_results = self.app.get_fls_handler().get_closer().close_due(
                until=until, retail_point_ids=self.retail_point_ids or None,
                requested_by='nightly', progress=self.progress)
        except Exception as error:  # noqa: BLE001 - report, and still push what is closed
            log.exception("closing due days up to %s failed", until)
            self.handler.close_results = []
            self.handler.close_error = f"{type(error).__name__}: {error}"


def _as_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    return value

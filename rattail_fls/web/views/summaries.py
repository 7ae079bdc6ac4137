"""Day summaries: every version, its status, reconciliation and push history (read-only).

Summaries are made by day closes and pushed by ``export-odoo-summary`` or the
``send_summary`` workers; an operator forces a held one or re-sends with
``export-odoo-summary --resend`` (the command says what it did and why).
"""

import json

from webhelpers2.html import HTML

from rattail_fls.db.model.summaries import FlsSummary
from rattail_fls.web import render
from rattail_fls.web.views.master import FlsMasterView


class SummaryView(FlsMasterView):
    """Master view for :class:`FlsSummary`; superseded versions stay listed beside the live one."""

    model_class = FlsSummary
    url_prefix = '/fls/summaries'
    route_prefix = 'fls.summaries'
    creatable = editable = deletable = False
    labels = {'sale_num': "Sale Num", 'retail_point_id': "Retail Point ID",
              'local_data_id': "Odoo Record", 'replaces_local_data_id': "Replaces Odoo Record",
              'retired_at': "Retired in Odoo"}
    grid_columns = ['sale_num', 'version', 'status', 'sale_date', 'retail_point_id', 'sale_count',
                    'total_including_miscellaneous', 'amount_total', 'total_cess', 'reconciled',
                    'attempts', 'local_data_id']
    form_fields = grid_columns + ['hold_reason', 'failure_class', 'last_error', 'created', 'sent_at',
                                  'claimed_at', 'replaces_local_data_id', 'retired_at',
                                  'forced', 'reconciliation', 'pushes', 'payload']

    money_fields = ('total_including_miscellaneous', 'amount_total', 'total_cess')

    def configure_grid(self, g):
        super().configure_grid(g)
        g.set_sort_defaults('sale_date', 'desc')
        g.set_link('sale_num')

    def get_instance_title(self, summary):
        return f"Summary {summary.sale_num}, version {summary.version}"

    def configure_form(self, f):
        super().configure_form(f)
        f.set_renderer('reconciliation', self.render_reconciliation)
        f.set_renderer('pushes', self.render_pushes)
        f.set_renderer('payload', lambda summary, field: render.json_block(summary.payload))

    def render_reconciliation(self, summary, field):
        rows = [HTML.tag('tr', c=[HTML.tag('td', c=c['check']), HTML.tag('td', c=c['summary']),
                                  HTML.tag('td', c=c['sales']), HTML.tag('td', c=render.status_tag("ok" if c['ok'] else "MISMATCH"))])
                for c in json.loads(summary.reconciliation)]
        head = HTML.tag('tr', c=[HTML.tag('th', c=h) for h in ("check", "summary", "sales", "")])
        return HTML.tag('table', c=[head] + rows)

    def render_pushes(self, summary, field):
        return HTML.tag('ul', c=[HTML.tag('li', c=[render.format_time(self.app, p.attempted_at), f" {p.action} ",
                                                   render.status_tag('sent' if p.ok else p.failure_class or 'sending'),
                                                   f" {p.http_status or ''} {p.message or ''}"])
                                 for p in summary.pushes])


def defaults(config, **kwargs):
    kwargs.get('SummaryView', SummaryView).defaults(config)


def includeme(config):
    defaults(config)

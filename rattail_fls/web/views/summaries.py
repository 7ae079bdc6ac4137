"""Day summaries: every version, its status, reconciliation and push history.

Summaries are made by day closes and pushed by ``export-odoo-summary`` or the
``send_summary`` workers.  From a summary's page an operator pushes a due one
now (``fls.summaries.push``) or resends a sent, held or waiting one
(``fls.summaries.resend``, after the warning ``--resend`` prints), each behind
a confirmation page, through the same pusher run as ``export-odoo-summary``.
"""

import json

from pyramid.httpexceptions import HTTPFound
from pyramid.renderers import render_to_response
from webhelpers2.html import HTML

from rattail_fls import config as fls_config
from rattail_fls.db.model.summaries import FlsSummary, PushOutcome
from rattail_fls.summaries.due import RESEND_WARNING, Selection, push_choice
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

    def push_choice(self, summary):
        """``'push'``, ``'resend'`` or None (see :func:`rattail_fls.summaries.due.push_choice`)."""
        max_attempts = fls_config.get_number(self.rattail_config, 'odoo.max_attempts', int, 1)
        return push_choice(self.Session.connection(), summary.uuid, max_attempts)

    def get_xref_buttons(self, summary):
        buttons = super().get_xref_buttons(summary)
        choice = self.push_choice(summary)
        if choice and self.has_perm(choice):
            buttons.append(self.make_button(
                "Push now" if choice == 'push' else "Resend", is_primary=True, icon_left='paper-plane',
                url=self.request.route_url(f'fls.summaries.{choice}', uuid=summary.uuid)))
        return buttons

    def push_now(self):
        return self.push_action('push')

    def resend(self):
        return self.push_action('resend')

    def push_action(self, choice):
        """GET: what the push will do (with the resend warning); POST: one pusher run for it."""
        summary = self.get_instance()
        title = self.get_instance_title(summary)
        view_url = self.get_action_url('view', summary)
        if self.push_choice(summary) != choice:
            self.request.session.flash(f"{title} is {summary.status}: it cannot be "
                                       f"{'pushed now' if choice == 'push' else 'resent'}.", 'error')
            return HTTPFound(location=view_url)
        if self.request.method != 'POST':
            before = (f"It was sent as Odoo record {summary.local_data_id}. " if summary.local_data_id else "")
            held = f"It is held: {summary.hold_reason}. " if summary.hold_reason else ""
            return render_to_response('/fls/confirm.mako', {
                'index_title': self.get_index_title(), 'index_url': self.get_index_url(),
                'action_title': f"{'Push' if choice == 'push' else 'Resend'} {title}", 'cancel_url': view_url,
                'action_message': f"{before}{held}{title} ({summary.status}) will be posted to Odoo at "
                                  f"{fls_config.get_setting(self.rattail_config, 'odoo.url')} now.",
                'warning': RESEND_WARNING if choice == 'resend' else None,
                'action_button': "Push now" if choice == 'push' else "Resend",
            }, request=self.request)
        try:
            with self.app.get_fls_handler().make_pusher(workers=1) as pusher:
                report = pusher.run(Selection(uuids=[summary.uuid]), resend=choice == 'resend')
        except fls_config.ConfigError as error:
            self.request.session.flash(f"{title} was not pushed: {error}", 'error')
            return HTTPFound(location=view_url)
        self.flash_report(title, summary, report)
        return HTTPFound(location=view_url)

    def flash_report(self, title, summary, report):
        """What the run did with this summary (and with the Odoo record it replaces)."""
        mine = [o for o in report.outcomes if o['uuid'] == summary.uuid]
        waiting = [w for w in report.waiting if w['uuid'] == summary.uuid]
        if mine and mine[0]['outcome'] == PushOutcome.SENT:
            self.request.session.flash(f"{title} was sent to Odoo: {mine[0]['message']}.")
        elif mine:
            queue = 'error' if mine[0]['outcome'] == PushOutcome.FAILED else 'warning'
            self.request.session.flash(f"{title} was not sent ({mine[0]['outcome']}): {mine[0]['message']}",
                                       queue)
        else:
            why = waiting[0]['why'] if waiting else "no longer due"
            self.request.session.flash(f"{title} was not pushed: {why}", 'warning')
        for row in report.retired:
            if row['sale_num'] == summary.sale_num:
                self.request.session.flash(
                    f"{'Retired' if row['outcome'] == PushOutcome.SENT else 'Not retired'} in Odoo: "
                    f"version {row['version']}: {row['message']}",
                    '' if row['outcome'] == PushOutcome.SENT else 'warning')

    @classmethod
    def defaults(cls, config):
        super().defaults(config)
        for choice, attr, label in (('push', 'push_now', "Push a due summary to Odoo now"),
                                    ('resend', 'resend', "Resend a sent, held or waiting summary to Odoo "
                                                         "(Odoo then may have a second record)")):
            config.add_tailbone_permission('fls.summaries', f'fls.summaries.{choice}', label)
            config.add_route(f'fls.summaries.{choice}', f'/fls/summaries/{{uuid}}/{choice}')
            config.add_view(cls, attr=attr, route_name=f'fls.summaries.{choice}',
                            permission=f'fls.summaries.{choice}')

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

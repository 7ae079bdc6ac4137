"""The sales inbox: what shops sent, its status and reasons; fix and replay rejected rows.

Editing is only offered for rows that can be replayed (rejected, dead-lettered,
pending), and saving an edit *is* the replay: the corrected body is checked
against the whole contract in the form (each field's error shown before
anything is saved), then put back through the intake's door, as ``rattail
fls-inbox replay`` does, and queued for the workers.
"""

import json

import colander
from deform import widget as dfwidget
from webhelpers2.html import HTML

from rattail_fls.db.model.inbox import FlsInbox, REJECTED, REPLAYABLE
from rattail_fls.sales import contract
from rattail_fls.web import render
from rattail_fls.web.views.master import FlsMasterView


class InboxView(FlsMasterView):
    """Master view for :class:`FlsInbox` (``id`` is unique; the partition key is not needed)."""

    model_class = FlsInbox
    model_key = 'id'
    url_prefix = '/fls/inbox'
    route_prefix = 'fls.inbox'
    creatable = False
    deletable = False
    editable = True

    labels = {'retail_point_id': "Retail Point ID", 'sale_num': "Sale Num"}
    grid_columns = ['id', 'received_at', 'kind', 'source', 'retail_point_id', 'sale_num', 'sale_date',
                    'status', 'attempts', 'errors']
    form_fields = ['id', 'received_at', 'kind', 'source', 'retail_point_id', 'sale_num', 'sale_date',
                   'status', 'attempts', 'processed_at', 'errors', 'body']

    def configure_grid(self, g):
        super().configure_grid(g)
        g.set_sort_defaults('id', 'desc')
        g.set_link('id')
        g.filters['status'].default_active = True
        g.filters['status'].default_verb = 'equal'
        g.filters['status'].default_value = REJECTED
        g.set_renderer('errors', self.render_first_error)

    def render_first_error(self, row, field):
        errors = json.loads(row.errors or '[]')
        return f"{errors[0]['field']}: {errors[0]['reason']}" if errors else ''

    def editable_instance(self, row):
        return row.status in REPLAYABLE

    def configure_form(self, f):
        super().configure_form(f)
        f.set_renderer('errors', self.render_errors)
        if self.editing:
            for field in list(f.fields):
                if field not in ('id', 'status', 'errors', 'body'):
                    f.remove(field)
            f.set_readonly('id')
            f.set_readonly('status')
            f.set_readonly('errors')
            f.set_label('body', "Corrected payload (JSON); saving replays the row")
            f.set_widget('body', dfwidget.TextAreaWidget(attributes={
                'rows': '25', 'style': 'font-family: monospace; font-size: 0.85em;'}))
            f.set_validator('body', self.valid_payload)
        else:
            f.set_renderer('body', self.render_body)

    def render_errors(self, row, field):
        errors = json.loads(row.errors or '[]')
        return HTML.tag('ul', c=[HTML.tag('li', c=f"{e['field']}: {e['reason']}") for e in errors])

    def render_body(self, row, field):
        return render.json_block(row.body)

    def valid_payload(self, node, value):
        """The whole contract, before anything is saved: the form shows each field's error."""
        row = self.get_instance()
        intake = self.app.get_fls_handler().get_intake()
        try:
            decoded = contract.decode_body(value)
            if row.kind == 'sale':
                errors = intake.check_sale(decoded[0] if isinstance(decoded, list) and len(decoded) == 1
                                           else decoded)[1]
            else:
                errors = intake.check_day_close(decoded)[1]
        except contract.Invalid as invalid:
            errors = invalid.errors
        if errors:
            # Vue 2 templates decode &#39; but not &#34;: no double quotes in the message
            message = '; '.join(f"{e['field']}: {e['reason']}" for e in errors)
            raise colander.Invalid(node, message.replace('"', "'"))

    def save_edit_form(self, form):
        row = self.get_instance()
        self.app.get_fls_handler().get_intake().replay(ids=[row.id], body=form.validated['body'])
        self.Session.expire(row)
        self.request.session.flash(f"Inbox row {row.id} was replayed with the corrected payload.")
        return row

    def get_instance_title(self, row):
        what = "Sale" if row.kind == 'sale' else "Day close"
        return f"Inbox row {row.id}: {what} {row.sale_num or ''} of retail point {row.retail_point_id}".strip()


def defaults(config, **kwargs):
    kwargs.get('InboxView', InboxView).defaults(config)


def includeme(config):
    defaults(config)

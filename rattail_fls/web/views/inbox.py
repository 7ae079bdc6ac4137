"""The sales inbox: what shops sent, its status and reasons; fix and replay rejected rows;
prune it.

Editing is only offered for rows that can be replayed (rejected, dead-lettered,
pending), and saving an edit *is* the replay: the corrected body is checked
against the whole contract in the form (each field's error shown before
anything is saved), then put back through the intake's door, as ``rattail
fls-inbox replay`` does, and queued for the workers.

Rejected and dead-lettered rows are also replayed *as is* (``fls.inbox.replay``):
one from its page, the rows checked in the grid, or all of a shop's; and the
inbox is pruned as ``rattail fls-inbox prune`` does (``fls.inbox.prune``).  Both
show what they would do on a confirmation page first.
"""

import json

import colander
from deform import widget as dfwidget
from pyramid.httpexceptions import HTTPFound
from pyramid.renderers import render_to_response
from webhelpers2.html import HTML, tags

from rattail_fls import config as fls_config
from rattail_fls.db.model.inbox import DEAD, FlsInbox, REJECTED, REPLAYABLE
from rattail_fls.sales import contract, inbox
from rattail_fls.web import render
from rattail_fls.web.views.master import FlsMasterView

#: What "Replay" puts back through the contract as is (pending rows are the workers' business).
AS_IS = (REJECTED, DEAD)
STATUS_LABELS = {REJECTED: "rejected", DEAD: "dead-lettered"}
#: Most rows one replay may name by id (a grid page's worth, and then some).
MAX_IDS = 1000


def dates_in_words(dates):
    return ', '.join(f"{d:%d %b %Y}" for d in dates) or "none"


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

    def make_grid_kwargs(self, **kwargs):
        kwargs.setdefault('checkboxes', self.has_perm('replay'))  # checked rows are replayed as is
        return super().make_grid_kwargs(**kwargs)

    def checkbox(self, row):
        return row.status in AS_IS

    def get_uuid_for_grid_row(self, row):
        return str(row.id)  # what the grid's checked rows carry to the replay page

    def get_context_menu_items(self, row=None):
        items = super().get_context_menu_items(row)
        if self.listing and self.has_perm('replay'):
            items.append(tags.link_to("Replay a shop's rejected rows", self.request.route_url('fls.inbox.replay')))
        if self.listing and self.has_perm('prune'):
            items.append(tags.link_to("Prune the inbox", self.request.route_url('fls.inbox.prune')))
        return items

    def get_xref_buttons(self, row):
        buttons = super().get_xref_buttons(row)
        if row.status in AS_IS and self.has_perm('replay'):
            buttons.append(self.make_button("Replay as is", is_primary=True, icon_left='redo',
                                            url=self.request.route_url('fls.inbox.replay', _query={'ids': row.id})))
        return buttons

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

    def replay_choice(self, params):
        """``(ids, retail_point_id, statuses)`` from the page's parameters; ValueError when invalid."""
        ids = sorted({int(part) for value in params.getall('ids') for part in value.split(',') if part.strip()})
        if len(ids) > MAX_IDS or any(i < 1 for i in ids):
            raise ValueError(f"give at most {MAX_IDS} inbox ids, each a positive number")
        point = params.get('retail_point_id', '').strip()
        retail_point_id = int(point) if point else None
        statuses = params.getall('status') or list(AS_IS)
        unknown = sorted(set(statuses) - set(AS_IS))
        if unknown:
            raise ValueError(f"status {', '.join(unknown)}: expected {' or '.join(AS_IS)}")
        return ids, retail_point_id, statuses

    def replay_rows(self):
        """GET: the choice (a shop and statuses, or rows by id) and how many rows it replays;
        POST: replay them as is, as ``rattail fls-inbox replay`` does."""
        page_url = self.request.route_url('fls.inbox.replay')
        params = self.request.POST if self.request.method == 'POST' else self.request.GET
        try:
            ids, retail_point_id, statuses = self.replay_choice(params)
        except ValueError as error:
            self.request.session.flash(f"Nothing was replayed: {error}", 'error')
            return HTTPFound(location=page_url)
        chosen = bool(ids) or retail_point_id is not None  # never "every shop's rows" by accident
        conn = self.Session.connection()
        counts = inbox.replayable_counts(conn, statuses, ids, retail_point_id) if chosen else {}
        if self.request.method != 'POST':
            return render_to_response('/fls/inbox/replay.mako', {
                'index_title': self.get_index_title(), 'index_url': self.get_index_url(),
                'ids': ids, 'retail_point_id': retail_point_id, 'statuses': statuses, 'chosen': chosen,
                'counts': counts, 'total': sum(counts.values()), 'status_labels': STATUS_LABELS,
                'shops': inbox.replayable_shops(conn, AS_IS),
            }, request=self.request)
        if not chosen or not counts:
            self.request.session.flash("Nothing was replayed: no rejected or dead-lettered row matches.", 'error')
            return HTTPFound(location=page_url)
        done = self.app.get_fls_handler().get_intake().replay(ids=ids or None, retail_point_id=retail_point_id,
                                                              statuses=statuses)
        self.flash_replayed(done)
        if len(ids) == 1:
            return HTTPFound(location=self.request.route_url('fls.inbox.view', id=ids[0]))
        return HTTPFound(location=self.get_index_url(_query={'retail_point_id': retail_point_id,
                                                             'retail_point_id.verb': 'equal'}
                                                     if retail_point_id is not None else None))

    def flash_replayed(self, done):
        """Queued again, and still rejected with each row's first reason."""
        pending, rejected = done['pending'], done['rejected']
        self.request.session.flash(f"Replayed {len(pending) + len(rejected)} inbox rows as is: "
                                   f"{len(pending)} queued again for the workers, {len(rejected)} still rejected.")
        if rejected:
            rows = self.Session.query(FlsInbox).filter(FlsInbox.id.in_([key[1] for key in rejected[:10]]))\
                                               .order_by(FlsInbox.id).all()
            more = f" (and {len(rejected) - len(rows)} more)" if len(rejected) > len(rows) else ""
            self.request.session.flash("Still rejected: " + "; ".join(
                f"row {row.id}: {self.render_first_error(row, 'errors')}" for row in rows) + more, 'warning')

    def prune(self):
        """GET: the retention and the days that would be dropped or kept; POST: prune, as
        ``rattail fls-inbox prune`` does."""
        try:
            keep = fls_config.inbox_retention_days(self.rattail_config)
        except fls_config.ConfigError as error:
            self.request.session.flash(f"The inbox was not pruned: {error}", 'error')
            return HTTPFound(location=self.get_index_url())
        if self.request.method == 'POST':
            with self.rattail_config.appdb_engine.begin() as conn:
                dropped, kept, deleted = inbox.prune(conn, keep)
            self.request.session.flash(f"Pruned the inbox: {inbox.describe_prune(dropped, kept, deleted)}.")
            return HTTPFound(location=self.get_index_url())
        plan = inbox.prune_plan(self.Session.connection(), keep)
        return render_to_response('/fls/confirm.mako', {
            'index_title': self.get_index_title(), 'index_url': self.get_index_url(),
            'action_title': "Prune the inbox", 'cancel_url': self.get_index_url(),
            'action_message': f"The inbox keeps {keep} days ([rattail_fls] inbox.retention_days): settled "
                              f"rows received before {plan['cutoff']:%d %b %Y} go. {len(plan['drop'])} "
                              f"daily partitions would be dropped ({dates_in_words(plan['drop'])}) and "
                              f"{plan['delete']} other settled rows deleted. {len(plan['keep'])} older days "
                              f"are kept because they hold rejected or pending rows "
                              f"({dates_in_words(plan['keep'])}).",
            'warning': None, 'action_button': "Prune",
        }, request=self.request)

    @classmethod
    def defaults(cls, config):
        # before the master's routes: /fls/inbox/{id} would take "replay" and "prune" for ids
        for name, attr in (('replay', 'replay_rows'), ('prune', 'prune')):
            config.add_route(f'fls.inbox.{name}', f'/fls/inbox/{name}')
            config.add_view(cls, attr=attr, route_name=f'fls.inbox.{name}', permission=f'fls.inbox.{name}')
        super().defaults(config)
        config.add_tailbone_permission('fls.inbox', 'fls.inbox.replay',
                                       "Replay rejected or dead-lettered inbox rows as they are")
        config.add_tailbone_permission('fls.inbox', 'fls.inbox.prune',
                                       "Prune the inbox (drop settled rows older than the retention)")

    def get_instance_title(self, row):
        what = "Sale" if row.kind == 'sale' else "Day close"
        return f"Inbox row {row.id}: {what} {row.sale_num or ''} of retail point {row.retail_point_id}".strip()


def defaults(config, **kwargs):
    kwargs.get('InboxView', InboxView).defaults(config)


def includeme(config):
    defaults(config)

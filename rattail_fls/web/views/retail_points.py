"""Retail points: list, create, edit, history; the shard comes from the policy unless picked.

Shard changes go through :meth:`ShardRouter.assign`, so the web and
``fls-shards assign`` follow the same rules; the form checks them first, so a
refused change is a message on the form, not an error page.
"""

import zoneinfo

import colander
from deform import widget as dfwidget
from webhelpers2.html import HTML, tags

from rattail.db import model

from rattail_fls.config import ConfigError
from rattail_fls.db.model.retail_points import FlsRetailPoint
from rattail_fls.db.model.shards import FlsShard
from rattail_fls.web import render
from rattail_fls.web.views.master import FlsMasterView
from rattail_fls.web.views.retail_point_figures import FIGURES, retail_point_figures


class RetailPointView(FlsMasterView):
    """Master view for :class:`FlsRetailPoint` (not deletable: its sales would be stranded)."""

    model_class = FlsRetailPoint
    url_prefix = '/fls/retail-points'
    route_prefix = 'fls.retail_points'
    deletable = False
    has_versions = True

    labels = {
        'retail_point_id': "Retail Point ID",
        'timezone': "Time Zone",
    }

    grid_columns = ['retail_point_id', 'name', 'store', 'shard', 'timezone', 'active'] + list(FIGURES)
    form_fields = ['retail_point_id', 'name', 'store', 'shard', 'timezone', 'active']

    @property
    def shards(self):
        return self.app.get_fls_handler().shards

    def configure_grid(self, g):
        super().configure_grid(g)
        for key, label in FIGURES.items():
            g.set_label(key, label)
            g.set_renderer(key, self.render_figure)
        g.set_sort_defaults('retail_point_id')
        g.set_link('retail_point_id')
        g.set_link('name')
        g.filters['name'].default_active = True
        g.filters['name'].default_verb = 'contains'
        g.set_joiner('store', lambda q: q.outerjoin(model.Store))
        g.set_sorter('store', model.Store.name)
        g.set_filter('store', model.Store.name)
        g.set_joiner('shard', lambda q: q.outerjoin(FlsShard))
        g.set_sorter('shard', FlsShard.name)
        g.set_filter('shard', FlsShard.name)

    def configure_form(self, f):
        super().configure_form(f)
        f.set_helptext('timezone', "IANA time zone, e.g. Asia/Kolkata; empty = the app's default.")
        if self.viewing:
            for key, label in FIGURES.items():
                f.append(key)
                f.set_label(key, label)
                f.set_renderer(key, self.render_figure)
            f.append('records')
            f.set_label('records', "Its records")
            f.set_renderer('records', self.render_records)
            f.set_renderer('store', self.render_store)
            f.set_renderer('shard', self.render_shard)
            return
        f.set_validator('retail_point_id', colander.Range(
            min=1, min_err="Retail point ID must be a positive number"))
        f.set_validator('timezone', valid_timezone)
        f.set_validator(None, self.validate_retail_point)

        f.replace('store', 'store_uuid')
        f.set_label('store_uuid', "Store")
        stores = self.Session.query(model.Store).order_by(model.Store.id)
        if f.model_instance is None or f.model_instance.store is None:
            f.set_default('store_uuid', '')  # "(none)", not a placeholder
        f.set_widget('store_uuid', dfwidget.SelectWidget(
            values=[('', "(none)")] + [(s.uuid, f"{s.id} {s.name}") for s in stores]))

        f.replace('shard', 'shard_uuid')
        f.set_label('shard_uuid', "Shard")
        shards = self.assignable_shards()
        values = [(s.uuid, s.name if s.accept_new else f"{s.name} (takes no new retail points)")
                  for s in shards]
        current = None if self.creating else f.model_instance.shard
        if current is None:
            values.insert(0, ('', "(assign by policy)"))
            f.set_default('shard_uuid', '')  # selected, instead of Buefy's "(please choose)" above it
        else:
            f.set_required('shard_uuid')
        f.set_widget('shard_uuid', dfwidget.SelectWidget(values=values))
        f.set_validator('shard_uuid', colander.OneOf([s.uuid for s in shards]))
        if self.creating:
            f.set_default('active', True)

    def assignable_shards(self):
        """Registry shards that are configured and created, in config order."""
        order = list(self.shards.specs)
        shards = self.Session.query(FlsShard)\
                             .filter(FlsShard.name.in_(order))\
                             .filter(FlsShard.schema_version > 0).all()
        return sorted(shards, key=lambda shard: order.index(shard.name))

    def validate_retail_point(self, node, data):
        """Checks that need the database: unique ID, a shard for the policy, no stranded sales."""
        errors = {}
        current = None if self.creating else self.get_instance()
        rp_id = data['retail_point_id']
        other = self.Session.query(FlsRetailPoint)\
                            .filter(FlsRetailPoint.retail_point_id == rp_id).first()
        if other is not None and other is not current:
            errors['retail_point_id'] = f"Retail point ID {rp_id} is already used by ‘{other}’"
        if current is not None and current.shard is not None \
           and (rp_id != current.retail_point_id or data['shard_uuid'] != current.shard.uuid) \
           and self.shards.has_sales(current.shard.name, current.retail_point_id):
            errors['shard_uuid' if rp_id == current.retail_point_id else 'retail_point_id'] = (
                f"Retail point {current.retail_point_id} has sales in shard {current.shard.name}: "
                "its ID and shard cannot change")
        if not data['shard_uuid']:
            try:
                self.shards.choose_shard(self.Session())
            except ConfigError as error:
                errors['shard_uuid'] = str(error)
        if errors:
            raise invalid(node, errors)

    def objectify(self, form, data=None):
        data = dict(form.validated if data is None else data)
        data.pop('shard_uuid')  # set by assign_shard(), which applies the router's rules
        return super().objectify(form, data)

    def save_create_form(self, form):
        retail_point = super().save_create_form(form)
        self.assign_shard(retail_point, form.validated['shard_uuid'])
        return retail_point

    def save_edit_form(self, form):
        retail_point = super().save_edit_form(form)
        self.assign_shard(retail_point, form.validated['shard_uuid'])
        return retail_point

    def assign_shard(self, retail_point, shard_uuid):
        """The chosen shard, or the policy's choice when none was chosen."""
        shard = self.Session.get(FlsShard, shard_uuid) if shard_uuid else None
        if shard is None or shard is not retail_point.shard:
            self.shards.assign(self.Session(), retail_point, shard.name if shard else None)

    def figures(self):
        """Figures of the points on this page (or this one), read once per request."""
        if not hasattr(self, '_figures'):
            if self.viewing:
                ids = [self.get_instance().retail_point_id]
            else:
                ids = [rp for (rp,) in self.Session.query(FlsRetailPoint.retail_point_id)]
            self._figures = retail_point_figures(self.Session(), ids, self.app.today())
        return self._figures

    def render_figure(self, retail_point, field):
        value = self.figures().get(retail_point.retail_point_id, {}).get(field)
        if field == 'last_sale_received':
            return render.format_time(self.app, value) or "never"
        return str(value or 0)  # str: forms show a bare 0 as blank

    def render_records(self, retail_point, field):
        """Links to its sales, business days, day closes, summaries and inbox rows."""
        rp = retail_point.retail_point_id
        filtered = {'retail_point_id': rp, 'retail_point_id.verb': 'equal'}
        links = [("Sales", 'fls.sales', {'retail_point_id': rp}),
                 ("Business days", 'fls.business_days', filtered), ("Day closes", 'fls.day_closes', filtered),
                 ("Summaries", 'fls.summaries', filtered), ("Inbox", 'fls.inbox', filtered)]
        return HTML.tag('div', class_='buttons', c=[
            tags.link_to(title, self.request.route_url(route, _query=query), class_='button is-small')
            for title, route, query in links])

    def render_shard(self, retail_point, field):
        shard = retail_point.shard
        if shard is not None:
            return tags.link_to(shard.name, self.request.route_url('fls.shards.view', uuid=shard.uuid))


def valid_timezone(node, value):
    if value not in zoneinfo.available_timezones():
        raise colander.Invalid(node, f"‘{value}’ is not an IANA time zone (e.g. Asia/Kolkata)")


def invalid(node, errors):
    """A form-wide error that shows each message next to its field."""
    error = colander.Invalid(node)
    for key, message in errors.items():
        error.add(colander.Invalid(node[key], message), node.children.index(node[key]))
    return error


def defaults(config, **kwargs):
    kwargs.get('RetailPointView', RetailPointView).defaults(config)


def includeme(config):
    defaults(config)

"""Shards: the registry, with live figures read from each shard's database (read-only).

Shards are created and changed by ``rattail fls-shards``, never from the web.  Sales and
lines are the catalog's estimates, not counts: the page reads a few catalog rows per shard
however many sales it holds (``fls-shards list`` counts them).
"""

import logging

import sqlalchemy as sa


from rattail_fls.config import ConfigError
from rattail_fls.db.model.shards import FlsShard
from rattail_fls.web.views.master import FlsMasterView

log = logging.getLogger(__name__)

#: Keys of :meth:`ShardRouter.stats` shown next to the registry columns.
LIVE_FIELDS = ['database', 'retail_points', 'sales', 'lines', 'days']


class ShardView(FlsMasterView):
    """Master view for :class:`FlsShard`; storage and version are those ``fls-shards upgrade`` recorded."""

    model_class = FlsShard
    url_prefix = '/fls/shards'
    route_prefix = 'fls.shards'
    creatable = False
    editable = False
    deletable = False

    labels = {
        'schema_name': "Schema",
        'engine_key': "Engine Key",
        'schema_version': "Version",
        'accept_new': "Takes New Retail Points",
        'days': "Days (partitions or chunks)",
        'sales': "Sales (estimate)",
        'lines': "Lines (estimate)",
    }

    grid_columns = ['name', 'schema_name', 'storage', 'schema_version', 'accept_new'] + LIVE_FIELDS
    form_fields = ['name', 'schema_name', 'engine_key', 'storage', 'schema_version', 'accept_new',
                   'created', 'upgraded'] + LIVE_FIELDS

    def configure_grid(self, g):
        super().configure_grid(g)
        g.set_sort_defaults('name')
        g.set_link('name')
        for key in LIVE_FIELDS:
            g.set_renderer(key, self.render_live)

    def configure_form(self, f):
        super().configure_form(f)
        for key in LIVE_FIELDS:
            f.set_renderer(key, self.render_live)

    def render_live(self, shard, field):
        value = self.live_stats().get(shard.name, {}).get(field)
        return None if value is None else str(value)  # str: forms show a bare 0 as blank

    def live_stats(self):
        """``{shard name: stats}``, read once per request: it queries every shard's database.

        A shard database that cannot be reached leaves the figures empty, with a message.
        """
        if not hasattr(self, '_live_stats'):
            try:
                stats = self.app.get_fls_handler().shards.stats(self.Session(), estimate=True)
            except (sa.exc.SQLAlchemyError, ConfigError) as error:
                log.warning("live shard figures unavailable", exc_info=True)
                self.request.session.flash(f"Live shard figures are unavailable: {error}", 'error')
                stats = []
            self._live_stats = {info['shard']: info for info in stats}
        return self._live_stats

    def template_kwargs(self, **kwargs):
        self.live_stats()  # before the page renders, so a failure's message shows on it
        return super().template_kwargs(**kwargs)


def defaults(config, **kwargs):
    kwargs.get('ShardView', ShardView).defaults(config)


def includeme(config):
    defaults(config)

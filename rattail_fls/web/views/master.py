"""Base of the FLS master views: total order, CSV/XLSX export, and one way to show
money, times and statuses (:mod:`rattail_fls.web.render`)."""

import sqlalchemy as sa

from tailbone.views import MasterView

from rattail_fls.web import render
from rattail_fls.web.grids import TotalOrderGrid


class FlsMasterView(MasterView):
    """Every grid: primary key as tie-breaker and CSV/XLSX download; every time column in
    the app's zone with the zone shown; :attr:`money_fields` in the configured currency;
    :attr:`status_fields` as coloured tags."""

    grid_factory = TotalOrderGrid
    results_downloadable_csv = True
    results_downloadable_xlsx = True
    money_fields = ()
    status_fields = ('status',)

    def configure_grid(self, g):
        super().configure_grid(g)
        self.set_renderers(g)

    def configure_form(self, f):
        super().configure_form(f)
        if self.viewing:
            self.set_renderers(f)

    def set_renderers(self, grid_or_form):
        fields = set(grid_or_form.columns if hasattr(grid_or_form, 'columns') else grid_or_form.fields)
        for column in sa.inspect(self.get_model_class()).columns:
            if column.key in fields and isinstance(column.type, sa.DateTime):
                grid_or_form.set_renderer(column.key, self.render_time)
        for key in set(self.money_fields) & fields:
            grid_or_form.set_renderer(key, self.render_money)
        for key in set(self.status_fields) & fields:
            grid_or_form.set_renderer(key, self.render_status)

    def render_time(self, obj, field):
        return render.format_time(self.app, getattr(obj, field))

    def render_money(self, obj, field):
        return render.format_money(getattr(obj, field), render.currency(self.rattail_config))

    def render_status(self, obj, field):
        return render.status_tag(getattr(obj, field))

"""Business days and their closes: what each shop's date holds, and whether its close is stale."""

import sqlalchemy as sa

from rattail_fls.db.model.business_days import FlsBusinessDay
from rattail_fls.db.model.summaries import FlsDayClose
from rattail_fls.web import render
from rattail_fls.web.views.master import FlsMasterView


def day_title(retail_point_id, sale_date):
    """``Retail point 8101, Sat 21 Nov 2026``: a shop's business date in words."""
    return f"Retail point {retail_point_id}, {sale_date:%a %d %b %Y}"


class BusinessDayView(FlsMasterView):
    """Read-only: the workers keep these rows (sales and lines per shop and date)."""

    model_class = FlsBusinessDay
    url_prefix = '/fls/business-days'
    route_prefix = 'fls.business_days'
    creatable = editable = deletable = False
    labels = {'retail_point_id': "Retail Point ID", 'changed_at': "Last Changed"}
    grid_columns = ['retail_point_id', 'sale_date', 'sale_count', 'line_count', 'changed_at']
    form_fields = grid_columns

    def configure_grid(self, g):
        super().configure_grid(g)
        g.set_sort_defaults('sale_date', 'desc')
        g.set_link('sale_date')

    def get_instance_title(self, day):
        return day_title(day.retail_point_id, day.sale_date)


class DayCloseView(FlsMasterView):
    """Read-only: closes are made by shops, ``fls-day-close`` and the nightly export."""

    model_class = FlsDayClose
    url_prefix = '/fls/day-closes'
    route_prefix = 'fls.day_closes'
    creatable = editable = deletable = False
    labels = {'retail_point_id': "Retail Point ID", 'sales_changed_at': "Sales As Of"}
    grid_columns = ['retail_point_id', 'sale_date', 'closes', 'closed_at', 'stale', 'requested_by',
                    'sale_count', 'summary_count']
    form_fields = grid_columns + ['sales_changed_at']

    def configure_grid(self, g):
        super().configure_grid(g)
        g.set_sort_defaults('sale_date', 'desc')
        g.set_link('sale_date')
        g.set_renderer('stale', self.render_stale)

    def configure_form(self, f):
        super().configure_form(f)
        f.set_renderer('stale', self.render_stale)

    def get_instance_title(self, close):
        return f"Day close of {day_title(close.retail_point_id, close.sale_date)}"

    def render_stale(self, close, field):
        """Stale: sales of the day were stored or replaced after this close saw them."""
        changed = self.Session.execute(
            sa.select(FlsBusinessDay.changed_at)
            .where(FlsBusinessDay.retail_point_id == close.retail_point_id)
            .where(FlsBusinessDay.sale_date == close.sale_date)).scalar()
        if close.closed_at is None:
            return render.status_tag("not closed")
        stale = changed and (close.sales_changed_at is None or changed > close.sales_changed_at)
        return render.status_tag("stale" if stale else "current")


def defaults(config, **kwargs):
    kwargs.get('BusinessDayView', BusinessDayView).defaults(config)
    kwargs.get('DayCloseView', DayCloseView).defaults(config)


def includeme(config):
    defaults(config)

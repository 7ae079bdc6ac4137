"""Business days and their closes: what each shop's date holds, and whether its close is stale.

A business day can be closed (or closed again, after late sales) from its page:
``fls.business_days.close`` permission, a confirmation page, then the same
:meth:`DayCloser.close` as ``rattail fls-day-close``.
"""

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPFound
from pyramid.renderers import render_to_response

from rattail_fls.config import ConfigError

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

    def get_xref_buttons(self, day):
        buttons = super().get_xref_buttons(day)
        if self.has_perm('close'):
            buttons.append(self.make_button(
                "Close this day again" if self.closed(day) else "Close this day", is_primary=True,
                url=self.request.route_url('fls.business_days.close', **self.key_of(day)), icon_left='lock'))
        return buttons

    @staticmethod
    def key_of(day):
        return {'retail_point_id': day.retail_point_id, 'sale_date': day.sale_date.isoformat()}

    def closed(self, day):
        return self.Session.query(FlsDayClose).filter_by(retail_point_id=day.retail_point_id,
                                                         sale_date=day.sale_date)\
                                              .filter(FlsDayClose.closed_at.isnot(None)).count() > 0

    def close_day(self):
        """GET: what closing does (and that a re-close supersedes); POST: close it."""
        day = self.get_instance()
        title = day_title(day.retail_point_id, day.sale_date)
        view_url = self.get_action_url('view', day)
        if self.request.method != 'POST':
            again = self.closed(day)
            return render_to_response('/fls/confirm.mako', {
                'index_title': self.get_index_title(), 'index_url': self.get_index_url(),
                'action_title': f"Close {title}", 'cancel_url': view_url,
                'action_message': f"Summaries of {title} will be computed from its "
                                  f"{day.sale_count} sales and queued for Odoo.",
                'warning': "This day was closed before: summaries whose sales changed get a new "
                           "version, and the old one is retired in Odoo." if again else None,
                'action_button': "Close again" if again else "Close the day",
            }, request=self.request)
        try:
            result = self.app.get_fls_handler().get_closer().close(
                day.retail_point_id, day.sale_date, requested_by=f'web:{self.request.user.username}')
        except ConfigError as error:
            self.request.session.flash(f"{title} was not closed: {error}", 'error')
            return HTTPFound(location=view_url)
        held = f", {result['held']} held for reconciliation mismatches" if result['held'] else ""
        self.request.session.flash(f"Closed {title}: {result['sales']} sales, {result['new']} new, "
                                   f"{result['unchanged']} unchanged, {result['superseded']} superseded "
                                   f"summaries{held}.")
        return HTTPFound(location=view_url)

    @classmethod
    def defaults(cls, config):
        super().defaults(config)
        config.add_tailbone_permission('fls.business_days', 'fls.business_days.close',
                                       "Close or re-close a business day (computes its summaries)")
        config.add_route('fls.business_days.close', '/fls/business-days/{retail_point_id}|{sale_date}/close')
        config.add_view(cls, attr='close_day', route_name='fls.business_days.close',
                        permission='fls.business_days.close')


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
        changes = self.Session.execute(
            sa.select(FlsBusinessDay.change_count)
            .where(FlsBusinessDay.retail_point_id == close.retail_point_id)
            .where(FlsBusinessDay.sale_date == close.sale_date)).scalar()
        if close.closed_at is None:
            return render.status_tag("not closed")
        stale = changes and (close.change_count_seen is None or changes > close.change_count_seen)
        return render.status_tag("stale" if stale else "current")


def defaults(config, **kwargs):
    kwargs.get('BusinessDayView', BusinessDayView).defaults(config)
    kwargs.get('DayCloseView', DayCloseView).defaults(config)


def includeme(config):
    defaults(config)

"""The FLS dashboard: sales and lines per day for the last 30 days, per shop and for the
chain (Chart.js, served by the app); every figure links to the business days behind it.

It is the home page of users with ``fls.dashboard.view``: the view is registered
for Theo's ``home`` route with a predicate, so other users keep Theo's home.
The figures come from ``fls_business_day`` (kept by the workers), so the chart
never scans a shard.  The status panel shows the figures of ``rattail fls-status``
(:func:`rattail_fls.status.collect`, so both always agree), each linked to the grid
behind it where one exists; a source that is down is shown, not crashed on.
"""

import datetime
import json
from urllib.parse import urlencode

import sqlalchemy as sa

from tailbone.db import Session
from tailbone.views import View

from rattail_fls import status
from rattail_fls.db.model import inbox, summaries
from rattail_fls.db.model.business_days import FlsBusinessDay
from rattail_fls.db.model.retail_points import FlsRetailPoint
from rattail_fls.web import render, static

DAYS = 30
#: A grid filter value meaning "is not null".
IS_SET = object()
PERMISSION = 'fls.dashboard.view'


class DashboardView(View):
    """One page; no master view (nothing to list, create or edit)."""

    Session = Session

    def __call__(self):
        return self.dashboard()

    def dashboard(self):
        today = self.app.today()
        first = today - datetime.timedelta(days=DAYS - 1)
        shop = self.chosen_shop()
        days = [first + datetime.timedelta(days=n) for n in range(DAYS)]
        figures = self.daily_figures(first, today, shop)
        series = [{'date': day.isoformat(), 'label': f'{day:%a %d %b}',
                   'sales': figures.get(day, (0, 0))[0], 'lines': figures.get(day, (0, 0))[1],
                   'url': self.days_url(shop, day, day)} for day in days]
        return {
            'shop': shop,
            'shops': self.shops(first, today),
            'series': series,
            'series_json': json.dumps(series),
            'chain_url': self.days_url(None, first, today),
            'period': (first, today),
            'chart_js_url': static.library_url(self.request, 'chart_js'),
            'health': self.health(),
        }

    def health(self):
        """The figures of ``fls-status``, with the grid link of each (formatting only)."""
        figures = status.collect(self.rattail_config)
        shops = figures.get('inbox', [])
        oldest = [s['oldest_pending_seconds'] for s in shops if s['oldest_pending_seconds'] is not None]
        total = {'retail_point_id': None, 'pending': sum(s['pending'] for s in shops),
                 'retrying': sum(s['retrying'] for s in shops), 'rejected': sum(s['rejected'] for s in shops),
                 'dead_lettered': sum(s['dead_lettered'] for s in shops),
                 'oldest_pending_seconds': max(oldest, default=None)}
        counts = figures.get('summaries', {})
        return {
            'figures': figures,
            'status_tag': render.status_tag(figures['status']),
            'problems': [dict(p, tag=render.status_tag(p['level'])) for p in figures['problems']],
            'inbox': [self.inbox_row(s, s['retail_point_id']) for s in shops],
            'inbox_total': self.inbox_row(total, 'all') if shops else None,
            'summaries': [(label, counts.get(key, 0), self.grid_url('fls.summaries', status=value, **extra))
                          for label, key, value, extra in (
                              ("pending", summaries.PENDING, summaries.PENDING, {}),
                              ("failed", summaries.FAILED, summaries.FAILED, {}),
                              ("held", summaries.HELD, summaries.HELD, {}),
                              ("superseded, still live in Odoo", 'superseded_live', summaries.SUPERSEDED,
                               {'sent_at': IS_SET}))],
            'day_closes_url': self.request.route_url('fls.day_closes'),
            'quiet': [dict(s, quiet=render.format_age(s['quiet_minutes'] * 60),
                           url=self.grid_url('fls.retail_points', retail_point_id=s['retail_point_id']))
                      for s in figures.get('quiet_shops', [])],
        }

    def inbox_row(self, figures, shop):
        """One line of the inbox table: ``shop`` is a retail point id, None (no id parsed) or 'all'."""
        where = {} if shop == 'all' else {'retail_point_id': shop}
        return dict(figures, oldest=render.format_age(figures['oldest_pending_seconds']), links={
            'pending': self.grid_url('fls.inbox', status=inbox.PENDING, **where),
            'retrying': self.grid_url('fls.inbox', status=inbox.PENDING, errors=IS_SET, **where),
            'rejected': self.grid_url('fls.inbox', status=inbox.REJECTED, **where),
            'dead_lettered': self.grid_url('fls.inbox', status=inbox.DEAD, **where)})

    def grid_url(self, route, **filters):
        """A grid filtered by ``field == value`` (None: ``field`` is null; IS_SET: it is not)."""
        params = {}
        for field, value in filters.items():
            if value is None or value is IS_SET:
                params.update({field: '', f'{field}.verb': 'is_null' if value is None else 'is_not_null'})
            else:
                params.update({field: value, f'{field}.verb': 'equal'})
        return f"{self.request.route_url(route)}?{urlencode(params)}"

    def chosen_shop(self):
        """``?shop=<retail point id>``, validated; None = the chain."""
        raw = self.request.GET.get('shop', '')
        if not raw.isdigit():
            return None
        return self.Session.query(FlsRetailPoint).filter_by(retail_point_id=int(raw)).one_or_none()

    def daily_figures(self, first, last, shop):
        """``{date: (sales, lines)}`` for one shop or the chain."""
        query = sa.select(FlsBusinessDay.sale_date, sa.func.sum(FlsBusinessDay.sale_count),
                          sa.func.sum(FlsBusinessDay.line_count))\
                  .where(FlsBusinessDay.sale_date.between(first, last))\
                  .group_by(FlsBusinessDay.sale_date)
        if shop is not None:
            query = query.where(FlsBusinessDay.retail_point_id == shop.retail_point_id)
        return {day: (int(sales), int(lines)) for day, sales, lines in self.Session.execute(query)}

    def shops(self, first, last):
        """Every retail point with its sales and lines over the period (active ones first)."""
        totals = sa.select(FlsBusinessDay.retail_point_id,
                           sa.func.sum(FlsBusinessDay.sale_count).label('sales'),
                           sa.func.sum(FlsBusinessDay.line_count).label('lines'))\
                   .where(FlsBusinessDay.sale_date.between(first, last))\
                   .group_by(FlsBusinessDay.retail_point_id).subquery()
        rows = self.Session.execute(
            sa.select(FlsRetailPoint, totals.c.sales, totals.c.lines)
            .outerjoin(totals, totals.c.retail_point_id == FlsRetailPoint.retail_point_id)
            .order_by(FlsRetailPoint.active.desc(), FlsRetailPoint.retail_point_id))
        return [{'point': point, 'sales': int(sales or 0), 'lines': int(lines or 0),
                 'url': self.days_url(point, first, last),
                 'dashboard_url': self.request.route_url('home', _query={'shop': point.retail_point_id})}
                for point, sales, lines in rows]

    def days_url(self, shop, first, last):
        """The business days grid filtered to a shop (or all) and a date range."""
        params = {'sale_date': first.isoformat(), 'sale_date.verb': 'equal'} if first == last else {
            'sale_date': f'{first.isoformat()}|{last.isoformat()}', 'sale_date.verb': 'between'}
        if shop is not None:
            params.update({'retail_point_id': shop.retail_point_id, 'retail_point_id.verb': 'equal'})
        return f"{self.request.route_url('fls.business_days')}?{urlencode(params)}"


class DashboardPredicate:
    """True when the user may see the FLS dashboard (then it is their home page)."""

    def __init__(self, value, config):
        self.value = value

    def text(self):
        return f'fls_dashboard = {self.value}'

    phash = text

    def __call__(self, context, request):
        return request.has_perm(PERMISSION) == self.value


def includeme(config):
    config.add_tailbone_permission_group('fls.dashboard', "FLS Dashboard", overwrite=False)
    config.add_tailbone_permission('fls.dashboard', PERMISSION, "View the FLS dashboard (as home page)")
    config.add_view_predicate('fls_dashboard', DashboardPredicate)
    config.add_route('fls.dashboard', '/fls/dashboard')
    config.add_view(DashboardView, route_name='fls.dashboard', permission=PERMISSION,
                    renderer='/fls/dashboard.mako')
    config.add_view(DashboardView, route_name='home', fls_dashboard=True, renderer='/fls/dashboard.mako')

"""Sales of a shop, read from its shard: a date range with filters, keyset-paged; and a sale's
page with its lines, lots, miscellaneous lots, inbox history, business day and summary.

Pages are keyset-paged on ``(sale_date, sale_id)`` descending, the shard
table's primary key: one index range scan per page however large the shard,
and no count of the whole range.
"""

import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound

from tailbone.db import Session
from tailbone.views import View

from rattail_fls.db.model.inbox import FlsInbox
from rattail_fls.db.model.retail_points import FlsRetailPoint
from rattail_fls.db.model.sales import Sale, SaleLine, SaleLot, SaleMiscLot
from rattail_fls.db.model.summaries import FlsSummary
from rattail_fls.summaries.aggregate import summary_sale_num
from rattail_fls.web import render

PAGE_SIZE = 50
MAX_RANGE_DAYS = 400
#: Filters of the list: name -> (label, parse).  sale_num matches a prefix.
FILTERS = {
    'sale_num': ("Sale num starts with", str),
    'counter': ("Counter ID", int),
    'journal': ("Payment journal ID", int),
    'total_min': ("Total at least", Decimal),
    'total_max': ("Total at most", Decimal),
}


def parse_criteria(params, today):
    """Query string -> (criteria, errors): every field checked, each error names its field."""
    errors, criteria = {}, {}
    raw_rp = params.get('retail_point_id', '').strip()
    if not raw_rp.isdigit():
        errors['retail_point_id'] = "choose a retail point"
    else:
        criteria['retail_point_id'] = int(raw_rp)
    for key, default in (('date_from', today - datetime.timedelta(days=6)), ('date_to', today)):
        raw = params.get(key, '').strip()
        try:
            criteria[key] = datetime.date.fromisoformat(raw) if raw else default
        except ValueError:
            errors[key] = f"‘{raw}’ is not a date (YYYY-MM-DD)"
    if not errors.keys() & {'date_from', 'date_to'}:
        span = (criteria['date_to'] - criteria['date_from']).days
        if span < 0:
            errors['date_to'] = "must not be before the start date"
        elif span >= MAX_RANGE_DAYS:
            errors['date_to'] = f"the range may span at most {MAX_RANGE_DAYS} days"
    for key, (label, parse) in FILTERS.items():
        raw = params.get(key, '').strip()
        if raw:
            try:
                criteria[key] = parse(raw)
            except (ValueError, InvalidOperation):
                errors[key] = f"{label}: ‘{raw}’ is not a {'number' if parse is not str else 'value'}"
    raw_after = params.get('after', '').strip()
    if raw_after:
        try:
            day, sale_id = raw_after.split(':')
            criteria['after'] = (datetime.date.fromisoformat(day), int(sale_id))
        except ValueError:
            errors['after'] = "bad page marker"
    return criteria, errors


def sales_query(criteria, limit=PAGE_SIZE):
    """The page's SELECT on the shard: newest first, strictly after the ``after`` key."""
    query = sa.select(Sale).where(Sale.retail_point_id == criteria['retail_point_id'])\
              .where(Sale.sale_date.between(criteria['date_from'], criteria['date_to']))
    if criteria.get('sale_num'):
        prefix = criteria['sale_num'].replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')
        query = query.where(Sale.sale_num.like(prefix + '%', escape='\\'))
    if 'counter' in criteria:
        query = query.where(Sale.sale_counter_id == criteria['counter'])
    if 'journal' in criteria:
        query = query.where(Sale.payment_journal_id == criteria['journal'])
    if 'total_min' in criteria:
        query = query.where(Sale.total_including_miscellaneous >= criteria['total_min'])
    if 'total_max' in criteria:
        query = query.where(Sale.total_including_miscellaneous <= criteria['total_max'])
    if 'after' in criteria:
        query = query.where(sa.tuple_(Sale.sale_date, Sale.sale_id) < sa.tuple_(*criteria['after']))
    return query.order_by(Sale.sale_date.desc(), Sale.sale_id.desc()).limit(limit + 1)


class SalesView(View):
    """Read-only; the sales are the workers' (``fls-inbox replay`` or the inbox page to fix one)."""

    Session = Session

    @property
    def shards(self):
        return self.app.get_fls_handler().shards

    def money(self, value):
        return render.format_money(value, render.currency(self.rattail_config))

    def retail_point(self, retail_point_id):
        return self.Session.query(FlsRetailPoint).filter_by(retail_point_id=retail_point_id).one_or_none()

    def index(self):
        today = self.app.today()
        criteria, errors = parse_criteria(self.request.GET, today) if self.request.GET else ({}, {})
        points = self.Session.query(FlsRetailPoint).order_by(FlsRetailPoint.retail_point_id).all()
        context = {'points': points, 'params': self.request.GET, 'errors': errors, 'filter_fields': FILTERS,
                   'sales': None, 'point': None, 'next_url': None, 'first_url': None, 'index_title': "Sales",
                   'money': self.money, 'today': today}
        if not self.request.GET or errors:
            return context
        point = self.retail_point(criteria['retail_point_id'])
        if point is None or point.shard is None:
            context['errors'] = {'retail_point_id': f"retail point {criteria['retail_point_id']} "
                                                   "does not exist or has no shard"}
            return context
        session = self.shards.session(point.shard.name)
        try:
            rows = session.execute(sales_query(criteria)).scalars().all()
        finally:
            session.close()
        params = {k: v for k, v in self.request.GET.items() if k != 'after'}
        if len(rows) > PAGE_SIZE:
            rows, last = rows[:PAGE_SIZE], rows[PAGE_SIZE - 1]
            context['next_url'] = self.list_url(params, after=f'{last.sale_date.isoformat()}:{last.sale_id}')
        if 'after' in criteria:
            context['first_url'] = self.list_url(params)
        context.update(sales=rows, point=point, view_url=self.sale_url)
        return context

    def list_url(self, params, **more):
        return f"{self.request.route_url('fls.sales')}?{urlencode(dict(params, **more))}"

    def sale_url(self, sale):
        return self.request.route_url('fls.sales.view', retail_point_id=sale.retail_point_id,
                                      sale_date=sale.sale_date.isoformat(), sale_id=sale.sale_id)

    def view(self):
        match = self.request.matchdict
        try:
            retail_point_id, sale_id = int(match['retail_point_id']), int(match['sale_id'])
            sale_date = datetime.date.fromisoformat(match['sale_date'])
        except ValueError:
            raise HTTPNotFound() from None
        point = self.retail_point(retail_point_id)
        if point is None or point.shard is None:
            raise HTTPNotFound()
        session = self.shards.session(point.shard.name)
        try:
            key = {'sale_date': sale_date, 'sale_id': sale_id}
            sale = session.get(Sale, key)
            if sale is None or sale.retail_point_id != retail_point_id:
                raise HTTPNotFound()
            lines, lots, misc_lots = (
                session.execute(sa.select(model).filter_by(**key).order_by(order)).scalars().all()
                for model, order in ((SaleLine, SaleLine.line_no), (SaleLot, SaleLot.lot_no),
                                     (SaleMiscLot, SaleMiscLot.lot_no)))
        finally:
            session.close()
        # rows that name the sale (the intake's), and the one it was stored from (files name none)
        history = self.Session.query(FlsInbox).filter(sa.or_(
            sa.and_(FlsInbox.retail_point_id == retail_point_id, FlsInbox.sale_num == sale.sale_num),
            FlsInbox.id == sale.inbox_id)).order_by(FlsInbox.id).all()
        summary = self.Session.query(FlsSummary)\
                              .filter_by(sale_num=summary_sale_num(sale_date, retail_point_id,
                                                                   sale.sale_counter_id,
                                                                   sale.payment_journal_id))\
                              .order_by(FlsSummary.version.desc()).first()
        return {
            'index_title': "Sales", 'index_url': self.list_url({
                'retail_point_id': retail_point_id, 'date_from': sale_date.isoformat(),
                'date_to': sale_date.isoformat()}),
            'sale_title': f"Sale {sale.sale_num} of retail point {point}, {sale_date:%a %d %b %Y}",
            'sale': sale, 'point': point, 'lines': lines, 'lots': lots, 'misc_lots': misc_lots,
            'history': history, 'summary': summary, 'money': self.money,
            'time': lambda value: render.format_time(self.app, value), 'tag': render.status_tag,
            'day_url': self.request.route_url('fls.business_days.view', retail_point_id=retail_point_id,
                                              sale_date=sale_date.isoformat()),
        }


def includeme(config):
    config.add_tailbone_permission_group('fls.sales', "FLS Sales", overwrite=False)
    config.add_tailbone_permission('fls.sales', 'fls.sales.list', "Browse sales of a shop (from its shard)")
    config.add_tailbone_permission('fls.sales', 'fls.sales.view', "View a sale with its lines and history")
    config.add_route('fls.sales', '/fls/sales/')
    config.add_view(SalesView, attr='index', route_name='fls.sales', permission='fls.sales.list',
                    renderer='/fls/sales/index.mako')
    config.add_route('fls.sales.view', '/fls/sales/{retail_point_id}/{sale_date}/{sale_id}')
    config.add_view(SalesView, attr='view', route_name='fls.sales.view', permission='fls.sales.view',
                    renderer='/fls/sales/view.mako')

"""Grids whose order is total, so paging never shows a row twice or skips one, and whose pager
never counts a whole big table."""

import sqlalchemy as sa
from paginate_sqlalchemy import SqlalchemyOrmPage
from sqlalchemy import orm

from tailbone.grids import Grid

#: Rows a grid's pager counts exactly; past that it takes the planner's estimate of the rows.
COUNT_LIMIT = 10_000


def bounded_count(query, limit=COUNT_LIMIT):
    """Rows of ``query``, counted up to ``limit + 1`` and estimated by the planner beyond.

    Tailbone's pager counts every row that the grid's filters let through (``SELECT count(*)``
    of the whole query), which on a table of millions is most of a page's time.  Counting at
    most ``limit + 1`` rows costs no more than reading a few pages of the grid; beyond, the
    planner's row estimate (``EXPLAIN``, nothing read) is close enough to number pages.
    """
    query = query.order_by(None)
    session = query.session
    counted = session.query(sa.func.count()).select_from(query.limit(limit + 1).subquery()).scalar()
    if counted <= limit:
        return counted
    compiled = query.statement.compile(dialect=session.get_bind().dialect)
    plan = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar()
    return max(counted, int(plan[0]['Plan']['Plan Rows']))


class TotalOrderGrid(Grid):
    """Tailbone's grid, with the primary key appended to whatever sort the user chose, and a
    pager that counts with :func:`bounded_count`.

    ``sale_date desc`` alone leaves rows of one date in any order PostgreSQL
    likes, and that order may differ from one page's query to the next.
    """

    def sort_data(self, data, sorters=None):
        data = super().sort_data(data, sorters)
        if not isinstance(data, orm.Query):
            return data
        sorters = self.active_sorters if sorters is None else sorters
        descending = bool(sorters) and sorters[0]['dir'] == 'desc'
        entity = data.column_descriptions[0]['entity']
        return data.order_by(*[column.desc() if descending else column.asc()
                               for column in sa.inspect(entity).primary_key])

    def paginate_data(self, data):
        if not isinstance(data, orm.Query):
            return super().paginate_data(data)
        count = bounded_count(data)
        pager = SqlalchemyOrmPage(data, items_per_page=self.pagesize, page=self.page, item_count=count)
        if pager.page != self.page:  # past the last page: show the last one, as Tailbone does
            self.page = pager.page
            key = f'grid.{self.key}.page'
            if key in self.request.session:
                self.request.session[key] = self.page
            pager = SqlalchemyOrmPage(data, items_per_page=self.pagesize, page=self.page, item_count=count)
        return pager

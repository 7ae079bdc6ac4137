"""Grids whose order is total, so paging never shows a row twice or skips one."""

import sqlalchemy as sa
from sqlalchemy import orm

from tailbone.grids import Grid


class TotalOrderGrid(Grid):
    """Tailbone's grid, with the primary key appended to whatever sort the user chose.

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

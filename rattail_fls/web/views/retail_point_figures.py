"""Live figures of retail points, for their grid and page: one grouped query per figure,
for all the points asked at once (never a query per row)."""

import sqlalchemy as sa

from rattail_fls.db.model.business_days import FlsBusinessDay
from rattail_fls.db.model.inbox import FlsInbox, PENDING
from rattail_fls.db.model.tokens import FlsApiToken, FlsApiTokenRetailPoint

#: Figure key -> label.
FIGURES = {
    'last_sale_received': "Last Sale Received",
    'backlog': "Backlog (pending in inbox)",
    'sales_today': "Sales Today",
    'tokens': "API Tokens",
}


def retail_point_figures(session, retail_point_ids, today):
    """``{retail_point_id: {figure: value}}``; a point with no data gets zeros and None."""
    ids = list(retail_point_ids)
    figures = {rp: {'last_sale_received': None, 'backlog': 0, 'sales_today': 0, 'tokens': 0} for rp in ids}
    if not ids:
        return figures
    queries = {
        'last_sale_received': sa.select(FlsInbox.retail_point_id, sa.func.max(FlsInbox.received_at))
                                .where(FlsInbox.kind == 'sale'),
        'backlog': sa.select(FlsInbox.retail_point_id, sa.func.count()).where(FlsInbox.status == PENDING),
        'sales_today': sa.select(FlsBusinessDay.retail_point_id, sa.func.sum(FlsBusinessDay.sale_count))
                         .where(FlsBusinessDay.sale_date == today),
        'tokens': sa.select(FlsApiTokenRetailPoint.retail_point_id, sa.func.count())
                    .join(FlsApiToken, FlsApiToken.uuid == FlsApiTokenRetailPoint.token_uuid)
                    .where(FlsApiToken.revoked_at.is_(None)),
    }
    for key, query in queries.items():
        column = query.selected_columns[0]
        for rp, value in session.execute(query.where(column.in_(ids)).group_by(column)):
            figures[rp][key] = value if key == 'last_sale_received' else int(value or 0)
    return figures

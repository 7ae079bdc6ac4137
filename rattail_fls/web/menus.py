"""Theo's menus without the entries whose back end this app has not configured.

Theo lists every CORE-POS page, the CORE-POS transaction details and
Trainwreck whether or not their databases exist; opening one was a 500.
:func:`missing_backend` says what a route needs that the config lacks, and
:class:`FlsMenuHandler` leaves those entries (and menus left empty) out.
Tailbone's quick search (the navbar's search box) lists every index page
registered; :func:`hide_index_pages` leaves the same pages out of it.
A page whose back end is configured but broken gets the error page
(:mod:`rattail_fls.web.errors`).
"""

from theo.web.menus import TheoMenuHandler

#: Route prefix -> (config attribute of the engine or setting it needs, what to call it).
#: The first matching prefix wins; CORE-POS pages not listed read office_op.
BACKENDS = [
    ('corepos.transaction_details_archive', 'core_office_arch_engine', "CORE-POS office_arch database"),
    ('corepos.transaction_details', 'core_office_trans_engine', "CORE-POS office_trans database"),
    ('corepos.stock_purchases', 'core_office_trans_engine', "CORE-POS office_trans database"),
    ('corepos.lanes', 'setting:corepos.srcdir', "[corepos] srcdir (CORE-POS source tree)"),
    ('corepos.', 'core_office_op_engine', "CORE-POS office_op database"),
    ('trainwreck.', 'trainwreck_engines', "Trainwreck database"),
]


def missing_backend(config, route):
    """What ``route`` needs that ``config`` does not have (its description), or None."""
    for prefix, need, description in BACKENDS:
        if route == prefix.rstrip('.') or route.startswith(prefix):
            if need.startswith('setting:'):
                have = config.get(need.split(':', 1)[1])
            else:
                have = getattr(config, need, None)
            return None if have else description
    return None


def prune(config, items):
    """``items`` without the entries :func:`missing_backend` refuses, nor empty submenus
    and separators left at the ends or doubled."""
    kept = []
    for item in items:
        if item.get('route') and missing_backend(config, item['route']):
            continue
        if item.get('type') == 'menu':
            item = dict(item, items=prune(config, item.get('items', [])))
            if not any(i.get('type') != 'sep' for i in item['items']):
                continue
        if item.get('type') == 'sep' and (not kept or kept[-1].get('type') == 'sep'):
            continue
        kept.append(item)
    while kept and kept[-1].get('type') == 'sep':
        kept.pop()
    return kept


class FlsMenuHandler(TheoMenuHandler):
    """Theo's menus (FLS menu included, via the Tailbone provider), pruned by :func:`prune`."""

    def make_menus(self, request, **kwargs):
        return prune(self.config, super().make_menus(request, **kwargs))


def hide_index_pages(pyramid_config, rattail_config):
    """Leave the pages :func:`missing_backend` refuses out of Tailbone's quick search.

    Its list (``tailbone_index_pages``) is filled by config actions of the master views, so
    this is an action too, ordered after them.
    """
    def action():
        pages = pyramid_config.get_settings().get('tailbone_index_pages', [])
        pyramid_config.add_settings({'tailbone_index_pages': [
            page for page in pages if not missing_backend(rattail_config, page['route'])]})
    pyramid_config.action(None, action, order=1)

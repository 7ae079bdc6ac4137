"""Tailbone provider: puts the "FLS" menu into the menus of Theo (and any Tailbone app).

Tailbone's menu handler appends every ``tailbone.providers`` entry's
:meth:`~FlsTailboneProvider.make_integration_menu`; items the user lacks
permission for are hidden, and so is the menu when none is left.
"""

from tailbone.providers import TailboneProvider

#: (title, route prefix) of each FLS master view; its ``<prefix>.list`` permission gates the item.
MENU_ITEMS = [
    ("Retail Points", 'fls.retail_points'),
    ("Shards", 'fls.shards'),
    ("Sales", 'fls.sales'),
    ("Inbox", 'fls.inbox'),
    ("Business Days", 'fls.business_days'),
    ("Day Closes", 'fls.day_closes'),
    ("Summaries", 'fls.summaries'),
    ("Shops' API Tokens", 'fls.api_tokens'),
]


class FlsTailboneProvider(TailboneProvider):
    """Menu for the FLS views (the views themselves are included by ``rattail_fls.web.app``)."""

    key = 'rattail_fls'

    def make_integration_menu(self, request, **kwargs):
        return {
            'title': "FLS",
            'type': 'menu',
            'items': [{'title': "Dashboard", 'route': 'fls.dashboard', 'perm': 'fls.dashboard.view'}]
                     + [{'title': title, 'route': route, 'perm': f'{route}.list'}
                        for title, route in MENU_ITEMS],
        }

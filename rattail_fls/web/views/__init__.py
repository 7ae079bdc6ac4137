"""FLS master views; ``rattail_fls.web.app`` includes this package."""


def includeme(config):
    config.include('rattail_fls.web.views.dashboard')
    config.include('rattail_fls.web.views.retail_points')
    config.include('rattail_fls.web.views.shards')
    config.include('rattail_fls.web.views.inbox')
    config.include('rattail_fls.web.views.days')
    config.include('rattail_fls.web.views.sales')
    config.include('rattail_fls.web.views.summaries')
    config.include('rattail_fls.web.views.tokens')

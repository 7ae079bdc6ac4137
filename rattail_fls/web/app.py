"""Web app factory: Theo's app plus the FLS views (``egg:rattail-fls#main``).

Theo's own factory cannot be extended (it returns the finished WSGI app, and
``pyramid.includes`` runs before Tailbone's ``add_tailbone_*`` directives
exist), and its template list lacks ``wuttaweb:templates``, which makes
``/login`` a 500.  So this factory sets the templates itself and then builds
the app from the same Tailbone and Theo pieces Theo's factory uses.
"""

from tailbone import app as tailbone_app
from tailbone.auth import TailboneSecurityPolicy
from tailbone.db import Session
from theo.config import integrate_corepos

# The shard models (their own declarative base) are mapped before Tailbone configures
# versioning: mapped after it, the first query on them (the Sales page) fails to configure
# Continuum's TransactionMeta ("name 'Transaction' is not defined") under pserve.
from rattail_fls.db.model import sales as _shard_models  # noqa: F401
from rattail_fls.web import errors, menus

THEO_INCLUDES = ('theo.web.static', 'theo.web.subscribers', 'theo.web.views')


class ThreadSessionSecurityPolicy(TailboneSecurityPolicy):
    """Tailbone's policy, looking users up in the request thread's session.

    Tailbone's keeps the session of the thread that built the app, so every server thread used
    that one session at once: under concurrent requests (a page and its CSS) one thread's lookup
    met a session another had closed, a 500 ("this identity map is no longer valid").
    """

    @property
    def db_session(self):
        return Session()

    @db_session.setter
    def db_session(self, value):
        """Ignored: the session is always the current thread's."""


def template_directories(rattail_config):
    """Ours first (overrides; the folder may not exist yet), then Theo's and its bases'."""
    directories = ['rattail_fls.web:templates', 'theo.web:templates']
    if integrate_corepos(rattail_config):
        directories.append('tailbone_corepos:templates')
    return directories + ['tailbone:templates', 'wuttaweb:templates']


def main(global_config, **settings):
    """Return the Pyramid WSGI app; ``settings['rattail.config']`` names the config file."""
    rattail_config = tailbone_app.make_rattail_config(settings)
    # Browser libraries from the app itself, not from CDNs (rattail_fls.web.weblibs).
    rattail_config.setdefault('wuttaweb.static_libcache.module', 'rattail_fls.web.static')
    settings.setdefault('mako.directories', template_directories(rattail_config))
    # Our deform widget templates first (checkbox labels), then Tailbone's.
    settings.setdefault('pyramid_deform.template_search_path',
                        'rattail_fls.web:templates/deform tailbone:templates/deform')
    tailbone_app.provide_postgresql_settings(settings)
    pyramid_config = tailbone_app.make_pyramid_config(settings)
    pyramid_config.commit()  # Tailbone's own policy is set; ours replaces it
    pyramid_config.set_security_policy(ThreadSessionSecurityPolicy())
    for spec in THEO_INCLUDES + ('rattail_fls.web.views',):
        pyramid_config.include(spec)
    errors.add_error_view(pyramid_config)
    menus.hide_index_pages(pyramid_config, rattail_config)
    return pyramid_config.make_wsgi_app()

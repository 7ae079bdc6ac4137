"""Fanstatic library of the browser libraries in :mod:`rattail_fls.web.weblibs` (``[wuttaweb]
static_libcache.module`` names this module, so every page loads them from the app)."""

from fanstatic import Library, Resource

from rattail_fls.web import weblibs

if weblibs.missing():
    raise RuntimeError(f"browser libraries missing from {weblibs.LIBCACHE}: {', '.join(weblibs.missing())}; "
                       "run `make venv node` (npm ci, then python -m fls_dev.weblibs)")

libcache = Library('rattail_fls_libcache', 'libcache')
globals().update({name: Resource(libcache, path) for name, path in weblibs.all_files().items()})


def library_url(request, name):
    """URL of one file of the library (e.g. ``chart_js``), as ``get_liburl()`` builds them."""
    needed = request.environ['fanstatic.needed']
    return f"{request.script_name}{needed.library_url(libcache)}/{globals()[name].relpath}"

"""The browser libraries the pages load, served by the app itself (no CDN).

``make`` installs the pinned npm packages (package.json / package-lock.json)
and copies the files named here into ``static/libcache/`` (``python -m
fls_dev.weblibs``); :mod:`rattail_fls.web.static` serves them with fanstatic,
where wuttaweb's ``get_liburl()`` finds them.
"""

from pathlib import Path

#: Fanstatic resource name (the attribute ``get_liburl()`` looks for) -> file under node_modules.
FILES = {
    'vue_js': 'vue/dist/vue.min.js',
    'vue_resource_js': 'vue-resource/dist/vue-resource.min.js',
    'buefy_js': 'buefy/dist/buefy.min.js',
    'buefy_css': 'buefy/dist/buefy.min.css',
    'fontawesome_js': '@fortawesome/fontawesome-free/js/all.min.js',
    'chart_js': 'chart.js/dist/chart.umd.js',
}

LIBCACHE = Path(__file__).parent / 'static' / 'libcache'


def missing():
    """Files of :data:`FILES` not (yet) in the libcache."""
    return [path for path in FILES.values() if not (LIBCACHE / path).is_file()]

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
#: Folder of the libcache holding the files of Theo's own libcache (``theo.web.static``).
THEO = 'theo'


def theo_files():
    """Theo's "butterball" theme libraries (``bb_*`` resources of ``theo.web.static``): resource
    name -> (file in Theo's package, its path in our libcache).  Our libcache replaces Theo's as
    ``static_libcache.module``, so it carries them too."""
    from fanstatic import Resource
    from theo.web import static as theo_static
    return {name: (Path(resource.fullpath()), f'{THEO}/{resource.relpath}')
            for name, resource in vars(theo_static).items()
            if name.startswith('bb_') and isinstance(resource, Resource)}


def all_files():
    """Every resource of our libcache: name -> its path in the libcache."""
    return dict(FILES, **{name: path for name, (_, path) in theo_files().items()})


def missing():
    """Files of :func:`all_files` not (yet) in the libcache."""
    return [path for path in all_files().values() if not (LIBCACHE / path).is_file()]

"""Copy the browser libraries the web app serves from node_modules into its libcache.

``make`` runs this after ``npm ci``: ``python -m fls_dev.weblibs``.  The list
of files is :data:`rattail_fls.web.weblibs.FILES`; the versions are package-lock.json's.
"""

import shutil
import sys
from pathlib import Path

from rattail_fls.web.weblibs import FILES, LIBCACHE

NODE_MODULES = Path(__file__).resolve().parent.parent / 'node_modules'


def copy(node_modules=NODE_MODULES, libcache=LIBCACHE):
    for path in FILES.values():
        source = node_modules / path
        if not source.is_file():
            sys.exit(f"{source} is missing: run `make node` (npm ci) first")
        target = libcache / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    print(f"copied {len(FILES)} browser libraries into {libcache}")


if __name__ == '__main__':
    copy()

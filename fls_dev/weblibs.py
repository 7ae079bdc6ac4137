"""Copy the browser libraries the web app serves into its libcache: from node_modules
(:data:`rattail_fls.web.weblibs.FILES`, versions from package-lock.json) and Theo's own
(:func:`rattail_fls.web.weblibs.theo_files`).

``make`` runs this after ``npm ci``: ``.venv/bin/python -m fls_dev.weblibs``.
"""

import shutil
import sys
from pathlib import Path

from rattail_fls.web.weblibs import FILES, LIBCACHE, theo_files

NODE_MODULES = Path(__file__).resolve().parent.parent / 'node_modules'


def copy(node_modules=NODE_MODULES, libcache=LIBCACHE):
    files = [(node_modules / path, path) for path in FILES.values()] + list(theo_files().values())
    for source, path in files:
        if not source.is_file():
            sys.exit(f"{source} is missing: run `make node` (npm ci) first")
        target = libcache / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    print(f"copied {len(files)} browser libraries into {libcache}")


if __name__ == '__main__':
    copy()

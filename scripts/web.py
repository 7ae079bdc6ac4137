"""`make web`: serve the Theo + rattail-fls web app on loopback (after `make demo`).

Writes app/web.conf from app/web.conf.example (loopback, its own session
secret), prints the URL and the demo login, and runs pserve in the foreground
(Ctrl-C stops it).  Set FLS_WEB_PORT to use another port than 9080.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fls_dev.server import BIN, write_web_conf  # noqa: E402


def main():
    rattail_conf = ROOT / 'app' / 'rattail.conf'
    if not rattail_conf.exists():
        sys.exit("app/rattail.conf is missing: run `make demo` first (or copy app/rattail.conf.example)")
    port = int(os.environ.get('FLS_WEB_PORT', '9080'))
    ini = write_web_conf(rattail_conf, port)
    print(f"web app: http://127.0.0.1:{port}/  (demo login: admin / admin; "
          f"an admin visits /root/yes once per session to become root)\n"
          f"config: {ini.relative_to(ROOT)}; Ctrl-C stops it", flush=True)
    os.execv(str(BIN / 'pserve'), [str(BIN / 'pserve'), f'file+ini:{ini}'])


if __name__ == '__main__':
    main()

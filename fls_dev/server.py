"""Run the intake API under pserve in the background, as in production (demo, benches)."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from fls_dev.config import write_config
from fls_dev.db import ROOT

BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


#: ``start_intake(kind=...)``: waitress threads (app/intake.conf.example) or gunicorn processes.
SERVERS = ('waitress', 'gunicorn')


def start_intake(rattail_conf, threads=8, server=None, kind='waitress', processes=3):
    """Write ``intake.conf`` (from the example) next to ``rattail_conf`` and serve it.

    ``kind='gunicorn'``: ``processes`` gunicorn workers with the settings of
    ``app/intake.gunicorn.conf.py.example``; ``kind='waitress'``: pserve with
    ``threads``, ``server`` overriding more ``[server:main]`` settings.
    Returns ``(process, url)``; raises RuntimeError if it does not answer.
    """
    rattail_conf = Path(rattail_conf)
    ini = rattail_conf.parent / 'intake.conf'
    port = free_port()
    write_config(ROOT / 'app' / 'intake.conf.example', ini, {
        ('app:main', 'rattail.config'): str(rattail_conf),
        ('server:main', 'port'): str(port), ('server:main', 'threads'): str(threads),
        **{('server:main', key): str(value) for key, value in (server or {}).items()}})
    if kind == 'gunicorn':
        command = [str(BIN / 'gunicorn'), '--config', str(ROOT / 'app' / 'intake.gunicorn.conf.py.example'),
                   '--paste', str(ini), '--bind', f'127.0.0.1:{port}', '--workers', str(processes)]
    else:
        command = [str(BIN / 'pserve'), f'file+ini:{ini}']
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}'
    for _ in range(150):
        try:
            if requests.get(url + '/api/fls/health', timeout=1).ok:
                return process, url
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the intake API did not start: try `pserve file+ini:{ini}`")


def write_web_conf(rattail_conf, port=9080):
    """``web.conf`` (from the example) next to ``rattail_conf``: loopback only, a fresh
    session secret on first write (kept afterwards, so logins survive restarts)."""
    import secrets
    rattail_conf = Path(rattail_conf)
    ini = rattail_conf.parent / 'web.conf'
    secret = None
    if ini.exists():
        for line in ini.read_text(encoding='utf-8').splitlines():
            if line.startswith('beaker.session.secret = ') and 'CHANGE-ME' not in line:
                secret = line.split('=', 1)[1].strip()
    write_config(ROOT / 'app' / 'web.conf.example', ini, {
        ('rattail.config', 'include'): str(rattail_conf),
        ('app:main', 'beaker.session.secret'): secret or secrets.token_hex(32),
        ('server:main', 'host'): '127.0.0.1', ('server:main', 'port'): str(port)})
    return ini

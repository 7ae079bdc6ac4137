"""Run the intake API in the background under waitress (pserve), gunicorn or granian, with the
examples' production settings (demo, tests, benches)."""

import os
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


#: ``start_intake(kind=...)``: waitress threads (app/intake.conf.example), gunicorn or granian processes.
SERVERS = ('waitress', 'gunicorn', 'granian')


def start_intake(rattail_conf, threads=8, server=None, kind='waitress', processes=3):
    """Write ``intake.conf`` (from the example) next to ``rattail_conf`` and serve it.

    ``kind='gunicorn'``: ``processes`` gunicorn workers with the settings of
    ``app/intake.gunicorn.conf.py.example``; ``kind='granian'``: ``processes``
    granian workers of ``threads`` threads each, the rest of
    ``app/intake.granian.env.example``; ``kind='waitress'``: pserve with
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
    env = dict(os.environ)
    if kind == 'gunicorn':
        command = [str(BIN / 'gunicorn'), '--config', str(ROOT / 'app' / 'intake.gunicorn.conf.py.example'),
                   '--paste', str(ini), '--bind', f'127.0.0.1:{port}', '--workers', str(processes)]
    elif kind == 'granian':
        env.update(read_env_file(ROOT / 'app' / 'intake.granian.env.example'),
                   FLS_INTAKE_INI=str(ini), GRANIAN_PORT=str(port), GRANIAN_WORKERS=str(processes),
                   GRANIAN_BLOCKING_THREADS=str(threads))
        command = [str(BIN / 'granian'), 'rattail_fls.web.intake:granian_app']
    else:
        command = [str(BIN / 'pserve'), f'file+ini:{ini}']
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f'http://127.0.0.1:{port}'
    for _ in range(150):
        try:
            if requests.get(url + '/api/fls/health', timeout=1).ok:
                return process, url
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the intake API did not start under {kind}: try `{' '.join(command)}`"
                       + (" with the environment of app/intake.granian.env.example" if kind == 'granian' else ''))


def read_env_file(path):
    """``KEY=VALUE`` lines of an environment file (systemd's ``EnvironmentFile``), comments skipped."""
    pairs = {}
    for line in Path(path).read_text(encoding='utf-8').splitlines():
        if line.strip() and not line.lstrip().startswith('#'):
            key, value = line.split('=', 1)
            pairs[key.strip()] = value.strip()
    return pairs


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

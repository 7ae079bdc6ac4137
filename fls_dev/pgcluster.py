"""A private, throwaway PostgreSQL server (``initdb`` + ``pg_ctl``) on a free loopback port.

For tests that need a second database server (a shard on another server) or
must stop and restart one: the shared server is never touched.  As root, the
server runs as the ``postgres`` user (``initdb`` refuses root).
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from fls_dev.server import free_port

PG_BIN = Path(os.environ.get('FLS_PG_BIN', '/usr/lib/postgresql/15/bin'))


class PrivateCluster:
    """``with PrivateCluster() as pg: pg.url`` -> ``postgresql://postgres@127.0.0.1:PORT``."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix='fls-pg-'))
        self.data = self.dir / 'data'
        self.user = 'postgres' if os.geteuid() == 0 else None

    @property
    def url(self):
        return f'postgresql://postgres@127.0.0.1:{self.port}'

    def _run(self, *args):
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.user:
            command = ['runuser', '-u', self.user, '--', *command]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip()[-2000:]}")
        return result

    def start(self):
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        if not self.data.exists():
            self._run('initdb', '-D', str(self.data), '-U', 'postgres', '--auth=trust', '-E', 'UTF8')
        self._run('pg_ctl', '-D', str(self.data), '-l', str(self.dir / 'server.log'), '-w', '-t', '120',
                  '-o', f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}", 'start')
        return self

    def stop(self):
        if (self.data / 'postmaster.pid').exists():
            self._run('pg_ctl', '-D', str(self.data), '-m', 'fast', '-w', 'stop')

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.remove()

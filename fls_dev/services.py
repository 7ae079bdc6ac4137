"""Private PostgreSQL and Redis servers that a test may stop, restart or break at will, or use
as a second database server.

The shared servers (``FLS_PG_URL``, ``FLS_REDIS_URL``) serve every test and must never be
restarted; a fault test starts its own here, on a free loopback port, in a temporary
directory that is removed afterwards.  PostgreSQL comes from the same Debian packages
``scripts/services.sh`` installs; a missing binary raises (the test fails, never skips).
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from fls_dev.server import free_port


def _wait(check, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {seconds}s")


def _answers(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1):
            return True
    except OSError:
        return False


class PrivatePostgres:
    """``initdb`` + ``pg_ctl`` in a temporary directory, as the ``postgres`` OS user when root."""

    def __init__(self, settings=None):
        bins = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql "
                               "(run `make test`, which installs them)")
        self.bin = Path(bins[-1]).parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix='fls-pg-'))
        self.data = self.root / 'data'
        self.settings = {'listen_addresses': "'127.0.0.1'", 'port': str(self.port), 'fsync': 'off',
                         'unix_socket_directories': f"'{self.root}'", **(settings or {})}
        self.url = f'postgresql://postgres@127.0.0.1:{self.port}'

    def _run(self, *args):
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ['runuser', '-u', 'postgres', '--', *command]
        return subprocess.run(command, capture_output=True, text=True, check=True, cwd='/')

    def start(self):
        if not self.data.exists():
            os.chmod(self.root, 0o755)
            if os.geteuid() == 0:
                shutil.chown(self.root, 'postgres')
            self._run('initdb', '-D', str(self.data), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C')
            with open(self.data / 'postgresql.conf', 'a', encoding='utf-8') as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in self.settings.items())
        self._run('pg_ctl', '-D', str(self.data), '-l', str(self.root / 'log'), '-w', 'start')
        _wait(lambda: _answers(self.port), 30, "private PostgreSQL")
        return self

    def stop(self, mode='fast'):
        self._run('pg_ctl', '-D', str(self.data), '-m', mode, '-w', 'stop')

    def restart(self, mode='fast'):
        # -l: the server must not inherit our pipes (run() would wait for them forever)
        self._run('pg_ctl', '-D', str(self.data), '-l', str(self.root / 'log'), '-m', mode, '-w', 'restart')
        _wait(lambda: _answers(self.port), 30, "private PostgreSQL")

    def close(self):
        try:
            self.stop('immediate')
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class PrivateRedis:
    """A ``redis-server`` that keeps nothing on disk, as production's is configured."""

    def __init__(self):
        if not shutil.which('redis-server'):
            raise RuntimeError("redis-server not found (run `make test`, which installs it)")
        self.port = free_port()
        self.url = f'redis://127.0.0.1:{self.port}/0'
        self.process = None

    def start(self):
        self.process = subprocess.Popen(['redis-server', '--port', str(self.port), '--bind', '127.0.0.1',
                                         '--save', '', '--appendonly', 'no'],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: _answers(self.port), 20, "private Redis")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def restart(self, down_seconds=0):
        """Stop, stay down a while, start again empty (nothing is kept on disk)."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

"""A Theo install wired to the loopback CORE-POS, for tests that run the real ``rattail`` CLI.

It has its own PostgreSQL database (migrated with a plain ``alembic upgrade
heads`` from empty), a real MariaDB ``office_op`` database loaded from the same
:class:`CoreStore` the loopback API serves, shards and the ``corepos`` user.
MariaDB comes from ``FLS_MYSQL_URL`` (``var/services.env``); a missing MariaDB
or PostgreSQL fails the tests that need it.
"""

import contextlib
import os

import pytest
import sqlalchemy as sa

from fls_dev.config import render
from fls_dev.loopback.corepos import CoreStore, LoopbackCorePos, generate_catalog
from fls_dev.loopback.office_op import drop_database as drop_mysql, load_office_op, \
    recreate_database as recreate_mysql

from conftest import RUN_ID, alembic, create_database, drop_database, rattail, write_test_config

MYSQL_URL = os.environ.get('FLS_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306').rstrip('/')

#: CORE storeID -> Odoo retail_point_id; store 3 stays unmapped (identity).
STORE_MAP = '1:101, 2:102'


def require_mysql():
    try:
        engine = sa.create_engine(MYSQL_URL)
        with engine.connect() as conn:
            conn.execute(sa.text('SELECT 1'))
        engine.dispose()
    except sa.exc.OperationalError as error:
        pytest.fail(f"MariaDB/MySQL is required at {MYSQL_URL} (FLS_MYSQL_URL) but is not "
                    f"reachable: {error.orig}; run `make test`, which starts one", pytrace=False)


def sample_catalog():
    """A small generated CORE catalog with 3 stores, plus a subdepartment no product uses."""
    store = generate_catalog(CoreStore(), products=200, members=30, stores=3, seed=1)
    store['SubDepts'].insert({'subdept_no': 999, 'subdept_name': 'SEASONAL', 'dept_ID': 1})
    return store


class CoreEnv:
    """The running pieces; :meth:`cli` runs ``rattail -c <config>`` in a subprocess."""

    def __init__(self, tmp_path, name, store=None):
        require_mysql()
        self.name = name
        self.store = store if store is not None else sample_catalog()
        self.server = LoopbackCorePos(self.store).start()
        self.op_url = recreate_mysql(MYSQL_URL, f'{name}_op')
        load_office_op(self.op_url, self.store)
        self.url = create_database(name)
        self.config_path = write_test_config(tmp_path / 'rattail.conf', self.url, self.url)
        self.config_path.write_text(render(self.config_path.read_text(), {
            ('corepos.api', 'url'): self.server.url,
            ('corepos.db.office_op', 'default.url'): self.op_url,
            ('rattail_fls', 'corepos.store_map'): STORE_MAP,
            ('rattail_fls', 'corepos.read_timeout'): '3',
            # the import does not depend on the sales storage; native partitions need nothing
            # of the server (TimescaleDB installed but not preloaded makes CREATE EXTENSION fatal)
            ('rattail_fls', 'storage'): 'partitions',
        }))
        self.engine = sa.create_engine(self.url)

    def migrate_and_prepare(self):
        result = alembic(self.config_path, 'upgrade', 'heads')
        assert result.returncode == 0, f"`alembic upgrade heads` from empty:\n{result.stderr[-3000:]}"
        self.cli('fls-shards', 'upgrade')
        self.cli('make-user', 'corepos', '--no-password')

    def cli(self, *args, check=True, config=None):
        return rattail(config or self.config_path, *args, check=check)

    def override_config(self, tmp_path, **settings):
        """A config file with these ``[rattail_fls]`` settings over the env's (like quiet.conf)."""
        path = tmp_path / 'override.conf'
        path.write_text(f'[rattail.config]\nrequire = {self.config_path}\n\n[rattail_fls]\n'
                        + ''.join(f'{k} = {v}\n' for k, v in settings.items()))
        return path

    def scalar(self, sql, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql, **params):
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def close(self):
        self.server.stop()
        self.engine.dispose()
        drop_database(self.name)
        drop_mysql(MYSQL_URL, f'{self.name}_op')


@contextlib.contextmanager
def core_env(tmp_path_factory, suffix, store=None):
    """A migrated :class:`CoreEnv` (on ``store``, default :func:`sample_catalog`) named after
    this test run; everything dropped afterwards."""
    env = CoreEnv(tmp_path_factory.mktemp(suffix), f'fls_test_{RUN_ID}_{suffix}', store)
    try:
        env.migrate_and_prepare()
        yield env
    finally:
        env.close()

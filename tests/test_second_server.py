"""A shard on another PostgreSQL server, end to end: config, `fls-shards upgrade`, the policy placing
new shops there, a move onto it, sales written there.  The second server is a private cluster the
test starts (and stops) on a free port."""

import json

import simplejson
import sqlalchemy as sa

from fls_dev import db as devdb
from fls_dev.config import render
from fls_dev.loopback.shops import generate_orders, recent_days
from fls_dev.services import PrivatePostgres

from conftest import RUN_ID, create_database, drop_database, rattail, write_test_config


def write_orders(directory, orders):
    directory.mkdir(exist_ok=True)
    (directory / 'orders.json').write_text(simplejson.dumps(orders, use_decimal=True))
    return directory


def count(url, sql, **params):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def test_shard_on_another_server(tmp_path):
    name = f'fls_test_{RUN_ID}_server2'
    main = create_database(name)
    with PrivatePostgres() as server2:
        remote = devdb.create_database(server2.url, 'theo_shards3')
        before = write_test_config(tmp_path / 'before.conf', main, main)
        devdb.migrate(before)
        rattail(before, 'fls-shards', 'upgrade')
        rattail(before, 'fls-shards', 'assign', '412', 's01', '--name', 'Old shop')
        days = recent_days(3)
        first = generate_orders([412], days, 20, seed=12)
        out = rattail(before, 'import-fls-sales', '--input-dir', str(write_orders(tmp_path / 'a', first))).stdout
        assert 'sales created: 60' in out

        # the operator adds s03 on the new server and lets only it take new shops
        after = tmp_path / 'after.conf'
        after.write_text(render(before.read_text(), {
            ('rattail_fls', 'shards'): 's01 s02 s03',
            ('rattail_fls', 'shard.s01.accept_new'): 'false',
            ('rattail_fls', 'shard.s02.accept_new'): 'false',
            ('rattail_fls', 'shard.s03.engine'): 'server2',
            ('rattail_fls.db', 'server2.url'): remote}))
        upgraded = rattail(after, 'fls-shards', 'upgrade').stdout
        assert 'shard s03: partitions, version 1, migrations applied: 1' in upgraded
        assert 'shard s01: partitions, version 1, migrations applied: none' in upgraded
        assert 'migrations applied: 1' not in rattail(after, 'fls-shards', 'upgrade').stdout
        listed = rattail(after, 'fls-shards', 'list').stdout
        s03 = [line for line in listed.splitlines() if line.startswith('s03')][0]
        assert f'127.0.0.1:{server2.port}/theo_shards3' in s03 and 'server2' in s03

        placed = rattail(after, 'fls-shards', 'assign', '411', '--name', 'New shop').stdout
        assert 'retail point 411 -> shard s03' in placed

        moved = rattail(after, 'fls-shards', 'move', '412', 's03')
        assert 'moved retail point 412 from s01 to s03: 60 sales' in moved.stdout
        assert count(remote, "SELECT count(*) FROM fls_s03.sale WHERE retail_point_id = 412") == 60
        assert count(main, "SELECT count(*) FROM fls_s01.sale WHERE retail_point_id = 412") == 0

        more = generate_orders([411, 412], [days[-1]], 7, seed=99)
        for order in more:
            order['sale_num'] += '-late'
        out = rattail(after, 'import-fls-sales', '--input-dir', str(write_orders(tmp_path / 'b', more))).stdout
        assert 'sales created: 14' in out
        assert count(remote, "SELECT count(*) FROM fls_s03.sale WHERE retail_point_id = 411") == 7
        assert count(remote, "SELECT count(DISTINCT sale_num) FROM fls_s03.sale WHERE retail_point_id = 412") == 67
        per_day = json.loads(rattail(after, 'fls-status', '--json', check=False).stdout)['shards']
        assert {s['shard']: s['storage'] for s in per_day} == {'s01': 'partitions', 's02': 'partitions',
                                                             's03': 'partitions'}
    drop_database(name)

"""Citus decisions (no Citus server is reachable from CI, so the decisions are unit-tested and the
detection is checked to leave stock PostgreSQL alone)."""

import pytest

from rattail_fls.config import ConfigError
from rattail_fls.db import citus

from conftest import rattail


@pytest.mark.parametrize('is_citus, preference, expected', [
    (False, 'auto', 'auto'),
    (False, 'timescaledb', 'timescaledb'),
    (False, 'partitions', 'partitions'),
    (True, 'auto', 'partitions'),
    (True, 'partitions', 'partitions'),
])
def test_storage_preference(is_citus, preference, expected):
    assert citus.storage_preference(is_citus, preference) == expected


def test_timescaledb_refused_under_citus():
    with pytest.raises(ConfigError, match='storage = timescaledb cannot work under Citus'):
        citus.storage_preference(True, 'timescaledb')


@pytest.mark.parametrize('is_citus, exists, distributed, expected', [
    (False, False, False, []),
    (False, True, False, []),
    (True, False, False, [citus.ENABLE]),
    (True, True, False, [citus.ENABLE, citus.DISTRIBUTE, citus.TRUNCATE_LOCAL]),
    (True, True, True, []),
])
def test_plan_upgrade(is_citus, exists, distributed, expected):
    assert citus.plan_upgrade(is_citus, exists, distributed) == expected


@pytest.mark.parametrize('text, expected', [('worker1:5432', ('worker1', 5432)),
                                            ('10.0.0.7:6432', ('10.0.0.7', 6432))])
def test_parse_node(text, expected):
    assert citus.parse_node(text) == expected


@pytest.mark.parametrize('text', ['', 'worker1', 'worker1:', ':5432', 'w:0', 'w:70000', 'w:x'])
def test_parse_node_refuses(text):
    with pytest.raises(ConfigError, match='HOST:PORT'):
        citus.parse_node(text)


def test_stock_postgresql_is_left_alone(shards):
    with shards.begin('s01') as conn:
        assert not citus.installed(conn)
        assert citus.placement(conn, 'fls_s01') is None
        with pytest.raises(ConfigError, match='Citus is not installed'):
            citus.place(conn, 'fls_s01', 'w:5432')


def test_place_without_citus_is_one_clear_line(databases, shards):
    result = rattail(databases['config_path'], 'fls-shards', 'place', 's01', '--node', 'w1:5432', check=False)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert "Citus is not installed in this shard's database" in result.stderr
    bad = rattail(databases['config_path'], 'fls-shards', 'place', 's01', '--node', 'w1', check=False)
    assert bad.returncode == 1 and "--node 'w1': expected HOST:PORT" in bad.stderr
    listed = rattail(databases['config_path'], 'fls-shards', 'list').stdout
    assert listed.splitlines()[0].split()[-2:] == ['citus', 'database']

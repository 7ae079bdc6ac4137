"""Redis Sentinel URLs: parsing, and a real master + replica + sentinel on loopback through a failover.

Work reaches the workers through the sentinel's current master; after the master is killed and
the replica promoted, the same config keeps working, and nothing accepted is lost (PostgreSQL holds
it; the sweeper re-enqueues it)."""

import re
import json
import subprocess
import time

import pytest
import redis
import requests
import simplejson
import sqlalchemy as sa

from fls_dev.server import free_port
from fls_dev.loopback.shops import generate_orders, recent_days
from rattail_fls.config import ConfigError
from rattail_fls.queue.enqueue import parse_sentinel_url

from conftest import make_shop, rattail, write_test_config


@pytest.mark.parametrize('url, expected', [
    ('redis+sentinel://127.0.0.1:26379/fls', ([('127.0.0.1', 26379)], 'fls', 0, None)),
    ('redis+sentinel://a:1,b:2,c:3/mymaster/4', ([('a', 1), ('b', 2), ('c', 3)], 'mymaster', 4, None)),
    ('redis+sentinel://:s%40cret@a:1/m/0', ([('a', 1)], 'm', 0, 's@cret')),
    ('redis+sentinel://user:pw@a:1/m', ([('a', 1)], 'm', 0, 'pw')),
])
def test_parse_sentinel_url(url, expected):
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize('url, reason', [
    ('redis+sentinel://a/m', 'HOST:PORT'),
    ('redis+sentinel://a:x/m', 'HOST:PORT'),
    ('redis+sentinel://a:1', '/SERVICE'),
    ('redis+sentinel://a:1/m/0/9', '/SERVICE'),
    ('redis+sentinel://a:1/m/zero', "database 'zero' is not a number"),
])
def test_parse_sentinel_url_refuses(url, reason):
    with pytest.raises(ConfigError, match='redis.url') as error:
        parse_sentinel_url(url)
    assert reason in str(error.value)


def redis_server(tmp_path, name, *args):
    port = free_port()
    process = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                                '--appendonly', 'no', '--dir', str(tmp_path), *args],
                               stdout=open(tmp_path / f'{name}.log', 'w'), stderr=subprocess.STDOUT)
    return process, port


def wait_for(check, what):
    """Poll until ``check()``; the deadline only stops a hung test."""
    for _ in range(600):
        try:
            value = check()
            if value:
                return value
        except redis.exceptions.RedisError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen")


def test_work_flows_through_a_sentinel_failover(config, app, shards, databases, intake_url, tmp_path):
    master, master_port = redis_server(tmp_path, 'master')
    replica, replica_port = redis_server(tmp_path, 'replica', '--replicaof', '127.0.0.1', str(master_port))
    sentinel_port = free_port()
    conf = tmp_path / 'sentinel.conf'
    conf.write_text(f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor fls 127.0.0.1 {master_port} 1\n"
                    "sentinel down-after-milliseconds fls 1000\nsentinel failover-timeout fls 5000\n")
    sentinel = subprocess.Popen(['redis-server', str(conf), '--sentinel'],
                                stdout=open(tmp_path / 'sentinel.log', 'w'), stderr=subprocess.STDOUT)
    processes = [master, replica, sentinel]
    try:
        wait_for(lambda: redis.Redis(port=replica_port).info('replication')['master_link_status'] == 'up',
                 'replication')
        watcher = redis.Redis(port=sentinel_port)
        wait_for(lambda: watcher.sentinel_master('fls')['num-slaves'] == 1, 'the sentinel seeing the replica')

        path = write_test_config(tmp_path / 'sentinel-app.conf', databases['main_url'], databases['shards2_url'],
                                 {('rattail_fls', 'redis.url'): f'redis+sentinel://127.0.0.1:{sentinel_port}/fls/0'})
        token = make_shop(app, shards, 421, 's02')

        def deliver(orders):
            """Accept ``orders``, age them past the sweep delay, sweep and work through the sentinel."""
            answer = requests.post(intake_url + '/api/fls/sales', data=simplejson.dumps(orders, use_decimal=True),
                                   headers={'Authorization': f'Token {token}'}, timeout=60)
            assert answer.json()['accepted'] == len(orders)
            with config.appdb_engine.begin() as conn:
                conn.execute(sa.text("UPDATE fls_inbox SET received_at = now() - interval '1 hour' "
                                     "WHERE status = 'pending' AND retail_point_id = 421"))
            swept = rattail(path, 'fls-sweep').stdout  # other tests' leftovers may be swept too
            assert int(re.search(r'sales_processing: (\d+)', swept).group(1)) >= len(orders), swept
            rattail(path, 'fls-worker', '--queue', 'sales_processing', '--burst')
            with config.appdb_engine.connect() as conn:
                return dict(conn.execute(sa.text("SELECT status, count(*) FROM fls_inbox "
                                                 "WHERE retail_point_id = 421 GROUP BY status")).all())

        days = recent_days(2)
        assert deliver(generate_orders([421], days[:1], 10, seed=21)) == {'done': 10}
        assert redis.Redis(port=master_port).exists('rq:queue:sales_processing') == 0  # consumed on the master

        master.kill()
        master.wait()
        wait_for(lambda: watcher.sentinel_get_master_addr_by_name('fls')[1] == replica_port, 'the failover')
        assert deliver(generate_orders([421], days[1:], 10, seed=22)) == {'done': 20}

        figures = json.loads(rattail(path, 'fls-status', '--json', check=False).stdout)
        assert 'redis' not in figures['errors'] and len(figures['queues']) == 3
    finally:
        for process in processes:
            process.kill()
            process.wait()

"""A worker outlives Redis wherever RQ meets the fault: RQ raises the Redis error out of its
constructor (it asks Redis for its address) and out of ``work()`` where it registers the
worker's birth or death, and the process must not die of it."""

import threading
import time

from fls_dev.services import PrivateRedis

from conftest import another_config


def test_worker_waits_for_a_redis_that_is_down_when_it_starts(databases, tmp_path):
    from rattail_fls.queue import worker
    rds = PrivateRedis()  # its port chosen, the server not started yet
    path = tmp_path / 'rattail.conf'
    path.write_text(f"[rattail.config]\ninclude = {databases['config_path']}\n\n"
                    f"[rattail_fls]\nredis.url = {rds.url}\n")
    config = another_config(path)
    later = threading.Timer(2, rds.start)
    later.start()
    started = time.monotonic()
    try:  # in the main thread: RQ's worker installs signal handlers
        done = worker.run(config, ['sales_processing'], burst=True, redis_wait_max=1)
    finally:
        later.join()
        rds.stop()
    assert done is not None and done.name
    assert time.monotonic() - started >= 2, "the worker ran before Redis was up"


def test_the_worker_command_starts_while_redis_is_down(databases, tmp_path):
    """``rattail fls-worker`` checks its settings without Redis, then waits for it."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import redis
    from rq import Worker
    rds = PrivateRedis()
    path = tmp_path / 'rattail.conf'
    path.write_text(f"[rattail.config]\ninclude = {databases['config_path']}\n\n"
                    f"[rattail_fls]\nredis.url = {rds.url}\n")
    log = open(tmp_path / 'worker.log', 'w')  # noqa: SIM115
    process = subprocess.Popen([str(Path(sys.executable).parent / 'rattail'), '-c', str(path), 'fls-worker',
                                '--queue', 'day_close'], stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        time.sleep(8)  # long enough to import everything and meet the missing Redis
        assert process.poll() is None, (tmp_path / 'worker.log').read_text()[-3000:]
        rds.start()
        deadline = time.monotonic() + 60
        while not any(w.pid == process.pid for w in Worker.all(connection=redis.Redis.from_url(rds.url))):
            assert time.monotonic() < deadline, (tmp_path / 'worker.log').read_text()[-3000:]
            assert process.poll() is None, (tmp_path / 'worker.log').read_text()[-3000:]
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(60)
        log.close()
        rds.stop()

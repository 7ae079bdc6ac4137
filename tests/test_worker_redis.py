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

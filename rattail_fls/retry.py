"""The retry policy, declared once: exponential backoff with a cap and full jitter, and a cap on tries.

Used for inbox rows left pending by a shard fault (``intake.retry_*``) and for
summaries Odoo did not take (``odoo.retry_*``): work waits in PostgreSQL until
its ``next_attempt_at``, and the sweeper enqueues it again, so a retry survives
the loss of Redis or of the worker.
"""

import datetime
import random
from dataclasses import dataclass

from rattail_fls import config as fls_config


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    max_attempts: int = 0  # 0: no cap
    jitter: bool = True

    @classmethod
    def from_config(cls, config, prefix):
        """``[rattail_fls] {prefix}.retry_base_seconds``, ``.retry_max_seconds``, ``.max_attempts``."""
        return cls(fls_config.get_number(config, f'{prefix}.retry_base_seconds', float, 0),
                   fls_config.get_number(config, f'{prefix}.retry_max_seconds', float, 0),
                   fls_config.get_number(config, f'{prefix}.max_attempts', int, 0))

    def delay(self, attempts, rng=random):
        """Seconds to wait after the ``attempts``-th failed try (1, 2, ...).

        ``base * 2^(attempts-1)``, capped; with jitter a uniform draw between
        half of that and all of it, so that work failed by one outage does not
        come back all at once.
        """
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** min(max(attempts, 1) - 1, 60))
        return rng.uniform(ceiling / 2, ceiling) if self.jitter else ceiling

    def exhausted(self, attempts):
        """True when ``attempts`` tries are all this policy allows."""
        return bool(self.max_attempts) and attempts >= self.max_attempts

    def next_attempt_at(self, attempts, now=None):
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return now + datetime.timedelta(seconds=self.delay(attempts))

"""Day closes the shops asked for: inbox rows of kind ``day_close``, validated at the door, closed here.

The closer and the notifier are given (by ``FlsHandler``), so the inbox side
knows nothing of how days are closed or how work is queued.
"""

import datetime
import json

from rattail_fls import jsontext
from rattail_fls.config import ConfigError
from rattail_fls.db.model.inbox import DONE, REJECTED
from rattail_fls.sales import contract, inbox


class DayCloseRequests:
    """Claims pending day-close rows, closes their days, settles the rows, queues the new summaries."""

    def __init__(self, config, closer, notifier, limit=50):
        self.config = config
        self.closer = closer
        self.notifier = notifier
        self.limit = limit

    def process(self, ids=()):
        """Returns one close result per request closed."""
        results, settled = [], []
        with self.config.appdb_engine.begin() as conn:
            for row in inbox.claim(conn, 'day_close', self.limit, ids):
                # stored by the door with retail_point_id and close_date filled in
                request = jsontext.loads(row.body)
                try:
                    results.append(self.closer.close(int(request['retail_point_id']),
                                                     datetime.date.fromisoformat(request['close_date']),
                                                     requested_by='shop'))
                    settled.append((row.received_on, row.id, DONE, None))
                except ConfigError as error:  # the retail point is unknown, inactive or without a shard
                    settled.append((row.received_on, row.id, REJECTED,
                                    json.dumps([contract.error('retail_point_id', str(error))])))
            inbox.settle(conn, settled)
        new = [uuid for result in results for uuid in result['new_uuids']]
        if new:
            self.notifier.enqueue('send_summary', new)
        return results

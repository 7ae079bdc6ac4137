"""One clock rule: a shop's business date is a date in the shop's own time zone.

``sale_date`` is what the shop says it is; "today" for the accepted range of
dates and for a day close without a date is today where the shop is (its
retail point's ``timezone``, else the app's).  Instants we record ourselves
(received, processed, stored, closed, pushed) are ``timestamptz``;
``confirmed_on`` stays the shop's wall-clock time, as sent.
"""

import datetime
import threading
import time
import zoneinfo

import sqlalchemy as sa

from rattail_fls.db.model.retail_points import FlsRetailPoint


class ShopClock:
    """Today per retail point; time zones are read from the main DB at most every ``ttl`` seconds."""

    def __init__(self, config, ttl=60):
        self.engine = config.appdb_engine
        self.default = config.get_app().get_timezone()
        self.ttl = ttl
        self._zones, self._read_at = {}, None
        self._lock = threading.Lock()

    def zone(self, retail_point_id):
        with self._lock:
            if self._read_at is None or time.monotonic() - self._read_at > self.ttl:
                with self.engine.connect() as conn:
                    rows = conn.execute(sa.select(FlsRetailPoint.retail_point_id, FlsRetailPoint.timezone)
                                        .where(FlsRetailPoint.timezone.isnot(None))).all()
                self._zones = {rp: _zone(name) for rp, name in rows}
                self._read_at = time.monotonic()
            return self._zones.get(retail_point_id) or self.default

    def today(self, retail_point_id):
        return datetime.datetime.now(self.zone(retail_point_id)).date()


def _zone(name):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None

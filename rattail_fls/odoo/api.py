"""Odoo's external JSON-RPC API (``/jsonrpc``): retiring a superseded summary's record.

The ``/api/sales-summary`` controller only creates, with ``is_latest_data =
True``; when a newer version of a summary has been sent, the record of the
older one is marked ``is_latest_data = False`` here, as a user who may write
``cfed.local.data`` (login + API key).  Answers are classified with the same
failure classes as a summary push: network trouble and 5xx are transient;
404, 4xx, a refused login (``AccessDenied``), a missing right (``AccessError``)
and any unlisted error (an unknown database...) need an operator
(configuration); ``MissingError`` and ``ValidationError`` are about the record
(application).  A ``write`` is idempotent, so every failure may be retried.
"""

import itertools
import logging
import time
from urllib.parse import urlsplit

from urllib3.exceptions import HTTPError

from rattail_fls.config import ConfigError, get_setting
from rattail_fls.odoo.client import (APPLICATION, CONFIGURATION, EXCERPT_LENGTH, PushResult, dumps,
                                     error_message, failure_result, from_exception, json_envelope,
                                     make_pool, odoo_timeouts, post_json)

log = logging.getLogger(__name__)

MODEL = 'cfed.local.data'

#: ``error.data.name`` of Odoo's exceptions about the record itself; any other is configuration.
RECORD_ERRORS = ('odoo.exceptions.MissingError', 'odoo.exceptions.ValidationError',
                 'odoo.exceptions.UserError')

SETTINGS = ('odoo.api.url', 'odoo.api.db', 'odoo.api.login', 'odoo.api.key')


class OdooApiClient:
    """``common.authenticate`` once, then ``object.execute_kw`` calls; never raises for HTTP trouble."""

    def __init__(self, url, db, login, key, connect_timeout=5.0, read_timeout=30.0, pool=None):
        self.url = url.rstrip('/') + '/jsonrpc'
        self.db, self.login, self.key = db, login, key
        self.timeout = (connect_timeout, read_timeout)
        self._own_pool = pool is None
        self.pool = pool or make_pool(url)
        self._ids = itertools.count(1)
        self.uid = None

    def __repr__(self):
        return f'OdooApiClient({self.url!r}, db={self.db!r}, login={self.login!r}, key=***)'

    def close(self):
        if self._own_pool:
            self.pool.clear()

    def call(self, service, method, *args):
        """One JSON-RPC call: ``(result, None)`` or ``(None, failed PushResult)``."""
        body = {'jsonrpc': '2.0', 'method': 'call', 'id': next(self._ids),
                'params': {'service': service, 'method': method, 'args': list(args)}}
        start = time.monotonic()
        try:
            response = post_json(self.pool, self.url, dumps(body), self.timeout)
        except HTTPError as error:
            return None, from_exception(error, time.monotonic() - start)
        elapsed = time.monotonic() - start
        data, failure = json_envelope(response, elapsed)
        if failure is not None:
            return None, failure
        excerpt = response.text[:EXCERPT_LENGTH]
        if 'error' in data:
            error = data['error']
            name = (error.get('data') or {}).get('name') if isinstance(error, dict) else None
            kind = APPLICATION if name in RECORD_ERRORS else CONFIGURATION
            return None, failure_result(kind, f"{error_message(error)} [{name or 'no name'}]",
                                        elapsed, 200, excerpt)
        if 'result' not in data:
            return None, failure_result(APPLICATION, "HTTP 200 without a result", elapsed, 200, excerpt)
        return (data['result'], elapsed, excerpt), None

    def authenticate(self):
        """Log in (once); None, or the failed PushResult."""
        if self.uid is not None:
            return None
        answer, failure = self.call('common', 'authenticate', self.db, self.login, self.key, {})
        if failure is not None:
            return failure
        uid, elapsed, excerpt = answer
        if type(uid) is not int:
            return failure_result(CONFIGURATION, f"Odoo refused the login {self.login!r} on database "
                                  f"{self.db!r}: check [rattail_fls] odoo.api.db, odoo.api.login and "
                                  "odoo.api.key", elapsed, 200, excerpt)
        self.uid = uid
        return None

    def retire(self, local_data_id):
        """Mark record ``local_data_id`` ``is_latest_data = False``; a PushResult."""
        failure = self.authenticate()
        if failure is None:
            answer, failure = self.call('object', 'execute_kw', self.db, self.uid, self.key, MODEL,
                                        'write', [[local_data_id], {'is_latest_data': False}])
        if failure is None:
            result, elapsed, excerpt = answer
            if result is True:
                log.info("retired Odoo record %s (is_latest_data = False)", local_data_id)
                return PushResult(ok=True, local_data_id=local_data_id, failure=None, http_status=200,
                                  message="retired", excerpt=excerpt, elapsed=elapsed)
            failure = failure_result(APPLICATION, f"write answered {result!r}, not true",
                                     elapsed, 200, excerpt)
        if failure.failure == CONFIGURATION and 'AccessDenied' in failure.message:
            self.uid = None  # the key may have changed: log in again next time
        log.warning("retiring Odoo record %s failed (%s): %s", local_data_id, failure.failure,
                    failure.message)
        return failure


def make_odoo_api_client(config):
    """A client from ``[rattail_fls] odoo.api.*``, or None when none of them is set."""
    values = {key: get_setting(config, key) for key in SETTINGS}
    if not any(values.values()):
        return None
    missing = [key for key, value in values.items() if not value]
    if missing:
        raise ConfigError(f"[rattail_fls] {', '.join(missing)} not set: the Odoo external API needs "
                          f"all of {', '.join(SETTINGS)} (or none, to list superseded records instead)")
    parts = urlsplit(values['odoo.api.url'])
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise ConfigError("[rattail_fls] odoo.api.url must be Odoo's address, e.g. "
                          f"https://example.odoo.com, not {values['odoo.api.url']!r}")
    return OdooApiClient(values['odoo.api.url'], values['odoo.api.db'], values['odoo.api.login'],
                         values['odoo.api.key'], *odoo_timeouts(config))

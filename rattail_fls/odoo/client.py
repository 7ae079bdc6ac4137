"""Client for the Odoo Cloud ``/api/sales-summary`` endpoint.

The endpoint answers HTTP 200 for most of its failures, so success is decided
from the JSON body, never from the status code alone (the old client got this
wrong).  Every failure is classified so that the exporter knows whether to
retry, stop and alert, or record the message:

* ``transient``: timeouts, connection errors, 5xx, 408, 429 -> retry with backoff;
* ``configuration``: 4xx, redirects, bad URL, TLS errors -> stop until an operator fixes it;
* ``application``: HTTP 200 that is not a success (``Failed``, ``error``
  envelope, no ``result``, not JSON) -> record the message, retry a few times.

Independently of the class, ``maybe_delivered`` says whether Odoo may have
created the record anyway: the request was sent but its answer was lost (read
timeout, connection dropped after connecting, HTTP 504 from a proxy).  Odoo has
no idempotency key, so such a push must not be retried blindly.
"""

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import bcrypt
import certifi
import requests.utils
import simplejson
import urllib3
from urllib3 import exceptions as http_errors

from rattail_fls.config import ConfigError, get_number, get_setting
from rattail_fls.db.model.summaries import FailureClass

log = logging.getLogger(__name__)

TRANSIENT, CONFIGURATION, APPLICATION = (FailureClass.TRANSIENT, FailureClass.CONFIGURATION,
                                         FailureClass.APPLICATION)

#: How much of a response body (or exception text) a result keeps.
EXCERPT_LENGTH = 500

#: bcrypt only reads this many bytes; bcrypt >= 5 refuses longer input.
BCRYPT_MAX_BYTES = 72


@dataclass(frozen=True)
class PushResult:
    """Outcome of one push; ``failure`` is None exactly when ``ok``."""

    ok: bool
    local_data_id: int | None
    failure: str | None
    http_status: int | None
    message: str
    excerpt: str
    elapsed: float
    #: The request may have reached Odoo and created a record even though we saw
    #: no success (ambiguous outcome): read timeout, connection lost after it was
    #: established, HTTP 504.  False for failures that prove nothing was created.
    maybe_delivered: bool = False


def _encode_default(obj):
    """Money is Decimal: write its exact digits as a JSON number, never via float."""
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"cannot send non-finite Decimal {obj} to Odoo")
        # Fixed-point, so Decimal('1E+2') goes out as 100, not 1E+2.
        return simplejson.RawJSON(format(obj, 'f'))
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(summary):
    """The request body for ``summary``: UTF-8 JSON with exact decimals."""
    return simplejson.dumps(summary, use_decimal=False, default=_encode_default).encode('utf-8')


#: bcrypt's cost range: 2**rounds iterations (bcrypt accepts 4 to 31).
SECRET_ROUNDS = range(4, 32)


def encrypt_sale_num(sale_num, secret, rounds=12):
    """bcrypt of ``sale_num + secret``, which lets Odoo check who sent a summary.

    bcrypt only reads 72 bytes: releases before 5.0 cut longer input silently,
    5.0 raises.  Cutting here gives the same hash as the old behaviour, whatever
    bcrypt the Odoo side runs; keep sale_num + secret within 72 bytes anyway.
    """
    data = f'{sale_num}{secret}'.encode('utf-8')[:BCRYPT_MAX_BYTES]
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds)).decode('ascii')


def make_pool(url):
    """The HTTP connection pool for ``url``: urllib3, on which ``requests`` is built, without the
    session layer (hooks, cookies, adapters) that cost a push twice the CPU of the request itself.

    The environment is read once, here: a proxy from ``HTTP(S)_PROXY`` or ``ALL_PROXY`` unless
    ``NO_PROXY`` covers the host (as ``requests`` reads and picks them), and a CA bundle from ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` (else certifi's).  One connection, kept alive: each sender has its own
    client.  Nothing is retried here; the pusher decides (an answer lost may be a record made).
    """
    options = {'maxsize': 1, 'retries': False, 'cert_reqs': 'CERT_REQUIRED',
               'ca_certs': os.environ.get('REQUESTS_CA_BUNDLE') or os.environ.get('CURL_CA_BUNDLE')
               or certifi.where()}
    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read whole: what the classification looks at."""
    status_code: int
    reason: str
    headers: dict
    content: bytes

    @property
    def text(self):
        return self.content.decode('utf-8', 'replace')

    def json(self):
        return json.loads(self.content)


def post_json(pool, url, body, timeout):
    """POST ``body`` (JSON bytes) to ``url``; the :class:`Answer`, or urllib3's exception."""
    response = pool.request('POST', url, body=body, redirect=False, retries=False,
                            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                            headers={'Content-Type': 'application/json', 'Accept': 'application/json'})
    return Answer(response.status, response.reason or '', response.headers, response.data)


class OdooSummaryClient:
    """Posts summaries to the endpoint, one request each, and never raises for HTTP/network trouble."""

    def __init__(self, url, secret=None, connect_timeout=5.0, read_timeout=30.0, pool=None, secret_rounds=12):
        self.url = url
        self.secret = secret
        self.secret_rounds = secret_rounds
        self.timeout = (connect_timeout, read_timeout)
        self._own_pool = pool is None
        self.pool = pool or make_pool(url)

    def __repr__(self):
        # The secret stays out of reprs, and so out of logs and tracebacks.
        return f'OdooSummaryClient({self.url!r}, secret={"***" if self.secret else None})'

    def close(self):
        """Close the HTTP connections, if this client made the pool."""
        if self._own_pool:
            self.pool.clear()

    def push(self, summary: dict) -> PushResult:
        """Post ``summary`` as the top-level JSON object and classify the answer."""
        sale_num = summary.get('sale_num')
        if self.secret:
            if not sale_num:
                raise ValueError("summary has no sale_num to sign")
            summary = dict(summary, encrypted_sale_num=encrypt_sale_num(sale_num, self.secret,
                                                                                self.secret_rounds))
        body = dumps(summary)
        start = time.monotonic()
        try:
            response = post_json(self.pool, self.url, body, self.timeout)
        except http_errors.HTTPError as error:
            result = from_exception(error, time.monotonic() - start)
        else:
            result = _from_response(response, time.monotonic() - start)
        if result.ok:
            log.info("pushed summary %s to Odoo: local_data_id %s (%.3fs)",
                     sale_num, result.local_data_id, result.elapsed)
        else:
            log.warning("push of summary %s to Odoo failed (%s, HTTP %s): %s",
                        sale_num, result.failure, result.http_status, result.message)
        return result


def failure_result(kind, message, elapsed, http_status=None, excerpt='', maybe_delivered=False):
    return PushResult(ok=False, local_data_id=None, failure=kind, http_status=http_status,
                      message=message, excerpt=excerpt[:EXCERPT_LENGTH], elapsed=elapsed,
                      maybe_delivered=maybe_delivered)


def from_exception(error, elapsed):
    """Network trouble (urllib3's exceptions) is transient, except what only an operator can fix."""
    text = f'{type(error).__name__}: {error}'
    if isinstance(error, http_errors.SSLError):
        return failure_result(CONFIGURATION, "TLS error talking to Odoo", elapsed, excerpt=text)
    if isinstance(error, (http_errors.LocationValueError, http_errors.URLSchemeUnknown)):
        return failure_result(CONFIGURATION, "invalid Odoo URL", elapsed, excerpt=text)
    # before any byte of the request left: refused, unresolvable, or the proxy unreachable
    if isinstance(error, (http_errors.NewConnectionError, http_errors.ProxyError)):
        return failure_result(TRANSIENT, "could not reach Odoo", elapsed, excerpt=text)
    if isinstance(error, http_errors.ConnectTimeoutError):
        return failure_result(TRANSIENT, "timed out connecting to Odoo", elapsed, excerpt=text)
    if isinstance(error, http_errors.ReadTimeoutError):
        return failure_result(TRANSIENT, "timed out waiting for Odoo's answer", elapsed, excerpt=text,
                              maybe_delivered=True)
    if isinstance(error, http_errors.ProtocolError):
        return failure_result(TRANSIENT, "connection to Odoo lost before its answer", elapsed,
                              excerpt=text, maybe_delivered=True)
    # Anything else broke after connecting (e.g. a truncated answer): assume it may have arrived.
    return failure_result(TRANSIENT, "HTTP error talking to Odoo", elapsed, excerpt=text,
                          maybe_delivered=True)


def http_failure(response, elapsed):
    """The failure an HTTP status other than 200 means (shared with the external API), else None."""
    status = response.status_code
    if status == 200:
        return None
    excerpt = response.text[:EXCERPT_LENGTH]
    reason = f"HTTP {status} {response.reason or ''}".rstrip()
    # 504: a proxy gave up waiting for Odoo, which may still have created the record.

    def failure(kind, message):
        return failure_result(kind, message, elapsed, http_status=status, excerpt=excerpt,
                              maybe_delivered=status == 504)

    if status >= 500 or status in (408, 429):
        return failure(TRANSIENT, reason)
    if 300 <= status < 400:
        location = response.headers.get('Location')
        return failure(CONFIGURATION, f"{reason}: redirected to {location}; "
                                      "set the Odoo URL to the final address")
    if status == 404:
        return failure(CONFIGURATION, f"{reason}: endpoint missing (module not installed, "
                                      "wrong URL, or no database selected)")
    if response.headers.get('Content-Type', '').startswith('text/plain') and excerpt.strip():
        reason = f"{reason}: {excerpt.strip().splitlines()[0][:200]}"
    return failure(CONFIGURATION, reason)


def json_envelope(response, elapsed):
    """``(data, None)`` for an HTTP 200 JSON object, else ``(None, failure)``."""
    failure = http_failure(response, elapsed)
    if failure is not None:
        return None, failure
    excerpt = response.text[:EXCERPT_LENGTH]
    try:
        data = response.json()
    except ValueError:
        return None, failure_result(APPLICATION, "HTTP 200 but the body is not JSON", elapsed, 200, excerpt)
    if not isinstance(data, dict):
        return None, failure_result(APPLICATION, "HTTP 200 but the body is not a JSON object", elapsed, 200, excerpt)
    return data, None


def _from_response(response, elapsed):
    """Apply the success rule; classify the rest by status, then by body."""
    data, failure = json_envelope(response, elapsed)
    if failure is not None:
        return failure
    status, excerpt = response.status_code, response.text[:EXCERPT_LENGTH]

    def failure(kind, message):
        return failure_result(kind, message, elapsed, http_status=status, excerpt=excerpt)

    if 'error' in data:
        return failure(APPLICATION, error_message(data['error']))
    result = data.get('result')
    if not isinstance(result, dict):
        return failure(APPLICATION, "HTTP 200 without a result")
    if result.get('status') != 'Success':
        if result.get('status') == 'Failed':
            return failure(APPLICATION, f"Odoo: {result.get('message') or 'Failed, without a message'}")
        return failure(APPLICATION, f"unexpected result status {result.get('status')!r}")
    local_data_id = result.get('local_data_id')
    if type(local_data_id) is not int:  # bool is an int subclass: exclude it
        return failure(APPLICATION, f"Success without an integer local_data_id ({local_data_id!r})")
    return PushResult(ok=True, local_data_id=local_data_id, failure=None, http_status=status,
                      message="Success", excerpt=excerpt, elapsed=elapsed)


def error_message(error):
    """The most useful text of a JSON-RPC ``error`` envelope."""
    if not isinstance(error, dict):
        return f"Odoo error: {error!r}"[:200]
    data = error.get('data')
    detail = data.get('message') if isinstance(data, dict) else None
    return f"Odoo error: {detail or error.get('message') or 'no message'} (code {error.get('code')})"


def make_odoo_client(config):
    """A client set up from ``[rattail_fls] odoo.*``; raises ConfigError (a ValueError) if wrong."""
    url = get_setting(config, 'odoo.url')
    if not url:
        raise ConfigError("[rattail_fls] odoo.url is not set; it must be the Odoo Cloud endpoint, "
                          "e.g. https://example.odoo.com/api/sales-summary")
    parts = urlsplit(url)
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise ConfigError(f"[rattail_fls] odoo.url must start with http:// or https://, not {url!r}")
    connect_timeout, read_timeout = odoo_timeouts(config)
    rounds = get_number(config, 'odoo.secret_rounds', int, SECRET_ROUNDS.start)
    if rounds not in SECRET_ROUNDS:
        raise ConfigError(f"[rattail_fls] odoo.secret_rounds must be from {SECRET_ROUNDS.start} to "
                          f"{SECRET_ROUNDS.stop - 1} (bcrypt's cost), not {rounds}")
    return OdooSummaryClient(url, secret=get_setting(config, 'odoo.secret') or None,
                             connect_timeout=connect_timeout, read_timeout=read_timeout, secret_rounds=rounds)


def odoo_timeouts(config):
    """``(odoo.connect_timeout, odoo.read_timeout)``, validated: every Odoo request uses them."""
    timeouts = []
    for key in ('odoo.connect_timeout', 'odoo.read_timeout'):
        value = get_number(config, key)
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"[rattail_fls] {key} must be a positive number of seconds, not {value!r}")
        timeouts.append(value)
    return tuple(timeouts)

"""The CORE-POS webservices client, hardened for what the real API does.

pyCOREPOS's ``CoreWebAPI`` sets no timeout (a hung CORE hangs the import
forever), lets one undecodable record (``false``) kill a whole list with a
``TypeError``, and reports a PHP fatal as a bare ``HTTPError`` or an
``AssertionError``.  :class:`FlsCoreWebAPI` keeps its interface and fixes
those; :class:`FlsCoreHandler` gives it the configured timeouts.  Both are
designated by config, the way rattail-corepos builds its client
(``[rattail] corepos.handler``, ``[corepos.api] factory``), so every user of
``app.get_corepos_handler().make_webapi()`` gets them.
"""

import html
import json
import logging
import re
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from corepos.api import CoreAPIError, CoreWebAPI
from rattail_corepos.app import CoreHandler

from rattail_fls.config import DEFAULTS, ConfigError, get_number

log = logging.getLogger(__name__)

#: How much of an unexpected answer goes into an error message.
SNIPPET = 160

#: The path CORE's API endpoint (``fannie/ws/index.php``) is served at.
API_PATH = '/fannie/ws/'
API_ENDPOINT_HINT = "e.g. http://HOST/fannie/ws/ (or .../fannie/ws/index.php)"

#: ``(connect, read)`` seconds when no config is at hand (the documented defaults).
DEFAULT_TIMEOUT = (float(DEFAULTS['corepos.connect_timeout']), float(DEFAULTS['corepos.read_timeout']))


class CorePosError(CoreAPIError):
    """CORE-POS did not give a usable answer; the message names the request and the reason."""

    def __str__(self):
        return self.message


class _TimeoutAdapter(HTTPAdapter):
    """Applies a default ``(connect, read)`` timeout to every request of a session."""

    def __init__(self, timeout):
        super().__init__()
        self.timeout = timeout

    def send(self, request, **kwargs):
        if kwargs.get('timeout') is None:
            kwargs['timeout'] = self.timeout
        return super().send(request, **kwargs)


def safe_url(url):
    """``url`` without credentials, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ''
    if parts.port:
        host = f'{host}:{parts.port}'
    return urlunsplit(parts._replace(netloc=host))


def snippet(text):
    """The start of an unexpected answer as one readable line (HTML tags removed)."""
    text = html.unescape(re.sub(r'<[^>]*>', '', text))
    text = ' '.join(text.split())
    return text[:SNIPPET] + ('...' if len(text) > SNIPPET else '')


class FlsCoreWebAPI(CoreWebAPI):
    """pyCOREPOS's client with timeouts, errors that say what failed, and list getters that
    skip (and count) records CORE could not encode instead of failing on them."""

    def __init__(self, url, timeout=DEFAULT_TIMEOUT, **kwargs):
        super().__init__(url, **kwargs)
        self.set_timeout(timeout)
        #: records skipped by the list getters, per entity
        self.bad_records = {}

    def set_timeout(self, timeout):
        """``(connect, read)`` seconds for every request from now on."""
        self.timeout = timeout
        adapter = _TimeoutAdapter(timeout)
        self.session.mount('http://', adapter)
        self.session.mount('https://', adapter)

    @staticmethod
    def describe(params, method=None):
        """What a request asks for, e.g. ``CORE-POS Products get``, for messages."""
        if method == 'FannieMember':
            return f"CORE-POS member {params.get('cardNo')} {params.get('method')}"
        return f"CORE-POS {params.get('entity')} {params.get('submethod')}"

    def post(self, params, method=None):
        what = self.describe(params, method)
        try:
            response = super().post(params, method=method)
        except requests.Timeout:
            raise CorePosError(f"{what}: no answer from {safe_url(self.url)} within "
                               f"{self.timeout[1]:g}s (read timeout); CORE-POS may be hung "
                               "or overloaded") from None
        except requests.HTTPError as error:
            raise CorePosError(f"{what}: {self.describe_http_error(error.response)}") from None
        except requests.RequestException as error:
            raise CorePosError(f"{what}: cannot reach CORE-POS at {safe_url(self.url)}: "
                               f"{type(error).__name__}") from None
        if response.history:
            raise CorePosError(f"{what}: {self.describe_redirect(response)}")
        response.corepos_request = what
        return response

    def describe_http_error(self, response):
        """Why an HTTP error status came back, for :class:`CorePosError`."""
        status, body = response.status_code, response.text
        if status == 404:
            return (f"CORE-POS answered HTTP 404 (no such page) for {safe_url(response.url)}: "
                    f"[corepos.api] url must be CORE's API endpoint, {API_ENDPOINT_HINT}")
        detail = ("an empty body: a PHP fatal error on the server, see its error log"
                  if not body.strip() else repr(snippet(body)))
        return f"CORE-POS answered HTTP {status} with {detail}"

    def describe_redirect(self, response):
        """Why a redirected request is an error: the API endpoint never redirects, and
        requests turns the redirected POST into a GET without the request."""
        first = response.history[0]
        target = safe_url(response.url)
        if urlsplit(response.url).path.endswith(API_PATH):
            advice = f"set [corepos.api] url to {target}"
        else:
            advice = ("[corepos.api] url points at the fannie root (or another page) rather "
                      f"than the API endpoint, {API_ENDPOINT_HINT}")
        return (f"{safe_url(self.url)} answered HTTP {first.status_code}, a redirect to "
                f"{target}: {advice}")

    def parse_response(self, response, method=None):
        """The ``result`` of a JSON-RPC answer, or a :class:`CorePosError` saying what was wrong."""
        what = getattr(response, 'corepos_request', 'CORE-POS request')
        try:
            js = response.json()
        except ValueError:
            raise CorePosError(f"{what}: the answer is not JSON (PHP display_errors on, or the "
                               f"answer was cut off): {snippet(response.text)!r}") from None
        if not isinstance(js, dict):
            raise CorePosError(f"{what}: the answer is not a JSON-RPC object: {snippet(response.text)!r}")
        if 'error' in js:
            error = js['error']
            if isinstance(error, dict):
                raise CorePosError(f"{what}: CORE-POS refused it with error {error.get('code')}: "
                                   f"{error.get('message')!r}")
            raise CorePosError(f"{what}: CORE-POS failed to encode its answer: {error!r}")
        if 'result' not in js:
            raise CorePosError(f"{what}: the answer has no result (keys: {', '.join(js)})")
        if method == 'FannieMember':
            return js['result']
        result = js['result']
        if not isinstance(result, dict) or 'result' not in result:
            raise CorePosError(f"{what}: the answer's result is not {{\"result\": ...}}")
        return result['result']

    def get_entities(self, entity, **columns):
        """Every ``entity`` record matching ``columns`` (all if none), decoded; records CORE
        could not encode are logged, counted in :attr:`bad_records` and left out."""
        params = {'entity': entity, 'submethod': 'get', 'columns': columns}
        records = self.parse_response(self.post(params))
        if not isinstance(records, list):
            raise CorePosError(f"{self.describe(params)}: expected a list of records, "
                               f"got {type(records).__name__}")
        decoded = []
        for number, record in enumerate(records, 1):
            reason = None
            if not isinstance(record, str):
                reason = (f"CORE sent {json.dumps(record)} instead of the record (it could "
                          "not JSON-encode the row, e.g. text that is not valid UTF-8)")
            else:
                try:
                    record = json.loads(record)
                except ValueError:
                    reason = f"not valid JSON: {snippet(record)!r}"
                else:
                    if not isinstance(record, dict):
                        reason = f"not a JSON object: {snippet(json.dumps(record))!r}"
            if reason:
                self.bad_records[entity] = self.bad_records.get(entity, 0) + 1
                log.warning("CORE-POS %s record %d of %d skipped: %s",
                            entity, number, len(records), reason)
            else:
                decoded.append(record)
        return decoded

    def get_member_types(self, **columns):
        return self.get_entities('Memtype', **columns)

    def get_employees(self, **columns):
        return self.get_entities('Employees', **columns)

    def get_stores(self, **columns):
        return self.get_entities('Stores', **columns)

    def get_departments(self, **columns):
        return self.get_entities('Departments', **columns)

    def get_subdepartments(self, **columns):
        return self.get_entities('SubDepts', **columns)

    def get_vendors(self, **columns):
        return self.get_entities('Vendors', **columns)

    def get_products(self, **columns):
        return self.get_entities('Products', **columns)

    def get_vendor_items(self, **columns):
        return self.get_entities('VendorItems', **columns)


class FlsCoreHandler(CoreHandler):
    """rattail-corepos's CORE-POS handler, whose API clients get the configured timeouts
    (``[rattail_fls] corepos.connect_timeout`` / ``corepos.read_timeout``)."""

    def make_webapi(self):
        api = super().make_webapi()
        if not isinstance(api, FlsCoreWebAPI):
            raise ConfigError("[corepos.api] factory must be rattail_fls.coreapi:FlsCoreWebAPI "
                              f"or a subclass (timeouts, error reports), not {type(api).__name__}")
        api.set_timeout((get_number(self.config, 'corepos.connect_timeout', float, 0.1),
                         get_number(self.config, 'corepos.read_timeout', float, 0.1)))
        return api

"""A loopback stand-in for Odoo Cloud's ``/api/sales-summary`` endpoint.

No Odoo server can be installed on these machines, so tests, the demo and the
benches push here instead.  It checks requests as the real controller and
Odoo's JSON-RPC dispatcher do, stores what a successful push would create in
``cfed.local.data``, and can be switched to every other answer the real
endpoint (or a reverse proxy in front of it) gives, so that the client's
handling of each can be tested.  It also answers Odoo's external API at
``/jsonrpc`` (``common.login``/``authenticate``, ``object.execute_kw``
``write``/``search_read`` on ``cfed.local.data``) as Odoo does: a JSON-RPC 2.0
result, ``false`` for a refused login, and the ``error`` envelope with
``AccessDenied``, ``AccessError``, ``MissingError`` or an unknown database.

Run standalone with ``python -m fls_dev.loopback.odoo --port 8069``.
"""

import argparse
import collections
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import bcrypt

log = logging.getLogger(__name__)

PATH = '/api/sales-summary'
#: Odoo's external API (``common`` and ``object`` services over JSON-RPC 2.0).
RPC_PATH = '/jsonrpc'

#: Content types Odoo's JSON-RPC dispatcher accepts.
JSON_MIMETYPES = ('application/json', 'application/json-rpc')

BEHAVIOURS = ('success', 'failed', 'error', 'no_result', 'bad_request', 'not_found',
              'unsupported', 'bad_gateway', 'hang', 'success_lost')

#: Answered before the request reaches the controller (routing or a proxy).
_FRONT = frozenset({'bad_request', 'not_found', 'unsupported', 'bad_gateway', 'hang'})

_HTML = ('<!DOCTYPE html>\n<html><head><title>{code} {title}</title></head>\n'
         '<body><h1>{title}</h1><p>{text}</p></body></html>\n')


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections under concurrent pushes.
    request_queue_size = 128

    def server_bind(self):
        super().server_bind()
        self.connections = set()  # open client connections, kept alive between requests
        self.accepted = 0

    def process_request(self, request, client_address):
        self.accepted += 1
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self):
        """End the kept-alive connections, whose threads wait for a next request."""
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:  # closed meanwhile
                pass


class LoopbackOdoo:
    """An Odoo-compatible receiver on 127.0.0.1, served from a background thread.

    ``received`` lists the bodies of the pushes that created a record, and
    ``records`` maps each ``local_data_id`` (1, 2, ...) to the record the real
    controller would create (``data`` being the whole body).  ``requests``
    counts every request, whatever its answer.
    """

    def __init__(self, port=0, secret=None, delay=0.0, hang_seconds=10.0, db='odoo', users=None):
        self.port = port
        #: External API: the database name, and ``{login: (uid, key, may_write)}``.
        self.db = db
        self.users = dict(users or {'fls-export': (2, 'api-key', True)})
        self.secret = secret
        self.delay = delay
        self.hang_seconds = hang_seconds
        self.received = []
        self.records = {}
        self._requests = 0
        self._default = 'success'
        self._queue = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._url = None

    @property
    def url(self):
        """The endpoint's URL, known once started."""
        if self._url is None:
            raise RuntimeError("LoopbackOdoo is not started")
        return self._url

    @property
    def base_url(self):
        """Odoo's address (``odoo.api.url``); the external API is at ``base_url + '/jsonrpc'``."""
        return self.url[:-len(PATH)]

    @property
    def requests(self):
        with self._lock:
            return self._requests

    @property
    def connections(self):
        """How many TCP connections clients opened (a client keeping its connection alive opens one)."""
        return self._server.accepted

    def set_behaviour(self, name):
        """Answer every following request with ``name`` (once any queued ones are used up)."""
        _check_behaviour(name)
        with self._lock:
            self._default = name

    def queue_behaviours(self, names):
        """Answer the next requests with ``names``, in order, then fall back to the default."""
        names = list(names)
        for name in names:
            _check_behaviour(name)
        with self._lock:
            self._queue.extend(names)

    def start(self):
        if self._server is not None:
            raise RuntimeError("LoopbackOdoo is already started")
        self._stopping.clear()
        self._server = _Server(('127.0.0.1', self.port), _Handler)
        self._server.loopback = self
        self._url = f'http://127.0.0.1:{self._server.server_address[1]}{PATH}'
        # A short poll interval keeps stop() fast (the default waits up to 0.5 s).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name='loopback-odoo', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving; requests that hang or are delayed are cut short."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.cut_connections()
        self._server.server_close()  # joins the request threads
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _next_behaviour(self):
        with self._lock:
            self._requests += 1
            return self._queue.popleft() if self._queue else self._default

    def _pause(self, seconds):
        """Sleep, unless stopping; True if the server is stopping."""
        return self._stopping.wait(seconds)

    def _signature_ok(self, body):
        """Odoo's optional check: ``encrypted_sale_num`` is bcrypt of sale_num + secret."""
        token, sale_num = body.get('encrypted_sale_num'), body.get('sale_num')
        if not isinstance(token, str) or sale_num is None:
            return False
        try:
            return bcrypt.checkpw(f'{sale_num}{self.secret}'.encode('utf-8')[:72],
                                  token.encode('utf-8'))
        except ValueError:  # not a bcrypt hash
            return False

    def _create(self, body):
        """What the controller writes to ``cfed.local.data``; it never looks for duplicates."""
        with self._lock:
            local_data_id = len(self.records) + 1
            self.records[local_data_id] = {
                'retail_point_id': body.get('retail_point_id'),
                'data': body,
                'push_type': 'sales',
                'date': body.get('sale_date'),
                'local_record_id': False,
                'is_latest_data': True,
                'total_including_miscellaneous': body.get('total_including_miscellaneous', 0),
                'liquor_amount_total': body.get('amount_total'),
                'payment_journal_id': body.get('payment_journal_id'),
                'sale_num': body.get('sale_num'),
            }
            self.received.append(body)
        log.info("created local_data_id %s for sale_num %s", local_data_id, body.get('sale_num'))
        return local_data_id


class _OdooError(Exception):
    """An exception Odoo serialises into the ``error`` envelope (``data.name`` is its dotted class)."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name, self.message = name, message


ACCESS_DENIED = 'odoo.exceptions.AccessDenied'


def _check_db(loopback, db):
    if db != loopback.db:  # Odoo 16-18 fail opening the registry of a database that does not exist
        raise _OdooError('psycopg2.OperationalError',
                         f'connection to server failed: FATAL:  database "{db}" does not exist')


def _dispatch(loopback, service, method, args):
    """What ``odoo.http.dispatch_rpc`` answers for the calls the exporter makes."""
    if service == 'common' and method in ('login', 'authenticate'):
        if len(args) != (3 if method == 'login' else 4):
            raise _OdooError('builtins.TypeError', f'{method}() takes a different number of arguments')
        db, login, key = args[:3]
        _check_db(loopback, db)
        user = loopback.users.get(login)
        return user[0] if user and user[1] == key else False
    if service == 'object' and method == 'execute_kw':
        if len(args) < 6:
            raise _OdooError('builtins.TypeError', 'execute_kw() missing required arguments')
        db, uid, key, model, name, margs = args[:6]
        kwargs = args[6] if len(args) > 6 else {}
        _check_db(loopback, db)
        user = next((u for u in loopback.users.values() if u[0] == uid and u[1] == key), None)
        if user is None:
            raise _OdooError(ACCESS_DENIED, 'Access Denied')
        if model != 'cfed.local.data':
            raise _OdooError('builtins.KeyError', repr(model))
        return _execute(loopback, user, name, margs, kwargs)
    raise _OdooError('builtins.KeyError', repr(method) if service in ('common', 'object') else repr(service))


def _execute(loopback, user, name, args, kwargs):
    """``write`` and ``search_read`` on ``cfed.local.data``."""
    with loopback._lock:
        if name == 'search_read':
            domain = args[0] if args else kwargs.get('domain', [])
            fields = kwargs.get('fields') or ['id', 'sale_num', 'is_latest_data']
            rows = [dict(record, id=i) for i, record in loopback.records.items()
                    if all(_match(dict(record, id=i), term) for term in domain)]
            return [{f: row.get(f) for f in fields} for row in rows]
        if name == 'write':
            if not user[2]:
                raise _OdooError('odoo.exceptions.AccessError',
                                 "You are not allowed to modify 'Local Data' (cfed.local.data) records.")
            # call_kw: write(records, *args[1:], **kwargs), as Odoo's api.call_kw does
            if len(args) != 2 or kwargs:
                raise _OdooError('builtins.TypeError', "BaseModel.write() takes 2 positional arguments "
                                 "(ids, vals) and no keyword arguments")
            ids, values = args
            missing = [i for i in ids if i not in loopback.records]
            if missing:
                raise _OdooError('odoo.exceptions.MissingError',
                                 'Record does not exist or has been deleted.\n'
                                 f'(Record: cfed.local.data({", ".join(map(str, missing))},), User: {user[0]})')
            unknown = sorted(set(values) - set(next(iter(loopback.records.values()), values)))
            if unknown:
                raise _OdooError('builtins.ValueError', f'Invalid field {unknown[0]!r} on model '
                                                        "'cfed.local.data'")
            for i in ids:
                loopback.records[i].update(values)
            return True
    raise _OdooError('builtins.AttributeError', f"The method 'cfed.local.data.{name}' does not exist")


def _match(record, term):
    field, op, value = term
    if op != '=':
        raise _OdooError('builtins.ValueError', f'Invalid leaf {term!r} (loopback: only "=")')
    return record.get(field) == value


def _check_behaviour(name):
    if name not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {name!r}; expected one of {', '.join(BEHAVIOURS)}")


class _Handler(BaseHTTPRequestHandler):
    """One request: Odoo's routing and dispatcher checks, then the controller.

    HTTP/1.1 with keep-alive, as Odoo Cloud's front (nginx) speaks it, and no
    Nagle delay on the answer (nginx's ``tcp_nodelay``), so that a client's
    connection pool is exercised as in production.
    """

    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True
    timeout = 30  # a stalled client must not hold a thread forever

    def parse_request(self):
        # Answered ``delay`` after the request line arrived, parsing and handling included (as a
        # remote Odoo with that latency answers), not ``delay`` plus this server's own Python.
        self._due = time.monotonic() + self.server.loopback.delay
        return super().parse_request()

    def do_POST(self):
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_POST

    def log_message(self, format, *args):
        log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self):
        loopback = self.server.loopback
        behaviour = loopback._next_behaviour()
        # Read the body first: closing with unread data makes the client see a reset.
        raw = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if behaviour in _FRONT:
            self._front(behaviour, loopback)
            return
        if urlsplit(self.path).path not in (PATH, RPC_PATH):
            self._html(404, 'Not Found', 'The requested URL was not found on the server.')
            return
        if self.command != 'POST':
            self._html(405, 'Method Not Allowed', 'The method is not allowed for the requested URL.',
                       headers={'Allow': 'POST'})
            return
        mimetype = (self.headers.get('Content-Type') or '').split(';')[0].strip().lower()
        if mimetype not in JSON_MIMETYPES:
            self._text(400, "Request inferred type is compatible with ['http'] "
                            "but 'json' is expected.")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._text(400, 'Invalid JSON data')
            return
        if not isinstance(body, dict):
            self._text(400, 'Invalid JSON-RPC data')
            return
        if urlsplit(self.path).path == RPC_PATH:
            self._rpc(body, loopback)
        else:
            self._controller(behaviour, body, loopback)

    def _rpc(self, body, loopback):
        """Odoo's ``/jsonrpc`` dispatcher: ``common.login|authenticate`` and ``object.execute_kw``."""
        request_id = body.get('id')
        params = body.get('params') if isinstance(body.get('params'), dict) else {}
        service, method, args = params.get('service'), params.get('method'), params.get('args') or []
        try:
            result = _dispatch(loopback, service, method, list(args))
        except _OdooError as error:
            self._json({'jsonrpc': '2.0', 'id': request_id, 'error': {
                'code': 200, 'message': 'Odoo Server Error',
                'data': {'name': error.name, 'message': error.message, 'arguments': [error.message],
                         'context': {}, 'debug': f'Traceback (most recent call last):\n'
                                                 f'{error.name}: {error.message}\n'}}})
            return
        self._json({'jsonrpc': '2.0', 'id': request_id, 'result': result})

    def _front(self, behaviour, loopback):
        if behaviour == 'hang':
            if loopback._pause(loopback.hang_seconds):
                return  # stopping: drop the connection
            self._html(504, 'Gateway Time-out', 'The upstream server did not answer in time.')
        elif behaviour == 'bad_request':
            self._text(400, 'Invalid JSON data')
        elif behaviour == 'not_found':
            self._html(404, 'Not Found', 'The requested URL was not found on the server.')
        elif behaviour == 'unsupported':
            self._html(415, 'Unsupported Media Type', 'The server does not support the media type.')
        else:  # bad_gateway
            self._html(502, 'Bad Gateway', 'nginx')

    def _controller(self, behaviour, body, loopback):
        """The ``/api/sales-summary`` controller, wrapped in Odoo's JSON-RPC response."""
        request_id = body.get('id')
        if behaviour == 'error':
            text = 'simulated server error (loopback)'
            self._json({'jsonrpc': '2.0', 'id': request_id, 'error': {
                'code': 200, 'message': 'Odoo Server Error',
                'data': {'name': 'builtins.Exception',
                         'debug': f'Traceback (most recent call last):\nException: {text}\n',
                         'message': text, 'arguments': [text], 'context': {}}}})
            return
        if behaviour == 'no_result':
            self._json({'jsonrpc': '2.0', 'id': request_id})
            return
        if behaviour == 'failed':
            result = {'status': 'Failed', 'message': 'simulated failure (loopback)'}
        elif loopback.secret and not loopback._signature_ok(body):
            result = {'status': 'Failed', 'message': 'invalid encrypted_sale_num'}
        else:
            local_data_id = loopback._create(body)
            if behaviour == 'success_lost':
                self.close_connection = True
                self._wait_due()
                return  # created, but the answer never leaves
            result = {'local_data_id': local_data_id, 'status': 'Success'}
        self._json({'jsonrpc': '2.0', 'id': request_id, 'result': result})

    def _wait_due(self):
        """Sleep until the answer is due; True if the server is stopping (the answer is dropped)."""
        remaining = self._due - time.monotonic()
        return remaining > 0 and self.server.loopback._pause(remaining)

    def _send(self, code, content_type, payload, headers=None):
        if self._wait_due():
            return
        data = payload.encode('utf-8')
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def _json(self, obj):
        self._send(200, 'application/json', json.dumps(obj))

    def _text(self, code, text):
        self._send(code, 'text/plain; charset=utf-8', text)

    def _html(self, code, title, text, headers=None):
        self._send(code, 'text/html; charset=utf-8',
                   _HTML.format(code=code, title=title, text=text), headers)


def main(argv=None):
    """Serve until interrupted, logging each record created."""
    parser = argparse.ArgumentParser(
        description="Loopback Odoo-compatible receiver (not a real Odoo) for /api/sales-summary.")
    parser.add_argument('--port', type=int, default=8069)
    parser.add_argument('--delay', type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument('--secret', help="check encrypted_sale_num with this shared secret")
    parser.add_argument('--behaviour', choices=BEHAVIOURS, default='success')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    with LoopbackOdoo(port=args.port, secret=args.secret, delay=args.delay) as server:
        server.set_behaviour(args.behaviour)
        print(f"loopback Odoo-compatible receiver (not a real Odoo) listening at {server.url}",
              flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == '__main__':
    main()

"""The intake HTTP API: a lean Pyramid app of its own, separate from the Tailbone UI.

Shops post sale orders here at volume, so the request path carries no session,
template or menu machinery (``bench/ingest.py`` measures it).  Endpoints:

* ``POST /sales/enqueue_sales/``: the existing clients' endpoint, body a sale
  order, a JSON string holding one (double-encoded), or a list; ``202
  {"status": "queued", "job_id", "inbox_id"}``.
* ``POST /sales/enqueue_day_close/``: form-encoded ``retail_point_id``,
  ``close_date`` (default today), ``url`` (ignored: the Odoo endpoint is
  server configuration); ``202 {"status": "queued", "job_id", "date",
  "retail_point_id"}``.
* ``POST /api/fls/sales``: the native endpoint, body one order or a list;
  ``200`` with a result per sale (accepted, duplicate, rejected + errors).
* ``GET /api/fls/schema``: the contract's JSON Schema (token required).
* ``GET /api/fls/health``: 200 when the database answers.

Every endpoint but health authenticates from the ``Authorization`` header
before it reads the body (:mod:`rattail_fls.sales.auth`: 401, or 429 with
``Retry-After``).  Every answer is JSON.  Whatever the input, the answer is a
2xx or a 4xx naming the field and the reason; only the database being
unavailable gives a 5xx (503 with ``Retry-After``).
"""

import gc
import logging
import urllib.parse
import uuid

import sqlalchemy as sa
from pyramid.config import Configurator
from pyramid.response import Response

from rattail_fls.db import faults
from rattail_fls.sales import auth, contract, contract_fast

log = logging.getLogger(__name__)

# The intake core maps models, so it is imported only once the config (and
# with it Continuum versioning) is set up: see main() and make_wsgi_app().
core = None


def answer(http_status, **body):
    return Response(json_body=body, status=http_status, content_type='application/json', charset='utf-8')


#: Seconds a client is asked to wait when the database is unavailable.
RETRY_AFTER = 30
JSON_TYPES = ('application/json', 'text/json')
FORM_TYPE = 'application/x-www-form-urlencoded'


def media_type_refusal(request, accepted):
    """415 unless the body is one of ``accepted`` (or untyped, as old clients send it) in UTF-8."""
    kind = (request.content_type or '').lower()
    charset = (request.charset or 'utf-8').lower()
    if (kind and kind not in accepted and not (kind.endswith('+json') and 'application/json' in accepted)) \
            or charset not in ('utf-8', 'utf8'):
        return answer(415, status='rejected', errors=[contract.error(
            'Content-Type', f"{request.content_type or ''}; charset={charset} is not accepted here: "
                            f"send {' or '.join(accepted)} in UTF-8")])
    return None


def read_body(request, intake):
    """The raw body, or an answer: 411/413 before reading more than the limit."""
    chunked = 'chunked' in (request.headers.get('Transfer-Encoding') or '').lower()
    if request.content_length is None and not chunked:
        return None, answer(411, status='error', error="send the body with a Content-Length header")
    if request.content_length is not None and request.content_length > intake.max_body_bytes:
        return None, answer(413, status='error', error=f"body larger than {intake.max_body_bytes} bytes")
    raw = request.body_file.read(intake.max_body_bytes + 1)
    if len(raw) > intake.max_body_bytes:
        return None, answer(413, status='error', error=f"body larger than {intake.max_body_bytes} bytes")
    return raw, None


def guarded(view, authenticate=True):
    """Map the intake's exceptions to HTTP answers; anything else is logged, never shown.

    With ``authenticate``, the ``Authorization`` header is checked (and the
    token's rate limit applied) before the view reads anything of the body;
    the view finds the sender in ``request.fls_principal``.
    """
    def wrapper(request):
        intake = request.registry.settings['fls_intake']
        try:
            if authenticate:
                request.fls_principal = intake.auth.authenticate(request.headers.get('Authorization'))
            return view(request, intake)
        except auth.Unauthorized as error:
            response = answer(401, status='error', error=str(error))
            response.headers['WWW-Authenticate'] = 'Token'
            return response
        except auth.RateLimited as limited:
            response = answer(429, status='error', error=str(limited))
            response.headers['Retry-After'] = str(limited.retry_after)
            return response
        except core.Forbidden as error:
            return answer(403, status='error', error=str(error))
        except Exception as error:  # noqa: BLE001 - the client gets an id, the log gets the trace
            if faults.is_transient(error):
                log.error("database unavailable: %s", faults.describe(error))
                response = answer(503, status='error', error="temporarily unavailable; retry later")
                response.headers['Retry-After'] = str(RETRY_AFTER)
                return response
            ref = uuid.uuid4().hex[:12]
            log.exception("intake error %s", ref)
            return answer(500, status='error', error=f"internal error (reference {ref})")
    return wrapper


def decode(request, intake):
    """Body -> ``(orders, their texts as sent, as read, None)``
    (:func:`.contract_fast.read_sales`), or ``(None, None, None, answer)`` (the undecodable
    body is kept as rejected)."""
    refused = media_type_refusal(request, JSON_TYPES)
    if not refused:
        raw, refused = read_body(request, intake)
    if refused:
        return None, None, None, refused
    try:
        return *contract_fast.read_sales(raw), None
    except contract.Invalid as invalid:
        inbox_id = intake.keep_undecodable(request.fls_principal, raw, invalid.errors)
        return None, None, None, answer(400, status='rejected', errors=invalid.errors, inbox_id=inbox_id)


@guarded
def enqueue_sales(request, intake):
    orders, texts, read, refused = decode(request, intake)
    if refused:
        return refused
    submission = intake.submit_sales(request.fls_principal, orders, check_stored=len(orders) > 1, texts=texts,
                                     read=read)
    if len(submission.results) != 1:
        return batch_answer(submission)
    result = submission.results[0]
    if result['status'] == core.ACCEPTED:
        return answer(202, status='queued', job_id=submission.job_id, inbox_id=result['inbox_id'])
    if result['status'] == core.DUPLICATE:
        return answer(202, status='duplicate', job_id=None, sale_num=result['sale_num'])
    return answer(422, status='rejected', errors=result['errors'], inbox_id=result['inbox_id'])


@guarded
def submit_batch(request, intake):
    orders, texts, read, refused = decode(request, intake)
    if refused:
        return refused
    if not orders:
        return answer(400, status='rejected', errors=[contract.error('body', 'the list is empty')])
    return batch_answer(intake.submit_sales(request.fls_principal, orders, texts=texts, read=read))


def batch_answer(submission):
    return answer(200, job_id=submission.job_id, accepted=submission.count(core.ACCEPTED),
                  duplicate=submission.count(core.DUPLICATE), rejected=submission.count(core.REJECTED_),
                  results=submission.results)


@guarded
def enqueue_day_close(request, intake):
    """Form-encoded (as the shops send it) or a JSON object."""
    refused = media_type_refusal(request, (FORM_TYPE,) + JSON_TYPES)
    if refused:
        return refused
    raw, refused = read_body(request, intake)
    if refused:
        return refused
    try:
        form = decode_form(raw) if (request.content_type or FORM_TYPE).lower() == FORM_TYPE \
            else contract.decode_body(raw)
    except contract.Invalid as invalid:
        return answer(400, status='rejected', errors=invalid.errors)
    if not isinstance(form, dict):
        return answer(400, status='rejected', errors=[contract.error('body', 'must be an object')])
    try:
        inbox_id, job_id, day_close = intake.submit_day_close(request.fls_principal, form)
    except contract.Invalid as invalid:
        return answer(422, status='rejected', errors=invalid.errors, inbox_id=getattr(invalid, 'inbox_id', None))
    return answer(202, status='queued', job_id=job_id, inbox_id=inbox_id,
                  date=day_close['close_date'].isoformat(), retail_point_id=day_close['retail_point_id'])


def decode_form(raw):
    """A form-encoded body, strictly: UTF-8, each field once (a repeated field is refused, not guessed)."""
    try:
        pairs = urllib.parse.parse_qsl(raw.decode('utf-8'), keep_blank_values=True, strict_parsing=bool(raw),
                                       errors='strict')
    except UnicodeDecodeError as exc:
        raise contract.Invalid([contract.error('body', f'is not UTF-8 text ({exc.reason})')]) from None
    except ValueError as exc:
        raise contract.Invalid([contract.error('body', f'is not a form-encoded body ({exc})')]) from None
    form = {}
    for key, value in pairs:
        if key in form:
            raise contract.Invalid([contract.error(key, 'is given more than once')])
        form[key] = value
    return form


@guarded
def schema(request, intake):
    return answer(200, **contract.schema())


def health(request, intake):
    with intake.engine.connect() as conn:
        conn.execute(sa.text('SELECT 1'))
    return answer(200, status='ok')


health = guarded(health, authenticate=False)


def not_found(request):
    return answer(404, status='error', error=f"no such endpoint: {request.method} {request.path}")


def make_wsgi_app(config):
    """The intake WSGI app for a Rattail ``config``."""
    global core  # pylint: disable=global-statement
    from rattail_fls.sales import intake as core
    settings = {'fls_intake': config.get_app().get_fls_handler().get_intake()}
    pyramid = Configurator(settings=settings)
    for name, path, view, method in [
            ('compat_sales', '/sales/enqueue_sales/', enqueue_sales, 'POST'),
            ('native_sales', '/api/fls/sales', submit_batch, 'POST'),
            ('compat_day_close', '/sales/enqueue_day_close/', enqueue_day_close, 'POST'),
            ('schema', '/api/fls/schema', schema, 'GET'),
            ('health', '/api/fls/health', health, 'GET')]:
        pyramid.add_route(name, path)
        pyramid.add_view(view, route_name=name, request_method=method)
        pyramid.add_view(lambda r, m=method: answer(405, status='error', error=f"use {m}"),
                         route_name=name)
    pyramid.add_notfound_view(not_found)
    return pyramid.make_wsgi_app()


def main(global_config, **settings):
    """``paste.app_factory`` for pserve: ``rattail.config`` names the Rattail config file."""
    from rattail.config import make_config
    path = settings.get('rattail.config') or global_config['__file__']
    app = make_wsgi_app(make_config([path], versioning=True))
    # What start-up made (Rattail's config, SQLAlchemy, Pyramid: some 200,000 objects) lives as
    # long as the process: out of the collector's sight, the full collections a batch request's
    # allocations set off no longer walk it (a quarter of a 500-order request's time).
    gc.freeze()
    return app


def granian_app():
    """The app for granian's ``--factory`` (``rattail_fls.web.intake:granian_app``): ``[app:main]``
    of the paste file that ``FLS_INTAKE_INI`` names (default ``app/intake.conf``), as pserve loads it."""
    import os
    from paste.deploy import loadapp
    path = os.path.abspath(os.environ.get('FLS_INTAKE_INI', 'app/intake.conf'))
    if not os.path.isfile(path):
        raise RuntimeError(f"FLS_INTAKE_INI: no such file {path} (the paste file whose [app:main] "
                           "is the intake, e.g. app/intake.conf from app/intake.conf.example)")
    return loadapp('config:' + path)

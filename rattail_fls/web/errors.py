"""A failed page answers with the app's layout and one clear line, never a bare 500.

Tailbone only registers its (layout-less) error page in production, and
Theo's pages for CORE-POS or Trainwreck fail with a database error when that
back end is missing or down.  This view names the back end the route needs
(:func:`rattail_fls.web.menus.missing_backend`) or the error's first line,
logs the traceback, and keeps the menus so the user can go on.
"""

import logging

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPException
from tailbone.db import Session

from rattail_fls.web.menus import BACKENDS, missing_backend

log = logging.getLogger(__name__)


def error_view(exc, request):
    if isinstance(exc, HTTPException):
        return exc
    log.error("page %s failed", request.path, exc_info=exc)
    Session().rollback()  # a failed transaction cannot read the layout's menus and user
    exc = root_cause(exc)
    route = request.matched_route.name if request.matched_route else ''
    backend = missing_backend(request.rattail_config, route) or backend_of(route, exc)
    request.response.status_int = 500
    return {
        'error_title': "This page could not be shown",
        'error_message': one_line(exc),
        'backend': backend,
    }


def root_cause(exc):
    """The database error behind a template's rendering error, else ``exc`` itself."""
    seen = exc
    while seen is not None:
        if isinstance(seen, sa.exc.SQLAlchemyError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def backend_of(route, exc):
    """The back end a route's configured database error is about (unreachable or not set up)."""
    if isinstance(exc, (sa.exc.DBAPIError, sa.exc.UnboundExecutionError)):
        for prefix, need, description in BACKENDS:
            if route.startswith(prefix):
                return description
    return None


def one_line(exc):
    """The error's first line, without SQLAlchemy's statement and background link (or, for a
    template's error, which carries its traceback as text, the last line)."""
    text = [line for line in str(getattr(exc, 'orig', None) or exc).strip().splitlines() if line.strip()]
    if text and text[0].startswith('Traceback'):
        return text[-1][:500]
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def add_error_view(config):
    """Called by the app factory on the root configurator, so it overrides Tailbone's."""
    config.add_exception_view(error_view, context=Exception, renderer='/fls/error.mako')

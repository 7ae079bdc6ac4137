"""Auth handler that lets Tailbone 0.23 talk to WuttJamaican 0.33.

Tailbone's role and user pages still pass ``include_anonymous`` to
``has_permission()`` / ``get_permissions()``; WuttJamaican renamed it
``include_anyone`` and rattail 0.21 only translates the older
``include_guest``, so those pages were a TypeError.  The config extension
makes this the default ``rattail.auth.handler``.
"""

from rattail.auth import RattailAuthHandler


class FlsAuthHandler(RattailAuthHandler):
    """rattail's handler, accepting Tailbone's ``include_anonymous`` spelling."""

    def get_permissions(self, *args, **kwargs):
        return super().get_permissions(*args, **_anyone(kwargs))

    def has_permission(self, *args, **kwargs):
        return super().has_permission(*args, **_anyone(kwargs))


def _anyone(kwargs):
    if 'include_anonymous' in kwargs:
        kwargs.setdefault('include_anyone', kwargs.pop('include_anonymous'))
    return kwargs

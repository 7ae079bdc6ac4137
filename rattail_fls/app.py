"""App provider and service layer: ``app.get_fls_handler()`` builds every service of the plugin.

Jobs, commands, importers and views ask the handler for the intake, the
processor, the closer, the pusher and the Odoo client; none constructs them
itself.  Each is made from a ``[rattail_fls] <service>.spec`` setting with the
plugin's class as default (as rattail-corepos builds its ``CoreHandler``), so a
deployment can replace one by configuration.  The services are wired here: the
intake is given the notifier that queues work, the processor the intake, the
day-close requests the closer, so ``sales``, ``summaries`` and ``queue`` never
import each other.
"""

from rattail.app import GenericHandler, RattailProvider

from rattail_fls.config import SERVICE_SPECS

class FlsProvider(RattailProvider):
    """Adds ``get_fls_handler()`` to the Rattail app handler."""

    def get_fls_handler(self):
        if not hasattr(self, 'fls_handler'):
            spec = self.config.get('rattail_fls.handler', usedb=False,
                                   default='rattail_fls.app:FlsHandler')
            self.fls_handler = self.app.load_object(spec)(self.config)
        return self.fls_handler


class FlsHandler(GenericHandler):
    """Per-process entry point to the plugin's services (long-lived ones made lazily, once)."""

    def _spec(self, service):
        return self.app.load_object(self.config.get(f'rattail_fls.{service}.spec', usedb=False,
                                                    default=SERVICE_SPECS[service]))

    def _once(self, service, *args):
        cache = self.__dict__.setdefault('_services', {})
        if service not in cache:
            cache[service] = self._spec(service)(self.config, *args)
        return cache[service]

    @property
    def shards(self):
        """The :class:`~rattail_fls.db.shards.ShardRouter` for this config."""
        if not hasattr(self, '_shards'):
            from rattail_fls.db.shards import ShardRouter
            self._shards = ShardRouter(self.config)
        return self._shards

    def get_notifier(self):
        """Hands work to the workers (Redis/RQ by default)."""
        return self._once('notifier')

    def get_intake(self):
        """The door: authentication, the contract, the inbox (one per process)."""
        return self._once('intake', self.get_notifier())

    def get_processor(self):
        """Writes pending sales into the shards (one per process: it caches partitions)."""
        return self._once('processor', self.get_intake())

    def get_closer(self):
        """Closes business days into summaries."""
        return self._once('closer')

    def get_day_close_requests(self):
        """Processes the day closes shops asked for."""
        return self._once('day_close_requests', self.get_closer(), self.get_notifier())

    def make_odoo_client(self):
        """A new Odoo Cloud client (each pusher thread holds its own)."""
        return self._spec('odoo_client')(self.config)

    def make_pusher(self, **kwargs):
        """A new pusher (a context manager holding connections and clients)."""
        kwargs.setdefault('client_factory', self._spec('odoo_client'))
        return self._spec('pusher')(self.config, **kwargs)

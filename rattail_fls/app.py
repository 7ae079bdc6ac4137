"""App provider: ``app.get_fls_handler()``, the one place to reach shards and queues."""

from rattail.app import GenericHandler, RattailProvider


class FlsProvider(RattailProvider):
    """Adds ``get_fls_handler()`` to the Rattail app handler."""

    def get_fls_handler(self):
        if not hasattr(self, 'fls_handler'):
            spec = self.config.get('rattail_fls.handler', usedb=False,
                                   default='rattail_fls.app:FlsHandler')
            self.fls_handler = self.app.load_object(spec)(self.config)
        return self.fls_handler


class FlsHandler(GenericHandler):
    """Per-process entry point to the plugin's shared resources (created lazily, once)."""

    @property
    def shards(self):
        """The :class:`~rattail_fls.db.shards.ShardRouter` for this config."""
        if not hasattr(self, '_shards'):
            from rattail_fls.db.shards import ShardRouter
            self._shards = ShardRouter(self.config)
        return self._shards

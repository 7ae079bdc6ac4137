"""Version capture (``rattail import-versions``) for Theo with CORE-POS plus the plugin's models."""

import logging

from rattail.importing.versions import VersionImporter
from theo.importing.versions_corepos import FromTheoToTheoVersions as TheoVersions

log = logging.getLogger(__name__)


class FlsVersionMixin:
    """Adds a version importer per versioned plugin model, like ``CoreposVersionMixin``."""

    def add_fls_importers(self, importers):
        importers['FlsRetailPoint'] = FlsRetailPointImporter
        return importers


class FlsRetailPointImporter(VersionImporter):

    @property
    def host_model_class(self):
        return self.model.FlsRetailPoint


class FromTheoToTheoVersions(TheoVersions, FlsVersionMixin):
    """Theo's CORE-POS versions handler plus the plugin's models; a run with nothing to
    capture leaves no transaction behind.

    Designated in ``app/rattail.conf`` as
    ``[rattail.importing] to_rattail_versions.from_rattail.import.handler``.
    """

    def get_importers(self):
        return self.add_fls_importers(super().get_importers())

    def begin_local_transaction(self):
        self.captured = False
        super().begin_local_transaction()

    def process_changes(self, changes):
        self.captured = True
        super().process_changes(changes)

    def commit_transaction(self):
        """Commit what was captured; with nothing to capture, write no transaction at all
        (rattail would commit an empty one carrying the comment)."""
        if not self.captured:
            log.info("no versions to capture: nothing written")
            self.rollback_transaction()
            return
        super().commit_transaction()

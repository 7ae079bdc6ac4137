"""Version capture (``rattail import-versions``) for Theo with CORE-POS plus the plugin's models."""

from rattail.importing.versions import VersionImporter
from theo.importing.versions_corepos import FromTheoToTheoVersions as TheoVersions


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
    """Theo's CORE-POS versions handler plus the plugin's models.

    Designated in ``app/rattail.conf`` as
    ``[rattail.importing] to_rattail_versions.from_rattail.import.handler``.
    """

    def get_importers(self):
        return self.add_fls_importers(super().get_importers())

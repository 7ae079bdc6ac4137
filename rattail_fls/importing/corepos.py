"""``rattail import-corepos-api`` for Theo with the plugin: rattail-corepos's import, extended.

:class:`FromCorePosToTheo` is designated for the key
``to_rattail.from_corepos_api.import`` (see ``rattail_fls.config``).  It runs
every importer of rattail-corepos's ``FromCOREPOSToRattail`` unchanged, plus
``FlsRetailPoint`` right after ``Store``, each with :class:`CorePosPolicy` in
front (bad records skipped, safe deletions), and finds products without a
query each (:class:`ProductLookup`).
"""

import functools
from collections import OrderedDict

from rattail_corepos.importing.corepos.api import FromCOREPOSToRattail

from rattail_fls.config import ConfigError, get_number
from rattail_fls.importing.corepos_policy import CorePosPolicy, DeletionsRefused
from rattail_fls.importing.retail_points import RetailPointImporter


class ProductLookup:
    """Finds the Theo product of a CORE product without a query per product.

    rattail-corepos matches a CORE product by ``corepos_id`` from a cache, and
    failing that (every product of a first import) runs one query by
    ``item_id`` for products not linked to CORE yet, an autoflush each: 20,000
    queries for a 20,000-product bulk load.  This reads those unlinked products
    once in ``setup()``; the match is the same.
    """

    def setup(self):
        super().setup()
        model = self.model
        query = self.session.query(model.Product).outerjoin(model.CoreProduct)\
                            .filter(model.CoreProduct.corepos_id == None)  # noqa: E711
        self.unlinked_by_item_id = {}
        for product in query:
            self.unlinked_by_item_id.setdefault(product.item_id, product)

    def identify_product(self, corepos_product):
        if not hasattr(self, 'unlinked_by_item_id'):      # datasync: no setup()
            return super().identify_product(corepos_product)
        return (self.core_existing.get(int(corepos_product['id']))
                or self.unlinked_by_item_id.get(corepos_product['upc']))


#: Importer key -> mixins the plugin adds for that model only.
EXTRA_MIXINS = {'Product': (ProductLookup,)}


@functools.lru_cache(maxsize=None)
def with_policy(importer_class, extra=()):
    """``importer_class`` with :class:`CorePosPolicy` (and ``extra`` mixins) in front;
    one class per input."""
    return type(importer_class.__name__, (CorePosPolicy, *extra, importer_class),
                {'__module__': __name__, '__doc__': importer_class.__doc__})


class FromCorePosToTheo(FromCOREPOSToRattail):
    """CORE-POS API -> Theo: every rattail-corepos model, plus the plugin's retail points."""

    #: from ``--force-delete``: apply deletions the guard would refuse
    force_delete = False

    def get_importers(self):
        importers = OrderedDict()
        for key, importer in super().get_importers().items():
            importers[key] = with_policy(importer, EXTRA_MIXINS.get(key, ()))
            if key == 'Store':
                importers['FlsRetailPoint'] = with_policy(RetailPointImporter)
        return importers

    def setup(self):
        super().setup()
        self.max_delete_fraction = get_number(self.config, 'corepos.max_delete_fraction', float, 0)
        if self.max_delete_fraction > 1:
            raise ConfigError("[rattail_fls] corepos.max_delete_fraction must be between 0 and 1, "
                              f"not {self.max_delete_fraction:g}")
        #: why deletions were held back, one line per model
        self.refused_deletions = []

    def import_data(self, *keys, **kwargs):
        """Import (and commit); then raise :class:`DeletionsRefused` if the guard held any back."""
        changes = super().import_data(*keys, **kwargs)
        if self.refused_deletions:
            raise DeletionsRefused(self.refused_deletions)
        return changes

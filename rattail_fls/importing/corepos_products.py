"""CORE-POS products as Theo products: one per UPC, found without a query each.

A Theo product is one UPC (``item_id``).  CORE-POS can hold rows that do not
map onto that: a NULL ``upc``, or several rows with one UPC (CORE has no
unique index on ``products.upc``, and in HQ mode it keeps a row per store).
rattail-corepos drops those rows before anyone sees them (a NULL UPC without
a word), and with ``--delete`` their Theo products would then be flagged
deleted although CORE still has them.  :class:`ProductRows` reads them
itself: each dropped row is reported at WARNING, counted as "could not be
read" (the deletion guard then holds back product deletions, see
``corepos_policy``), and the Theo products of those rows are never deletion
candidates.
"""

import logging

from rattail_fls.importing.corepos_policy import render_record

log = logging.getLogger(__name__)

NO_UPC = "without a UPC"
SAME_UPC = "with the UPC of an earlier row (duplicate, or another store's row in HQ mode)"


def core_id(row):
    """A CORE product row's ``id`` as an int (None if CORE left it out)."""
    value = row.get('id')
    return int(value) if value is not None else None


class ProductRows:
    """The rows of CORE's ``products`` that become Theo products, the ones that cannot,
    and a lookup of their Theo products without a query per product.

    rattail-corepos matches a CORE product by ``corepos_id`` from a cache, and
    failing that (every product of a first import) runs one query by
    ``item_id`` for products not linked to CORE yet, an autoflush each: 20,000
    queries for a 20,000-product bulk load.  This reads those unlinked
    products once in ``setup()``.  A UPC with several CORE rows also matches
    the Theo product linked to any of them, so that the row kept changing
    (another store's row, a duplicate deleted) never makes a second product.
    """

    def setup(self):
        super().setup()
        model = self.model
        query = self.session.query(model.Product).outerjoin(model.CoreProduct)\
                            .filter(model.CoreProduct.corepos_id == None)  # noqa: E711
        self.unlinked_by_item_id = {}
        for product in query:
            self.unlinked_by_item_id.setdefault(product.item_id, product)
        #: CORE ids of the rows dropped for their UPC; their Theo products stay
        self.dropped_ids = set()
        #: UPC -> CORE ids of its rows after the first
        self.other_ids = {}

    def get_host_objects(self):
        kept = {}

        def collect(row, i):
            upc = row.get('upc')
            if upc and upc not in kept:
                kept[upc] = row
                return
            reason = SAME_UPC if upc else NO_UPC
            self.dropped_ids.add(core_id(row))
            if upc:
                self.other_ids.setdefault(upc, []).append(core_id(row))
            self.unread_keys += 1
            self.handler.note_unread(self.model_name, reason)
            first = f" (id {kept[upc].get('id')} is imported)" if upc else ""
            log.warning("Product: CORE-POS product id %s %s%s: not imported, and its Theo "
                        "product, if any, is kept: %s", row.get('id'), reason, first,
                        render_record(row))

        self.progress_loop(collect, self.api.get_products(),
                           message="Fetching product info from CORE-POS")
        return list(kept.values())

    def identify_product(self, corepos_product):
        if not hasattr(self, 'unlinked_by_item_id'):      # datasync: no setup()
            return super().identify_product(corepos_product)
        upc = corepos_product['upc']
        for corepos_id in (int(corepos_product['id']), *self.other_ids.get(upc, ())):
            product = self.core_existing.get(corepos_id)
            if product:
                return product
        return self.unlinked_by_item_id.get(upc)

    def kept_in_core(self, product, data):
        return product.corepos_id in self.dropped_ids

"""CORE-POS Stores -> the plugin's retail points, each given a shard.

A shop is a *store* in CORE-POS and a *retail point* in Odoo, whose
``retail_point_id`` routes its sales.  ``[rattail_fls] corepos.store_map``
(``"1:101, 2:102"``) says which Odoo retail point each CORE ``storeID`` is.  A
store not in the map becomes retail point ``storeID`` itself
(``corepos.unmapped_stores = identity``, the default, so a new shop appears
without a config change) or is left out (``skip``).  A new retail point, or
one without a shard, is assigned one by the shard policy, as ``fls-shards
assign`` would.
"""

import logging

from rattail.importing.model import ToRattail
from rattail_corepos.importing.corepos.api import FromCOREPOSAPI

from rattail_fls.config import ConfigError, get_choice, get_setting

log = logging.getLogger(__name__)

UNMAPPED_CHOICES = ('identity', 'skip')


def parse_store_map(text):
    """``{store_id: retail_point_id}`` from ``"1:101, 2:102"``; ConfigError naming the entry."""
    mapping = {}
    for entry in (text or '').replace(',', ' ').split():
        store, sep, point = entry.partition(':')
        if not (sep and store.isdigit() and point.isdigit()):
            raise ConfigError(f"[rattail_fls] corepos.store_map: {entry!r} is not "
                              "CORE_STORE_ID:RETAIL_POINT_ID (e.g. 1:101)")
        store, point = int(store), int(point)
        if store in mapping:
            raise ConfigError(f"[rattail_fls] corepos.store_map maps CORE store {store} twice")
        if point in mapping.values():
            raise ConfigError(f"[rattail_fls] corepos.store_map maps two CORE stores to "
                              f"retail point {point}")
        mapping[store] = point
    return mapping


class RetailPointImporter(FromCOREPOSAPI, ToRattail):
    """Retail points from CORE-POS ``Stores``: id by the store map, name = description,
    linked to the rattail Store of that CORE store."""

    key = 'retail_point_id'
    supported_fields = ['retail_point_id', 'name', 'store_uuid', 'active']

    def get_model_class(self):
        return self.model.FlsRetailPoint

    def setup(self):
        super().setup()
        model = self.model
        self.store_map = parse_store_map(get_setting(self.config, 'corepos.store_map'))
        self.unmapped = get_choice(self.config, 'corepos.unmapped_stores', UNMAPPED_CHOICES)
        #: retail_point_id -> CORE storeID, of the stores read in this run
        self.claimed = {}
        query = self.session.query(model.Store).join(model.CoreStore)\
                            .filter(model.CoreStore.corepos_id != None)  # noqa: E711
        self.stores = self.app.cache_model(self.session, model.Store, key='corepos_id', query=query)

    def get_host_objects(self):
        return self.api.get_stores()

    def normalize_host_object(self, store):
        store_id = int(store['storeID'])
        point_id = self.store_map.get(store_id)
        if point_id is None:
            if self.unmapped == 'skip':
                log.info("CORE store %s is not in [rattail_fls] corepos.store_map: skipped", store_id)
                return None
            point_id = store_id
        other = self.claimed.setdefault(point_id, store_id)
        if other != store_id:
            raise ConfigError(f"[rattail_fls] corepos.store_map: CORE stores {other} and {store_id} "
                              f"would both be retail point {point_id} (an unmapped store keeps "
                              "its own id); map them to different retail points")
        rattail_store = self.stores.get(store_id)
        return {
            'retail_point_id': point_id,
            'name': (store.get('description') or '').strip() or f"CORE-POS store {store_id}",
            'store_uuid': rattail_store.uuid if rattail_store else None,
            'active': True,
        }

    def can_delete_object(self, point, data):
        """Only retail points of CORE stores are CORE-POS's to retire."""
        return bool(point.store and point.store.corepos_id is not None)

    def create_object(self, key, data):
        """A new retail point, given its shard before its first flush: Continuum then records
        one INSERT version (a shard set by a later flush of the same transaction turns that
        version into an UPDATE)."""
        point = super().create_object(key, data)
        if point is not None and point.active:
            with self.session.no_autoflush:
                self.assign(point)
        return point

    def import_data(self, *args, **kwargs):
        result = super().import_data(*args, **kwargs)
        self.assign_shards()
        return result

    def assign_shards(self):
        """Give each active retail point of this run that has no shard yet one, by policy."""
        model = self.model
        if not self.claimed:
            return
        points = self.session.query(model.FlsRetailPoint)\
                             .filter(model.FlsRetailPoint.retail_point_id.in_(list(self.claimed)))\
                             .filter(model.FlsRetailPoint.shard_uuid == None)  # noqa: E711
        for point in points.filter(model.FlsRetailPoint.active == True).all():  # noqa: E712
            self.assign(point)

    def assign(self, point):
        """Assign ``point`` a shard by policy; without usable shards, warn once and leave it."""
        if getattr(self, 'shards_unusable', False):
            return
        try:
            shard = self.app.get_fls_handler().shards.assign(self.session, point)
        except ConfigError as error:
            self.shards_unusable = True
            log.warning("retail points without a shard remain (assign them with `rattail "
                        "fls-shards assign`): %s", error)
            return
        log.info("retail point %s assigned to shard %s", point.retail_point_id, shard.name)

"""The CORE-POS API importers the plugin runs: rattail-corepos's, each with
:class:`CorePosPolicy` in front, plus what a model needs of its own.

One class per importer key of rattail-corepos's ``FromCOREPOSToRattail``
(:data:`IMPORTERS`, in its order) plus the plugin's retail points; the
handler (``rattail_fls.importing.corepos``) designates them.
"""

from collections import OrderedDict

from rattail_corepos.importing.corepos import api
from sqlalchemy import orm

from rattail_fls.importing.corepos_placeholders import AdoptPlaceholders
from rattail_fls.importing.corepos_policy import CorePosPolicy
from rattail_fls.importing.corepos_products import ProductRows
from rattail_fls.importing.retail_points import RetailPointImporter


class CardsKeptInCore:
    """Members, customers and shoppers of a card CORE could not answer for
    (``handler.unread_cards``) are never deletion candidates."""

    def card_number(self, obj):
        return obj.corepos_card_number

    def kept_in_core(self, obj, data):
        return self.card_number(obj) in self.handler.unread_cards


class CustomerImporter(CardsKeptInCore, CorePosPolicy, api.CustomerImporter):
    """Customers; one deleted in CORE is made inactive (``active_in_pos``), and so are its
    shoppers, instead of deleting it and, by cascade, them."""

    def delete_object(self, customer):
        for shopper in customer.shoppers:
            shopper.active = False
        return super().delete_object(customer)


class CustomerShopperImporter(CardsKeptInCore, CorePosPolicy, api.CustomerShopperImporter):
    __doc__ = api.CustomerShopperImporter.__doc__

    def card_number(self, shopper):
        return shopper.customer.corepos_card_number


class MembershipTypeImporter(CorePosPolicy, api.MembershipTypeImporter):
    __doc__ = api.MembershipTypeImporter.__doc__


class MemberImporter(CardsKeptInCore, CorePosPolicy, api.MemberImporter):
    __doc__ = api.MemberImporter.__doc__


class EmployeeImporter(CorePosPolicy, api.EmployeeImporter):
    __doc__ = api.EmployeeImporter.__doc__


class StoreImporter(CorePosPolicy, api.StoreImporter):
    __doc__ = api.StoreImporter.__doc__


class FlsRetailPointImporter(CorePosPolicy, RetailPointImporter):
    __doc__ = RetailPointImporter.__doc__


class DepartmentImporter(AdoptPlaceholders, CorePosPolicy, api.DepartmentImporter):
    """Departments; a placeholder rattail made up for a product becomes the CORE one."""

    referrers = (('Product', 'department'), ('Subdepartment', 'department'))


class SubdepartmentImporter(AdoptPlaceholders, CorePosPolicy, api.SubdepartmentImporter):
    """Subdepartments; a placeholder rattail made up for a product becomes the CORE one."""

    referrers = (('Product', 'subdepartment'),)


class VendorImporter(CorePosPolicy, api.VendorImporter):
    __doc__ = api.VendorImporter.__doc__


class ProductImporter(ProductRows, CorePosPolicy, api.ProductImporter):
    """Products: one per UPC, rows that cannot be one reported and kept (``ProductRows``)."""


class ProductCostImporter(CorePosPolicy, api.ProductCostImporter):
    """rattail-corepos's, with every product's costs loaded up front.

    Placing a cost (``preferred``) reads ``product.costs``: without this, one
    SELECT per product, a fifth of a bulk load's time.
    """

    def setup(self):
        super().setup()
        model = self.app.model
        # the products are in the session already (the cache by item id): this fills their costs
        self.session.query(model.Product).options(orm.selectinload(model.Product.costs)).all()


class ProductMovementImporter(CorePosPolicy, api.ProductMovementImporter):
    __doc__ = api.ProductMovementImporter.__doc__


#: Importer key -> class, in rattail-corepos's order, retail points right after stores.
IMPORTERS = OrderedDict([
    ('Customer', CustomerImporter),
    ('CustomerShopper', CustomerShopperImporter),
    ('MembershipType', MembershipTypeImporter),
    ('Member', MemberImporter),
    ('Employee', EmployeeImporter),
    ('Store', StoreImporter),
    ('FlsRetailPoint', FlsRetailPointImporter),
    ('Department', DepartmentImporter),
    ('Subdepartment', SubdepartmentImporter),
    ('Vendor', VendorImporter),
    ('Product', ProductImporter),
    ('ProductCost', ProductCostImporter),
    ('ProductMovement', ProductMovementImporter),
])

"""The app model for Theo with CORE-POS and this plugin (``[rattail] model_spec``)."""

# pylint: disable=wildcard-import,unused-wildcard-import
from theo.db.model_corepos import *
from rattail_fls.db.model.shards import *
from rattail_fls.db.model.retail_points import *
from rattail_fls.db.model.inbox import *
from rattail_fls.db.model.tokens import *
from rattail_fls.db.model.business_days import *
from rattail_fls.db.model.summaries import *
from rattail_fls.db.model.moves import *

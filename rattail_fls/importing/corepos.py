"""``rattail import-corepos-api`` for Theo with the plugin: rattail-corepos's import, extended.

:class:`FromCorePosToTheo` is designated for the key
``to_rattail.from_corepos_api.import`` (see ``rattail_fls.config``).  It runs
every importer of rattail-corepos's ``FromCOREPOSToRattail`` plus
``FlsRetailPoint`` right after ``Store``, each with ``CorePosPolicy`` in
front (``rattail_fls.importing.corepos_importers``); asks CORE for each
member card once (``corepos_members``); and keeps what the run changed,
could not read and repaired for its summary (:meth:`summary`), which the
command prints.
"""

from collections import Counter, OrderedDict

from rattail_corepos.importing.corepos.api import FromCOREPOSToRattail

from rattail_fls.config import ConfigError, get_number
from rattail_fls.importing.corepos_importers import IMPORTERS
from rattail_fls.importing.corepos_members import fetch_members
from rattail_fls.importing.corepos_policy import DeletionsRefused

#: How many card numbers the summary names.
CARDS_SHOWN = 10


class FromCorePosToTheo(FromCOREPOSToRattail):
    """CORE-POS API -> Theo: every rattail-corepos model, plus the plugin's retail points."""

    #: from ``--force-delete``: apply deletions the guard would refuse
    force_delete = False

    def get_importers(self):
        keys = list(super().get_importers())
        keys.insert(keys.index('Store') + 1, 'FlsRetailPoint')
        missing = [key for key in keys if key not in IMPORTERS]
        if missing:
            raise ConfigError(f"rattail-corepos has importers the plugin does not know: "
                              f"{', '.join(missing)}; add them to "
                              "rattail_fls.importing.corepos_importers.IMPORTERS")
        return OrderedDict((key, IMPORTERS[key]) for key in keys)

    def setup(self):
        super().setup()
        self.max_delete_fraction = get_number(self.config, 'corepos.max_delete_fraction', float, 0)
        if self.max_delete_fraction > 1:
            raise ConfigError("[rattail_fls] corepos.max_delete_fraction must be between 0 and 1, "
                              f"not {self.max_delete_fraction:g}")
        #: why deletions were held back, one line per model
        self.refused_deletions = []
        #: model -> Counter of reasons -> records that could not be read
        self.unread = OrderedDict()
        #: model -> Counter of repairs made to Theo
        self.repairs = OrderedDict()
        #: card number -> person numbers, of the cards FannieMember answered false for
        self.unread_cards = {}
        self.changes = OrderedDict()

    def note_unread(self, model, reason, count=1):
        self.unread.setdefault(model, Counter())[reason] += count

    def note_repair(self, model, repair, count=1):
        self.repairs.setdefault(model, Counter())[repair] += count

    def get_core_members(self, api, progress=None):
        """Each custdata card's account, asked once per card (see ``corepos_members``)."""
        if not hasattr(self, 'cached_core_members'):
            self.cached_core_members, self.unread_cards = fetch_members(self.config, api, progress)
        return self.cached_core_members

    def import_data(self, *keys, **kwargs):
        """Import (and commit); then raise :class:`DeletionsRefused` if the guard held any back."""
        self.changes = super().import_data(*keys, **kwargs)
        if self.refused_deletions:
            raise DeletionsRefused(self.refused_deletions)
        return self.changes

    def summary(self):
        """What the run did, for the operator (see :func:`summarize`)."""
        return summarize(self.changes, self.unread_cards, self.unread, self.repairs)


def summarize(changes, unread_cards, unread, repairs):
    """Summary lines of a run: one per changed model (``changes``: key -> created, updated,
    deleted), then the cards CORE answered false for, what could not be read and what was
    repaired (model -> Counter)."""
    lines = [f"{key}: {len(created)} added, {len(updated)} updated, {len(deleted)} deleted"
             for key, (created, updated, deleted) in changes.items()] or ["no changes"]
    if unread_cards:
        cards = sorted(unread_cards)
        shown = ', '.join(str(card) for card in cards[:CARDS_SHOWN])
        more = f" and {len(cards) - CARDS_SHOWN} more" if len(cards) > CARDS_SHOWN else ""
        lines.append(f"Customer, CustomerShopper, Member: {len(cards)} member card(s) could "
                     f"not be read (FannieMember answers false; no person number 1 in "
                     f"custdata): {shown}{more}; kept as they are in Theo")
    for model, reasons in unread.items():
        detail = '; '.join(f"{count} {reason}" for reason, count in reasons.items())
        lines.append(f"{model}: {sum(reasons.values())} CORE-POS record(s) could not be "
                     f"read: {detail}")
    for model, done in repairs.items():
        lines.append(f"{model}: " + '; '.join(f"{count} {repair}" for repair, count in done.items()))
    return lines

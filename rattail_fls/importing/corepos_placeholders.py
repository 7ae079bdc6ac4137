"""Departments and subdepartments that rattail made up, adopted when CORE-POS sends the real one.

A product pointing at a department or subdepartment CORE does not have makes
rattail's product importer create one named ``(auto-created)`` (and its
subdepartment importer a nameless department), not linked to CORE.  When CORE
later has the real record, rattail-corepos matches by ``corepos_number`` only,
so Theo would get a second record of the same number, the products would stay
on the placeholder and every nightly would warn about duplicated cache keys.
:class:`AdoptPlaceholders` makes a Theo record of that number not linked to
CORE (a placeholder, or one entered in Theo) the CORE record instead (an
update, with its version row), as the plugin links a Theo product to its CORE
product by UPC.  A Theo that already has both a placeholder and the CORE
record is repaired: the placeholder's products and subdepartments move to the
CORE record and the placeholder is deleted.  Records not linked to CORE stay
out of the importer's cache, whose key they all share (no CORE number).
"""

import logging

log = logging.getLogger(__name__)

#: The name rattail's product importer gives what it makes up.
PLACEHOLDER_NAME = '(auto-created)'


class AdoptPlaceholders:
    """For an importer keyed by ``corepos_number`` of a model with a ``number``."""

    #: ``(model name, attribute)`` of what refers to a record of this model
    referrers = ()

    def setup(self):
        super().setup()
        model_class = self.model_class
        linked, self.placeholders = {}, {}
        query = self.session.query(model_class).filter(model_class.number != None)  # noqa: E711
        for record in query:
            if record.corepos_number is not None:
                linked.setdefault(record.number, record)
            else:
                self.placeholders.setdefault(record.number, []).append(record)
        for number in sorted(set(linked) & set(self.placeholders)):
            for record in self.placeholders.pop(number):
                if record.name in (PLACEHOLDER_NAME, None):
                    self.merge(record, linked[number])

    def cache_query(self):
        return super().cache_query().filter(self.model_class.corepos_number != None)  # noqa: E711

    def merge(self, placeholder, real):
        """Move what refers to ``placeholder`` to ``real``, then delete ``placeholder``."""
        moved = 0
        for model_name, attribute in self.referrers:
            referrer = getattr(self.model, model_name)
            query = self.session.query(referrer)\
                                .filter(getattr(referrer, f'{attribute}_uuid') == placeholder.uuid)
            for record in query:
                setattr(record, attribute, real)
                moved += 1
        self.session.delete(placeholder)
        self.session.flush()
        self.handler.note_repair(self.model_name, f"placeholder(s) merged into the CORE-POS "
                                 "record of the same number")
        log.warning("%s %s: the placeholder %r was merged into the CORE-POS record "
                    "(%d record(s) moved to it)", self.model_name, real.number,
                    placeholder.name, moved)

    def get_local_object(self, key):
        record = super().get_local_object(key)
        if record is None and self.placeholders.get(key[0]):
            record = self.placeholders[key[0]].pop(0)
            self.handler.note_repair(self.model_name, "record(s) not from CORE-POS (placeholders "
                                     "rattail made up) adopted as the CORE-POS record")
            log.info("%s %s: the Theo record %r becomes the CORE-POS record",
                     self.model_name, key[0], record.name)
        return record

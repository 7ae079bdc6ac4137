"""What the plugin adds to every CORE-POS API importer: bad records skipped, safe deletions.

rattail-corepos's importers stop the whole run on one record they cannot
read (a vendor whose NULL ``discountRate`` CORE left out, a member without
customers...), and with ``--delete`` they delete whatever an incomplete
answer left out.  :class:`CorePosPolicy` is mixed in front of each of them
(and of the plugin's own) by the import handler, so stock and plugin models
follow the same rules:

* a record that fails normalization is logged (passwords left out) and skipped;
* ``--delete`` only touches records that came from CORE-POS, marks them
  deleted/inactive where rattail's model has a flag for it (:data:`SOFT_DELETES`)
  and deletes the rest; a record an importer knows CORE still has but could not
  import (:meth:`CorePosPolicy.kept_in_core`) is never deleted, forced or not;
* deletions are refused for a model when more than
  ``[rattail_fls] corepos.max_delete_fraction`` of its CORE-POS records would go,
  or when some of its CORE-POS records could not be read this run (undecodable,
  failing normalization, or dropped for a bad key: :attr:`unread_keys`), unless
  forced (``--force-delete``).

Every importer reports what it could not read to the handler
(``handler.note_unread``), which prints it in the run's summary.
"""

import logging
from dataclasses import dataclass

from rattail import enum

from rattail_fls.config import ConfigError

log = logging.getLogger(__name__)

#: Errors that mean "this one record is bad", not "the run is broken".
BAD_RECORD_ERRORS = (KeyError, ValueError, TypeError, ArithmeticError, NotImplementedError)

#: Longest rendering of a bad record in the log.
RECORD_LOG_CHARS = 300


@dataclass(frozen=True)
class SoftDelete:
    """A model deleted by setting ``field`` to ``deleted``.  ``alive``, when set, is written
    on every imported record so that one coming back in CORE-POS is revived."""

    field: str
    deleted: object
    alive: object = None


#: By model class name: how records deleted in CORE-POS are kept in Theo.  Others are deleted.
SOFT_DELETES = {
    'Product': SoftDelete('deleted', True, alive=False),
    'Store': SoftDelete('archived', True, alive=False),
    'Employee': SoftDelete('status', enum.EMPLOYEE_STATUS_FORMER),
    'Customer': SoftDelete('active_in_pos', False, alive=True),
    'Member': SoftDelete('active', False),
    'CustomerShopper': SoftDelete('active', False),
    'FlsRetailPoint': SoftDelete('active', False),
}


class DeletionsRefused(RuntimeError):
    """Deletions were held back for some models; everything else was committed."""

    def __init__(self, reasons):
        self.reasons = list(reasons)
        super().__init__(
            "deletions refused (all other changes were committed):\n  "
            + "\n  ".join(self.reasons)
            + "\nCheck CORE-POS; if these records really were deleted there, run the import "
              "again with --delete --force-delete.")


def render_record(record):
    """A host record for the log: password fields left out, cut to a readable length."""
    if isinstance(record, dict):
        record = {k: v for k, v in record.items() if 'password' not in str(k).lower()}
    text = repr(record)
    return text if len(text) <= RECORD_LOG_CHARS else text[:RECORD_LOG_CHARS] + '...'


def describe_error(error, brief=False):
    """Why a record could not be read; ``brief``: without the record's values."""
    if isinstance(error, KeyError):
        return f"field {error} is missing (NULL in CORE-POS)"
    return type(error).__name__ if brief else f"{type(error).__name__}: {error}"


class CorePosPolicy:
    """Mixed in before each CORE-POS API importer class (``corepos_importers``).

    Reads ``handler.force_delete``, ``handler.max_delete_fraction``, appends
    to ``handler.refused_deletions`` and reports to ``handler.note_unread``.
    """

    #: records that failed normalization in this run
    bad_records = 0
    #: records an importer dropped before normalizing them, for a bad key
    unread_keys = 0

    @property
    def soft_delete(self):
        return SOFT_DELETES.get(self.model_class.__name__)

    @property
    def supported_fields(self):
        fields = list(super().supported_fields)
        soft = self.soft_delete
        if soft and soft.alive is not None and soft.field not in fields:
            fields.append(soft.field)
        return fields

    def normalize_host_object(self, obj):
        try:
            data = super().normalize_host_object(obj)
        except ConfigError:
            raise
        except BAD_RECORD_ERRORS as error:
            self.bad_records += 1
            self.handler.note_unread(self.model_name, describe_error(error, brief=True))
            log.warning("%s: skipped a CORE-POS record: %s: %s",
                        self.model_name, describe_error(error), render_record(obj))
            return None
        soft = self.soft_delete
        if data is not None and soft and soft.alive is not None:
            data.setdefault(soft.field, soft.alive)
        return data

    def import_data(self, *args, **kwargs):
        result = super().import_data(*args, **kwargs)
        for entity, count in sorted(getattr(self.api, 'bad_records', {}).items()):
            self.handler.note_unread(self.model_name, f"undecodable {entity} record(s) "
                                     "(CORE sent false)", count)
        return result

    def unique_data(self, host_data, warn=True):
        host_data, unique = super().unique_data(host_data, warn=warn)
        self.host_keys = set(unique)
        return host_data, unique

    def can_delete_object(self, obj, data):
        soft = self.soft_delete
        if soft and getattr(obj, soft.field) == soft.deleted:
            return False                    # deleted before
        core_fields = self.get_all_extensions().get('_corepos')
        if core_fields and all(getattr(obj, f) is None for f in core_fields):
            return False                    # not from CORE-POS: not ours to delete
        if self.kept_in_core(obj, data):
            return False
        return super().can_delete_object(obj, data)

    def kept_in_core(self, obj, data):
        """Whether CORE-POS still has ``obj`` though this run could not import it."""
        return False

    def get_deletion_keys(self):
        keys = super().get_deletion_keys()
        doomed = len(keys - self.host_keys)
        reason = self.deletion_refusal(doomed, len(keys)) if doomed else None
        if reason:
            log.error(reason)
            self.handler.refused_deletions.append(reason)
            return set()
        return keys

    def deletion_refusal(self, doomed, eligible):
        """Why ``doomed`` of the ``eligible`` CORE-POS records must not be deleted (None: go)."""
        if self.handler.force_delete:
            return None
        unread = (self.bad_records + self.unread_keys
                  + sum(getattr(self.api, 'bad_records', {}).values()))
        if unread:
            return (f"{self.model_name}: {doomed} record(s) missing from CORE-POS not deleted: "
                    f"{unread} CORE-POS record(s) could not be read in this run and may be "
                    "among them")
        limit = self.handler.max_delete_fraction
        if doomed > limit * eligible:
            return (f"{self.model_name}: {doomed} of {eligible} records are missing from "
                    f"CORE-POS, more than [rattail_fls] corepos.max_delete_fraction = {limit:g} "
                    "allows; an incomplete CORE-POS answer looks the same")
        return None

    def delete_object(self, obj):
        soft = self.soft_delete
        if soft is None:
            return super().delete_object(obj)
        setattr(obj, soft.field, soft.deleted)
        return True

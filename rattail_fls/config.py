"""Config extension and typed accessors for every ``[rattail_fls]`` setting.

All settings the plugin reads are declared here once, with their defaults, so
that ``app/rattail.conf.example`` and the code cannot drift apart silently
(``tests/test_config.py`` checks the example lists every key below).
"""

import logging
import re
from dataclasses import dataclass

import sqlalchemy as sa

from wuttjamaican.conf import WuttaConfigExtension


log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the key."""


#: The services ``FlsHandler`` builds, ``<service>.spec`` = the class (or factory) it uses.
SERVICE_SPECS = {
    'notifier': 'rattail_fls.queue.enqueue:QueueNotifier',
    'intake': 'rattail_fls.sales.intake:Intake',
    'processor': 'rattail_fls.sales.processor:SalesProcessor',
    'closer': 'rattail_fls.summaries.closer:DayCloser',
    'day_close_requests': 'rattail_fls.sales.day_close_requests:DayCloseRequests',
    'pusher': 'rattail_fls.summaries.push:SummaryPusher',
    'odoo_client': 'rattail_fls.odoo.client:make_odoo_client',
}

#: Every ``[rattail_fls]`` key with its default (None = no default).
DEFAULTS = {
    **{f'{service}.spec': spec for service, spec in SERVICE_SPECS.items()},
    'redis.url': 'redis://127.0.0.1:6379/0',
    'queue.sales_processing': 'sales_processing',
    'queue.day_close': 'day_close',
    'queue.send_summary': 'send_summary',
    'shards': 's01',
    'shard_policy': 'least_loaded',
    'storage': 'auto',
    'timescaledb.compress_after_days': '7',
    'partitions.premake_days': '3',
    'move.wait_seconds': '300',
    'intake.max_body_bytes': '5000000',
    'intake.total_tolerance': '1.00',
    'intake.allow_negative_qty': 'false',
    'intake.max_past_days': '400',
    'intake.max_future_days': '1',
    'intake.batch_size': '500',
    'intake.drain_linger_ms': '20',
    'intake.sweep_after_seconds': '60',
    'intake.max_attempts': '10',
    'intake.retry_base_seconds': '15',
    'intake.retry_max_seconds': '1800',
    'intake.auth_cache_seconds': '10',
    'intake.rate_limit_per_second': '20',
    'intake.rate_limit_burst': '100',
    'inbox.retention_days': '90',
    'web.currency': 'INR',
    'status.queue_warn': '1000',
    'status.queue_critical': '10000',
    'status.pending_age_warn_seconds': '300',
    'status.pending_age_critical_seconds': '1800',
    'status.rejected_window_hours': '24',
    'status.quiet_minutes': '120',
    'status.business_hours': '09:00-21:00',
    'status.min_workers': '1',
    'odoo.url': None,
    'odoo.secret': None,
    'odoo.secret_rounds': '12',
    'odoo.connect_timeout': '5',
    'odoo.read_timeout': '30',
    'odoo.concurrency': '4',
    'odoo.max_attempts': '8',
    'odoo.retry_base_seconds': '60',
    'odoo.retry_max_seconds': '21600',
    'odoo.sweep_after_seconds': '60',
    'odoo.api.url': None,
    'odoo.api.db': None,
    'odoo.api.login': None,
    'odoo.api.key': None,
    'corepos.store_map': None,
    'corepos.unmapped_stores': 'identity',
    'corepos.max_delete_fraction': '0.5',
    'corepos.connect_timeout': '5',
    'corepos.read_timeout': '60',
}

#: Per-shard keys, ``shard.<name>.<key>``.
SHARD_DEFAULTS = {
    'engine': 'default',
    'schema': None,  # default: fls_<name>
    'accept_new': 'true',
}

STORAGE_CHOICES = ('auto', 'timescaledb', 'partitions')
SHARD_POLICIES = ('least_loaded',)
_NAME_RE = re.compile(r'^[a-z][a-z0-9_]{0,30}$')


#: ``import-corepos-api``: the plugin's handler extends rattail-corepos's.
COREPOS_API_HANDLER_KEY = 'rattail.importing.to_rattail.from_corepos_api.import.default_handler'
COREPOS_API_HANDLER = 'rattail_fls.importing.corepos:FromCorePosToTheo'


class FlsConfigExtension(WuttaConfigExtension):
    """Registers the plugin's handlers; settings keep their defaults here, not in the DB."""

    key = 'rattail_fls'

    def configure(self, config):
        config.setdefault('rattail.importing.to_rattail_versions.from_rattail.import.default_handler',
                          'rattail_fls.importing.versions:FromTheoToTheoVersions')
        # CORE-POS API clients with timeouts and error reports (rattail_fls.coreapi).
        config.setdefault('rattail.corepos.handler', 'rattail_fls.coreapi:FlsCoreHandler')
        config.setdefault('corepos.api.factory', 'rattail_fls.coreapi:FlsCoreWebAPI')
        # Tailbone's role/user pages with WuttJamaican's renamed kwarg (rattail_fls.auth).
        config.setdefault('rattail.auth.handler', 'rattail_fls.auth:FlsAuthHandler')

    def startup(self, config):
        # rattail-corepos setdefaults this key too, and extension order is not
        # reliable: once every extension's configure() has run, make ours the
        # default.  An explicit [rattail.importing] ...handler in a file still wins.
        config.defaults[COREPOS_API_HANDLER_KEY] = COREPOS_API_HANDLER
        _files_only_until_migrated(config)


def _files_only_until_migrated(config):
    """With ``[rattail.config] usedb = true`` (as rattail's generated config has), every setting
    is also looked up in the DB's ``setting`` table, so any command, even ``make-config``, dies
    on a database that is not migrated yet.  Until that table exists, read the files only."""
    if not config.usedb or getattr(config, 'appdb_engine', None) is None:
        return
    try:
        with config.appdb_engine.connect() as conn:
            migrated = conn.execute(sa.text("SELECT to_regclass('setting')")).scalar()
    except sa.exc.DBAPIError:
        return  # unreachable: let the command report that itself
    if not migrated:
        log.warning("the database has no `setting` table yet (not migrated): "
                    "reading settings from the config files only")
        config.usedb = False


def _get(config, key):
    value = config.get(f'rattail_fls.{key}', usedb=False)
    if value is None:
        value = DEFAULTS.get(key)
    return value.strip() if isinstance(value, str) else value


def get_setting(config, key, required=False):
    """A ``[rattail_fls]`` string setting, or its documented default."""
    value = _get(config, key)
    if required and not value:
        raise ConfigError(f"[rattail_fls] {key} is not set; see app/rattail.conf.example")
    return value


def get_number(config, key, kind=float, minimum=0):
    """A numeric ``[rattail_fls]`` setting, validated."""
    raw = _get(config, key)
    try:
        value = kind(raw)
    except (TypeError, ValueError, ArithmeticError):
        raise ConfigError(f"[rattail_fls] {key} must be a {kind.__name__}, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"[rattail_fls] {key} must be >= {minimum}, not {raw!r}")
    return value


def get_choice(config, key, choices):
    """A ``[rattail_fls]`` setting that must be one of ``choices``."""
    value = _get(config, key)
    if value not in choices:
        raise ConfigError(f"[rattail_fls] {key} must be one of {', '.join(choices)}, not {value!r}")
    return value


def inbox_retention_days(config):
    """Days of inbox rows ``fls-inbox prune`` (and the web's Prune) keeps: at least one."""
    return get_number(config, 'inbox.retention_days', int, 1)


def queue_name(config, kind):
    """Redis/RQ queue name for ``kind`` (sales_processing, day_close, send_summary)."""
    return get_setting(config, f'queue.{kind}', required=True)


@dataclass(frozen=True)
class ShardSpec:
    """A shard as configured: where its schema lives."""

    name: str
    schema: str
    engine_key: str
    accept_new: bool


def shard_specs(config):
    """The configured shards, in config order, validated."""
    names = (_get(config, 'shards') or '').replace(',', ' ').split()
    if not names:
        raise ConfigError("[rattail_fls] shards must name at least one shard")
    specs = []
    for name in names:
        if not _NAME_RE.match(name):
            raise ConfigError(f"[rattail_fls] shards: {name!r} is not a valid shard name "
                              "(lowercase letters, digits, underscore)")
        prefix = f'rattail_fls.shard.{name}.'
        schema = config.get(prefix + 'schema', usedb=False) or f'fls_{name}'
        if not _NAME_RE.match(schema):
            raise ConfigError(f"[rattail_fls] shard.{name}.schema: {schema!r} is not a valid schema name")
        engine_key = config.get(prefix + 'engine', usedb=False) or SHARD_DEFAULTS['engine']
        accept_new = config.get_bool(prefix + 'accept_new', default=True, usedb=False)
        specs.append(ShardSpec(name, schema, engine_key, accept_new))
    if len({s.name for s in specs}) != len(specs):
        raise ConfigError("[rattail_fls] shards lists a shard twice")
    seen = set()
    for spec in specs:
        if (spec.engine_key, spec.schema) in seen:
            raise ConfigError(f"[rattail_fls] shard.{spec.name}.schema {spec.schema!r} is used by "
                              "another shard on the same database")
        seen.add((spec.engine_key, spec.schema))
    return specs


def get_total_tolerance(config):
    """``[rattail_fls] intake.total_tolerance`` as a Decimal, or None when the check is off.

    One setting for the door (a sale's total against its lines) and the day close (a
    summary's reconciliation against its sales).
    """
    import decimal
    if not get_setting(config, 'intake.total_tolerance'):
        return None
    return get_number(config, 'intake.total_tolerance', decimal.Decimal)

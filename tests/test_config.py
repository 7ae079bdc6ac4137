"""Config: every plugin setting is documented in the example, and bad values name their key."""

import configparser

import pytest
from wuttjamaican.conf import WuttaConfig

from rattail_fls import config as fls_config
from fls_dev.config import render

from conftest import EXAMPLE


def example():
    parser = configparser.RawConfigParser()
    parser.read(EXAMPLE)
    return parser


def test_example_documents_every_setting():
    parser = example()
    text = EXAMPLE.read_text()
    for key in fls_config.DEFAULTS:
        assert key in text, f"[rattail_fls] {key} missing from app/rattail.conf.example"
    for key in fls_config.SHARD_DEFAULTS:
        assert f'shard.s01.{key}' in text
    # rattail's branch first, so that `upgrade heads` works on an empty database
    locations = parser.get('alembic', 'version_locations').split()
    assert locations[0] == 'rattail.db:alembic/versions'
    assert 'rattail_fls.db:alembic/versions' in locations
    assert parser.get('theo', 'integrate_corepos') == 'true'
    assert parser.get('rattail', 'model_spec') == 'rattail_fls.db.model_theo'
    assert parser.get('rattail.importing', 'to_rattail_versions.from_rattail.import.handler') == \
        'rattail_fls.importing.versions:FromTheoToTheoVersions'


def test_example_defaults_match_code():
    parser = example()
    for key, default in fls_config.DEFAULTS.items():
        if default is not None and parser.has_option('rattail_fls', key):
            assert parser.get('rattail_fls', key) == default, key


def make(**settings):
    return WuttaConfig(defaults={f'rattail_fls.{k}': v for k, v in settings.items()})


def test_shard_specs_defaults_and_validation():
    specs = fls_config.shard_specs(make(shards='s01, s02', **{'shard.s02.engine': 'other'}))
    assert [(s.name, s.schema, s.engine_key, s.accept_new) for s in specs] == [
        ('s01', 'fls_s01', 'default', True), ('s02', 'fls_s02', 'other', True)]
    for bad, words in [({'shards': ''}, 'at least one'),
                       ({'shards': 'S-1'}, "'S-1' is not a valid shard name"),
                       ({'shards': 'a a'}, 'twice'),
                       ({'shards': 'a b', 'shard.b.schema': 'fls_a'}, 'shard.b.schema'),
                       ({'shards': 'a', 'shard.a.schema': 'x; drop'}, 'shard.a.schema')]:
        with pytest.raises(fls_config.ConfigError, match=words):
            fls_config.shard_specs(make(**bad))


def test_numbers_and_choices_name_the_key():
    with pytest.raises(fls_config.ConfigError, match=r'\[rattail_fls\] odoo.read_timeout must be a float'):
        fls_config.get_number(make(**{'odoo.read_timeout': 'soon'}), 'odoo.read_timeout')
    with pytest.raises(fls_config.ConfigError, match='storage must be one of'):
        fls_config.get_choice(make(storage='mongo'), 'storage', fls_config.STORAGE_CHOICES)
    with pytest.raises(fls_config.ConfigError, match='odoo.url is not set'):
        fls_config.get_setting(make(), 'odoo.url', required=True)
    assert fls_config.queue_name(make(), 'day_close') == 'day_close'


def test_devconfig_render_keeps_comments_and_sets_values():
    text = "[a]\n# note\nx = 1\n# y = 2\n[b]\nz = 3\n"
    out = render(text, {('a', 'y'): '5', ('a', 'w'): '6', ('c', 'k'): 'v', ('b', 'z'): '4'})
    assert out == "[a]\n# note\nx = 1\ny = 5\nw = 6\n[b]\nz = 4\n\n[c]\nk = v\n"


def test_make_config_works_on_an_empty_database_with_usedb(tmp_path):
    """rattail's generated config has usedb = true; on an unmigrated DB that broke every command."""
    from conftest import RUN_ID, create_database, drop_database, rattail, write_test_config

    name = f'fls_test_{RUN_ID}_empty'
    url = create_database(name)
    try:
        path = write_test_config(tmp_path / 'rattail.conf', url, url,
                                 {('rattail.config', 'usedb'): 'true', ('rattail.config', 'preferdb'): 'true'})
        result = rattail(path, 'make-config', '-T', 'quiet', '-O', str(tmp_path / 'quiet.conf'))
        assert (tmp_path / 'quiet.conf').exists(), result.stderr
        assert 'no `setting` table yet' in result.stderr
    finally:
        drop_database(name)

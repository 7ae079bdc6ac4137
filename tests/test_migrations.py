"""The alembic branch builds a complete database from empty and downgrades back to its base."""

import sqlalchemy as sa

from conftest import RUN_ID, alembic, create_database, drop_database, write_test_config

FLS_TABLES = {'fls_shard', 'fls_retail_point', 'fls_retail_point_version', 'fls_inbox', 'fls_api_token',
              'fls_api_token_retail_point', 'fls_business_day', 'fls_day_close', 'fls_summary', 'fls_push_log',
              'fls_shard_move'}


def tables(url):
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def indexes(url, table_names):
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {i['name'] for t in table_names for i in inspector.get_indexes(t)}
    finally:
        engine.dispose()


def model_indexes():
    """Every index the plugin's main-DB models declare (the web grids' among them)."""
    from rattail_fls.db.model import business_days, inbox, moves, summaries, tokens
    classes = [getattr(m, n) for m in (business_days, inbox, moves, summaries, tokens) for n in dir(m)]
    return {i.name for c in classes if getattr(c, '__table__', None) is not None
            and c.__table__.name in FLS_TABLES for i in c.__table__.indexes}


def test_upgrade_from_empty_and_downgrade(tmp_path):
    name = f'fls_test_{RUN_ID}_migrations'
    url = create_database(name)
    try:
        path = write_test_config(tmp_path / 'rattail.conf', url, url)
        assert alembic(path, 'upgrade', 'rattail@heads').returncode == 0
        result = alembic(path, 'upgrade', 'heads')
        assert result.returncode == 0, result.stderr[-2000:]
        present = tables(url)
        assert FLS_TABLES <= present
        assert {'store', 'corepos_store', 'user_api_token'} <= present
        declared = model_indexes()
        assert {'fls_inbox_ix_status', 'fls_summary_ix_date', 'fls_business_day_ix_date'} <= declared
        assert declared <= indexes(url, FLS_TABLES)

        heads = {line.split()[0] for line in alembic(path, 'heads').stdout.splitlines()}
        current = {line.split()[0] for line in alembic(path, 'current').stdout.splitlines()}
        assert len(heads) == 3 and heads <= current

        result = alembic(path, 'downgrade', 'rattail_fls@base')
        assert result.returncode == 0, result.stderr[-2000:]
        present = tables(url)
        assert not FLS_TABLES & present
        assert 'store' in present  # other branches untouched

        assert alembic(path, 'upgrade', 'heads').returncode == 0
        assert FLS_TABLES <= tables(url)
    finally:
        drop_database(name)

"""Shard creation, upgrade, routing across two databases, uniqueness, days (partitions or
chunks), compression; on each storage (the ``storage`` parameter, see conftest)."""

import datetime
import threading

import pytest
import redis
import sqlalchemy as sa

from rattail_fls.config import ConfigError
from rattail_fls.db import shard_migrations, storage as st
from rattail_fls.db.model import sales

from conftest import PG_URL, REDIS_URL, RUN_ID, create_database, drop_database, rattail, server_facts, \
    write_test_config

DAY = datetime.date(2026, 3, 1)


def sale_row(retail_point_id, sale_num, sale_id, day=DAY):
    return {'sale_date': day, 'sale_id': sale_id, 'retail_point_id': retail_point_id,
            'sale_num': sale_num, 'sale_counter_id': 1, 'payment_journal_id': 1,
            'total_including_miscellaneous': 10}


def test_upgrade_creates_both_shards_idempotently(app, shards, session, storage):
    again = shards.upgrade(session)
    session.commit()
    assert [(r['shard'], r['storage'], r['version'], r['applied'], r['warning']) for r in again] == [
        ('s01', storage, shard_migrations.LATEST_VERSION, [], None),
        ('s02', storage, shard_migrations.LATEST_VERSION, [], None)]
    rows = {s.name: s for s in session.query(app.model.FlsShard)}
    assert rows['s02'].engine_key == 'shards2' and rows['s02'].schema_name == 'fls_s02'
    assert rows['s01'].storage == rows['s02'].storage == storage
    for name in ('s01', 's02'):
        with shards.begin(name) as conn:
            assert st.detect_storage(conn) == storage


def test_shard_tables_match_models(shards):
    """The frozen migration SQL and the model classes describe the same tables."""
    for name in ('s01', 's02'):
        with shards.begin(name) as conn:
            inspector = sa.inspect(conn)
            schema = shards.spec(name).schema
            for table in sales.metadata.sorted_tables:
                columns = {c['name']: c for c in inspector.get_columns(table.name, schema=schema)}
                assert set(columns) == set(table.columns.keys()), table.name
                for column in table.columns:
                    assert columns[column.name]['nullable'] == column.nullable, (table.name, column.name)
                pk = inspector.get_pk_constraint(table.name, schema=schema)['constrained_columns']
                assert set(pk) == {c.name for c in table.primary_key.columns}, table.name
                if table in sales.PARTITIONED_TABLES:
                    assert 'sale_date' in pk


def test_shards_live_in_their_databases(databases, shards):
    for url, present, absent in [(databases['main_url'], 'fls_s01', 'fls_s02'),
                                 (databases['shards2_url'], 'fls_s02', 'fls_s01')]:
        engine = sa.create_engine(url)
        names = sa.inspect(engine).get_schema_names()
        engine.dispose()
        assert present in names and absent not in names


def test_routing_by_retail_point_across_two_databases(app, shards, session, databases):
    model = app.model
    for rp, shard in [(9001, 's01'), (9002, 's02')]:
        point = model.FlsRetailPoint(retail_point_id=rp, name=f"Shop {rp}")
        session.add(point)
        shards.assign(session, point, shard)
    assert shards.routes(session, [9001, 9002, 424242]) == {9001: 's01', 9002: 's02'}

    for rp, shard in shards.routes(session, [9001, 9002]).items():
        with shards.begin(shard) as conn:
            conn.execute(sa.insert(sales.Sale), [sale_row(rp, f'R{rp}', 900000 + rp)])
    engine = sa.create_engine(databases['shards2_url'])
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT retail_point_id FROM fls_s02.sale WHERE sale_num LIKE 'R90%'"))
        assert [r[0] for r in found] == [9002]
    engine.dispose()
    session.rollback()


def test_sale_identity_is_unique_whatever_the_date(shards):
    with shards.begin('s01') as conn:
        conn.execute(sa.insert(sales.SaleIdent), [dict(retail_point_id=1, sale_num='U-1',
                                                       sale_date=DAY, content_hash='x')])
    with pytest.raises(sa.exc.IntegrityError):
        with shards.begin('s01') as conn:
            conn.execute(sa.insert(sales.SaleIdent), [dict(
                retail_point_id=1, sale_num='U-1', sale_date=DAY + datetime.timedelta(days=3),
                content_hash='y')])
    with shards.begin('s01') as conn:  # same number in another shop is another sale
        conn.execute(sa.insert(sales.SaleIdent), [dict(retail_point_id=2, sale_num='U-1',
                                                       sale_date=DAY, content_hash='x')])
        ids = conn.execute(sa.select(sales.SaleIdent.sale_id).where(
            sales.SaleIdent.sale_num == 'U-1')).scalars().all()
        assert len(set(ids)) == 2


def test_primary_keys_include_sale_date(shards):
    with shards.begin('s01') as conn:
        conn.execute(sa.insert(sales.Sale), [sale_row(5, 'PK-1', 777001)])
    with pytest.raises(sa.exc.IntegrityError):
        with shards.begin('s01') as conn:
            conn.execute(sa.insert(sales.Sale), [sale_row(5, 'PK-1', 777001)])


def day_stores(conn, storage, day):
    """Names of the partitions or chunks of ``sale`` holding ``day``."""
    if storage == st.PARTITIONS:
        return conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('sale') AND c.relname = :n"),
            {'n': st.day_partition_name('sale', day)}).scalars().all()
    return conn.execute(sa.text(
        "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = current_schema() "
        "AND hypertable_name = 'sale' AND (range_start AT TIME ZONE 'UTC')::date = :d"), {'d': day}).scalars().all()


def test_days_made_on_demand(shards, storage):
    """Partitions: a row of a day without a partition lands in the default one, and making the
    day's partition moves it there.  TimescaleDB: the row makes its day's chunk by itself."""
    day = datetime.date(2031, 5, 17)
    with shards.begin('s02') as conn:
        conn.execute(sa.insert(sales.Sale), [sale_row(7, 'D-1', 880001, day)])
        if storage == st.PARTITIONS:
            assert conn.execute(sa.text("SELECT count(*) FROM sale_default WHERE sale_date = :d"),
                                {'d': day}).scalar() == 1
            assert day_stores(conn, storage, day) == []
    with shards.begin('s02') as conn:
        made = st.premake_days(conn, storage, [day, day])
        assert made == ([day] if storage == st.PARTITIONS else [])
        assert st.premake_days(conn, storage, [day]) == []
        assert len(day_stores(conn, storage, day)) == 1
        assert conn.execute(sa.text(f"SELECT sale_num FROM {day_stores(conn, storage, day)[0]} "
                                    "WHERE sale_id = 880001")).scalar() == 'D-1'
        if storage == st.PARTITIONS:
            assert conn.execute(sa.text("SELECT count(*) FROM sale_default WHERE sale_date = :d"),
                                {'d': day}).scalar() == 0


def test_concurrent_day_creation(shards, storage):
    """Four writers make the same five new days at once (partitions made under the advisory
    lock, or chunks made by TimescaleDB): no error, each day made once, every row stored."""
    days = [datetime.date(2032, 1, 1) + datetime.timedelta(days=i) for i in range(5)]
    errors, made = [], []

    def work(n):
        try:
            with shards.begin('s01') as conn:
                made.extend(st.premake_days(conn, storage, days))
                conn.execute(sa.insert(sales.Sale), [sale_row(8, f'C-{n}-{i}', 881000 + 10 * n + i, day)
                                                     for i, day in enumerate(days)])
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(made) == (days if storage == st.PARTITIONS else [])
    with shards.begin('s01') as conn:
        assert [len(day_stores(conn, storage, day)) for day in days] == [1] * 5
        assert conn.execute(sa.text("SELECT count(*) FROM sale WHERE sale_num LIKE 'C-%'")).scalar() == 20


def test_sweeper_makes_the_coming_days_ahead(databases, shards, storage, tmp_path):
    """``fls-sweep`` makes today's and the next ``partitions.premake_days`` days' partitions in
    every partitioned shard, so writers find them (no DDL on the hot path); TimescaleDB shards
    get no tables from it."""
    # Its own Redis database: what this sweep re-enqueues of other tests' rows runs nowhere.
    path = write_test_config(tmp_path / 'sweep.conf', databases['main_url'], databases['shards2_url'],
                             {('rattail_fls', 'partitions.premake_days'): '2',
                              ('rattail_fls', 'redis.url'): f'{REDIS_URL}/14'})
    rattail(path, 'fls-sweep')
    redis.Redis.from_url(f'{REDIS_URL}/14').flushdb()
    today = datetime.date.today()
    coming = [today + datetime.timedelta(days=i) for i in range(3)]
    for name in ('s01', 's02'):
        with shards.begin(name) as conn:
            names = [conn.execute(sa.text("SELECT to_regclass(:n)"),
                                  {'n': st.day_partition_name(table, day)}).scalar()
                     for table in st.SHARD_TABLES for day in coming]
            assert names == ([st.day_partition_name(t, d) for t in st.SHARD_TABLES for d in coming]
                             if storage == st.PARTITIONS else [None] * len(names))
            assert st.premake_days(conn, storage, coming) == []  # a writer finds them all


def test_assignment_policy_least_loaded(app, shards, session):
    model = app.model
    before = {s.name: len(s.retail_points) for s in session.query(model.FlsShard)}
    chosen = []
    for rp in range(9101, 9105):
        point = model.FlsRetailPoint(retail_point_id=rp, name=f"Shop {rp}")
        session.add(point)
        chosen.append(shards.assign(session, point).name)
    after = {s.name: len(s.retail_points) for s in session.query(model.FlsShard)}
    assert sum(after.values()) - sum(before.values()) == 4
    assert abs(after['s01'] - after['s02']) <= max(1, abs(before['s01'] - before['s02']))
    session.rollback()


def test_assign_refuses_unknown_shard_and_moves_with_sales(app, shards, session):
    model = app.model
    point = model.FlsRetailPoint(retail_point_id=5, name="Shop 5")
    session.add(point)
    with pytest.raises(ConfigError, match="not in \\[rattail_fls\\] shards"):
        shards.assign(session, point, 'nope')
    shards.assign(session, point, 's01')  # has a sale from test_primary_keys_include_sale_date
    with shards.begin('s01') as conn:
        conn.execute(sa.insert(sales.SaleIdent), [dict(retail_point_id=5, sale_num='PK-1',
                                                       sale_date=DAY, content_hash='z')])
    with pytest.raises(ConfigError, match='has sales in shard s01'):
        shards.assign(session, point, 's02')
    session.rollback()


def test_cli_upgrade_assign_list(databases, shards, storage):
    path = databases['config_path']
    out = rattail(path, 'fls-shards', 'upgrade').stdout
    assert f'shard s01: {storage}, version 1, migrations applied: none' in out
    assert f'shard s02: {storage}' in out
    if storage == st.TIMESCALEDB:  # no partitions there
        assert 'partitions made' not in out and out.count('compression after 7 days') == 2
    else:
        assert out.count('partitions made: 0') == 2
    out = rattail(path, 'fls-shards', 'assign', '777', '--name', 'CLI Shop').stdout
    assert out.startswith('retail point 777 -> shard s0')
    out = rattail(path, 'fls-shards', 'assign', '777', 's02').stdout
    assert 'retail point 777 -> shard s02' in out
    listing = rattail(path, 'fls-shards', 'list').stdout.splitlines()
    assert listing[0].split()[:4] == ['shard', 'schema', 'engine', 'storage']
    s02 = next(line for line in listing if line.startswith('s02'))
    assert 'shards2' in s02 and storage in s02.split()
    bad = rattail(path, 'fls-shards', 'assign', '778', check=False)
    assert bad.returncode == 1
    assert 'retail point 778 does not exist; pass --name' in bad.stderr
    assert 'Traceback' not in bad.stderr


def test_upgrade_evolves_shard_tables(app, shards, session, monkeypatch):
    """A later shard migration is applied once to every shard, in every database."""
    def add_note(conn, storage):
        conn.execute(sa.text("ALTER TABLE sale ADD COLUMN test_note varchar"))

    monkeypatch.setattr(shard_migrations, 'MIGRATIONS',
                        shard_migrations.MIGRATIONS + [(99, "test: sale.test_note", add_note)])
    try:
        results = shards.upgrade(session)
        assert [(r['shard'], r['version'], r['applied']) for r in results] == [
            ('s01', 99, [99]), ('s02', 99, [99])]
        assert [r['applied'] for r in shards.upgrade(session)] == [[], []]
        for name in ('s01', 's02'):
            with shards.begin(name) as conn:
                columns = {c['name'] for c in sa.inspect(conn).get_columns('sale', schema=shards.spec(name).schema)}
                assert 'test_note' in columns
    finally:
        for name in ('s01', 's02'):
            with shards.begin(name) as conn:
                conn.execute(sa.text("ALTER TABLE sale DROP COLUMN IF EXISTS test_note"))
                conn.execute(sa.text("DELETE FROM shard_migration WHERE version = 99"))
        session.rollback()


@pytest.mark.parametrize('server', ['main', 'tsdb'])
def test_storage_follows_the_servers_answer(server, tmp_path):
    """``fls-shards upgrade`` on a real server, with ``storage = auto`` then ``timescaledb``:
    TimescaleDB where it is preloaded; where it is installed but not preloaded (the operator
    mistake), auto falls back to partitions with one warning naming shared_preload_libraries
    and timescaledb stops with one line saying what to set; where it is absent, auto is silent."""
    from conftest import TSDB_URL
    url = PG_URL if server == 'main' else TSDB_URL
    if url is None:
        pytest.skip("FLS_TSDB_URL is not set (the main test server is tried by the 'main' case)")
    facts = server_facts(url)
    name = f'fls_test_{RUN_ID}_answer_{server}'
    urls = create_database(name, url), create_database(f'{name}2', url)
    try:
        auto = write_test_config(tmp_path / 'auto.conf', *urls, {('rattail_fls', 'storage'): 'auto'})
        from fls_dev.db import migrate
        migrate(auto)
        result = rattail(auto, 'fls-shards', 'upgrade')
        expected = st.TIMESCALEDB if facts.available and facts.preloaded else st.PARTITIONS
        assert result.stdout.count(f': {expected}, version 1') == 2, result.stdout
        warnings = [line for line in result.stderr.splitlines() if 'shared_preload_libraries' in line]
        if facts.available and not facts.preloaded:
            assert len(warnings) == 1, result.stderr
            assert "shared_preload_libraries = 'timescaledb'" in warnings[0]
        else:
            assert warnings == [], result.stderr
        assert 'Traceback' not in result.stderr

        forced = write_test_config(tmp_path / 'forced.conf', *urls, {
            ('rattail_fls', 'storage'): 'timescaledb', ('rattail_fls', 'shards'): 'f01',
            ('rattail_fls', 'shard.f01.schema'): 'fls_f01'})
        result = rattail(forced, 'fls-shards', 'upgrade', check=False)
        if facts.available and facts.preloaded:
            assert result.returncode == 0 and 'shard f01: timescaledb' in result.stdout, result.stderr
        else:
            assert result.returncode == 1 and 'Traceback' not in result.stderr
            errors = result.stderr.strip().splitlines()
            assert len(errors) == 1 and errors[0].startswith(
                'error: [rattail_fls] storage = timescaledb, but '), result.stderr
            assert ("shared_preload_libraries = 'timescaledb'" if facts.available
                    else 'not installed') in errors[0]
    finally:
        drop_database(name, url)
        drop_database(f'{name}2', url)


def test_compress_command_and_figures(databases, shards, session, storage):
    """``fls-shards compress`` compresses what is due itself (chunks older than the age, or
    written to since they were compressed); ``fls-shards list`` and ``compression_status`` show
    chunks, compressed, due and the compression jobs' status.  Partitions: nothing to do."""
    path = databases['config_path']
    old = datetime.date.today() - datetime.timedelta(days=40)
    with shards.begin('s01') as conn:
        conn.execute(sa.insert(sales.Sale), [sale_row(9, 'Z-1', 882001, old)])
    if storage == st.PARTITIONS:
        assert shards.compression_status(session) == {}
        assert rattail(path, 'fls-shards', 'compress').stdout.strip() == \
            "no TimescaleDB shards: nothing to compress"
        return
    before = shards.compression_status(session)
    assert set(before) == {'s01', 's02'}
    assert before['s01']['due'] >= 1 and before['s01']['jobs'] == len(st.SHARD_TABLES)
    assert before['s01']['job_status'] in ('ok', 'failed', 'never run')
    out = rattail(path, 'fls-shards', 'compress', '--older-than', '7').stdout
    assert 'shard s01: ' in out and 'shard s02: ' in out and 'chunks compressed' in out
    after = shards.compression_status(session)['s01']
    assert after['due'] == 0 and after['compressed'] >= before['s01']['compressed'] + 1
    assert after['chunks'] == before['s01']['chunks']
    listed = rattail(path, 'fls-shards', 'list')
    listing = listed.stdout.splitlines()
    # This server's background jobs may fail (see the README): then the listing says so.
    warned = [line for line in listed.stderr.splitlines() if 'compression jobs failed' in line]
    assert len(warned) == (after['job_status'] == 'failed') + (
        shards.compression_status(session)['s02']['job_status'] == 'failed')
    header = listing[0].split()
    assert header[10:15] == ['chunks', 'compressed', 'due', 'job_status', 'job_last_run']
    s01 = next(line for line in listing if line.startswith('s01 ')).split()
    assert s01[10:14] == [str(after['chunks']), str(after['compressed']), '0', after['job_status']]
    if after['job_last_run'] is not None:
        assert s01[14] == f"{after['job_last_run']:%Y-%m-%d}"

    # A late sale in the compressed chunk makes it due again; a younger age than the chunk's
    # leaves it alone.
    with shards.begin('s01') as conn:
        conn.execute(sa.insert(sales.Sale), [sale_row(9, 'Z-2', 882002, old)])
    assert shards.compression_status(session)['s01']['due'] == 1
    assert shards.compress(session, older_than_days=60, names=['s01']) == {'s01': []}
    done = shards.compress(session, older_than_days=7, names=['s01'])
    assert len(done['s01']) == 1
    assert shards.compression_status(session)['s01']['due'] == 0
    with shards.begin('s01') as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sale WHERE sale_date = :d AND retail_point_id = 9"),
                            {'d': old}).scalar() == 2
    bad = rattail(path, 'fls-shards', 'compress', '--older-than', '-1', check=False)
    assert bad.returncode == 2 and 'Traceback' not in bad.stderr

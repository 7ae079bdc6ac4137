"""Shard creation, upgrade, routing across two databases, uniqueness and daily partitions."""

import datetime
import threading

import pytest
import sqlalchemy as sa

from rattail_fls.config import ConfigError
from rattail_fls.db import shard_migrations, storage as st
from rattail_fls.db.model import sales

from conftest import rattail

DAY = datetime.date(2026, 3, 1)


def sale_row(retail_point_id, sale_num, sale_id, day=DAY):
    return {'sale_date': day, 'sale_id': sale_id, 'retail_point_id': retail_point_id,
            'sale_num': sale_num, 'sale_counter_id': 1, 'payment_journal_id': 1,
            'total_including_miscellaneous': 10}


def test_upgrade_creates_both_shards_idempotently(app, shards, session):
    again = shards.upgrade(session)
    session.commit()
    assert [(r['shard'], r['storage'], r['version'], r['applied']) for r in again] == [
        ('s01', 'partitions', shard_migrations.LATEST_VERSION, []),
        ('s02', 'partitions', shard_migrations.LATEST_VERSION, [])]
    rows = {s.name: s for s in session.query(app.model.FlsShard)}
    assert rows['s02'].engine_key == 'shards2' and rows['s02'].schema_name == 'fls_s02'
    assert rows['s01'].storage == 'partitions'


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


def test_partitions_made_on_demand_adopt_default_rows(shards):
    day = datetime.date(2031, 5, 17)
    with shards.begin('s02') as conn:  # no partition yet: the row lands in the default one
        conn.execute(sa.insert(sales.Sale), [sale_row(7, 'D-1', 880001, day)])
        assert conn.execute(sa.text("SELECT count(*) FROM sale_default WHERE sale_date = :d"),
                            {'d': day}).scalar() == 1
    with shards.begin('s02') as conn:
        assert st.ensure_day_partitions(conn, [day, day]) == [day]
        assert st.ensure_day_partitions(conn, [day]) == []
        assert conn.execute(sa.text("SELECT count(*) FROM sale_default WHERE sale_date = :d"),
                            {'d': day}).scalar() == 0
        assert conn.execute(sa.text("SELECT sale_num FROM sale_p20310517")).scalar() == 'D-1'


def test_concurrent_partition_creation(shards):
    days = [datetime.date(2032, 1, 1) + datetime.timedelta(days=i) for i in range(5)]
    errors, made = [], []

    def work():
        try:
            with shards.begin('s01') as conn:
                made.extend(st.ensure_day_partitions(conn, days))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(made) == days


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


def test_cli_upgrade_assign_list(databases, shards):
    path = databases['config_path']
    out = rattail(path, 'fls-shards', 'upgrade').stdout
    assert 'shard s01: partitions, version 1, migrations applied: none' in out
    assert 'shard s02: partitions' in out
    out = rattail(path, 'fls-shards', 'assign', '777', '--name', 'CLI Shop').stdout
    assert out.startswith('retail point 777 -> shard s0')
    out = rattail(path, 'fls-shards', 'assign', '777', 's02').stdout
    assert 'retail point 777 -> shard s02' in out
    listing = rattail(path, 'fls-shards', 'list').stdout.splitlines()
    assert listing[0].split()[:4] == ['shard', 'schema', 'engine', 'storage']
    s02 = next(line for line in listing if line.startswith('s02'))
    assert 'shards2' in s02 and 'partitions' in s02
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

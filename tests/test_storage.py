"""Which storage a new shard gets, from what the server says about TimescaleDB (pure logic)."""

import pytest

from rattail_fls.db import storage as st
from rattail_fls.db.storage import TimescaleFacts as Facts

NONE = Facts(available=False, installed=False, preloaded=False)
NOT_PRELOADED = Facts(available=True, installed=False, preloaded=False)
CREATED_NOT_PRELOADED = Facts(available=True, installed=True, preloaded=False)
PRELOADED = Facts(available=True, installed=False, preloaded=True)
READY = Facts(available=True, installed=True, preloaded=True)


@pytest.mark.parametrize('preference, facts, expected, warned', [
    ('partitions', READY, st.PARTITIONS, False),
    ('partitions', NOT_PRELOADED, st.PARTITIONS, False),
    ('auto', NONE, st.PARTITIONS, False),            # stock PostgreSQL: nothing to say
    ('auto', NOT_PRELOADED, st.PARTITIONS, True),
    ('auto', CREATED_NOT_PRELOADED, st.PARTITIONS, True),
    ('auto', PRELOADED, st.TIMESCALEDB, False),
    ('auto', READY, st.TIMESCALEDB, False),
    ('timescaledb', PRELOADED, st.TIMESCALEDB, False),
    ('timescaledb', READY, st.TIMESCALEDB, False),
])
def test_decide_storage(preference, facts, expected, warned):
    chosen, warning = st.decide_storage(preference, facts)
    assert chosen == expected
    assert bool(warning) == warned
    if warned:  # names the setting and what to do, in one line
        assert "shared_preload_libraries = 'timescaledb'" in warning and 'restart' in warning
        assert 'native partitions' in warning and '\n' not in warning


@pytest.mark.parametrize('facts, says', [
    (NOT_PRELOADED, "shared_preload_libraries = 'timescaledb'"),
    (CREATED_NOT_PRELOADED, "shared_preload_libraries = 'timescaledb'"),
    (NONE, 'not installed on this PostgreSQL server'),
])
def test_storage_timescaledb_stops_with_what_to_set(facts, says):
    with pytest.raises(st.StorageError) as error:
        st.decide_storage('timescaledb', facts)
    message = str(error.value)
    assert message.startswith('[rattail_fls] storage = timescaledb, but ')
    assert says in message and 'storage = auto' in message and '\n' not in message


@pytest.mark.parametrize('setting, listed', [
    ('timescaledb', True),
    ('pg_stat_statements,timescaledb', True),
    ('pg_stat_statements, "timescaledb"', True),
    ('$libdir/timescaledb.so', True),
    ('', False),
    (None, False),
    ('pg_stat_statements', False),
    ('timescaledb_toolkit', False),
    ('timescaledb-2.28.3', False),   # a versioned library is not the loader
])
def test_preload_lists_timescaledb(setting, listed):
    assert st.preload_lists_timescaledb(setting) is listed

"""Fault classes (:mod:`rattail_fls.db.faults`), table-driven: errors as PostgreSQL and psycopg2
raise them, SQLAlchemy-wrapped and raw (the pool's check-in raises them past its wrapping)."""

import psycopg2
import pytest
import sqlalchemy as sa

from rattail_fls.db import faults

from conftest import PG_URL


def raised(sql, setup=None):
    """The psycopg2 error PostgreSQL answers ``sql`` with (a real server, a real SQLSTATE)."""
    conn = psycopg2.connect(f'{PG_URL}/postgres')
    try:
        with conn.cursor() as cursor:
            if setup:
                cursor.execute(setup)
            cursor.execute(sql)
    except psycopg2.Error as error:
        return error
    finally:
        conn.close()
    raise AssertionError(f"{sql} did not fail")


def wrapped(orig):
    return sa.exc.DBAPIError.instance('SELECT', {}, orig, psycopg2.Error)


CASES = [
    # (what, make the error, transient?)
    ("connection lost, raw", lambda: psycopg2.OperationalError("server closed the connection unexpectedly"), True),
    ("connection lost, wrapped", lambda: wrapped(psycopg2.OperationalError("server closed the connection")), True),
    ("connection already closed, raw", lambda: psycopg2.InterfaceError("connection already closed"), True),
    ("statement timeout (57014), raw", lambda: raised("SELECT pg_sleep(1)", "SET statement_timeout = 1"), True),
    ("statement timeout (57014), wrapped",
     lambda: wrapped(raised("SELECT pg_sleep(1)", "SET statement_timeout = 1")), True),
    ("division by zero (22012), raw", lambda: raised("SELECT 1 / 0"), False),
    ("division by zero (22012), wrapped", lambda: wrapped(raised("SELECT 1 / 0")), False),
    ("index row too large (54000) is OperationalError but the data's fault",
     lambda: raised("SELECT 1", "DO $$ BEGIN RAISE EXCEPTION 'too big' USING ERRCODE = '54000'; END $$"), False),
    ("socket error", lambda: ConnectionResetError("reset"), True),
    ("our own bug", lambda: ValueError("no"), False),
]


@pytest.mark.parametrize('make, transient', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fault_class(make, transient):
    assert faults.is_transient(make()) is transient

"""Telling a database that is unwell from a row it will not take.

A *shard fault* (the server is gone, restarting, out of connections, or the
transaction lost a race) says nothing about the data: the same rows will go in
once it passes, so they stay pending and are tried again later.  Anything else
is a *row fault* (bad data, a broken constraint, a bug): retrying the same rows
gives the same answer, so the culprit is isolated and rejected with the reason.
The class is read from the SQLSTATE, never from the driver's exception class:
psycopg2 raises ``OperationalError`` for an index row that is too large
(54000) as well as for a lost connection.
"""

import psycopg2
import sqlalchemy as sa

#: SQLSTATE classes and codes that mean "try again later".
TRANSIENT_CLASSES = ('08',   # connection exception
                     '53',   # insufficient resources (disk full, out of memory, too many connections)
                     '58')   # system error (I/O)
TRANSIENT_CODES = ('40001',  # serialization failure
                   '40P01',  # deadlock detected
                   '55P03',  # lock not available (lock_timeout)
                   '57014',  # query canceled (statement_timeout)
                   '57P01', '57P02', '57P03',  # admin shutdown, crash shutdown, cannot connect now
                   '57P04', '57P05',  # database dropped, idle session timeout
                   '25006',  # read-only transaction (a standby promoted under us)
                   )


def sqlstate(error):
    """The SQLSTATE of a DBAPI error (SQLAlchemy-wrapped or not), or None."""
    orig = getattr(error, 'orig', error)
    return getattr(orig, 'pgcode', None) or getattr(orig, 'sqlstate', None)


def is_transient(error):
    """True for a fault of the server or the connection, False for a fault of the data.

    Also for a psycopg2 error SQLAlchemy did not wrap: the pool's own calls on a connection
    (resetting it as it is checked in) raise them past its wrapping.
    """
    if isinstance(error, (OSError, sa.exc.DisconnectionError, sa.exc.TimeoutError)):
        return True
    if isinstance(error, psycopg2.Error):
        broken = isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError))
    elif isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        broken = isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError))
    else:
        return False
    code = sqlstate(error)
    if code is None:
        # no answer from the server at all: the connection broke (OperationalError /
        # InterfaceError without a SQLSTATE)
        return broken
    return code in TRANSIENT_CODES or code[:2] in TRANSIENT_CLASSES


def describe(error):
    """One line for an operator: the server's message (first line), with its SQLSTATE; for an
    error of ours, its type and message."""
    if not isinstance(error, sa.exc.DBAPIError):
        return f"{type(error).__name__}: {error}"
    orig = error.orig
    text = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    code = sqlstate(error)
    return f"{text} (SQLSTATE {code})" if code else text

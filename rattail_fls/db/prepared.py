"""Statements of the hot path prepared once per database connection (PostgreSQL ``PREPARE``).

Parsed and planned for every request, the inbox INSERT of a single sale cost PostgreSQL 0.29 ms
of CPU, prepared 0.16.  ``PREPARE`` outlives a rolled-back transaction and lasts as long as the
connection; the connection's SQLAlchemy ``info`` remembers it and is cleared when the pool
replaces the connection.  Only for tables the search path does not choose (the main database's):
a prepared statement keeps the tables it named when it was prepared, and the shards' statements
name theirs through ``SET LOCAL search_path``.  A pooler that moves a client between server
connections per transaction (pgbouncer's transaction mode) would lose them: use session mode.
"""

import re

_PARAMETER = re.compile(r'(?<!:):([a-z_]+)\b')


class Prepared:
    """One statement: ``sql`` with ``:name`` parameters of the PostgreSQL types ``params`` gives
    (``{name: type}``, in order); calling it with a connection and the values runs it."""

    def __init__(self, name, sql, params):
        numbers = {param: f'${n}' for n, param in enumerate(params, 1)}
        unknown = set(_PARAMETER.findall(sql)) - set(numbers)
        if unknown:
            raise ValueError(f"statement {name}: parameters without a type: {', '.join(sorted(unknown))}")
        self.name = name
        self.prepare = (f"PREPARE {name} ({', '.join(params.values())}) AS "
                        + _PARAMETER.sub(lambda m: numbers[m.group(1)], sql))
        self.execute = (f"EXECUTE {name} ("
                        + ', '.join(f'CAST(%({param})s AS {sqltype})' for param, sqltype in params.items()) + ")")

    def __call__(self, conn, values):
        """Run on ``conn`` (a SQLAlchemy Connection), prepared first if this connection has not."""
        prepared = conn.connection.info
        if self.name not in prepared:
            conn.exec_driver_sql(self.prepare)
            prepared[self.name] = True
        return conn.exec_driver_sql(self.execute, values)

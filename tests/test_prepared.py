"""The prepared-statement helper's text (pure: no database; tests/test_intake.py runs it)."""

import pytest

from rattail_fls.db.prepared import Prepared


@pytest.mark.parametrize('sql, params, prepare, execute', [
    ("SELECT :a + :b", {'a': 'integer', 'b': 'integer'},
     "PREPARE s (integer, integer) AS SELECT $1 + $2",
     "EXECUTE s (CAST(%(a)s AS integer), CAST(%(b)s AS integer))"),
    # casts, times in literals and a parameter used twice are left as they are / numbered once
    ("SELECT :day::date, '10:00', :day", {'day': 'text'},
     "PREPARE s (text) AS SELECT $1::date, '10:00', $1", "EXECUTE s (CAST(%(day)s AS text))"),
    ("SELECT 1 FROM unnest(:ids) AS u(id)", {'ids': 'bigint[]'},
     "PREPARE s (bigint[]) AS SELECT 1 FROM unnest($1) AS u(id)", "EXECUTE s (CAST(%(ids)s AS bigint[]))"),
])
def test_statement_text(sql, params, prepare, execute):
    statement = Prepared('s', sql, params)
    assert (statement.prepare, statement.execute) == (prepare, execute)


def test_a_parameter_without_a_type_is_refused():
    with pytest.raises(ValueError, match='statement s: parameters without a type: b'):
        Prepared('s', "SELECT :a, :b", {'a': 'integer'})

"""The compiled SQL of each dialect stays stable (golden files), runs where it should, and
fails loudly where a dialect cannot express it.

After an intended change: `UPDATE_GOLDEN=1 pytest tests/test_sql_dialects.py`, then review
the diff of tests/golden/. The golden files detect change, not correctness: they are the
compiler's own output, reviewed once; what the SQL computes is tested on hand-built patients
(test_spec_rules.py, tests/trials/) and against the reference evaluator (test_reference.py).
"""

from __future__ import annotations

import os
from datetime import date

import pytest

from feasibility.compile.pipeline import render
from feasibility.criteria.load import load_trials
from feasibility.errors import FeasibilityError
from feasibility.sql_listing import listing
from tests.support import REPO

GOLDEN = REPO / "tests" / "golden"
TRIALS, LIBRARY = load_trials([REPO / "tests/fixtures/trials/small.yaml"])


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_golden_sql(dialect):
    text = listing(TRIALS, LIBRARY, dialect, as_of=date(2025, 1, 1))
    path = GOLDEN / f"small.{dialect}.sql"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("dialect", ["postgres", "trino"])
def test_unsupported_dialects_fail_loudly(dialect):
    with pytest.raises(FeasibilityError, match=f"{dialect} cannot express"):
        listing(TRIALS, LIBRARY, dialect)


@pytest.mark.parametrize("dialect", ["postgres", "trino"])
def test_a_trial_reading_no_result_renders_without_patterns(dialect, tmp_path):
    """A trial of ages and diagnoses renders for dialects that cannot express the results
    pass, code dictionary included: no result is read, so no bound is counted, and its SQL
    holds no regular expression (postgres has no REGEXP_EXTRACT)."""
    trial = tmp_path / "plain.yaml"
    trial.write_text(
        "id: PLAIN\ntitle: Ages and diagnoses\ncriteria:\n"
        "  - {id: a, kind: inclusion, text: Adults, rule: {age: {min: 18}}}\n"
        "  - {id: b, kind: inclusion, text: SLE, rule: {diagnosis: {concept: sle}}}\n",
        encoding="utf-8",
    )
    text = listing(*load_trials([trial]), dialect)
    assert "n_bounds" in text and "n_written" in text
    assert "REGEXP" not in text.upper()


def test_unknown_dialect():
    from sqlglot import exp

    with pytest.raises(FeasibilityError, match="unknown dialect"):
        render(exp.select("1"), "oracle-ish")


def test_duckdb_listing_runs_in_duckdb(tmp_path):
    """The printed DuckDB SQL is the engine's: executed by hand it gives the same counts."""
    import duckdb

    from feasibility.compile.code_map import build_code_map, code_map_table
    from feasibility.compile.plan import plan_features
    from feasibility.extract.source import open_extract
    from tests.support import event, person, write_extract

    rows = person("a", birth_year=1980) + [event("a", "diagnosis", "ICD10CM", "M32.1", "2024-05-01")]
    rows += person("b", birth_year=2015)
    extract = write_extract(rows, tmp_path / "x.parquet")
    con = duckdb.connect()
    open_extract(con, str(extract))
    plan = plan_features(TRIALS, LIBRARY)
    code_map, _ = build_code_map(
        plan,
        con.execute(
            "SELECT code_system, code, unit, count(*), count(value_num) FROM events GROUP BY ALL"
        ).fetchall(),
    )
    con.register("code_map_rows", code_map_table(code_map))
    con.execute("CREATE TABLE code_map AS SELECT * FROM code_map_rows")
    text = listing(TRIALS, LIBRARY, "duckdb")
    *setup, final = [s for s in text.split(";\n") if s.strip()]
    for statement in setup[:2] + setup[3:]:  # the code dictionary (3rd) is a plain query
        con.execute(statement)
    histogram = con.execute(final).fetchall()
    # patient a is an adult with SLE (bits 0 and 1 pass), b is a child without SLE
    assert sum(r[-1] for r in histogram) == 2
    assert {r[2] & 0b11 for r in histogram} == {0b11, 0b00}

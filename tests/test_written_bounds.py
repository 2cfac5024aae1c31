"""Results written as bounds (`<20`, `>=1.035`, `≤ 0.5 mg/L`, `<1:80`, `LESS THAN 10`): the
SQL engines read a bound's number with one pattern for every way of writing it and its way
from the sign it starts with; the reference evaluator tries each way's own pattern. Both
must read every spelling alike, and a way must decide a threshold exactly where every value
it stands for lies on one side of it."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from feasibility.compile.aggregate import text_read
from feasibility.compile.atoms import text_bound_way
from feasibility.compile.pipeline import code_dictionary
from feasibility.compile.plan import plan_features
from feasibility.compile.sqlexpr import lit
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import COMPARE, WRITTEN_BOUNDS, Comparison, written_number
from feasibility.evaluate.reference import _NUMBER_BOUNDS, _TITRE_BOUNDS

TEXTS = [
    "<20",
    " < 20 IU/mL",
    "<20IU/mL",
    "<0.5%",
    "<=20",
    "=<20",
    "≤ 0.5 mg/L",
    ">=1.035",
    " => 1.035",
    "≥40",
    ">1000",
    "> 1000 copies",
    "<20.",
    ">1:1280. ",
    "<1:80",
    ">=1:160",
    "≤1/40 speckled",
    # in words, as some laboratory systems print them (MIMIC-III's `LESS THAN 10 mEq/L`)
    "less than 20",
    "LESS THAN 10 mEq/L",
    "Greater than 1000",
    "Greater Than Or Equal To 1.035",
    "less than or equal to 0.5",
    "LESS THAN 1:40",
    # with a decimal comma, as laboratories in much of Europe write one
    "<0,5",
    "< 0,5 mg/dL",
    "≥ 1,25 g/L",
    "<2,00E+01 IU/mL",
    "<1,5000",
    "<0,5.",
    # not bounds: no number next, a sign not first, text glued by `:` or `/`, two signs, a
    # second full stop, words run together, in mixed case or cut short
    "<",
    "=20",
    "< =20",
    "=<=20",
    "<<20",
    "see <20",
    "<1:80x",
    "20",
    "negative",
    "<20/uL",
    "<20..",
    "<-5",
    "less than",
    "less than twenty",
    "lessthan 20",
    "LeSS THAN 20",
    "HOLD.  DISCARD GREATER THAN 4 HOURS OLD.",
    "less than or equal 20",
    # a comma before three digits: a thousands separator or a decimal comma, a thousand or one
    "<1,000",
    ">=1,035",
    ">100,000 copies/mL",
    "<1,000,000",
    "<0,",
    "<,5",
]


def _sql_read(text: str) -> tuple[float | None, float | None, int | None]:
    """The number and titre a text reads as written as a bound in SQL, and its way."""
    t = lit(text)
    none = exp.cast(exp.null(), "DOUBLE")
    parts = [
        text_read("bound", none, t.copy()),
        text_read("titre_bound", none.copy(), t.copy()),
        text_bound_way(none.copy(), t.copy()),
    ]
    return duckdb.connect().execute("SELECT " + ", ".join(p.sql("duckdb") for p in parts)).fetchone()


def _reference_read(text: str) -> tuple[float | None, float | None, int | None]:
    number = [
        (i, written_number(m.group(1)))
        for i, b in enumerate(WRITTEN_BOUNDS)
        if (m := _NUMBER_BOUNDS[b].fullmatch(text))
    ]
    titre = [
        (i, float(m.group(1)))
        for i, b in enumerate(WRITTEN_BOUNDS)
        if (m := _TITRE_BOUNDS[b].fullmatch(text))
    ]
    assert len(number) + len(titre) <= 1, f"{text!r} matches two ways"
    (way, read), *_ = [*number, *titre] or [(None, None)]
    return (read if number else None, read if titre else None, way)


@pytest.mark.parametrize("text", TEXTS)
def test_sql_and_reference_read_a_bound_alike(text):
    number, titre, way = _sql_read(text)
    expected_number, expected_titre, expected_way = _reference_read(text)
    assert (number, titre) == (expected_number, expected_titre)
    if number is not None or titre is not None:
        assert way == expected_way


def test_the_spellings_read_as_expected():
    reads = {text: _reference_read(text) for text in TEXTS}
    assert reads["<20IU/mL"] == (20.0, None, 0)
    assert reads["≤ 0.5 mg/L"] == (0.5, None, 1)
    assert reads[">=1.035"] == (1.035, None, 2)
    assert reads["=<20"] == (20.0, None, 1) and reads[" => 1.035"] == (1.035, None, 2)
    assert reads["> 1000 copies"] == (1000.0, None, 3)
    assert reads["<20."] == (20.0, None, 0) and reads[">1:1280. "] == (None, 1280.0, 3)
    assert reads["≤1/40 speckled"] == (None, 40.0, 1)
    assert reads["less than 20"] == (20.0, None, 0) and reads["LESS THAN 10 mEq/L"] == (10.0, None, 0)
    assert reads["less than or equal to 0.5"] == (0.5, None, 1)
    assert reads["Greater Than Or Equal To 1.035"] == (1.035, None, 2)
    assert reads["Greater than 1000"] == (1000.0, None, 3)
    assert reads["LESS THAN 1:40"] == (None, 40.0, 0)
    assert reads["< 0,5 mg/dL"] == (0.5, None, 0) and reads["≥ 1,25 g/L"] == (1.25, None, 2)
    assert reads["<2,00E+01 IU/mL"] == (20.0, None, 0) and reads["<0,5."] == (0.5, None, 0)
    assert [t for t, (n, ti, _) in reads.items() if n is None and ti is None] == TEXTS[TEXTS.index("<") :]


# every way against every kind of threshold at its own number: (way, op) -> verdict
AT_THE_THRESHOLD = {
    ("below", ">="): False,
    ("below", ">"): False,
    ("below", "<="): True,
    ("below", "<"): True,
    ("at_most", ">="): None,  # may be the threshold itself
    ("at_most", ">"): False,
    ("at_most", "<="): True,
    ("at_most", "<"): None,
    ("at_least", ">="): True,
    ("at_least", ">"): None,
    ("at_least", "<="): None,
    ("at_least", "<"): False,
    ("above", ">="): True,
    ("above", ">"): True,
    ("above", "<="): False,
    ("above", "<"): False,
}
KEYS = {">=": "min", ">": "above", "<=": "max", "<": "below"}


@pytest.mark.parametrize(("way", "op"), list(AT_THE_THRESHOLD))
def test_a_bound_at_the_threshold_decides_only_where_its_number_cannot_differ(way, op):
    (bound,) = [b for b in WRITTEN_BOUNDS if b.name == way]
    ((verdict, test, limit),) = Comparison(**{KEYS[op]: 2.0}).against_written(bound)
    decided = verdict if COMPARE[test](2.0, limit) else None
    assert decided is AT_THE_THRESHOLD[way, op]
    # a number clearly past the threshold on its own side always decides
    past = 1.0 if bound.under else 3.0
    assert COMPARE[test](past, limit)


def test_the_code_dictionary_counts_the_texts_read_as_bounds():
    """The results pass packs bounds only for the concepts on whose rows the code dictionary
    counted a text written as one (`n_written`), and data quality counts a number written
    as a bound in a unit its concept does not know as it counts a number (`n_bounds`): the
    dictionary must count exactly the texts either evaluator reads as a bound, a titre's
    only in `n_written`."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events (code_system VARCHAR, code VARCHAR, unit VARCHAR, value_num DOUBLE, "
        "value_text VARCHAR)"
    )
    rows = [("X", str(i), None, None, t) for i, t in enumerate(TEXTS)]
    rows.append(("X", "with a number", None, 20.0, "<20"))
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    counted = con.execute(code_dictionary(plan_features(*load_trials(None))).sql("duckdb")).fetchall()
    assert [c[5:] for c in counted if c[1] == "with a number"] == [(0, 0)]
    by_text = {TEXTS[int(c[1])]: c[5:] for c in counted if c[1] != "with a number"}
    reads = {text: _reference_read(text) for text in TEXTS}
    assert by_text == {
        text: (int(n is not None), int(n is not None or t is not None)) for text, (n, t, _) in reads.items()
    }
    assert sum(n for n, _ in by_text.values()) > 10 and sum(w for _, w in by_text.values()) > 12

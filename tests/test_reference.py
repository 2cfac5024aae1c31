"""The DuckDB engine agrees with the plain-Python reference evaluator, patient by patient
and on every waterfall count, on random small extracts and random rule trees.

`pytest tests/test_reference.py --hypothesis-profile=thorough` runs many more examples.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from feasibility.analytics.histogram import CriteriaMatrix, MaskHistogram
from feasibility.analytics.waterfall import all_sites, waterfall
from feasibility.compile.histogram import words_needed
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import (
    All,
    AnyOf,
    AtLeast,
    Comparison,
    Criterion,
    Duration,
    InCare,
    Measurement,
    Not,
    Trial,
    walk,
)
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.evaluate.reference import ReferenceEvaluator, monthly_status
from tests.support import REPO, write_extract

AS_OF = date(2025, 2, 1)
SPEC_TRIALS, LIBRARY = load_trials([REPO / "tests/fixtures/trials/spec.yaml"])
ATOMS = [
    node
    for c in SPEC_TRIALS[0].criteria
    if c.rule is not None
    for node in walk(c.rule)
    if not isinstance(node, All | AnyOf | Not | AtLeast)
] + [
    InCare(Duration(90, "day")),
    InCare(Duration(2, "month")),
    # atoms that make a spec concept read two figures of its latest result (value and ULN
    # multiple, value and positivity, ULN multiple and positivity): the results pass packs
    # each figure on its own, and each must come from the latest result (`_Results`)
    Measurement("alt", Duration(90, "day"), Comparison(max=100), "U/L"),
    Measurement("hemoglobin", Duration(90, "day"), result="positive"),
    Measurement("ana", Duration(1, "year"), Comparison(above=1), "ULN"),
]

# (domain, system, code, units, value kind)
CODES = [
    ("diagnosis", "ICD10CM", "M32.14", [None], None),
    ("diagnosis", "ICD10CM", "M3210", [None], None),
    ("diagnosis", "icd10cm", "m32.9", [None], None),
    ("diagnosis", "ICD10CM", "M32.0", [None], None),  # excluded from the concept
    ("diagnosis", "ICD10CM", "I63.9", [None], None),
    ("diagnosis", "ICD10CM", "J45.0", [None], None),  # no concept
    ("lab", "LOINC", "1742-6", ["U/L", "ukat/L", "mmol/L", None], "num"),
    ("lab", "LOINC", "2160-0", ["mg/dL", "umol/L", None], "num"),
    ("lab", "LOINC", "718-7", ["g/L", "g/dL"], "num"),
    ("lab", "LOINC", "8061-4", [None], "text"),
    ("observation", "LOINC", "29463-7", ["kg", "g"], "num"),
    ("observation", "LOCAL", "SLEDAI2K", [None, "points"], "num"),
    ("medication", "ATC", "H02AB07", ["mg/d", None, "g/d"], "dose"),
    ("medication", "ATC", "H02AB04", ["mg/d"], "dose"),
]
# offsets around every window boundary the spec trial uses, and after the index date
OFFSETS = sorted(
    {
        (AS_OF - d.before(AS_OF)).days + s
        for d in [a.within for a in ATOMS if getattr(a, "within", None)]
        for s in (-1, 0, 1)
    }
    | {0, 1, 5, 40, 400, 3000, -1, -30}
)


@st.composite
def event_rows(draw, pid: str, demo: dict) -> dict:
    domain, system, code, units, kind = draw(st.sampled_from(CODES))
    start = AS_OF - timedelta(days=draw(st.sampled_from(OFFSETS)))
    row = {
        **demo,
        "patient_id": pid,
        "domain": domain,
        "code_system": system,
        "code": code,
        "start_date": start,
        "unit": draw(st.sampled_from(units)),
    }
    if kind in ("num", "dose"):
        row["value_num"] = draw(
            st.one_of(
                st.none(),
                st.sampled_from(
                    # -3 and 300 g/L fall outside plausible ranges (the spec library's hemoglobin
                    # is 20-250 g/L): such results are counted and not used
                    [
                        -3.0,
                        0.0,
                        0.5,
                        1.0,
                        2.0,
                        5.9,
                        6.0,
                        7.0,
                        7.5,
                        10.0,
                        40.0,
                        60.0,
                        70.0,
                        120.0,
                        121.0,
                        176.0,
                        300.0,
                    ]
                ),
            )
        )
        # a NaN, infinite or negative ref_high is no limit: read as a missing one
        row["ref_high"] = draw(st.sampled_from([None, None, 0.0, 1.0, 40.0, -1.0, math.nan, math.inf]))
    if kind == "num":
        row["value_text"] = draw(st.sampled_from([None, None, "not detected"]))
    if kind == "text":
        row["value_text"] = draw(st.sampled_from(["Positive", "negative", "detected", "equivocal", None]))
        row["value_num"] = draw(st.sampled_from([None, 0.5, 1.5]))
        row["ref_high"] = draw(st.sampled_from([None, 1.0, math.nan, math.inf]))
    if kind == "dose":
        row["end_date"] = draw(
            st.one_of(
                st.none(),
                st.builds(lambda d: start + timedelta(days=d), st.sampled_from([0, 20, 55, 56, 90, 400])),
            )
        )
    return row


@st.composite
def extracts(draw) -> list[dict]:
    rows = []
    for i in range(draw(st.integers(1, 5))):
        pid = f"p{i}"
        demo = {
            "sex": draw(st.sampled_from(["F", "M", "U", "f", "m", "X"])),
            "birth_year": draw(st.sampled_from([1940, 1957, 1980, 2006, 2007, 2008])),
            "site_id": draw(st.sampled_from(["A", "B"])),
        }
        if draw(st.booleans()):
            demo["birth_date"] = date(demo["birth_year"], draw(st.sampled_from([1, 2, 12])), 1)
        rows.append({**demo, "patient_id": pid, "domain": "person"})
        events = draw(st.lists(event_rows(pid, demo), max_size=7))
        # exact duplicate rows: an extract artefact that must not change any answer
        events += draw(st.lists(st.sampled_from(events), max_size=2)) if events else []
        rows += events
    return rows


def rule_trees(depth: int = 2):
    atom = st.sampled_from(ATOMS)
    if depth == 0:
        return atom
    child = rule_trees(depth - 1)
    return st.one_of(
        atom,
        st.builds(lambda ps: All(tuple(ps)), st.lists(child, min_size=1, max_size=3)),
        st.builds(lambda ps: AnyOf(tuple(ps)), st.lists(child, min_size=1, max_size=3)),
        st.builds(Not, child),
        st.lists(child, min_size=1, max_size=4).flatmap(
            lambda ps: st.integers(1, len(ps)).map(lambda n: AtLeast(n, tuple(ps)))
        ),
    )


@st.composite
def trials(draw) -> Trial:
    rules = draw(st.lists(rule_trees(), min_size=1, max_size=6))
    criteria = tuple(
        Criterion(f"c{i}", draw(st.sampled_from(["inclusion", "exclusion"])), f"criterion {i}", r)
        for i, r in enumerate(rules)
    )
    return Trial("RANDOM", "random", criteria)


@given(rows=extracts(), trial=trials())
def test_engine_agrees_with_reference(rows, trial):
    reference = ReferenceEvaluator(rows, LIBRARY, as_of=AS_OF)
    options = RunOptions(as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "x.parquet")
        engine = Engine(connect(options), [trial], LIBRARY, options)
        result = engine.evaluate(str(extract))
        assert engine.rule_values(trial) == reference.rule_values(trial)
    expected = reference.histogram(trial)
    got = {site: dict(h.as_counter()) for site, h in result.histograms["RANDOM"].items()}
    assert got == expected
    # the report's ALL site, summed over the engine's sites, is the waterfall of every patient
    n, order = len(trial.criteria), range(len(trial.criteria))
    sites = [CriteriaMatrix.of(h, n) for h in result.histograms["RANDOM"].values()]
    everyone = all_sites([waterfall(m, order) for m in sites], waterfall(CriteriaMatrix.empty(n), order))
    merged = Counter[tuple[int, int]]()
    for h in expected.values():
        merged.update(h)
    hist = MaskHistogram.from_counter(merged, words_needed([trial]))
    assert everyone == waterfall(CriteriaMatrix.of(hist, n), order)


@given(rows=extracts())
def test_engine_agrees_with_reference_on_the_spec_trial(rows):
    trial = SPEC_TRIALS[0]
    reference = ReferenceEvaluator(rows, LIBRARY, as_of=AS_OF)
    options = RunOptions(as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "x.parquet")
        engine = Engine(connect(options), [trial], LIBRARY, options)
        engine.evaluate(str(extract))
        assert engine.rule_values(trial) == reference.rule_values(trial)


@given(rows=extracts(), trial=trials())
def test_monthly_incidence_agrees_with_reference(rows, trial):
    """Evaluating every month end in one pass gives what cutting the extract at each month
    end and evaluating it afresh gives."""
    options = RunOptions(as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "x.parquet")
        engine = Engine(connect(options), [trial], LIBRARY, options)
        result = engine.evaluate(str(extract))
        got = engine.monthly(result, 3)
    assert {site: dict(c) for site, c in got.counts["RANDOM"].items()} == monthly_status(
        rows, LIBRARY, trial, AS_OF, 3
    )

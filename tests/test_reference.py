"""The DuckDB engine agrees with the plain-Python reference evaluator, patient by patient
and on every waterfall count, on random small extracts and random rule trees.

The atoms are the spec trial's and more, so that every atom kind and option is drawn: age
and sex bounds, history windows in weeks, counts ever, `before`, every `if_missing` and
`if_found`, measurements read as a value, a ULN or LLN multiple, a distance above the ULN
or a result (positive, negative), titres (written `1:N`, or a number in their unit),
numbers and titres written as bounds (`<40`, `>=40`, `≤0.5g/L`, `<1:80`), thresholds in
another unit, results on several days (`min_count`, `apart`), medications with and without
a dose, at a stable dose, per kilogram or in total, derived measures and the in-care step.
Patients may carry their own index date and a date of death, and their rows may disagree
on either, on the sex or on the birth year.

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
    Age,
    All,
    AnyOf,
    AtLeast,
    Comparison,
    Criterion,
    Derived,
    Duration,
    History,
    InCare,
    Measurement,
    Medication,
    Not,
    Sex,
    Trial,
    Truth,
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
    Measurement("ana", Duration(1, "year"), Comparison(below=160), "{titer}"),
    # kinds and options the spec trial does not use, as the parser would build them (each
    # threshold inside its concept's plausible range, each unit one the concept knows)
    Age(Comparison(min=18)),
    Age(Comparison(above=30, below=60)),
    Sex(("M",)),
    Sex(("F", "M")),
    History("sle", Duration(2, "week"), label="diagnosis"),
    History("sle", None, min_count=3),
    History("stroke", Duration(3, "month"), if_missing=Truth.TRUE, label="procedure"),
    History("stroke", before=Duration(3, "month"), if_missing=Truth.UNKNOWN),
    History("sle", Duration(1, "year"), min_count=2, if_missing=Truth.UNKNOWN),
    Measurement("ana", Duration(1, "year"), result="negative"),
    Measurement("ana", None, result="positive", if_missing=Truth.FALSE),
    Measurement("hemoglobin", None, Comparison(below=100), "g/L"),
    Measurement("hemoglobin", Duration(90, "day"), result="negative", if_missing=Truth.TRUE),
    Measurement("creatinine", Duration(2, "week"), Comparison(above=100), "umol/L"),
    Measurement("creatinine", Duration(1, "year"), Comparison(min=0.5, below=2), "ULN"),
    Measurement("weight", Duration(1, "year"), Comparison(min=50, max=100), "kg"),
    Measurement("sledai", None, Comparison(below=4), "{score}", label="observation"),
    Measurement("alt", Duration(6, "month"), Comparison(above=40), "U/L", if_missing=Truth.FALSE),
    # results on several distinct days (the spec trial has a value, a ULN multiple and a
    # positive result on two): three days, another unit, an observation, `if_missing`
    Measurement("creatinine", Duration(1, "year"), Comparison(above=100), "umol/L", min_count=3),
    Measurement("hemoglobin", None, Comparison(min=100), "g/L", if_missing=Truth.FALSE, min_count=2),
    Measurement(
        "sledai", Duration(90, "day"), Comparison(min=4), "{score}", label="observation", min_count=2
    ),
    Measurement("ana", Duration(1, "year"), result="negative", min_count=2, if_missing=Truth.TRUE),
    Measurement("ana", None, Comparison(min=160), "{titer}", min_count=2),
    # ... two of them a time apart (the spec trial has 12 weeks ever, 1 month in 6 months)
    Measurement(
        "creatinine",
        Duration(1, "year"),
        Comparison(above=100),
        "umol/L",
        min_count=2,
        apart=Duration(90, "day"),
    ),
    Measurement(
        "ana", None, result="positive", min_count=2, apart=Duration(3, "month"), if_missing=Truth.FALSE
    ),
    # multiples of the result's own lower limit (the spec trial has C3 below it, and
    # haemoglobin at least 0.9 times it)
    Measurement("hemoglobin", Duration(90, "day"), Comparison(below=1), "LLN", if_missing=Truth.FALSE),
    Measurement("creatinine", None, Comparison(min=0.5, max=2), "LLN", min_count=2),
    # distances above the upper limit (the spec trial has creatinine at most 0.3 mg/dL above
    # it): another unit, strictly above, on two days, two days a time apart
    Measurement("alt", Duration(90, "day"), Comparison(max=0.5), "ukat/L above ULN"),
    Measurement("alt", None, Comparison(above=0), "U/L above ULN", if_missing=Truth.FALSE),
    Measurement("creatinine", Duration(1, "year"), Comparison(min=0.5), "mg/dL above ULN", min_count=2),
    Measurement(
        "alt", None, Comparison(above=-30, below=80), "U/L above ULN", min_count=2, apart=Duration(30, "day")
    ),
    # medications without a dose: one day on any dose is read from the latest exposure end
    # (a pass of its own), more days from the exposures swept without a dose filter
    Medication("steroids", Duration(3, "month")),
    Medication("steroids"),
    Medication("steroids", Duration(2, "week"), if_found=Truth.UNKNOWN, if_missing=Truth.UNKNOWN),
    Medication("steroids", Duration(1, "year"), min_days=30),
    Medication("steroids", None, min_days=20, if_missing=Truth.TRUE),
    Medication("steroids", Duration(6, "month"), dose=Comparison(max=0.01), dose_unit="g/d"),
    Medication("steroids", Duration(90, "day"), dose=Comparison(above=7.5), dose_unit="mg/d"),
    Medication(
        "steroids", None, min_days=2, dose=Comparison(below=10), dose_unit="mg/d", if_missing=Truth.UNKNOWN
    ),
    # stable doses (the spec trial reads them over 2 weeks): ever, and with a dose range
    Medication("steroids", None, min_days=20, stable_dose=True, if_missing=Truth.UNKNOWN),
    Medication(
        "steroids",
        Duration(3, "month"),
        min_days=30,
        dose=Comparison(above=5),
        dose_unit="mg/d",
        stable_dose=True,
    ),
    # doses per kilogram of the latest weight (the spec trial reads them ever, and at a
    # stable dose): a window and days, another unit, and a stable dose with days
    Medication(
        "steroids",
        Duration(6, "month"),
        min_days=5,
        dose=Comparison(min=1),
        dose_unit="mg/kg/d",
        if_missing=Truth.UNKNOWN,
    ),
    Medication("steroids", None, dose=Comparison(above=0.00005, below=0.002), dose_unit="g/kg/d"),
    # doses per week, a seventh of them a day (records in mg/wk too): a range, and per kilogram
    Medication("steroids", Duration(6, "month"), dose=Comparison(min=35, max=140), dose_unit="mg/wk"),
    Medication("steroids", None, min_days=3, dose=Comparison(above=0.5), dose_unit="mg/kg/week"),
    Medication(
        "steroids",
        Duration(3, "month"),
        min_days=10,
        dose=Comparison(max=0.1),
        dose_unit="mg/kg/d",
        stable_dose=True,
    ),
    # total doses (the spec trial has one over and one at most): a range, ever; below, a
    # year; `if_missing` as the parser sets it, the answer for a total of 0
    Medication("steroids", None, total=Comparison(min=0.5, max=5), total_unit="g"),
    Medication(
        "steroids", Duration(1, "year"), total=Comparison(below=200), total_unit="mg", if_missing=Truth.TRUE
    ),
    Derived("creatinine_clearance", Comparison(max=90), None, "mL/min", if_missing=Truth.FALSE),
    Derived("egfr_ckd_epi_2021", Comparison(above=60, below=120), Duration(1, "year"), if_missing=Truth.TRUE),
    Derived("creatinine_clearance", Comparison(below=50), Duration(30, "day")),
    InCare(Duration(1, "year")),
    InCare(Duration(2, "week")),
]

# (domain, system, code, units, value kind)
CODES = [
    ("diagnosis", "ICD10CM", "M32.14", [None], None),
    ("diagnosis", "ICD10CM", "M3210", [None], None),
    ("diagnosis", "icd10cm", "m32.9", [None], None),
    ("diagnosis", "ICD10CM", "M32.0", [None], None),  # excluded from the concept
    ("diagnosis", "ICD10CM", "I63.9", [None], None),
    ("procedure", "ICD10CM", "I63.0", [None], None),  # a concept's code counts in any domain
    ("diagnosis", "ICD10CM", "J45.0", [None], None),  # no concept
    ("lab", "LOINC", "1742-6", ["U/L", "ukat/L", "mmol/L", None], "num"),
    ("lab", "LOINC", "2160-0", ["mg/dL", "umol/L", None], "num"),
    ("lab", "LOINC", "718-7", ["g/L", "g/dL"], "num"),
    ("lab", "LOINC", "4485-9", ["mg/dL", "g/L", None], "num"),
    ("lab", "LOINC", "8061-4", [None, None, "titer", "U/mL"], "text"),
    # anti-dsDNA: CLIFT words and titres, read for positivity alone; an immunoassay in IU/mL
    ("lab", "LOINC", "6457-6", [None, None, "titer", "[IU]/mL"], "text"),
    ("lab", "LOINC", "5130-0", ["[IU]/mL", None], "num"),
    ("observation", "LOINC", "29463-7", ["kg", "g"], "num"),
    ("observation", "LOCAL", "SLEDAI2K", [None, "points"], "num"),
    ("observation", "LOCAL", "SLEDAI2K", [None], "text"),
    ("medication", "ATC", "H02AB07", ["mg/d", None, "g/d", "mg/wk"], "dose"),
    ("medication", "ATC", "H02AB04", ["mg/d"], "dose"),
]
# offsets before the patient's index date around every window boundary the atoms use, and
# after the index date
OFFSETS = sorted(
    {
        (AS_OF - d.before(AS_OF)).days + s
        for a in ATOMS
        for d in (getattr(a, "within", None), getattr(a, "before", None), getattr(a, "apart", None))
        if d is not None
        for s in (-1, 0, 1)
    }
    | {0, 1, 5, 40, 400, 3000, -1, -30}
)
# a patient's own index date (None: the run's, AS_OF): an earlier day, 31 December (when a
# birth year alone gives one age) and 31 March (a window of months ends on 28 or 29 February)
INDEX_DATES = [None, None, None, AS_OF - timedelta(days=45), date(2024, 12, 31), date(2024, 3, 31)]


@st.composite
def event_rows(draw, pid: str, demo: dict, index: date) -> dict:
    domain, system, code, units, kind = draw(st.sampled_from(CODES))
    # dated from the patient's own index date, so its windows' boundaries are met
    start = index - timedelta(days=draw(st.sampled_from(OFFSETS)))
    row = {
        **demo,
        "patient_id": pid,
        "domain": domain,
        "code_system": system,
        "code": code,
        "start_date": start,
        "unit": draw(st.sampled_from(units)),
    }
    # an extract's rows of one patient need not agree: a row without a sex or a birth year
    # says nothing of them, two birth years widen the age, two index dates take the latest
    noise = draw(
        st.sampled_from(
            ["same"] * 8 + ["no sex", "no birth year", "other birth year", "other index", "other death"]
        )
    )
    if noise == "no sex":
        row["sex"] = None
    elif noise == "no birth year":
        row["birth_year"] = None
    elif noise == "other birth year" and demo.get("birth_year") is not None:
        row["birth_year"] = demo["birth_year"] + 1
    elif noise == "other index":
        row["index_date"] = draw(
            st.sampled_from([None, index - timedelta(days=40), index + timedelta(days=3)])
        )
    elif noise == "other death":  # the earliest date of death counts; a row without says nothing
        row["death_date"] = draw(
            st.sampled_from([None, index - timedelta(days=2), index + timedelta(days=2)])
        )
    if kind in ("num", "dose"):
        row["value_num"] = draw(
            st.one_of(
                st.none(),
                st.sampled_from(
                    # -3 and 300 g/L fall outside plausible ranges (the spec library's hemoglobin
                    # is 20-250 g/L), as do doses of -3 or 40 g/d (its steroids: 0-30,000
                    # mg/d): such results are counted and not used, such doses not known
                    [
                        -3.0,
                        0.0,
                        0.5,
                        1.0,
                        2.0,
                        4.0,
                        5.0,
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
        # a NaN, infinite or negative ref_high is no limit: read as a missing one; so is a
        # ref_low
        row["ref_high"] = draw(st.sampled_from([None, None, 0.0, 1.0, 40.0, -1.0, math.nan, math.inf]))
        row["ref_low"] = draw(st.sampled_from([None, None, 0.0, 0.5, 30.0, 100.0, -1.0, math.nan, math.inf]))
    if kind == "num":
        # a number written as a bound (`<40`, `>= 1`, in words) is read where the row has no number
        bounds = ["<40", "> 1", "<0.5 g/L", "<=40", ">= 1", "≤0.5g/L", "≥40", "=<40", "=> 1"]
        bounds += ["LESS THAN 40", "greater than or equal to 1", "Less than 0.5", "<4.0E+01", "> 1e-1 g/L"]
        bounds += ["<40 IU/mL detected", "> 1 (not detected)", "<0.5, Negative.", "Detected <40", "TND, <1"]
        bounds += ["<40.", ">1. ", "Detectable, <40", "<1 undetectable"]
        bounds += ["<0,5 g/L", ">= 1,25", "<39,99", "> 1,000", "<4,0E+01"]
        row["value_text"] = draw(
            st.sampled_from([None, None, "not detected", "Target Not Detected.", *bounds])
        )
        if row["value_text"] in bounds and draw(st.booleans()):
            row["value_num"] = None
    if kind == "text":
        # ANA reads titres: `1:N` is N in {titer}, positive from 1:80 without a limit of its
        # own (anti-dsDNA from 1:10, for positivity alone); `<1:N`, `>=1:N` and the like are
        # bounds
        texts = ["Positive", "negative", "detected", "equivocal", None, "1:160", "1:40", "1/80", "<1:80"]
        texts += [
            "Negative.",
            " WEAKLY POSITIVE",
            "TND",
            "positive (see comment)",
            "<1:80 detected",
            "<80 tnd",
            "Not detectable.",
            "1:160.",
        ]
        texts += ["1:80 negative", "1:40 (Positive)", "Positive 1:160", "NEG, 1:320", "Negative (<1:40)"]
        texts += ["POSITIVE, 1:320", "positive (1:80)", "Negative 1:160", "Detected: 1/40."]
        # about anti-dsDNA's CLIFT cut-off, 1:10
        texts += ["1:10", "1:5", "<1:10", ">=1:10", "<1:20", "1/20 positive"]
        titres = [">1:1280", "<1:320", ">1:40", "<=1:80", ">=1:80", "≥1:160", "=<1:80", "LESS THAN 1:80"]
        bounds = [*titres, "<80", "> 640", ">=80"]
        row["value_text"] = draw(st.sampled_from([*texts, "1:320 speckled", *bounds]))
        row["value_num"] = draw(st.sampled_from([None, None, 0.5, 1.5, 160.0]))
        row["ref_high"] = draw(st.sampled_from([None, 1.0, math.nan, math.inf]))
    if kind == "dose":
        # -5: an exposure ending before it starts covers no day
        row["end_date"] = draw(
            st.one_of(
                st.none(),
                st.builds(
                    lambda d: start + timedelta(days=d), st.sampled_from([-5, 0, 13, 20, 29, 55, 56, 90, 400])
                ),
            )
        )
    return row


@st.composite
def extracts(draw) -> list[dict]:
    rows = []
    for i in range(draw(st.integers(1, 5))):
        pid = f"p{i}"
        demo = {
            "sex": draw(st.sampled_from(["F", "M", "U", "f", "m", "X", None])),
            "birth_year": draw(st.sampled_from([1940, 1957, 1980, 2006, 2007, 2008, None])),
            "site_id": draw(st.sampled_from(["A", "B"])),
        }
        if draw(st.booleans()):
            year = demo["birth_year"] or 1990
            month, day = draw(st.sampled_from([(1, 1), (2, 1), (2, 28), (3, 31), (12, 31)]))
            demo["birth_date"] = date(year, month, day)
        index = draw(st.sampled_from(INDEX_DATES))
        if index is not None:
            demo["index_date"] = index
        # dead before, on or after the index date: in care only after it
        died = draw(st.sampled_from([None, None, None, -30, 0, 1]))
        if died is not None:
            demo["death_date"] = (index or AS_OF) + timedelta(days=died)
        rows.append({**demo, "patient_id": pid, "domain": "person"})
        events = draw(st.lists(event_rows(pid, demo, index or AS_OF), max_size=7))
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

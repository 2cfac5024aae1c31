"""Unit spellings sites use, read as one: a spelling missed makes those results UNKNOWN."""

from __future__ import annotations

import pytest

from feasibility.criteria.load import load_trials
from feasibility.units import above_uln, normalise_unit, per_day_of_weekly, rate_without_kg


@pytest.mark.parametrize(
    ("spelled", "normal"),
    [
        ("µmol/L", "umol/l"),  # micro sign
        ("μmol/L", "umol/l"),  # Greek mu
        ("K/uL", "10*9/l"),
        ("10^9/L", "10*9/l"),
        ("x10E9/L", "10*9/l"),
        ("10**9/L", "10*9/l"),
        ("10*3/uL", "10*9/l"),
        ("IU/L", "u/l"),
        ("#/uL", "/ul"),  # MIMIC-IV's lymphocyte counts
        ("{cells}/uL", "/ul"),
        ("cells/mm3", "/ul"),
        (" mm Hg ", "mm[hg]"),
        ("mg/week", "mg/wk"),
        ("MG/Week", "mg/wk"),
        ("mg/kg/week", "mg/kg/wk"),
        ("mg/weekly", "mg/weekly"),  # not a unit: left as written, so not known
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_unit_spellings_normalise(spelled, normal):
    assert normalise_unit(spelled) == normal


@pytest.mark.parametrize(
    ("unit", "distance_unit"),
    [
        ("s above ULN", "s"),
        ("mg/dL over the ULN", "mg/dL"),
        ("  umol/L ABOVE uln ", "umol/L"),
        ("ULN", None),  # a multiple, not a distance
        ("x ULN", None),
        ("s above LLN", None),  # only distances above the upper limit are read
        ("above ULN", None),  # no unit to read the distance in
        ("s", None),
    ],
)
def test_a_distance_above_the_upper_limit_names_its_unit(unit, distance_unit):
    assert above_uln(unit) == distance_unit


@pytest.mark.parametrize(
    ("unit", "daily"),
    [("mg/wk", "mg/d"), ("g/wk", "g/d"), ("mg/d", None), ("mg", None), ("wk", None)],
)
def test_a_rate_per_week_names_the_same_rate_per_day(unit, daily):
    assert per_day_of_weekly(unit) == daily


def test_a_weekly_dose_is_a_seventh_of_it_a_day():
    """Methotrexate is prescribed weekly: a record or a threshold of 15 mg/wk is 15/7 mg/d
    (and 1.5 g/wk a thousand times that), in any concept whose unit is per day; a unit the
    concept does not know per day is not known per week either."""
    _, library = load_trials(None)
    methotrexate = library["methotrexate"]
    assert methotrexate.unit_factor(normalise_unit("mg/week")) == pytest.approx(1 / 7)
    assert methotrexate.unit_factor(normalise_unit("g/wk")) == pytest.approx(1000 / 7)
    assert methotrexate.unit_factor(normalise_unit("mL/wk")) is None
    assert methotrexate.unit_factor(normalise_unit("mg/kg/wk")) is None  # per kilogram: see below
    assert methotrexate.unit_factor(rate_without_kg("mg/kg/week")) == pytest.approx(1 / 7)
    # a concept that is not a rate per day knows no weekly rate
    assert library["creatinine"].unit_factor(normalise_unit("mg/dL/wk")) is None

"""Unit spellings sites use, read as one: a spelling missed makes those results UNKNOWN."""

from __future__ import annotations

import pytest

from feasibility.units import above_uln, normalise_unit


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

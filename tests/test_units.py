"""Unit spellings sites use, read as one: a spelling missed makes those results UNKNOWN."""

from __future__ import annotations

import pytest

from feasibility.units import normalise_unit


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
        (" mm Hg ", "mm[hg]"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_unit_spellings_normalise(spelled, normal):
    assert normalise_unit(spelled) == normal

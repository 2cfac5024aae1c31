"""Unit spellings: one normal form per unit, so concept conversion tables stay short.

Extracts spell the same unit many ways (`10^9/L`, `10*9/L`, `x10E9/L`, `K/uL`, `µmol/L`).
Normalisation only merges spellings of the *same* unit; conversions between different units
(mg/dL to umol/L) belong to each concept, because they depend on the analyte.
"""

from __future__ import annotations

import re

# Spellings of one unit, after lower-casing and removing spaces.
_ALIASES: dict[str, str] = {
    # cell counts per volume: 10^9/L is the same quantity as 10^3/uL
    "10*3/ul": "10*9/l",
    "k/ul": "10*9/l",
    "k/mm3": "10*9/l",
    "thou/ul": "10*9/l",
    "thou/mm3": "10*9/l",
    "10*3/mm3": "10*9/l",
    "/nl": "10*9/l",
    "g/l(cells)": "10*9/l",
    "10*6/ul": "10*12/l",
    "m/ul": "10*12/l",
    "/mm3": "/ul",
    "cells/ul": "/ul",
    "cells/mm3": "/ul",
    "{cells}/ul": "/ul",
    "#/ul": "/ul",  # MIMIC-IV's absolute counts (the number sign: a count of cells)
    "#/mm3": "/ul",
    # enzyme activity
    "iu/l": "u/l",
    "units/l": "u/l",
    # daily doses
    "mg/day": "mg/d",
    "mg/24h": "mg/d",
    "mg/dy": "mg/d",
    "g/day": "g/d",
    # other common variants
    "ml/min/1.73m^2": "ml/min/1.73m2",
    "ml/min/{1.73_m2}": "ml/min/1.73m2",
    "ml/min/1.73m*2": "ml/min/1.73m2",
    "mmhg": "mm[hg]",
    "sec": "s",
    "seconds": "s",
    "percent": "%",
    "ratio": "{ratio}",
    "inr": "{ratio}",
    "score": "{score}",
    "points": "{score}",
    "point": "{score}",
    "{points}": "{score}",
    "kilogram": "kg",
    "kgs": "kg",
    "lbs": "[lb_av]",
    "lb": "[lb_av]",
    "copies/ml": "{copies}/ml",
    "iu/ml": "[iu]/ml",
    # the dilution at which an antibody is still seen: "1:160" is a titre of 160
    "titer": "{titer}",
    "titre": "{titer}",
    "{titre}": "{titer}",
}

# The unit of a titre. A text result written as one (`1:160`) reads as a number in it (see
# `criteria.model.TITRE_TEXT`), and unlike other braced units it is never taken for a number
# without a unit: a bare ANA 2.5 is an immunoassay's index as often as a titre.
TITRE = "{titer}"

# a multiple of the upper (or lower) limit of normal, as protocols write it: ULN, x ULN,
# × ULN, times ULN
_LIMIT_MULTIPLE = re.compile(r"(?:[x×*]|times)?\s*(ULN|LLN)", re.IGNORECASE)

# how far a result lies above the upper limit of normal, as protocols write it: "PT
# prolonged by at most 4 s" is `max: 4, unit: s above ULN`
_ABOVE_ULN = re.compile(r"(.+?)\s+(?:above|over)\s+(?:the\s+)?ULN", re.IGNORECASE)

_POWER = re.compile(r"(?:x)?10(?:\^|\*|e|\*\*)(\d+)")

# a rate per week, as weekly drugs are prescribed (methotrexate 15 mg/week): UCUM's `wk`
_PER_WEEK = re.compile(r"(.+)/(?:wk|week)")


def normalise_unit(unit: str | None) -> str | None:
    """The normal form of a unit spelling, or None for a missing or blank unit."""
    if unit is None:
        return None
    u = unit.strip().lower().replace(" ", "")
    if not u:
        return None
    u = u.replace("µ", "u").replace("μ", "u").replace("×", "x")
    u = _POWER.sub(lambda m: f"10*{m.group(1)}", u)
    if week := _PER_WEEK.fullmatch(u):
        u = f"{week.group(1)}/wk"
    return _ALIASES.get(u, u)


def limit_multiple(unit: str) -> str | None:
    """ "ULN" or "LLN" when a threshold's unit says a multiple of the upper or lower limit of
    normal (`ULN`, `x ULN`, `× LLN`), else None."""
    m = _LIMIT_MULTIPLE.fullmatch(unit.strip())
    return m.group(1).upper() if m else None


def above_uln(unit: str) -> str | None:
    """For a threshold on how far a result lies above its upper limit of normal (`s above
    ULN`, `mg/dL over the ULN`), the unit that distance is in (`s`), else None."""
    m = _ABOVE_ULN.fullmatch(unit.strip())
    return m.group(1).strip() if m else None


# a dose per kilogram of body weight per day (or week), as protocols write it: mg/kg/d,
# mg/kg/day, mg/kg/wk
_PER_KG = re.compile(r"(.+)/kg(/.+)")


def rate_without_kg(unit: str) -> str | None:
    """For a dose per kilogram per day or week (`mg/kg/d`, `mg/kg/wk`), the rate it
    multiplies the weight into (`mg/d`, `mg/wk`, normalised); None for any other unit."""
    u = normalise_unit(unit)
    m = _PER_KG.fullmatch(u) if u else None
    return normalise_unit(m.group(1) + m.group(2)) if m else None


def per_day_of_weekly(normalised_unit: str) -> str | None:
    """For a rate per week (`mg/wk`, normalised), the same rate per day (`mg/d`), a seventh
    of it; None for any other unit."""
    m = _PER_WEEK.fullmatch(normalised_unit)
    return normalise_unit(f"{m.group(1)}/d") if m else None

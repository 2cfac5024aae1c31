"""What a trial author most likely meant where the language cannot read what they wrote.

Each function words the `fix` of one kind of error, from the ways protocols and spreadsheets
write windows (`6mo`, `4 weeks prior`), thresholds (`'>= 18'`, `9 g/dL`, `1.5 x ULN`), day
counts and rules. Reading the language stays in parse.py and yaml_source.py: nothing here
decides what a trial means, only what its error says.
"""

from __future__ import annotations

import re
from typing import Any

from feasibility.criteria.model import Duration
from feasibility.criteria.yaml_source import COMPARE_SYNONYMS, Located, shape, shown, written
from feasibility.units import limit_multiple

WINDOW_FIX = "write a positive whole number and a unit, e.g. `90 days`, `6 months`, `1 year`, or `ever`"

# the settings of a rule, as the fix for one written without them shows them
EXAMPLES = {
    "age": "`age: {min: 18, max: 75}`",
    "lab": "`lab: {concept: hemoglobin, min: 9, unit: g/dL, within: 30 days}`",
    "observation": "`observation: {concept: sledai_2k, min: 6, within: 90 days}`",
    "derived": "`derived: {measure: egfr_ckd_epi_2021, min: 30, unit: mL/min/1.73m2, within: 90 days}`",
    "dose": "`dose: {max: 10, unit: mg/d}`",
    "at_least": "`at_least: {n: 2, of: [rule, rule, ...]}`",
}

# Abbreviations of the window units, as protocols and spreadsheets write them
_UNIT_WORDS = {
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "weeks"),
    **dict.fromkeys(("m", "mo", "mos", "mth", "mths", "mon", "month", "months"), "months"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "years"),
}
_LOOSE_WINDOW = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([a-zA-Z]+)\.?\s*(.*?)\s*$")
# a threshold written as text, perhaps after an operator (`>= 18`) and before a unit
_LOOSE_NUMBER = re.compile(r"^\s*(>=|<=|=>|=<|≥|≤|>|<)?\s*(-?\d+(?:[.,]\d+)?)\s*(.*?)\s*$")


def window_fix(value: Any) -> str:
    """The fix for a window that cannot be read: the window meant, where it can be told
    (`6mo` is `6 months`, `28` needs its unit, `4 weeks prior` is `4 weeks`)."""
    if isinstance(value, bool) or value is None:
        return WINDOW_FIX
    if isinstance(value, int | float):
        return f"a window needs its unit: write e.g. `{written(value)} days` or `{written(value)} months`"
    if not isinstance(value, str):
        return f"write the window as one text, e.g. `within: 6 months`, not a {shape(value)}"
    m = _LOOSE_WINDOW.match(value)
    if m is None:
        return WINDOW_FIX
    number, word, rest = m.group(1), m.group(2).lower(), m.group(3)
    if word in ("h", "hr", "hrs", "hour", "hours"):
        return "the shortest unit is a day: write the window in days, e.g. `3 days` for 72 hours"
    unit = _UNIT_WORDS.get(word)
    if unit is None:
        return WINDOW_FIX
    if not number.isdigit():
        return (
            f"write a whole number of a smaller unit (`{number} {unit}` cannot be read), "
            "e.g. `2 weeks` or `15 days` for half a month"
        )
    if int(number) == 1:
        unit = unit.removesuffix("s")
    if re.search(r"\d", rest):
        return "write one whole number and one unit, e.g. `6 weeks` for 1 month and 2 weeks"
    if rest:
        return (
            f"write only the length, `{number} {unit}`: a window always ends at the index date "
            "(`within`: from that long before it; `before`: at least that long before it)"
        )
    return f"did you mean `{number} {unit}`?"


def threshold_fix(key: str, value: Any, has_unit: bool) -> str:
    """The fix for a threshold that is not a number: the threshold meant, where it can be
    told (`'9'`, `9,5`, `9 g/dL`, `1.5 x ULN`, `>= 18`)."""
    general = "write a plain number; put the unit in `unit:`" if has_unit else "write a plain number"
    m = _LOOSE_NUMBER.match(value) if isinstance(value, str) else None
    if m is None:
        return general
    operator, number, rest = m.group(1), m.group(2).replace(",", "."), m.group(3)
    meant = COMPARE_SYNONYMS.get(operator or "", key)
    parts = [f"{meant}: {number}"]
    if rest and has_unit:
        parts.append(f"unit: {limit_multiple(rest) or rest}")
    elif rest and not re.fullmatch(r"(?i)y(?:ea)?rs?(?:\s+old)?", rest):
        return general
    written_as = f"`{', '.join(parts)}`"
    if operator and meant != key:
        return f"the key says the comparison: write {written_as} instead of `{key}: {value}`"
    if operator:
        return f"the key already says the comparison: write {written_as}"
    if "," in m.group(2):
        return f"write decimals with a point: {written_as}"
    if rest and has_unit:
        return f"put the number and the unit apart: {written_as}"
    return f"write {written_as}, a number without quotes" + ("" if has_unit else " (ages are in years)")


# an age range as protocols write it: `18-75`, `18 to 75`, `18+`, `>= 18`, `< 65 years`
_AGE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-|–|to)\s*(\d+)\s*(?:y(?:ea)?rs?)?\s*$", re.IGNORECASE)
_AGE_FROM = re.compile(r"^\s*(\d+)\s*\+\s*$")


def _age_fix(value: Any) -> str | None:
    """The age rule meant by an age written as text (`18-75` is `{min: 18, max: 75}`), or
    None where it cannot be told."""
    if not isinstance(value, str):
        return None
    if m := _AGE_RANGE.match(value):
        return f"write `age: {{min: {m.group(1)}, max: {m.group(2)}}}` (both ends included)"
    if m := _AGE_FROM.match(value):
        return f"write `age: {{min: {m.group(1)}}}`"
    m = _LOOSE_NUMBER.match(value)
    if m and m.group(1) and not re.sub(r"(?i)y(?:ea)?rs?(?:\s+old)?", "", m.group(3)):
        return f"write `age: {{{COMPARE_SYNONYMS[m.group(1)]}: {m.group(2)}}}`"
    return None


def _dose_fix(value: Any) -> str | None:
    """The dose rule meant by a dose written as text (`> 10 mg/d` is `{above: 10, unit:
    mg/d}`), or None where it cannot be told."""
    m = _LOOSE_NUMBER.match(value) if isinstance(value, str) else None
    if m is None:
        return None
    number, unit = m.group(2).replace(",", "."), m.group(3) or "mg/d"
    if m.group(1):
        return f"write `dose: {{{COMPARE_SYNONYMS[m.group(1)]}: {number}, unit: {unit}}}`"
    return (
        f"write `dose: {{min: {number}, unit: {unit}}}` (at least) or `dose: {{max: {number}, "
        f"unit: {unit}}}` (at most): the key says the comparison"
    )


def setting_fix(key: str, value: Any) -> str | None:
    """The settings meant where `key` (an age, a dose) was given as text instead, or None."""
    fixes = {"age": _age_fix, "dose": _dose_fix}
    return fixes[key](value) if key in fixes else None


def shown_value(value: Any) -> str:
    """A value that is not what was asked, as an error names it: its text, or its shape."""
    if isinstance(value, str):
        return f"the text `{shown(value)}`"
    if value is None:
        return "nothing"
    return f"`{shown(value)}`" if isinstance(value, int | float | bool) else f"a {shape(value)}"


def rule_shape(value: Any, rule_keys: tuple[str, ...]) -> tuple[str, str]:
    """The problem and the fix of a rule that is not a mapping of one of `rule_keys`."""
    starts = f"start it with one of: {', '.join(rule_keys)}"
    if value is None:
        return (
            "the rule is empty",
            "write the rule on the lines below `rule:`, indented further than it, e.g. "
            "`rule:` then `  age: {min: 18}`",
        )
    if isinstance(value, list):
        return (
            "a rule is one mapping, not a list",
            "put the items under `all:` (every one must hold) or `any:` (one is enough)",
        )
    if isinstance(value, Located) and len(value) > 1:
        keys = ", ".join(f"`{k}`" for k in value)
        return (
            f"the rule has {len(value)} keys ({keys}), where a rule has one",
            'join them under `all:` (or `any:`), each its own item starting with "- "',
        )
    if isinstance(value, Located):
        return "the rule is an empty mapping", starts
    return f"a rule is a mapping such as `age: {{min: 18}}`, not {shown_value(value)}", starts


def days_fix(days: Any, window: Duration | None) -> str:
    """The fix for a `min_days` that is no whole number: the days meant, where told
    (`window`: `days` read as a window, if it is one)."""
    if isinstance(days, str) and days.strip().isdigit():
        return f"write `min_days: {days.strip()}`, a number without quotes"
    if window is not None:
        n = round(window.approx_days())
        about = "" if window.unit in ("day", "week") else "about "
        return f"`min_days` counts days: write `min_days: {n}` ({about}{str(days).strip()})"
    return "e.g. `min_days: 90`"

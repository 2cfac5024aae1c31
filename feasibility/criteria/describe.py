"""Rules as one line of readable text, for reports and `feasibility show`."""

from __future__ import annotations

from feasibility.criteria.model import (
    Age,
    All,
    AnyOf,
    AtLeast,
    Comparison,
    Derived,
    Duration,
    History,
    InCare,
    Measurement,
    Medication,
    Not,
    Rule,
    Sex,
    Truth,
)

_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _cmp(c: Comparison, unit: str | None = None) -> str:
    if unit and unit.startswith("{") and unit.endswith("}"):
        unit = None  # a UCUM annotation alone (`{score}`) is a number without a unit
    limit = unit is not None and unit.upper() in ("ULN", "LLN")
    suffix = f" × {unit.upper()}" if unit and limit else (f" {unit}" if unit else "")
    return " and ".join(f"{_SYMBOL[op]} {t:g}{suffix}" for op, t in c.bounds())


def _window(w: Duration | None) -> str:
    return f" within {w}" if w else ""


def _missing(value: Truth, default: Truth) -> str:
    return "" if value is default else f" (missing: {value.value})"


def _found(value: Truth) -> str:
    return "" if value is Truth.TRUE else f" (found: {value.value})"


def describe(rule: Rule) -> str:
    """A one-line rendering of a rule, e.g. `lab alt ≤ 3 × ULN within 90 days`."""
    match rule:
        case Age(compare=c):
            return f"age {_cmp(c)}"
        case Sex(values=v):
            return f"sex {' or '.join(v)}"
        case History():
            times = f" ≥{rule.min_count} times" if rule.min_count > 1 else ""
            if rule.before:
                times += f" at least {rule.before} before index"
            return (
                f"{rule.label} {rule.concept}{times}{_window(rule.within)}"
                f"{_found(rule.if_found)}{_missing(rule.if_missing, Truth.FALSE)}"
            )
        case Measurement():
            what = _cmp(rule.compare, rule.unit) if rule.compare is not None else f"result {rule.result}"
            which = "latest" if rule.min_count == 1 else f"≥ {rule.min_count} days of"
            if rule.apart is not None:
                which = f"2 days {rule.apart} or more apart of"
            return (
                f"{which} {rule.label} {rule.concept} {what}{_window(rule.within)}"
                f"{_missing(rule.if_missing, Truth.UNKNOWN)}"
            )
        case Medication() if rule.total is not None:
            total = _cmp(rule.total, rule.total_unit)
            return f"medication {rule.concept} total dose {total}{_window(rule.within)}"
        case Medication():
            dose = f", dose {_cmp(rule.dose, rule.dose_unit)}" if rule.dose else ""
            if rule.stable_dose:
                dose += ", at the current dose" if rule.dose else " at the current dose"
            return (
                f"medication {rule.concept} ≥ {rule.min_days} day{'' if rule.min_days == 1 else 's'}"
                f"{_window(rule.within)}{dose}"
                f"{_found(rule.if_found)}{_missing(rule.if_missing, Truth.FALSE)}"
            )
        case InCare(within=w):
            return f"any record{_window(w)} (still in care)"
        case Derived():
            return (
                f"{rule.measure} {_cmp(rule.compare, rule.unit)}{_window(rule.within)}"
                f"{_missing(rule.if_missing, Truth.UNKNOWN)}"
            )
        case All(parts=parts):
            return "all(" + "; ".join(describe(p) for p in parts) + ")"
        case AnyOf(parts=parts):
            return "any(" + "; ".join(describe(p) for p in parts) + ")"
        case Not(part=part):
            return f"not({describe(part)})"
        case AtLeast(n=n, parts=parts):
            return f"at least {n} of(" + "; ".join(describe(p) for p in parts) + ")"
    raise TypeError(f"not a rule: {rule!r}")

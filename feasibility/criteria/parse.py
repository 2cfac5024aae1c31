"""Trial YAML -> the frozen criteria model, with one-line errors that point at the line."""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from pathlib import Path
from typing import Any

from feasibility.criteria.concepts import ConceptLibrary
from feasibility.criteria.in_care import IN_CARE_ID
from feasibility.criteria.meant import (
    EXAMPLES,
    WINDOW_FIX,
    days_fix,
    rule_shape,
    setting_fix,
    shown_value,
    threshold_fix,
    window_fix,
)
from feasibility.criteria.model import (
    DERIVED_INPUTS,
    DOSE_WEIGHT,
    Age,
    All,
    AnyOf,
    AtLeast,
    Comparison,
    Concept,
    Criterion,
    Derived,
    Duration,
    History,
    Measurement,
    Medication,
    Not,
    Rule,
    Sex,
    Trial,
    Truth,
    derived_inputs,
    total_as_daily,
)
from feasibility.criteria.yaml_source import (
    ATOM_KEYS,
    MAX_RULE_DEPTH,
    Located,
    check_keys,
    load_yaml,
    optional_text,
    require,
    shape,
    shown,
    written,
)
from feasibility.errors import TrialError
from feasibility.units import above_uln, limit_multiple, normalise_unit, rate_without_kg
from feasibility.user_files import read_user_bytes

TRIAL_KEYS = {"id", "title", "source", "criteria", "description"}
CRITERION_KEYS = {"id", "kind", "text", "rule", "assessable", "reason", "note"}
COMPARE_KEYS = {"min", "max", "above", "below"}
HISTORY_KEYS = {"concept", "within", "min_count", "if_missing", "if_found", "before"}
MEASUREMENT_KEYS = {"concept", "within", "unit", "result", "if_missing", "min_count", "apart"} | COMPARE_KEYS
MEDICATION_KEYS = {"concept", "within", "min_days", "dose", "if_missing", "if_found", "total"}
DOSE_KEYS = COMPARE_KEYS | {"unit", "stable"}
TOTAL_KEYS = COMPARE_KEYS | {"unit"}
DERIVED_KEYS = {"measure", "within", "unit", "if_missing"} | COMPARE_KEYS
COMBINATORS = ("all", "any", "not", "at_least")
RULE_KEYS = (*ATOM_KEYS, *COMBINATORS)
DERIVED_UNITS = {
    "creatinine_clearance": {"ml/min"},
    "egfr_ckd_epi_2021": {"ml/min/1.73m2"},
}
# each measure's unit as a trial writes it (DERIVED_UNITS holds the normalised spellings)
DERIVED_SPELLING = {"creatinine_clearance": "mL/min", "egfr_ckd_epi_2021": "mL/min/1.73m2"}

_DURATION = re.compile(r"^\s*(\d+)\s*(day|week|month|year)s?\s*$", re.IGNORECASE)
# The longest window: longer than any patient's record, and its start (index date minus the
# window) stays a date every engine can compute; a larger one fails the run or its SQL.
MAX_WINDOW_YEARS = 200
# Criterion ids the waterfall gives its own steps: the whole extract and the in-care step.
RESERVED_IDS = {"base": "the whole extract", IN_CARE_ID: "the still-in-care step (--active-within)"}


def parse_duration(value: Any, where: str, what: str = "the window") -> Duration | None:
    """`90 days`, `6 months`, `1 year`, `ever` (None); at most MAX_WINDOW_YEARS long. `what`
    names the duration in errors."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "ever"):
        return None
    m = _DURATION.match(value) if isinstance(value, str) else None
    digits = m.group(1).lstrip("0") if m else ""
    if m is not None and not digits:
        raise TrialError(
            f"{what} `{shown(value)}` is empty: it must be at least one day",
            where=where,
            fix=WINDOW_FIX,
        )
    if m is None:
        raise TrialError(f"cannot read {what} `{shown(value)}`", where=where, fix=window_fix(value))
    unit = m.group(2).lower()
    # the digit count first: Python refuses int() of thousands of digits
    if len(digits) > 6 or Duration(int(digits), unit).approx_days() > MAX_WINDOW_YEARS * 365.25:  # type: ignore[arg-type]
        raise TrialError(
            f"{what} `{shown(value)}` is longer than {MAX_WINDOW_YEARS} years",
            where=where,
            fix=f"write at most `{MAX_WINDOW_YEARS} years`, or `ever` for no limit",
        )
    return Duration(int(digits), unit)  # type: ignore[arg-type]


def _as_window(value: Any) -> Duration | None:
    """`value` read as a window, if it is one (`12 weeks` where days were asked for)."""
    try:
        return parse_duration(value, "") if isinstance(value, str) else None
    except TrialError:
        return None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _min_count(body: Located) -> int:
    """A rule's `min_count` (default 1): records, or results, on that many distinct days."""
    count = body.get("min_count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise TrialError(
            "`min_count` must be a whole number of at least 1",
            where=body.where("min_count"),
            fix="e.g. `min_count: 2`",
        )
    return count


def parse_comparison(node: Located, what: str, has_unit: bool = True) -> Comparison | None:
    """The min/max/above/below keys of a mapping, checked for impossible ranges. `has_unit`:
    whether the mapping may say its unit in `unit:` (an age may not: it is in years)."""
    values = {}
    for key in COMPARE_KEYS:
        if key in node:
            if not _is_number(node[key]):
                raise TrialError(
                    f"`{key}` in {what} must be a number, not {shown_value(node[key])}",
                    where=node.where(key),
                    fix=threshold_fix(key, node[key], has_unit),
                )
            values[key] = float(node[key])
    if not values:
        return None
    if ("min" in values and "above" in values) or ("max" in values and "below" in values):
        raise TrialError(
            f"{what} gives two lower or two upper bounds",
            where=node.where(),
            fix="keep one of min/above and one of max/below",
        )
    low = values.get("min", values.get("above"))
    high = values.get("max", values.get("below"))
    if low is not None and high is not None:
        strict = "above" in values or "below" in values
        if low > high or (strict and low == high):
            raise TrialError(
                f"{what} can never be met: the lower bound {low:g} is not below the upper bound {high:g}",
                where=node.where(),
                fix="check the thresholds against the protocol",
            )
    return Comparison(**values)


def _thresholds(cmp: Comparison) -> list[tuple[str, float]]:
    """The thresholds of a comparison by the key they were written with (min, max, ...)."""
    keys = ("min", "above", "max", "below")
    return [(key, getattr(cmp, key)) for key in keys if getattr(cmp, key) is not None]


def _number(value: float) -> str:
    """A converted threshold to four significant digits, in exponent form only when huge."""
    if not math.isfinite(value) or abs(value) >= 1e15:
        return f"{value:.4g}"
    rounded = float(f"{value:.4g}")
    return f"{rounded:f}".rstrip("0").rstrip(".") if rounded != int(rounded) else f"{int(rounded)}"


def _range(low: float | None, high: float | None, unit: str) -> str:
    """A plausible range in words: `20..250 g/L`, `0 g/L or more`, `30 or less`."""
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"{_number(low)}..{_number(high)}{unit}"
    return f"{_number(low)}{unit} or more" if low is not None else f"{_number(high or 0)}{unit} or less"


def _dose_units(daily: str | None) -> str:
    """The dose units a concept in `daily` (`mg/d`) reads, as an error's fix names them: per
    day, per week (a seventh of it a day) and per kilogram per day."""
    if not daily:
        return "a unit the concept's `units` list (it has no unit of its own)"
    if not daily.endswith("/d"):
        return f"{daily} (the dose per day)"
    rate = daily.removesuffix("/d")
    return f"{daily}, {rate}/wk (a weekly dose) or {rate}/kg/d"


def _distinct_factors(concept: Concept) -> list[tuple[str, float]]:
    """The units a concept knows, one spelling per conversion factor (its canonical unit
    first): `umol/L` and `µmol/L` convert alike, so a suggestion names one of them."""
    seen: dict[float, str] = {}
    if concept.unit:
        seen[1.0] = concept.unit
    for spelling, factor in concept.unit_spellings:
        seen.setdefault(factor, spelling)
    return [(spelling, factor) for factor, spelling in seen.items()]


def _truth(node: Located, key: str) -> Truth | None:
    """The truth value written at `key` (true, false or unknown), None when absent."""
    if key not in node:
        return None
    raw = node[key]
    text = {True: "true", False: "false"}[raw] if isinstance(raw, bool) else str(raw).lower()
    try:
        return Truth(text)
    except ValueError:
        raise TrialError(
            f"`{key}` must be true, false or unknown, not `{raw}`",
            where=node.where(key),
            fix=f"write `{key}: unknown`",
        ) from None


def _missing(node: Located, default: Truth) -> Truth:
    return _truth(node, "if_missing") or default


def _found(node: Located) -> Truth:
    """What a record found answers: TRUE, or UNKNOWN when the record alone cannot decide."""
    found = _truth(node, "if_found")
    if found is Truth.FALSE:
        raise TrialError(
            "`if_found: false` would make a record count against itself",
            where=node.where("if_found"),
            fix="write `if_found: unknown`, or wrap the rule in `not:`",
        )
    return found or Truth.TRUE


class _RuleParser:
    def __init__(self, library: ConceptLibrary):
        self.library = library
        self.depth = 0  # combinators around the rule being read
        self.criterion = ""  # the id of the criterion being read, for messages

    def concept(self, node: Located, key: str, kinds: tuple[str, ...], what: str) -> str:
        name = require(node, key, what)
        if not isinstance(name, str):
            raise TrialError(
                f"`{key}` must be a concept name",
                where=node.where(key),
                fix="write the name of a concept of the library, e.g. `concept: hemoglobin`",
            )
        if name not in self.library:
            raise TrialError(
                f"unknown concept `{name}`", where=node.where(key), fix=self._unknown_fix(name, node)
            )
        self.check_kind(node, name, kinds, what, node.where(key))
        return name

    def _unknown_fix(self, name: str, node: Located) -> str:
        """The concept meant by an unknown name: one differing in case, a close spelling, or
        one whose label holds the name's words (`c_reactive_protein` finds `crp`); else where
        to define it, naming a misnamed `concept/` folder beside the trial."""
        names = list(self.library.concepts)
        folded = {n.casefold(): n for n in names}
        if name.casefold() in folded:
            return f"did you mean `{folded[name.casefold()]}`? (concept names are matched exactly)"
        near = difflib.get_close_matches(name.casefold(), names, n=1, cutoff=0.6)
        if near:
            return f"did you mean `{near[0]}`?"
        words = [w for w in re.split(r"[^a-z0-9]+", name.casefold()) if len(w) > 2]
        # whole words of the label: `myc` is no word of "Mycophenolate"
        labelled = [
            n
            for n in names
            if words and set(words) <= set(re.split(r"[^a-z0-9]+", self.library[n].label.casefold()))
        ]
        if labelled:
            return f"did you mean `{'` or `'.join(sorted(labelled)[:3])}`? (named so in docs/concepts.md)"
        folder = Path(node.file).parent if node.file else None
        if folder is not None and folder.is_dir():
            for other in sorted(folder.iterdir()):
                if (
                    other.is_dir()
                    and other.name != "concepts"
                    and other.name.casefold() in ("concept", "concepts")
                ):
                    return f"rename the folder {other} to `concepts`: only a folder of that name is read"
        return (
            "check the spelling (docs/concepts.md lists the library), or define it in a "
            "`concepts/` folder beside the trial file"
        )

    def check_kind(self, node: Located, name: str, kinds: tuple[str, ...], what: str, where: str) -> None:
        """Refuse a concept of a kind `what` cannot read, naming the rule that reads it."""
        kind = self.library[name].kind
        if kind in kinds:
            return
        atoms = {
            "condition": "`diagnosis:` or `history:`",
            "procedure": "`procedure:` or `history:`",
            "measurement": "`lab:` or `observation:` with a threshold and its unit, or `result:`",
            "medication": "`medication:` (or `history:` for any record of it)",
            "other": "`history:`",
        }
        raise TrialError(
            f"concept `{name}` is a {kind}, which {what} cannot use",
            where=where,
            fix=f"a {kind} is read with {atoms.get(kind, 'another rule')}",
        )

    def _kind_first(self, body: Any, kinds: tuple[str, ...], what: str) -> None:
        """A known concept of the wrong kind is told before the keys that only fit its own
        kind: `diagnosis: {concept: hemoglobin, below: 9}` is a lab, not a stray `below`."""
        if (
            isinstance(body, Located)
            and isinstance(body.get("concept"), str)
            and body["concept"] in self.library
        ):
            self.check_kind(body, body["concept"], kinds, what, body.where("concept"))

    def parse(self, value: Any, where: str) -> Rule:
        if isinstance(value, Located) and value.line:
            where = value.where()  # an item of a list is told at its own line
        if not isinstance(value, Located) or len(value) != 1:
            problem, fix = rule_shape(value, RULE_KEYS)
            raise TrialError(problem, where=where, fix=fix)
        check_keys(value, set(RULE_KEYS), "a rule")
        ((key, body),) = value.items()
        here = value.where(key)
        method = getattr(self, f"_{key}")
        nested = key in COMBINATORS
        if nested and self.depth >= MAX_RULE_DEPTH:
            raise TrialError(
                f"the rule nests `all`, `any`, `not` and `at_least` more than {MAX_RULE_DEPTH} levels deep",
                where=here,
                fix="flatten it: `not: {not: ...}` cancels out, and an `all` (or `any`) "
                "directly inside another joins its list",
            )
        self.depth += nested
        try:
            return method(body, here)
        finally:
            self.depth -= nested

    def _mapping(self, body: Any, here: str, key: str) -> Located:
        if not isinstance(body, Located):
            if isinstance(body, str) and key in ("lab", "observation") and body in self.library:
                self.check_kind(Located(), body, ("measurement",), f"`{key}`", here)
                example = (
                    f"`{key}: {{concept: {body}, max: 3, unit: ULN}}` "
                    f"or `{key}: {{concept: {body}, result: positive}}`"
                )
                return_fix = f"a {key} compares its result: write {example}"
            elif (meant := setting_fix(key, body)) is not None:
                return_fix = meant
            else:
                return_fix = f"write {EXAMPLES.get(key, f'`{key}: {{...}}`')} (docs/criteria-language.md)"
            raise TrialError(
                f"`{key}` needs a mapping of settings, not {shown_value(body)}", where=here, fix=return_fix
            )
        return body

    def _list(self, body: Any, here: str, key: str) -> list:
        if not isinstance(body, list) or not body:
            raise TrialError(
                f"`{key}` needs a non-empty list of rules",
                where=here,
                fix=f"write `{key}:` followed by `- rule` lines",
            )
        return body

    def _age(self, body: Any, here: str) -> Rule:
        body = self._mapping(body, here, "age")
        check_keys(body, COMPARE_KEYS, "`age`")
        cmp = parse_comparison(body, "`age`", has_unit=False)
        if cmp is None:
            raise TrialError("`age` needs min, max, above or below", where=here, fix="e.g. `age: {min: 18}`")
        if any(t < 0 or t > 130 for _, t in cmp.bounds()):
            raise TrialError(
                "an age bound is outside 0..130 years", where=here, fix="check the age thresholds"
            )
        return Age(cmp)

    def _sex(self, body: Any, here: str) -> Rule:
        values = body if isinstance(body, list) else [body]
        values = [str(v).upper() for v in values]
        if not values or any(v not in ("F", "M") for v in values):
            raise TrialError(
                f"`sex` must be F, M or a list of them, not `{body}`", where=here, fix="write `sex: F`"
            )
        return Sex(tuple(values))

    def _history_like(self, body: Any, here: str, label: str) -> Rule:
        if isinstance(body, str):
            body = Located.at({"concept": body}, here)
        body = self._mapping(body, here, label)
        kinds = ("condition", "procedure", "medication", "other")
        self._kind_first(body, kinds, f"`{label}`")
        check_keys(body, HISTORY_KEYS, f"`{label}`")
        concept = self.concept(body, "concept", kinds, f"`{label}`")
        count = _min_count(body)
        before = parse_duration(body.get("before"), body.where("before")) if "before" in body else None
        if before is not None and ("within" in body or count != 1):
            raise TrialError(
                "`before` cannot be combined with `within` or `min_count`",
                where=body.where("before"),
                fix="use `before` alone: a record dated at least that long before the index date",
            )
        return History(
            concept=concept,
            within=parse_duration(body.get("within"), body.where("within")),
            min_count=count,
            if_missing=_missing(body, Truth.FALSE),
            label=label,  # type: ignore[arg-type]
            before=before,
            if_found=_found(body),
        )

    def _diagnosis(self, body: Any, here: str) -> Rule:
        return self._history_like(body, here, "diagnosis")

    def _procedure(self, body: Any, here: str) -> Rule:
        return self._history_like(body, here, "procedure")

    def _history(self, body: Any, here: str) -> Rule:
        return self._history_like(body, here, "history")

    def _measurement(self, body: Any, here: str, label: str) -> Rule:
        body = self._mapping(body, here, label)
        self._kind_first(body, ("measurement",), f"`{label}`")
        check_keys(body, MEASUREMENT_KEYS, f"`{label}`")
        name = self.concept(body, "concept", ("measurement",), f"`{label}`")
        concept = self.library[name]
        cmp = parse_comparison(body, f"`{label}` of `{name}`")
        result = body.get("result")
        if result is not None and str(result).lower() not in ("positive", "negative"):
            raise TrialError(
                f"`result` must be positive or negative, not `{result}`",
                where=body.where("result"),
                fix="write `result: positive`",
            )
        if cmp is not None and result is not None:
            raise TrialError(
                f"`{label}` of `{name}` gives both a threshold and `result`; a rule reads one of them",
                where=here,
                fix="keep one; for both, write two rules under `all:` (or `any:`)",
            )
        if cmp is None and result is None:
            raise TrialError(
                f"`{label}` of `{name}` needs either a comparison (min/max/above/below) or `result`",
                where=here,
                fix="e.g. `max: 3, unit: ULN` or `result: positive`",
            )
        unit = body.get("unit")
        if cmp is not None:
            unit = self._threshold_unit(concept, unit, body)
            # a multiple of a limit, or a distance above it, is no value of the concept's own
            if unit not in ("ULN", "LLN") and (unit is None or above_uln(unit) is None):
                self._check_plausible(concept, cmp, unit, body)
        return Measurement(
            concept=name,
            within=parse_duration(body.get("within"), body.where("within")),
            compare=cmp,
            unit=unit,
            result=str(result).lower() if result is not None else None,  # type: ignore[arg-type]
            if_missing=_missing(body, Truth.UNKNOWN),
            label=label,  # type: ignore[arg-type]
            min_count=_min_count(body),
            apart=self._apart(body),
        )

    @staticmethod
    def _apart(body: Located) -> Duration | None:
        """`apart` in a lab or observation: two confirming days at least that long apart."""
        if str(body.get("apart", "")).strip().lower() == "ever":
            raise TrialError(
                "`apart` needs a time, not `ever`",
                where=body.where("apart"),
                fix="e.g. `apart: 12 weeks`",
            )
        apart = parse_duration(body.get("apart"), body.where("apart"), "the time apart")
        if apart is not None and _min_count(body) != 2:
            raise TrialError(
                "`apart` needs `min_count: 2`: it asks for two results that far apart",
                where=body.where("apart"),
                fix="add `min_count: 2` (three or more results each apart are not supported)",
            )
        return apart

    def _threshold_unit(self, concept: Concept, unit: Any, body: Located) -> str | None:
        # `x ULN`, `× ULN` and `times ULN`, as protocols write a multiple of the ULN (or LLN)
        limit = limit_multiple(str(unit)) if unit is not None else None
        if limit is not None:
            return limit
        if unit is None:
            if concept.accepts_missing_unit:
                return concept.unit
            raise TrialError(
                f"the threshold on `{concept.name}` needs a `unit`",
                where=body.where(),
                fix=f"add `unit: {concept.unit}` (or `unit: ULN`, `unit: LLN`)",
            )
        excess = above_uln(str(unit))
        if excess is not None:
            # the distance above the limit is in one of the concept's units: `4 s above ULN`
            if concept.unit is None:
                raise TrialError(
                    f"`{concept.name}` has no unit, so how far a result lies above its ULN cannot be read",
                    where=body.where("unit"),
                    fix="compare a multiple of the ULN instead (`unit: ULN`)",
                )
            if concept.unit_factor(normalise_unit(excess)) is None:
                raise TrialError(
                    f"unit `{excess}` in `{unit}` is not known for `{concept.name}`",
                    where=body.where("unit"),
                    fix=f"write the distance in a unit `{concept.name}` knows, "
                    f"e.g. `unit: {concept.unit} above ULN`",
                )
            return f"{excess} above ULN"
        if concept.unit_factor(normalise_unit(str(unit))) is None:
            # the concept's own unit first, then the others as the library spells them
            # (`g/dL`, not the normalised `g/dl`), each spelling once
            others = sorted({u for u, _ in concept.unit_spellings if u and u != concept.unit})
            known = [*([concept.unit] if concept.unit else []), *others, "ULN", "LLN"]
            if concept.unit:
                known.append(f"`{concept.unit} above ULN`")
            raise TrialError(
                f"unit `{unit}` is not known for `{concept.name}`",
                where=body.where("unit"),
                fix=f"use one of: {', '.join(known[:-1])} or {known[-1]}",
            )
        return str(unit)

    def _check_plausible(self, concept: Concept, cmp: Comparison, unit: str | None, body: Located) -> None:
        """Refuse a threshold that, converted to the concept's unit, lies outside its plausible
        range: no real result could sit near it, so it is a unit mix-up (`min: 9, unit: g/L`
        meant g/dL) that would decide the count silently. The range's own ends are allowed."""
        if concept.plausible is None:
            return
        low, high = concept.plausible
        factor = concept.unit_factor(normalise_unit(unit)) if unit else 1.0
        if factor is None:  # refused by _threshold_unit before; kept for the type checker
            return

        def inside(value: float) -> bool:
            return (low is None or value >= low) and (high is None or value <= high)

        for key, threshold in _thresholds(cmp):
            converted = threshold * factor
            if inside(converted):
                continue
            canonical = concept.unit or ""
            as_written = f"`{key}: {written(body[key])}`" + (f" {unit}" if unit else "")
            # the value in the concept's unit, unless the threshold is written in that unit
            same_unit = normalise_unit(unit) == normalise_unit(concept.unit)
            stated = "" if same_unit else f" ({_number(converted)}{f' {canonical}' if canonical else ''})"
            # the units the concept knows that would put every threshold of the rule in range
            fits = [
                spelling
                for spelling, other in _distinct_factors(concept)
                if other != factor and all(inside(t * other) for _, t in _thresholds(cmp))
            ]
            fix = (
                f"check the threshold's unit (did you mean {' or '.join(fits)}?)"
                if fits
                else f"check the threshold and its unit against the protocol "
                f"(the plausible range is set in {concept.where})"
            )
            raise TrialError(
                f"criterion `{self.criterion}`: the `{concept.name}` threshold {as_written}{stated} "
                f"is outside the concept's plausible range ({_range(low, high, canonical)})",
                where=body.where(key),
                fix=fix,
            )

    def _lab(self, body: Any, here: str) -> Rule:
        return self._measurement(body, here, "lab")

    def _observation(self, body: Any, here: str) -> Rule:
        return self._measurement(body, here, "observation")

    def _medication(self, body: Any, here: str) -> Rule:
        if isinstance(body, str):
            body = Located.at({"concept": body}, here)
        body = self._mapping(body, here, "medication")
        self._kind_first(body, ("medication",), "`medication`")
        check_keys(body, MEDICATION_KEYS, "`medication`")
        name = self.concept(body, "concept", ("medication",), "`medication`")
        if "total" in body:
            return self._total(body, name)
        days = body.get("min_days", 1)
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise TrialError(
                "`min_days` must be a whole number of at least 1",
                where=body.where("min_days"),
                fix=days_fix(days, _as_window(days)),
            )
        dose = dose_unit = None
        stable = False
        if "dose" in body:
            dnode = self._mapping(body["dose"], body.where("dose"), "dose")
            check_keys(dnode, DOSE_KEYS, "`dose`")
            stable = self._stable(dnode, int(days))
            if stable and self.library[name].unit is None:
                raise TrialError(
                    f"a stable dose compares daily doses, and `{name}` has no dose unit",
                    where=dnode.where("stable"),
                    fix=f"give the concept `{name}` a `unit:` (e.g. mg/d) in its concept file",
                )
            dose = parse_comparison(dnode, "`dose`")
            if dose is None and not stable:
                raise TrialError(
                    "`dose` needs min, max, above, below or stable",
                    where=dnode.where(),
                    fix="e.g. `dose: {min: 7.5, unit: mg/d}` or `dose: {stable: true}`",
                )
        if dose is not None:
            concept = self.library[name]
            dose_unit = str(
                require(dnode, "unit", "`dose`", fix=f"add `unit: {concept.unit}` (the dose per day)")
            )
            per_kg_rate = rate_without_kg(dose_unit)
            if concept.unit_factor(per_kg_rate or normalise_unit(dose_unit)) is None:
                raise TrialError(
                    f"dose unit `{dose_unit}` is not known for `{name}`",
                    where=dnode.where("unit"),
                    fix=f"use {_dose_units(concept.unit)}",
                )
            if per_kg_rate:
                self._needs_concept(DOSE_WEIGHT, "a dose per kilogram", dnode.where("unit"))
        return Medication(
            concept=name,
            within=parse_duration(body.get("within"), body.where("within")),
            min_days=int(days),
            dose=dose,
            dose_unit=dose_unit,
            stable_dose=stable,
            if_missing=_missing(body, Truth.FALSE),
            if_found=_found(body),
        )

    def _total(self, body: Located, name: str) -> Rule:
        """`total:` in a medication: the total dose in the window, compared. Alone with
        `concept` and `within`: a patient with no exposure has a total of 0, which the bounds
        decide, so `if_missing` has nothing to say; days and daily doses are other atoms."""
        for key in ("min_days", "dose", "if_missing", "if_found"):
            if key in body:
                raise TrialError(
                    f"`{key}` does not go with `total` in a medication",
                    where=body.where(key),
                    fix="a patient with no exposure has a total of 0; write days or daily doses "
                    "as another `medication` rule under `all:`",
                )
        node = self._mapping(body["total"], body.where("total"), "total")
        check_keys(node, TOTAL_KEYS, "`total`")
        total = parse_comparison(node, "`total`")
        if total is None:
            raise TrialError(
                "`total` needs min, max, above or below",
                where=node.where(),
                fix="e.g. `total: {above: 10, unit: g}` for more than 10 g in total",
            )
        concept = self.library[name]
        daily = concept.unit or ""
        mass = daily.split("/", 1)[0] if daily.endswith("/d") else None
        unit = str(require(node, "unit", "`total`", fix=f"add `unit: {mass or 'mg'}` (the total dose)"))
        if mass is None:
            raise TrialError(
                f"a total dose adds up daily doses, and `{name}` has no daily dose unit",
                where=node.where("unit"),
                fix=f"give the concept `{name}` a `unit:` per day (e.g. mg/d) in its concept file",
            )
        if "/" in unit or concept.unit_factor(normalise_unit(total_as_daily(unit))) is None:
            raise TrialError(
                f"total dose unit `{unit}` is not known for `{name}`",
                where=node.where("unit"),
                fix=f"use {mass} (or another mass whose daily dose `{name}` knows): a total is not per day",
            )
        return Medication(
            concept=name,
            within=parse_duration(body.get("within"), body.where("within")),
            # no exposure in the window is a total of 0, which the bounds decide
            if_missing=Truth.TRUE if total.holds(0.0) else Truth.FALSE,
            total=total,
            total_unit=unit,
        )

    @staticmethod
    def _stable(dose: Located, days: int) -> bool:
        """`stable: true` in a dose: the days counted are those at the current dose, so the
        atom needs more than one of them to say anything of stability."""
        if "stable" not in dose:
            return False
        stable = dose["stable"]
        if not isinstance(stable, bool):
            raise TrialError(
                f"`stable` in `dose` must be true or false, not {shown_value(stable)}",
                where=dose.where("stable"),
                fix="write `stable: true` (the dose unchanged on `min_days` days)",
            )
        if stable and days < 2:
            raise TrialError(
                "a stable dose needs `min_days`: the days the current dose must have been taken",
                where=dose.where("stable"),
                fix="e.g. `min_days: 14` with `within: 2 weeks` for a dose stable for 2 weeks",
            )
        return stable

    def _needs_concept(self, name: str, reader: str, where: str) -> None:
        """Refuse a rule whose computation reads a library concept (creatinine, weight)
        that the library lacks, or has in another canonical unit."""
        unit = DERIVED_INPUTS[name]
        if name not in self.library or self.library[name].unit != unit:
            raise TrialError(
                f"{reader} needs a concept `{name}` with canonical unit {unit}",
                where=where,
                fix="add it to the concept library",
            )

    def _derived(self, body: Any, here: str) -> Rule:
        body = self._mapping(body, here, "derived")
        check_keys(body, DERIVED_KEYS, "`derived`")
        measure = require(body, "measure", "`derived`")
        if not isinstance(measure, str) or measure not in DERIVED_UNITS:
            raise TrialError(
                f"unknown derived measure `{measure}`",
                where=body.where("measure"),
                fix=f"use one of {', '.join(DERIVED_UNITS)} (an eGFR the laboratory reports is "
                "`lab: {concept: egfr, ...}`)",
            )
        for needed in derived_inputs(measure):
            self._needs_concept(needed, f"`{measure}`", here)
        cmp = parse_comparison(body, f"`derived` {measure}")
        if cmp is None:
            raise TrialError("`derived` needs min, max, above or below", where=here, fix="e.g. `min: 60`")
        unit = body.get("unit")
        if unit is not None and normalise_unit(str(unit)) not in DERIVED_UNITS[measure]:
            raise TrialError(
                f"`{measure}` is in {DERIVED_SPELLING[measure]}, not `{unit}`",
                where=body.where("unit"),
                fix=f"write `unit: {DERIVED_SPELLING[measure]}` and the threshold in that unit",
            )
        return Derived(
            measure=measure,  # type: ignore[arg-type]
            compare=cmp,
            within=parse_duration(body.get("within"), body.where("within")),
            unit=str(unit) if unit else None,
            if_missing=_missing(body, Truth.UNKNOWN),
        )

    def _all(self, body: Any, here: str) -> Rule:
        return All(tuple(self.parse(p, here) for p in self._list(body, here, "all")))

    def _any(self, body: Any, here: str) -> Rule:
        return AnyOf(tuple(self.parse(p, here) for p in self._list(body, here, "any")))

    def _not(self, body: Any, here: str) -> Rule:
        if isinstance(body, list):
            raise TrialError(
                "`not` takes one rule, not a list",
                where=here,
                fix="write the rule under `not:` without a `- `; for several, `not:` then `any:` and "
                "the list (none of them) or `all:` (not all of them)",
            )
        return Not(self.parse(body, here))

    def _at_least(self, body: Any, here: str) -> Rule:
        body = self._mapping(body, here, "at_least")
        check_keys(body, {"n", "of"}, "`at_least`")
        n = require(body, "n", "`at_least`")
        parts = self._list(require(body, "of", "`at_least`"), body.where("of"), "of")
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(parts):
            raise TrialError(
                f"`n` must be a whole number from 1 to {len(parts)}",
                where=body.where("n"),
                fix="count the rules under `of`",
            )
        return AtLeast(int(n), tuple(self.parse(p, body.where("of")) for p in parts))


def _sources(data: Located) -> tuple[str, ...]:
    """`source:` as one text or a list of them (the seed files the criteria were copied from)."""
    source = data.get("source")
    items = source if isinstance(source, list) else [source]
    for item in items:
        if isinstance(item, bool | dict | list):
            raise TrialError(
                f"`source` of a trial must be a text or a list of texts; it holds a {shape(item)}",
                where=data.where("source"),
                fix="write e.g. `source: [seeds/000_4a6b7d5196fc3e2a.txt]`",
            )
    return tuple(written(item) for item in items if item is not None and written(item))


def _concept_file_error(path: Path, data: Located) -> TrialError:
    """A concept library file named where a trial was expected (`--trials trials/concepts/
    labs.yaml`): a trial reads the `concepts/` folder beside its own file by itself
    (criteria/load.py), so the fix is where the file belongs, not which key to write."""
    # the folder as the user wrote it, unless that is `.` (a file named from inside its folder)
    folder = path.parent if path.parent.name else path.resolve().parent
    if folder.name == "concepts":
        # already where a trial finds it: the trials one folder up read it
        fix = (
            f"give the trial files or their folder ({folder.parent}) instead; trials read the "
            f"concept files in {folder}, the `concepts/` folder beside them, by themselves"
        )
    else:
        here = path.parent / "concepts"
        fix = (
            f"put it in a `concepts/` folder beside the trial files that use it ({here}), "
            "where those trials read it by themselves, and give only the trial files or their folder"
        )
    return TrialError(
        "this is a concept file (it has a top-level `concepts:`), not a trial",
        where=data.where("concepts"),
        fix=fix,
    )


def parse_trial(path: Path, library: ConceptLibrary) -> Trial:
    """Read and check one trial file."""
    # the bytes hashed are the bytes parsed, even if the file changes during the run
    raw = read_user_bytes(path, TrialError, "trial file")
    data = load_yaml(path, raw)
    if not isinstance(data, Located):
        raise TrialError(
            "a trial file must be a mapping with id, title and criteria",
            where=str(path),
            fix="see docs/criteria-language.md",
        )
    if "concepts" in data and "criteria" not in data:
        raise _concept_file_error(path, data)
    check_keys(data, TRIAL_KEYS, "a trial")
    require(data, "id", "a trial")
    trial_id = str(optional_text(data, "id", "a trial"))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", trial_id):
        raise TrialError(
            f"trial id `{trial_id}` may use only letters, digits, '.', '_' and '-'",
            where=data.where("id"),
            fix="rename the trial",
        )
    items = require(data, "criteria", "a trial")
    if not isinstance(items, list):
        raise TrialError(
            "`criteria` must be a list",
            where=data.where("criteria"),
            fix="write each criterion as a `- id: ...` item",
        )
    parser = _RuleParser(library)
    criteria: list[Criterion] = []
    seen: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Located):
            raise TrialError(
                "each criterion must be a mapping",
                where=data.where("criteria"),
                fix="start each with `- id:`",
            )
        check_keys(item, CRITERION_KEYS, "a criterion")
        require(item, "id", "a criterion")
        cid = str(optional_text(item, "id", "a criterion"))
        if cid in seen:
            raise TrialError(
                f"criterion id `{cid}` is used twice",
                where=item.where("id"),
                fix="give each criterion its own id",
            )
        if cid in RESERVED_IDS:
            raise TrialError(
                f"criterion id `{cid}` is reserved for {RESERVED_IDS[cid]}",
                where=item.where("id"),
                fix="give the criterion another id",
            )
        seen[cid] = item.where("id")
        kind = require(item, "kind", f"criterion `{cid}`")
        if kind not in ("inclusion", "exclusion"):
            raise TrialError(
                f"`kind` must be inclusion or exclusion, not `{kind}`",
                where=item.where("kind"),
                fix="write `kind: inclusion` or `kind: exclusion`",
            )
        require(
            item,
            "text",
            f"criterion `{cid}`",
            fix="add `text:` with the criterion's words exactly as the protocol gives them "
            "(every report shows them beside the counts)",
        )
        text = str(optional_text(item, "text", f"criterion `{cid}`")).strip()
        note = optional_text(item, "note", f"criterion `{cid}`")
        assessable = item.get("assessable", True)
        if assessable is False:
            if "rule" in item:
                raise TrialError(
                    f"criterion `{cid}` has a rule but says `assessable: false`",
                    where=item.where("rule"),
                    fix="remove one of the two",
                )
            require(
                item,
                "reason",
                f"not assessable criterion `{cid}`",
                fix="add `reason:` saying why data cannot decide it, e.g. `reason: consent` "
                "or `reason: investigator judgement`",
            )
            reason = str(optional_text(item, "reason", f"criterion `{cid}`"))
            criteria.append(Criterion(cid, kind, text, None, reason, note))
            continue
        if assessable is not True:
            raise TrialError(
                f"`assessable` must be true or false, not {shown_value(assessable)}",
                where=item.where("assessable"),
                fix="write `assessable: false` (no quotes) with a `reason:`, "
                "or leave it out and give a `rule:`",
            )
        if "rule" not in item:
            raise TrialError(
                f"criterion `{cid}` has no rule",
                where=item.where(),
                fix="add `assessable: false` above its `reason:`"
                if "reason" in item
                else "add `rule:` or `assessable: false` with a `reason:`",
            )
        parser.criterion = cid
        rule = parser.parse(item["rule"], item.where("rule"))
        criteria.append(Criterion(cid, kind, text, rule, None, note))
    if not criteria:
        raise TrialError(
            "the trial has no criteria",
            where=data.where("criteria"),
            fix="list the protocol's criteria, each with id, kind and text (docs/criteria-language.md)",
        )
    optional_text(data, "description", "a trial")
    return Trial(
        id=trial_id,
        title=optional_text(data, "title", "a trial") or trial_id,
        criteria=tuple(criteria),
        source=_sources(data),
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
    )

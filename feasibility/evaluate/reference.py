"""A reference evaluator in plain Python: the criteria model's meaning, with no SQL.

It is slow and simple on purpose. Property tests run it and the DuckDB engine on random
small extracts and random rule trees and require them to agree patient by patient, so the
SQL compiler's shortcuts (latest-before-index serving every window, the code map built on
distinct codes, mask words) are checked against the plain definitions.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from feasibility.analytics.incidence import MonthEnds, month_ends_evaluated
from feasibility.criteria.code_systems import normalise_system
from feasibility.criteria.concepts import ConceptLibrary, normalise_code
from feasibility.criteria.model import (
    BOUNDING_INPUT,
    COMPARE,
    DOSE_WEIGHT,
    NEGATIVE_RESULTS,
    NEGATIVE_WITH_NUMBER,
    NUMBER_BOUND,
    POSITIVE_RESULTS,
    POSITIVE_WITH_NUMBER,
    SAME_DOSE,
    TITRE_READ,
    TITRE_TEXT,
    WRITTEN_BOUNDS,
    Age,
    All,
    AnyOf,
    AtLeast,
    CodePattern,
    Comparison,
    Concept,
    Criterion,
    Derived,
    Duration,
    History,
    InCare,
    Measurement,
    Medication,
    Not,
    Rule,
    Sex,
    Trial,
    WrittenBound,
    spelt_result,
    written_number,
)
from feasibility.units import TITRE, normalise_unit

POSITIVE, NEGATIVE = set(POSITIVE_RESULTS), set(NEGATIVE_RESULTS)
_POSITIVE_WITH_NUMBER, _NEGATIVE_WITH_NUMBER = (
    re.compile(POSITIVE_WITH_NUMBER),
    re.compile(NEGATIVE_WITH_NUMBER),
)
_TITRE = re.compile(TITRE_READ)
_TITRE_BOUNDS = {b: re.compile(b.pattern(TITRE_TEXT)) for b in WRITTEN_BOUNDS}
_NUMBER_BOUNDS = {b: re.compile(b.pattern(NUMBER_BOUND)) for b in WRITTEN_BOUNDS}

Row = Mapping[str, Any]  # a row of the extract: its values are of the columns' types
T3 = bool | None


def _matches(patterns: Iterable[CodePattern], system: str, code: str) -> bool:
    # not CodePattern.matches, which the engine's code map uses: the reference checks the engine
    return any(
        p.system == system and (code == p.code or (p.prefix and code.startswith(p.code))) for p in patterns
    )


def _in_concept(concept: Concept, row: Row) -> bool:
    if row.get("code_system") is None or row.get("code") is None:
        return False
    system = normalise_system(str(row["code_system"]))
    code = normalise_code(str(row["code"]))
    return _matches(concept.codes, system, code) and not _matches(concept.exclude, system, code)


def _factor(concept: Concept, row: Row) -> float | None:
    f = concept.unit_factor(normalise_unit(row.get("unit")))
    if f is not None and concept.dose_factors:
        f *= dict(concept.dose_factors).get(normalise_code(str(row["code"])), 1.0)
    return f


def _value(concept: Concept, row: Row) -> tuple[float | None, float | None, str | None]:
    """A result's number, the factor converting it to the concept's unit and its unit
    (normalised): its value in its unit, else, for a concept that reads titres, its text
    read as one, in TITRE."""
    v = row.get("value_num")
    if v is None and concept.reads_titres and row.get("value_text") is not None:
        titre = _TITRE.fullmatch(str(row["value_text"]))
        if titre is not None:
            return float(titre.group(1)), concept.unit_factor(TITRE), TITRE
    return v, _factor(concept, row), normalise_unit(row.get("unit"))


def _bound(concept: Concept, row: Row) -> tuple[WrittenBound, float, float | None, str | None] | None:
    """A row's text written as a bound, where the row has no number: how it is written
    (`<`, `<=`), its number in the row's terms, the factor converting it to the concept's
    unit, and that unit. A titre (`<1:80` is below 80, in TITRE) for a concept that reads
    titres; a number (`<20`, in the row's unit) for any."""
    if row.get("value_num") is not None or row.get("value_text") is None:
        return None
    text = str(row["value_text"])
    if concept.reads_titres:
        for way, pattern in _TITRE_BOUNDS.items():
            found = pattern.fullmatch(text)
            if found is not None:
                return way, float(found.group(1)), concept.unit_factor(TITRE), TITRE
    for way, pattern in _NUMBER_BOUNDS.items():
        found = pattern.fullmatch(text)
        if found is not None:
            return way, written_number(found.group(1)), _factor(concept, row), normalise_unit(row.get("unit"))
    return None


def _against_bound(way: WrittenBound, bound: float | None, limit: float, from_limit: bool) -> float | None:
    """A bound against a limit a value is positive above (or `from_limit` on): negative
    (0) where every value it stands for is not positive, positive (1) where every one is;
    else, or with no bound in the limit's unit, neither (`WrittenBound.deciding`)."""
    if bound is None or not COMPARE[way.deciding(upper=False, inclusive=from_limit)](bound, limit):
        return None
    return 0.0 if way.under else 1.0


def _implausible(concept: Concept, row: Row) -> bool:
    """A numeric result outside the concept's plausible range (canonical unit); with an
    unknown unit only a negative value can be judged (when the range starts at 0)."""
    v, f, _ = _value(concept, row)
    if concept.plausible is None or v is None:
        return False
    low, high = concept.plausible
    if f is None:
        return low == 0 and v < 0
    canonical = v * f
    return (low is not None and canonical < low) or (high is not None and canonical > high)


@dataclass(frozen=True)
class Latest:
    """A concept's latest result before index (see compile/latest.py): its date, and per
    figure the highest number among that date's results (None: none known); and per figure
    the highest number written as a bound that date, with how it is written (`bounds`: read
    where the figure has no number known)."""

    day: date
    number: float | None  # in the concept's unit
    uln: float | None  # multiple of the upper limit of normal
    lln: float | None  # multiple of the lower limit of normal
    excess: float | None  # value minus the upper limit of normal, in the concept's unit
    pos: float | None  # 1 positive, 0 negative
    bounds: Mapping[str, tuple[WrittenBound, float]]


# A result's figure: (way, known, value), the way None for a number, else how a number
# written as a bound is written; not known (0, 0.0) in a unit the concept does not know, or
# with no limit to divide by or subtract
Figure = tuple[WrittenBound | None, int, float]


def _own_limit(row: Row, key: str = "ref_high") -> float | None:
    """The row's own upper (`ref_high`) or lower (`ref_low`) limit of normal if that is a
    positive finite number, else None. A NaN, infinite, zero or negative limit is no limit
    and reads exactly as a missing one (for the ULN, the concept's default, else UNKNOWN),
    as in the SQL (`compile.aggregate.usable_limit`)."""
    limit = row.get(key)
    return limit if limit is not None and math.isfinite(limit) and limit > 0 else None


def _text_result(text: str | None) -> int:
    """A text result, spelt (`spelt_result`), read as positive (1), negative (-1) or
    neither (0): one of the words, or a number, titre or bound with one (`<20 detected`,
    `1:80 negative`), a negative one tested first as `compile.atoms.text_result` does."""
    if text is None:
        return 0
    if text in POSITIVE:
        return 1
    if text in NEGATIVE or _NEGATIVE_WITH_NUMBER.fullmatch(text):
        return -1
    return 1 if _POSITIVE_WITH_NUMBER.fullmatch(text) else 0


def _figures(concept: Concept, row: Row) -> dict[str, Figure | None]:
    """A result's figures (see `Figure`), None where it has no such figure: its value in
    the concept's unit (a text read as negative with no value is 0), its multiple of its own
    upper limit or of the concept's default one, its multiple of its own lower limit, that
    value minus its own upper limit (converted as the value is) or the default one, and
    whether it reads as positive (against its own upper limit, else the concept's cut-off).
    A number written as a bound gives the first four, written its way, from its number."""
    (v, f, unit), limit = _value(concept, row), _own_limit(row)
    text = spelt_result(str(row["value_text"])) if row.get("value_text") else None
    said = _text_result(text)
    negative, positive = said == -1, said == 1
    # a text read as negative is no bound: `<20 not detected` reads as not detected, 0
    bound = None if negative else _bound(concept, row)
    way: WrittenBound | None = None
    written = v
    if v is None and bound is not None:
        way, written, f, unit = bound
    number: tuple[int, float] | None
    uln: tuple[int, float] | None
    low = _own_limit(row, "ref_low")
    lln: tuple[int, float] | None
    if written is None:
        number = uln = lln = (1, 0.0) if negative else None
    else:
        lln = (1, written / low) if low is not None else (0, 0.0)
        number = (1, written * f) if f is not None else (0, 0.0)
        if limit is not None:
            uln = (1, written / limit)
        elif f is not None and concept.default_uln:
            uln = (1, written * f / concept.default_uln)
        else:
            uln = (0, 0.0)
    if positive:
        pos: float | None = 1.0
    elif negative:
        pos = 0.0
    elif v is not None and limit is not None:
        pos = 1.0 if v > limit else 0.0
    elif bound is not None and limit is not None:
        pos = _against_bound(bound[0], bound[1], limit, from_limit=False)
    elif v is not None and (cut := concept.positive_cut_off(unit, f)) is not None:
        pos = 1.0 if v * cut[1] >= cut[0] else 0.0
    elif bound is not None and (cut := concept.positive_cut_off(unit, f)) is not None:
        pos = _against_bound(bound[0], bound[1] * cut[1], cut[0], from_limit=True)
    else:
        pos = None
    # the upper limit in the concept's unit: the row's own needs the row's unit known
    ceiling = (limit * f if f is not None else None) if limit is not None else concept.default_uln
    excess: tuple[int, float] | None = None
    if number is not None:
        excess = (1, number[1] - ceiling) if number[0] and ceiling is not None else (0, 0.0)
    figures = {"number": number, "uln": uln, "lln": lln, "excess": excess}
    out: dict[str, Figure | None] = {k: None if x is None else (way, *x) for k, x in figures.items()}
    out["pos"] = None if pos is None else (None, 1, pos)
    return out


def _and(values: Iterable[T3]) -> T3:
    values = list(values)
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else None


def _or(values: Iterable[T3]) -> T3:
    values = list(values)
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def _compare(value: float | None, cmp: Comparison) -> T3:
    return None if value is None else cmp.holds(value)


def _against_written(way: WrittenBound, written: float, cmp: Comparison) -> T3:
    """A number written as a bound (`<N`: every value below N; `>=N`: N and above) against
    the bounds `cmp` as written: each one it lies wholly on one side of is met or failed,
    any other UNKNOWN."""
    return _and(
        verdict if COMPARE[test](written, limit) else None
        for verdict, test, limit in cmp.against_written(way)
    )


def _interval(low: float | None, high: float | None, cmp: Comparison) -> T3:
    if low is None or high is None:
        return None
    a, b = cmp.holds(low), cmp.holds(high)
    return a if a == b else None


def _exact_age(birth: date, index: date) -> int:
    return index.year - birth.year - ((index.month, index.day) < (birth.month, birth.day))


class Patient:
    """One patient's rows, with the demographics the engine derives from them."""

    def __init__(self, rows: Sequence[Row], default_index: date):
        self.rows = rows
        self.site = min(str(r["site_id"]) for r in rows)
        indexes = [r["index_date"] for r in rows if r.get("index_date") is not None]
        self.index: date = max(indexes) if indexes else default_index
        # lower case reads as upper case; any other value is a sex of its own, so U
        sexes = {
            r["sex"].upper() if r["sex"] in ("f", "m", "u") else r["sex"]
            for r in rows
            if r.get("sex") is not None
        }
        self.sex = next(iter(sexes)) if len(sexes) == 1 and sexes <= {"F", "M"} else "U"
        deaths = [r["death_date"] for r in rows if r.get("death_date") is not None]
        self.death: date | None = min(deaths) if deaths else None  # the earliest, as the engine
        births = [r["birth_date"] for r in rows if r.get("birth_date") is not None]
        years = [r["birth_year"] for r in rows if r.get("birth_year") is not None]
        self.age: tuple[int | None, int | None]
        if births:
            self.age = (_exact_age(max(births), self.index), _exact_age(min(births), self.index))
        elif years:
            year_end = (self.index.month, self.index.day) == (12, 31)
            self.age = (self.index.year - max(years) - (0 if year_end else 1), self.index.year - min(years))
        else:
            self.age = (None, None)

    def seen(self, concept: Concept) -> list[Row]:
        """The concept's records up to the index date."""
        return [
            r
            for r in self.rows
            if _in_concept(concept, r) and r.get("start_date") is not None and r["start_date"] <= self.index
        ]


class ReferenceEvaluator:
    """Evaluates rules for the patients of one extract (a list of row dicts)."""

    def __init__(
        self, rows: Sequence[Row], library: ConceptLibrary, as_of: date | None = None, site: str = "site"
    ):
        self.library = library
        rows = [{**r, "site_id": r.get("site_id") or site} for r in rows]
        dates = [r["start_date"] for r in rows if r.get("start_date") is not None]
        default = as_of or max(dates)
        by_patient: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            by_patient[str(r["patient_id"])].append(r)
        self.patients = {pid: Patient(rs, default) for pid, rs in sorted(by_patient.items())}

    # ------------------------------------------------------------ atoms

    def _start(self, p: Patient, within: Duration | None) -> date | None:
        return within.before(p.index) if within else None

    @staticmethod
    def _results(p: Patient, concept: Concept) -> list[Row]:
        """The concept's usable results before index: a value or a text, and plausible."""
        return [
            r
            for r in p.seen(concept)
            if (r.get("value_num") is not None or r.get("value_text") is not None)
            and not _implausible(concept, r)
        ]

    def _latest(self, p: Patient, name: str) -> Latest | None:
        """The latest result before index: its date, and each figure the highest among the
        results of that date (a value in an unknown unit only if none there is known)."""
        concept = self.library[name]
        rows = self._results(p, concept)
        if not rows:
            return None
        day = max(r["start_date"] for r in rows)
        on_day = [_figures(concept, r) for r in rows if r["start_date"] == day]
        names = ("number", "uln", "lln", "excess", "pos")
        # a known value ranks above one not known; of two bounds with one number, as the
        # ways of writing one rank (`>N` over `<N`)
        numbers = {n: [x for f in on_day if (x := f[n]) is not None and x[0] is None] for n in names}
        written = {n: [x for f in on_day if (x := f[n]) is not None and x[0] is not None] for n in names}

        def number(name: str) -> float | None:
            best = max(numbers[name], key=lambda x: (x[1], x[2]), default=None)
            return best[2] if best is not None and best[1] else None

        bounds: dict[str, tuple[WrittenBound, float]] = {}
        for name, found in written.items():
            best = max(found, key=lambda x: (x[1], x[2], WRITTEN_BOUNDS.index(x[0])), default=None)
            if best is not None and best[0] is not None and best[1]:
                bounds[name] = (best[0], best[2])
        return Latest(
            day, number("number"), number("uln"), number("lln"), number("excess"), number("pos"), bounds
        )

    def _present(self, p: Patient, latest: Latest | None, within: Duration | None) -> bool:
        if latest is None:
            return False
        start = self._start(p, within)
        return start is None or latest.day >= start

    def rule(self, rule: Rule, p: Patient) -> T3:
        """TRUE / FALSE / None (UNKNOWN) for one patient."""
        match rule:
            case Age():
                return _interval(p.age[0], p.age[1], rule.compare)
            case Sex():
                return None if p.sex not in ("F", "M") else p.sex in rule.values
            case History():
                return self._history(rule, p)
            case Measurement():
                return self._measurement(rule, p)
            case Medication():
                return self._medication(rule, p)
            case Derived():
                return self._derived(rule, p)
            case InCare():
                start = rule.within.before(p.index)
                seen = any(
                    r.get("start_date") is not None and start <= r["start_date"] <= p.index for r in p.rows
                )
                return seen and (p.death is None or p.death > p.index)
            case All():
                return _and(self.rule(x, p) for x in rule.parts)
            case AnyOf():
                return _or(self.rule(x, p) for x in rule.parts)
            case Not():
                v = self.rule(rule.part, p)
                return None if v is None else not v
            case AtLeast():
                values = [self.rule(x, p) for x in rule.parts]
                if sum(v is True for v in values) >= rule.n:
                    return True
                return False if sum(v is not False for v in values) < rule.n else None
        raise TypeError(rule)

    def _history(self, rule: History, p: Patient) -> T3:
        if rule.before is not None:
            cutoff = rule.before.before(p.index)
            if any(r["start_date"] <= cutoff for r in p.seen(self.library[rule.concept])):
                return rule.if_found.as_bool()
            return rule.if_missing.as_bool()
        start = self._start(p, rule.within)
        # records on distinct days: a duplicated row or two codes of one visit count once
        n = len(
            {
                r["start_date"]
                for r in p.seen(self.library[rule.concept])
                if start is None or r["start_date"] >= start
            }
        )
        if n >= rule.min_count:
            return rule.if_found.as_bool()
        return rule.if_missing.as_bool() if n == 0 else False

    def _measurement(self, rule: Measurement, p: Patient) -> T3:
        latest = self._latest(p, rule.concept)
        if not self._present(p, latest, rule.within):
            return rule.if_missing.as_bool()
        assert latest is not None
        if rule.min_count > 1:
            return self._confirmed(rule, p)
        if rule.result is not None:
            positive = None if latest.pos is None else latest.pos == 1
            return positive if rule.result == "positive" or positive is None else not positive
        concept = self.library[rule.concept]
        value = getattr(latest, rule.figure)
        if value is None and rule.figure in latest.bounds:
            return _against_written(*latest.bounds[rule.figure], rule.canonical(concept))
        return _compare(value, rule.threshold(concept))

    def _confirmed(self, rule: Measurement, p: Patient) -> T3:
        """`min_count` days in the window with a result meeting the rule: TRUE; none that
        meets or may (a figure not known, or a bound on neither side of the threshold):
        FALSE; some, but fewer than asked: UNKNOWN."""
        concept = self.library[rule.concept]
        start = self._start(p, rule.within)
        meeting: set[date] = set()
        maybe: set[date] = set()
        for r in self._results(p, concept):
            if start is not None and r["start_date"] < start:
                continue
            figure = _figures(concept, r)[rule.figure]
            if figure is None:
                continue
            way, known, value = figure
            meets: T3 = None
            if known:
                meets = (
                    self._meets(rule, concept, value)
                    if way is None
                    else _against_written(way, value, rule.canonical(concept))
                )
            if meets is not False:
                maybe.add(r["start_date"])
            if meets:
                meeting.add(r["start_date"])
        if rule.apart is not None:
            if meeting and rule.apart.before(max(meeting)) >= min(meeting):
                return True
        elif len(meeting) >= rule.min_count:
            return True
        return False if not maybe else None

    @staticmethod
    def _meets(rule: Measurement, concept: Concept, value: float) -> bool:
        if rule.result is not None:
            return value == (1.0 if rule.result == "positive" else 0.0)
        return rule.threshold(concept).holds(value)

    def _exposures(self, rule: Medication, p: Patient) -> Iterator[tuple[Row, date, date, float | None]]:
        """The concept's records that cover a day of the rule's window: each with its first
        and last day there and its daily dose in the concept's unit (None: not known, or
        implausible)."""
        concept = self.library[rule.concept]
        start = self._start(p, rule.within)
        for r in p.seen(concept):
            first = max(r["start_date"], start) if start else r["start_date"]
            last = min(r.get("end_date") or r["start_date"], p.index)
            if first <= last:
                f = _factor(concept, r)
                known = r.get("value_num") is not None and f is not None and not _implausible(concept, r)
                daily = r["value_num"] * f if known else None
                yield r, first, last, daily

    def _total(self, rule: Medication, p: Patient) -> T3:
        """The total dose in the window: each known daily dose times its days there, added
        in the engines' order (by start, end and dose; see `total_doses`); exposures without
        a dose make it a lower bound of the true total."""
        bounds = rule.total_in_canonical(self.library[rule.concept])
        assert bounds is not None
        taken: list[tuple[tuple[date, date, float], float]] = []
        unknown = 0
        for r, first, last, daily in self._exposures(rule, p):
            if daily is None:
                unknown += 1
            else:
                key = (r["start_date"], r.get("end_date") or r["start_date"], daily)
                taken.append((key, daily * ((last - first).days + 1)))
        total = 0.0
        for _, dose in sorted(taken, key=lambda t: t[0]):
            total += dose
        if unknown == 0:
            return bounds.holds(total)
        # the true total is this one or more: an upper bound it is over already decides
        upper = Comparison(max=bounds.max, below=bounds.below)
        if upper.bounds():
            return False if not upper.holds(total) else None
        return True if bounds.holds(total) else None

    def _medication(self, rule: Medication, p: Patient) -> T3:
        if rule.total is not None:
            return self._total(rule, p)
        dose = rule.dose_in_canonical(self.library[rule.concept])
        weight: float | None = 1.0
        if rule.per_kg:
            latest_weight = self._latest(p, DOSE_WEIGHT)
            weight = latest_weight.number if latest_weight is not None else None
            if weight is not None and weight <= 0:  # no dose divides by it
                weight = None
        # (start and last day in the window, daily dose in the concept's unit or None, days)
        exposures = [
            (
                (r["start_date"], last),
                daily,
                {first + timedelta(days=k) for k in range((last - first).days + 1)},
            )
            for r, first, last, daily in self._exposures(rule, p)
        ]
        current = None
        if rule.stable_dose and exposures:
            # the exposure that started last (of those, lasting longest in the window); of
            # several such, the highest known dose
            latest = max(span for span, _, _ in exposures)
            current = max((d for span, d, _ in exposures if span == latest and d is not None), default=None)
        known_days: set[date] = set()
        possible_days: set[date] = set()
        for _, daily, days in exposures:
            # the bounds compare the daily dose, or per kilogram (unknown without a weight)
            bounded = daily / weight if daily is not None and weight is not None else None
            in_range: T3 = True if dose is None else None if bounded is None else dose.holds(bounded)
            at_current: T3 = True
            if rule.stable_dose:
                at_current = None if daily is None or current is None else abs(daily - current) < SAME_DOSE
            if in_range and at_current:
                known_days |= days
            if in_range is not False and at_current is not False:
                possible_days |= days
        # days on drug are counted once however many records cover them
        known, possible = len(known_days), len(possible_days)
        if known >= rule.min_days:
            return rule.if_found.as_bool()
        if possible == 0:
            return rule.if_missing.as_bool()
        return False if possible < rule.min_days else None

    def _derived(self, rule: Derived, p: Patient) -> T3:
        if not all(self._present(p, self._latest(p, c), rule.within) for c in rule.inputs):
            return rule.if_missing.as_bool()
        crea = self._latest(p, BOUNDING_INPUT)
        weight_row = self._latest(p, "weight") if "weight" in rule.inputs else None
        assert crea is not None
        scr, way = crea.number, None
        if scr is None and "number" in crea.bounds:
            way, scr = crea.bounds["number"]
        if p.sex not in ("F", "M") or scr is None or scr <= 0:
            return None
        female = p.sex == "F"
        if rule.measure == "creatinine_clearance":
            weight = weight_row.number if weight_row is not None else None

            def at(age: int | None) -> float | None:
                if scr is None or weight is None or age is None:
                    return None
                return (140 - age) * weight / (72 * scr) * (0.85 if female else 1.0)
        else:
            kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)

            def at(age: int | None) -> float | None:
                if scr is None or age is None:
                    return None
                ratio = scr / kappa
                return (
                    142
                    * min(ratio, 1) ** alpha
                    * max(ratio, 1) ** -1.2
                    * 0.9938**age
                    * (1.012 if female else 1.0)
                )

        lowest, highest = at(p.age[1]), at(p.age[0])
        # both equations fall as the creatinine rises: a bound on it bounds the measure the
        # other way, and leaves the measure's other side open
        if way is not None and way.under:
            highest = math.inf
        elif way is not None:
            lowest = 0.0
        return _interval(lowest, highest, rule.threshold)

    # ------------------------------------------------------------ criteria

    def passes(self, criterion: Criterion, p: Patient) -> T3:
        """Whether the patient passes the criterion: an exclusion passes when its rule is FALSE."""
        if criterion.rule is None:
            return True
        v = self.rule(criterion.rule, p)
        if criterion.kind == "inclusion" or v is None:
            return v
        return not v

    def rule_values(self, trial: Trial) -> dict[str, dict[str, T3]]:
        """Per patient, each criterion's rule value (as `Engine.rule_values`)."""
        return {
            pid: {c.id: self.rule(c.rule, p) for c in trial.criteria if c.rule is not None}
            for pid, p in self.patients.items()
        }

    def histogram(self, trial: Trial) -> dict[str, dict[tuple[int, int], int]]:
        """Per site, patients by (passed, unknown) masks, as the engine counts them."""
        out: dict[str, dict[tuple[int, int], int]] = defaultdict(lambda: defaultdict(int))
        for p in self.patients.values():
            passed = unknown = 0
            for k, c in enumerate(trial.criteria):
                v = self.passes(c, p)
                if v is True:
                    passed |= 1 << k
                elif v is None:
                    unknown |= 1 << k
            out[p.site][(passed, unknown)] += 1
        return {s: dict(h) for s, h in out.items()}


def monthly_status(
    rows: Sequence[Row], library: ConceptLibrary, trial: Trial, as_of: date, months: int
) -> dict[str, dict[MonthEnds, int]]:
    """The monthly evaluation by its plain definition: the extract cut at each month end
    that `months` months of incidence read (each patient's own index date, else `as_of`,
    minus j months; records after it removed) and evaluated afresh; per site, patients
    counted by the month ends at which they were eligible and potentially eligible."""
    # each patient's index date, as `Patient` reads it: the latest of their rows' index_date
    own: dict[str, date] = {}
    for r in rows:
        pid, day = str(r["patient_id"]), r.get("index_date")
        if day is not None and (pid not in own or day > own[pid]):
            own[pid] = day
    status: dict[str, dict[str, Any]] = {}  # per patient: site, month ends eligible, potentially
    for j in range(month_ends_evaluated(months)):
        seen = []
        for r in rows:
            end = Duration(j, "month").before(own.get(str(r["patient_id"]), as_of))
            if r.get("start_date") is None or r["start_date"] <= end:
                # the month end is the patient's index date there, on every row
                seen.append({**r, "index_date": end})
        if not seen:
            continue
        reference = ReferenceEvaluator(seen, library, as_of=as_of)
        for pid, p in reference.patients.items():
            values = [reference.passes(c, p) for c in trial.criteria]
            at = status.setdefault(pid, {"site": p.site, "eligible": [], "potential": []})
            if all(v is True for v in values):
                at["eligible"].append(j)
            if not any(v is False for v in values):
                at["potential"].append(j)
    out: dict[str, dict[MonthEnds, int]] = defaultdict(lambda: defaultdict(int))
    for at in status.values():
        out[str(at["site"])][(tuple(at["eligible"]), tuple(at["potential"]))] += 1
    return {site: dict(counts) for site, counts in out.items()}

"""The criteria model: plain frozen data, no SQL.

A trial is an ordered tuple of criteria; a criterion holds a rule, a tree of atoms joined by
combinators. Every node evaluates to TRUE, FALSE or UNKNOWN per patient. Engines (the DuckDB
compiler, the reference evaluator) interpret this model; nothing here knows how.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Literal

from feasibility.units import TITRE, above_uln, normalise_unit, per_day_of_weekly, rate_without_kg


class Truth(Enum):
    """A three-valued answer, used where a rule states what missing data means."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    def as_bool(self) -> bool | None:
        """True, False or None (UNKNOWN)."""
        return {Truth.TRUE: True, Truth.FALSE: False, Truth.UNKNOWN: None}[self]


# How text results are read: `result: positive` / `negative`, and "not detected" as zero. A
# text is compared in lower case without the blanks and full stops around it (`Negative.`,
# ` POSITIVE `), as laboratory systems print results with trailing full stops. "Weakly
# positive" and "low positive" are positive: the laboratory reports the test as positive,
# and a protocol's "positive" reads the report; "TND" is the "target not detected" of
# viral-load assays, "detectable" a level detected below the assay's range of quantification
# (negative words are tested first: `not detectable` ends in `detectable`).
RESULT_TEXT_PADDING = " \t."
POSITIVE_RESULTS = (
    "positive",
    "pos",
    "+",
    "detected",
    "detectable",
    "reactive",
    "present",
    "yes",
    "weakly positive",
    "weak positive",
    "low positive",
    "weakly reactive",
    "repeatedly reactive",
)
NEGATIVE_RESULTS = (
    "negative",
    "neg",
    "-",
    "not detected",
    "undetected",
    "undetectable",
    "not detectable",
    "target not detected",
    "tnd",
    "none detected",
    "non-reactive",
    "nonreactive",
    "non reactive",
    "not reactive",
    "absent",
    "no",
    "not present",
)

# the results written as words, not signs (`+`, `-`), which a number may follow
POSITIVE_WORDS = tuple(w for w in POSITIVE_RESULTS if w[0].isalpha())
NEGATIVE_WORDS = tuple(w for w in NEGATIVE_RESULTS if w[0].isalpha())


def spelt_result(text: str) -> str:
    """A text result as it is compared with POSITIVE_RESULTS and NEGATIVE_RESULTS."""
    return text.lower().strip(RESULT_TEXT_PADDING)


# A text result written as a titre (`1:160`, `1/160`, `1:640 speckled`) reads as the number
# after the colon, in the unit `units.TITRE`, for a concept that knows that unit. The one
# pattern serves the SQL engines (RE2, Java) and the reference evaluator (Python,
# `re.fullmatch`), with only what the three read alike: ASCII spaces, `\z` in SQL (Java's
# and Python's `$` also match before a final newline). A full stop may end it (`1:160.`), as
# it may end a bound (`<20.`), where laboratory systems end every result with one.
_TITRE_DILUTION = r"[ \t]*1[ \t]*[:/][ \t]*([0-9]+)"
TITRE_TEXT = _TITRE_DILUTION + r"(\.[ \t]*|[ \t][\s\S]*)?"
# A titre may follow the word of a result (`Positive 1:160`, `NEGATIVE, 1:40`, `positive
# (1:160)`), as laboratories report an antibody with its titre: the word decides positivity
# (`worded_number`) and the titre a threshold on it, as with the word after the titre (`1:160
# negative`). The word is matched in any case by a scoped flag, `(?i:...)`, which RE2, Java
# and Python read alike.
TITRE_READ = (
    r"(?:[ \t]*(?i:"
    + "|".join((*POSITIVE_WORDS, *NEGATIVE_WORDS))
    + r")[ \t]*[,;:(]?)?"
    + _TITRE_DILUTION
    + r"(\)?\.[ \t]*|\)?[ \t][\s\S]*|\))?"
)
# A number written as a bound, as labs write a result beyond an assay's range (`<20`,
# `< 20 IU/mL`, `<20IU/mL`, `>1000`, `>=1.035`), in the row's own unit: no value, but
# positive or negative against the result's own limit, or the concept's cut-off, and meeting
# or failing a threshold, where the values it stands for lie wholly on one side of it
# (`WrittenBound`). The number may carry a decimal exponent, as analysers print viral loads
# (`<2.00E+01 IU/mL`, `>1.70E+08`): read as a unit glued to the number, its `E` would take
# 2.00 for 20. A unit may follow the number after a space or glued to it if it starts with a
# letter, `%` or `µ` (`<20EU/mL`: no digit after the `E`); not after `/` or `:`, which would
# read `<1:80` as `<1`. A decimal comma, as laboratories in much of Europe write one (`<0,5
# mg/dL`), reads as a point, except before exactly three digits: `<1,000` is a thousand
# where a thousands separator is written, and one where a decimal comma is, so it is read as
# nothing (counted, `unread_text_rows`) rather than guessed. A point is always decimal, as
# specific gravities are written (`>=1.035`).
NUMBER_BOUND = (
    r"[ \t]*([0-9]+(?:\.[0-9]+|,[0-9]{1,2}|,[0-9]{4,})?(?:[eE][+-]?[0-9]+)?)"
    r"(\.[ \t]*|(?:[ \t]|[A-Za-z%µμ])[\s\S]*)?"
)


def written_number(digits: str) -> float:
    """The number of a bound as NUMBER_BOUND captures it (`0,5` is 0.5), as the SQL engines
    read it (`compile.atoms.text_number`)."""
    return float(digits.replace(",", "."))


@dataclass(frozen=True)
class WrittenBound:
    """One way of writing a result as a bound (`<N`, `<=N`, `>=N`, `>N`, or in words, `less
    than N`): the values it stands for lie under its number N (`under`) or over it, and
    include N itself where `inclusive`. A titre may be written so too (`<1:80`)."""

    name: str
    signs: tuple[str, ...]
    under: bool
    inclusive: bool

    def pattern(self, body: str) -> str:
        """The pattern of a text written as this bound of `body` (NUMBER_BOUND, TITRE_TEXT),
        whose first group is the number."""
        return written_as_bound(body, self.signs)

    def deciding(self, upper: bool, inclusive: bool) -> str:
        """The test of N against a threshold t under which every value the bound stands for
        lies on one side of t: upper thresholds (`max`, `below`) are met by the values under
        t, and `inclusive` ones (`max`, `min`) by t itself. A strict bound decides at N = t
        (`<20` is under 20); an inclusive one there only where t's verdict is that of the
        values beside it (`<=20` meets `max: 20` and fails `above: 20`, but may or may not
        meet `min: 20`)."""
        beside = upper if self.under else not upper
        at_equal = not self.inclusive or inclusive == beside
        if self.under:
            return "<=" if at_equal else "<"
        return ">=" if at_equal else ">"


def _spelt_out(phrase: str) -> tuple[str, ...]:
    """A bound's words as laboratory systems print them: lower case, upper case (MIMIC-III's
    `LESS THAN 10`), a capital first or on each word. Listed rather than matched without
    case, so that every engine's pattern and the sign's way stay plain text."""
    return (phrase.lower(), phrase.upper(), phrase.capitalize(), phrase.title())


# In the order a day's bounds of one number rank, lowest first (the packs' flag,
# `compile.aggregate`): of `<20` and `>20` written on one day, `>20` is read
WRITTEN_BOUNDS = (
    WrittenBound("below", ("<", *_spelt_out("less than")), under=True, inclusive=False),
    WrittenBound(
        "at_most", ("<=", "=<", "≤", *_spelt_out("less than or equal to")), under=True, inclusive=True
    ),
    WrittenBound(
        "at_least", (">=", "=>", "≥", *_spelt_out("greater than or equal to")), under=False, inclusive=True
    ),
    WrittenBound("above", (">", *_spelt_out("greater than")), under=False, inclusive=False),
)
# Every sign a bound is written with, the longer first: the SQL engines read a bound's number
# with one pattern for all ways (`written_as_bound`) and its way from the sign it starts with
# (`LEADING_SIGN`, group 1), where the reference evaluator tries each way's own pattern.
BOUND_SIGNS = tuple(sorted((s for b in WRITTEN_BOUNDS for s in b.signs), key=len, reverse=True))
LEADING_SIGN = r"[ \t]*(" + "|".join(BOUND_SIGNS) + ")"


def written_as_bound(body: str, signs: tuple[str, ...] = BOUND_SIGNS) -> str:
    """The pattern of a text written as a bound of `body` (NUMBER_BOUND, TITRE_TEXT) with
    one of `signs`, whose first group is the number. The signs hold no character special to
    RE2, Java or Python patterns; `<` cannot take the start of `<=20`, as `body` starts with
    blanks and a digit."""
    return r"[ \t]*(?:" + "|".join(signs) + ")" + body


def worded_number(words: tuple[str, ...]) -> str:
    """The pattern of a text result, spelt as `spelt_result` leaves it, written as a number,
    a titre or a bound with one of `words` after it, after a blank or `,;:(` (`<20 iu/ml
    detected`, `<20 (not detected)`, `1:80 negative`), or before it, before a blank or `,;:(`
    (`detected <20`, `tnd, <20 iu/ml`, `positive 1:160`, `negative (<1:40)`). Viral-load
    assays so report a level below quantification that was detected, or not, and some
    laboratories a titre under their own cut-off: the word says which, where the number alone
    would be read against the result's limit or the concept's cut-off. `words` are words, not
    signs (POSITIVE_WORDS, NEGATIVE_WORDS)."""
    signs = "(?:" + "|".join(sorted({s.lower() for s in BOUND_SIGNS}, key=lambda s: (-len(s), s))) + ")"
    spelt = "(?:" + "|".join(words) + ")"
    number = "(?:" + signs + r"[ \t]*)?[0-9][\s\S]*"
    after = number + r"[ \t,;:(]" + spelt + r"\)?"
    before = spelt + r"[ \t]*[,;:(]?[ \t]*" + number
    return f"(?:{after}|{before})"


# Tested negative first: a text ending in `not detected` also ends in `detected`
NEGATIVE_WITH_NUMBER = worded_number(NEGATIVE_WORDS)
POSITIVE_WITH_NUMBER = worded_number(POSITIVE_WORDS)


COMPARE = {
    ">=": lambda v, t: v >= t,
    "<=": lambda v, t: v <= t,
    ">": lambda v, t: v > t,
    "<": lambda v, t: v < t,
}

DurationUnit = Literal["day", "week", "month", "year"]


@dataclass(frozen=True)
class Duration:
    """A look-back window ending at the index date, inclusive at both ends."""

    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}{'s' if self.amount != 1 else ''}"

    def before(self, day: date) -> date:
        """`day` minus this duration; months and years clamp to the end of the month, as
        SQL engines do (31 March minus 1 month is 28 or 29 February)."""
        if self.unit in ("day", "week"):
            return day - timedelta(days=self.amount * (7 if self.unit == "week" else 1))
        months = self.amount * (12 if self.unit == "year" else 1)
        year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
        month += 1
        return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))

    def approx_days(self) -> float:
        """Length in days, for ordering windows only (months are calendar months when applied)."""
        return self.amount * {"day": 1, "week": 7, "month": 30.4375, "year": 365.25}[self.unit]


# A figure computed from the data (a result converted or set against its limit, a dose
# converted or per kilogram, a total dose, a derived measure) carries binary rounding: 17.1 s
# - 13.1 s is 4.000000000000002, 2.1 / 1.4 is 1.5000000000000002. Such a figure within this
# distance (relative; absolute below 1) of a threshold is taken as equal to it, so a result
# at the threshold in the decimals it was written in meets "at most". Data are recorded to
# far fewer digits, so no figure farther from the threshold is moved across it.
FIGURE_TOLERANCE = 1e-9


def _tolerance(threshold: float) -> float:
    """How far a figure may lie from a threshold and count as equal to it."""
    return FIGURE_TOLERANCE * max(1.0, abs(threshold))


@dataclass(frozen=True)
class Comparison:
    """Bounds on a value: min (>=), max (<=), above (>), below (<); any combination."""

    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None

    def bounds(self) -> list[tuple[str, float]]:
        """The set bounds as (operator, threshold) pairs, operators '>=', '<=', '>', '<'."""
        ops = (("min", ">="), ("max", "<="), ("above", ">"), ("below", "<"))
        return [(op, getattr(self, key)) for key, op in ops if getattr(self, key) is not None]

    def in_canonical(self, concept: Concept, unit: str | None) -> Comparison:
        """These bounds, stated in `unit`, converted to the concept's canonical unit."""
        factor = concept.unit_factor(normalise_unit(unit)) if unit else 1.0
        return self.scaled(factor if factor is not None else 1.0)

    def scaled(self, factor: float) -> Comparison:
        """The same bounds multiplied by a unit factor."""

        def s(x: float | None) -> float | None:
            return None if x is None else x * factor

        return Comparison(s(self.min), s(self.max), s(self.above), s(self.below))

    def widened(self) -> Comparison:
        """The same bounds moved outward by `FIGURE_TOLERANCE` (relative, absolute below 1),
        so that a figure equal to a bound but for binary rounding counts as equal to it: a
        minimum or maximum admits it, `above` and `below` do not."""

        def move(t: float | None, sign: int) -> float | None:
            return None if t is None else t + sign * _tolerance(t)

        return Comparison(move(self.min, -1), move(self.max, 1), move(self.above, 1), move(self.below, -1))

    def holds(self, value: float) -> bool:
        """Whether a known value satisfies every bound."""
        return all(COMPARE[op](value, t) for op, t in self.bounds())

    def against_written(self, bound: WrittenBound) -> list[tuple[bool, str, float]]:
        """How a number N written as `bound` meets each bound in turn, as (verdict, test,
        limit): where `N test limit` holds, every value the bound stands for lies on one
        side of the threshold, and meets it (`verdict` True) or fails it; any other N may
        lie on either side (UNKNOWN). `<N` meets an upper bound (`max`, `below`) and fails
        a lower one; `>N` the reverse (`WrittenBound.deciding`). A bound's N equal to the
        threshold but for binary rounding counts as equal to it (`FIGURE_TOLERANCE`)."""
        out = []
        for op, t in self.bounds():
            upper = op in ("<=", "<")
            test = bound.deciding(upper, inclusive=op in ("<=", ">="))
            # equal counts as equal: a test that includes t admits the tolerance, a strict
            # one asks N beyond it
            limit = t + _tolerance(t) if test in ("<=", ">") else t - _tolerance(t)
            out.append((upper if bound.under else not upper, test, limit))
        return out

    def __str__(self) -> str:
        return " and ".join(f"{op} {t:g}" for op, t in self.bounds())


# ---------------------------------------------------------------- atoms


@dataclass(frozen=True)
class Age:
    """Age in whole years at the index date."""

    compare: Comparison


@dataclass(frozen=True)
class Sex:
    """Recorded sex is one of the given values (F, M); U is UNKNOWN."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class History:
    """At least `min_count` records of a concept in the window (diagnosis, procedure, ...)."""

    concept: str
    within: Duration | None = None
    min_count: int = 1
    if_missing: Truth = Truth.FALSE
    label: Literal["diagnosis", "procedure", "history"] = "history"
    before: Duration | None = None  # a record dated on or before index - before
    # UNKNOWN where a record is only a sign the criterion may hold (its severity, cause or
    # need of treatment is not coded): the patient is then left to the investigator
    if_found: Truth = Truth.TRUE


@dataclass(frozen=True)
class Measurement:
    """The latest lab or observation result of a concept in the window, compared or read;
    with `min_count` above 1, results on that many distinct days of the window must meet
    the rule ("confirmed on two occasions"), and with `apart` (and `min_count` 2), two of
    those days at least that long apart."""

    concept: str
    within: Duration | None = None
    compare: Comparison | None = None
    # unit of the thresholds: "ULN" / "LLN" for multiples of a limit, "<unit> above ULN" for
    # the distance above the upper limit
    unit: str | None = None
    result: Literal["positive", "negative"] | None = None
    if_missing: Truth = Truth.UNKNOWN
    label: Literal["lab", "observation"] = "lab"
    min_count: int = 1
    apart: Duration | None = None

    @property
    def uln(self) -> bool:
        """Whether the thresholds are multiples of the upper limit of normal."""
        return self.unit is not None and self.unit.upper() == "ULN"

    @property
    def lln(self) -> bool:
        """Whether the thresholds are multiples of the lower limit of normal."""
        return self.unit is not None and self.unit.upper() == "LLN"

    @property
    def excess_unit(self) -> str | None:
        """With thresholds on how far a result lies above its upper limit of normal (`unit:
        s above ULN`), the unit of that distance; else None."""
        return above_uln(self.unit) if self.unit is not None else None

    @property
    def figure(self) -> Literal["number", "uln", "lln", "excess", "pos"]:
        """The figure of a result the rule reads: its value in the concept's unit, its
        multiple of the upper or lower limit of normal, its excess over the upper limit (the
        value minus the limit, in the concept's unit), or its positivity."""
        if self.result is not None:
            return "pos"
        if self.excess_unit is not None:
            return "excess"
        return "uln" if self.uln else "lln" if self.lln else "number"

    def threshold(self, concept: Concept) -> Comparison:
        """The bounds the rule's figure is compared with: multiples of a limit as written,
        values and excesses converted to the concept's unit (a unit is a factor, so a
        difference converts as a value does); widened by `FIGURE_TOLERANCE`, as the figure
        is computed."""
        return self.canonical(concept).widened()

    def canonical(self, concept: Concept) -> Comparison:
        """The bounds as `threshold` gives them, not widened: what a number written as a
        bound is held against (see `Comparison.against_written`)."""
        assert self.compare is not None, "a rule on a result's positivity has no threshold"
        if self.uln or self.lln:
            return self.compare
        return self.compare.in_canonical(concept, self.excess_unit or self.unit)


# Two daily doses are one dose when they differ by less than this (in the concept's unit):
# a dose converted from another drug or unit carries the rounding of its factor.
SAME_DOSE = 1e-6


@dataclass(frozen=True)
class Medication:
    """Exposure days to a concept in the window, optionally only at doses within bounds
    and, with `stable_dose`, only at the current dose: the daily dose of the exposure that
    starts last in the window (of those, the one lasting longest in it; of several such,
    the highest dose). `min_days` days at the current dose say it has been stable that long.
    Bounds in a unit per kilogram (`mg/kg/d`) compare each daily dose divided by the
    patient's latest weight (`DOSE_WEIGHT`). With `total`, the atom compares instead the
    total dose taken in the window: each exposure's daily dose times its days there, summed
    (no exposure: 0)."""

    concept: str
    within: Duration | None = None
    min_days: int = 1
    dose: Comparison | None = None
    dose_unit: str | None = None
    stable_dose: bool = False
    if_missing: Truth = Truth.FALSE
    if_found: Truth = Truth.TRUE  # as History's
    total: Comparison | None = None
    total_unit: str | None = None  # a mass (g, mg): the concept's daily unit times days

    @property
    def per_kg(self) -> bool:
        """Whether the dose bounds are per kilogram of body weight."""
        return (
            self.dose is not None
            and self.dose_unit is not None
            and rate_without_kg(self.dose_unit) is not None
        )

    def dose_in_canonical(self, concept: Concept) -> Comparison | None:
        """The dose bounds in the concept's unit (per kilogram, with `per_kg`), widened by
        `FIGURE_TOLERANCE`, as doses are converted (and divided by a weight)."""
        if self.dose is None:
            return None
        assert self.dose_unit is not None
        return self.dose.in_canonical(concept, rate_without_kg(self.dose_unit) or self.dose_unit).widened()

    def total_in_canonical(self, concept: Concept) -> Comparison | None:
        """The total's bounds in the concept's unit times days (mg for a concept in mg/d),
        widened by `FIGURE_TOLERANCE`, as totals are summed from converted doses."""
        if self.total is None:
            return None
        assert self.total_unit is not None
        return self.total.in_canonical(concept, total_as_daily(self.total_unit)).widened()


def total_as_daily(unit: str) -> str:
    """The daily unit whose factor converts a total in `unit` (`g`) to the concept's unit
    times days (`g/d`): a total is a daily dose taken for days."""
    return f"{normalise_unit(unit)}/d"


# The concept a dose per kilogram reads the patient's weight from, in kg: its latest result
# at or before the index date, however old (see docs/criteria-language.md).
DOSE_WEIGHT = "weight"

DerivedMeasure = Literal["creatinine_clearance", "egfr_ckd_epi_2021"]
# the concepts the derived measures (and doses per kilogram) read, with the canonical unit
# each must have
DERIVED_INPUTS = {"creatinine": "mg/dL", "weight": "kg"}
# The derived measures' input read also where written as a bound: both equations fall as
# the creatinine rises, so a creatinine under (over) a bound puts the measure over (under)
# its value at the bound. A weight written as a bound is read as no weight.
BOUNDING_INPUT = "creatinine"


def derived_inputs(measure: str) -> tuple[str, ...]:
    """The concepts a derived measure reads (the eGFR equation needs no weight)."""
    return tuple(n for n in DERIVED_INPUTS if not (measure == "egfr_ckd_epi_2021" and n == "weight"))


@dataclass(frozen=True)
class Derived:
    """A value computed from other results: Cockcroft-Gault CrCl or CKD-EPI 2021 eGFR."""

    measure: DerivedMeasure
    compare: Comparison
    within: Duration | None = None
    unit: str | None = None
    if_missing: Truth = Truth.UNKNOWN

    @property
    def inputs(self) -> tuple[str, ...]:
        """The concepts the measure reads."""
        return derived_inputs(self.measure)

    @property
    def threshold(self) -> Comparison:
        """The bounds the computed measure is compared with, widened by `FIGURE_TOLERANCE`."""
        return self.compare.widened()


@dataclass(frozen=True)
class InCare:
    """Any record of the patient, of any kind, in the window: the patient is still seen at
    the site. Never UNKNOWN: no record means FALSE."""

    within: Duration


# ---------------------------------------------------------------- combinators


@dataclass(frozen=True)
class All:
    """TRUE when every part is TRUE; FALSE when any is FALSE; else UNKNOWN."""

    parts: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    """TRUE when any part is TRUE; FALSE when every part is FALSE; else UNKNOWN."""

    parts: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    """The part negated; UNKNOWN stays UNKNOWN."""

    part: Rule


@dataclass(frozen=True)
class AtLeast:
    """TRUE when at least `n` parts are TRUE; FALSE when fewer than `n` could be; else UNKNOWN."""

    n: int
    parts: tuple[Rule, ...]


Atom = Age | Sex | History | Measurement | Medication | Derived | InCare
Rule = Atom | All | AnyOf | Not | AtLeast


def walk(rule: Rule) -> Iterator[Rule]:
    """Every node of a rule tree, parents before children."""
    yield rule
    if isinstance(rule, All | AnyOf | AtLeast):
        for part in rule.parts:
            yield from walk(part)
    elif isinstance(rule, Not):
        yield from walk(rule.part)


# ---------------------------------------------------------------- trials


@dataclass(frozen=True)
class Criterion:
    """One protocol criterion, with its verbatim text and, if data can decide it, a rule."""

    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    rule: Rule | None = None
    reason: str | None = None  # why not assessable
    note: str | None = None  # what is left to the investigator

    @property
    def assessable(self) -> bool:
        """Whether data can decide the criterion (it carries a rule)."""
        return self.rule is not None


@dataclass(frozen=True)
class Trial:
    """A trial's eligibility criteria in protocol order."""

    id: str
    title: str
    criteria: tuple[Criterion, ...]
    source: tuple[str, ...] = ()
    path: str = ""
    sha256: str = ""

    def concepts(self) -> set[str]:
        """Names of every concept the trial's counts depend on: those its rules name, and
        the inputs of its derived measures."""
        names: set[str] = set()
        for c in self.criteria:
            if c.rule is None:
                continue
            for node in walk(c.rule):
                if isinstance(node, Derived):
                    names.update(node.inputs)
                concept = getattr(node, "concept", None)
                if concept:
                    names.add(concept)
        return names


# ---------------------------------------------------------------- concepts


ConceptKind = Literal["condition", "procedure", "measurement", "medication", "other"]

# the kinds of concept whose rows carry a value in a unit: a result, or a medication's daily dose
VALUED_KINDS: tuple[ConceptKind, ...] = ("measurement", "medication")


@dataclass(frozen=True)
class CodePattern:
    """A code in a system; `prefix` patterns match the code and everything below it."""

    system: str
    code: str  # normalised: upper case, no dots
    prefix: bool = False

    def matches(self, system: str, code: str) -> bool:
        """Whether `code` of `system` (both normalised) is this code, or below it when the
        pattern is a prefix."""
        return system == self.system and (code == self.code or (self.prefix and code.startswith(self.code)))


@dataclass(frozen=True)
class Concept:
    """A named clinical concept: code lists per system, and for measurements their units."""

    name: str
    kind: ConceptKind
    label: str = ""
    codes: tuple[CodePattern, ...] = ()
    exclude: tuple[CodePattern, ...] = ()
    unit: str | None = None  # canonical unit
    units: tuple[tuple[str, float], ...] = ()  # normalised unit -> factor to canonical
    # the same units as the library spells them (`g/dL`, not `g/dl`), only for messages: not
    # part of what the concept counts, so two spellings of one definition stay one concept
    unit_spellings: tuple[tuple[str, float], ...] = ()
    default_uln: float | None = None
    # with no text result and no usable `ref_high`, a result at or above this (canonical
    # unit) reads as positive and one below it as negative (ANA from a titre of 1:80)
    positive_from: float | None = None
    # the same for a titre (`1:20`, a number in TITRE), for a concept whose values are not
    # titres: anti-dsDNA by immunoassay in IU/mL, by CLIFT as a titre positive from 1:10. Such
    # a titre decides positivity only; against a threshold its value stays UNKNOWN
    titre_positive_from: float | None = None
    # numeric results outside [low, high] (canonical unit) are data errors: counted, not used
    plausible: tuple[float | None, float | None] | None = None
    dose_factors: tuple[tuple[str, float], ...] = ()  # normalised code -> factor
    checked: str = ""
    source: str = ""  # the file it was read from
    line: int = 0  # the line of its name there

    @property
    def where(self) -> str:
        """`file:line` of the definition, for messages."""
        return f"{self.source}:{self.line}" if self.line else self.source

    def unit_factor(self, normalised_unit: str | None) -> float | None:
        """Factor converting a value in this unit to the canonical unit; None if unknown. A
        rate per week is a seventh of that rate per day (`mg/wk`, for a concept that knows
        `mg/d`), unless the concept lists the weekly unit itself."""
        if normalised_unit is None or normalised_unit == "":
            return 1.0 if self.accepts_missing_unit else None
        if self.unit is not None and normalised_unit == normalise_unit(self.unit):
            return 1.0
        factor = dict(self.units).get(normalised_unit)
        if factor is None and (daily := per_day_of_weekly(normalised_unit)) is not None:
            per_day = self.unit_factor(daily)
            return None if per_day is None else per_day / 7
        return factor

    @property
    def accepts_missing_unit(self) -> bool:
        """Dimensionless results (scores, ratios, percentages) may come without a unit; a
        titre may not (see `units.TITRE`)."""
        if self.unit is not None and normalise_unit(self.unit) == TITRE:
            return False
        return self.unit is None or self.unit.startswith("{") or self.unit == "%"

    @property
    def reads_titres(self) -> bool:
        """Whether a text result written as a titre is read, as a number of this concept or
        for its positivity alone (`titre_positive_from`)."""
        return self.unit_factor(TITRE) is not None or self.titre_positive_from is not None

    def positive_cut_off(
        self, normalised_unit: str | None, factor: float | None
    ) -> tuple[float, float] | None:
        """The cut-off from which a result in `normalised_unit` (`factor` converting it to
        the concept's unit) reads as positive, and the factor its number is multiplied by
        to compare with it; None where no cut-off applies. A titre of a concept whose values
        are not titres compares with `titre_positive_from` as written."""
        if self.titre_positive_from is not None and normalised_unit == TITRE:
            return self.titre_positive_from, 1.0
        if self.positive_from is not None and factor is not None:
            return self.positive_from, factor
        return None

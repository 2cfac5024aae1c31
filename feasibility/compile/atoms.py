"""Single-concept atoms evaluated on their (patient, concept) row, packed into bit masks.

History, measurement and medication atoms each read one concept. They are evaluated once,
inside their family's pass, on the one row it makes for that patient and concept, and
packed two bits per atom into mask words per patient (OHDSI Circe's idea: one bitmask per
patient, every view from it): no bits when the patient has no row of the concept (the atom
then takes its `if_missing` value), else TRUE, FALSE or UNKNOWN. Rolling these up per
patient is one `bit_or` per word, where a wide pivot of per-concept columns would cost one
filtered aggregate per feature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlglot import exp

from feasibility.compile.latest import day_number, written_columns
from feasibility.compile.plan import ConceptAtom, CoverageFeature, Plan, TotalFeature, coverage_features
from feasibility.compile.sqlexpr import (
    and_,
    case,
    col,
    compare,
    compare_written,
    field,
    func,
    is_null,
    lit,
    not_,
    not_null,
    or_,
    paren,
    truth,
    union_all,
    window_start,
)
from feasibility.compile.tables import RUN, Tables
from feasibility.criteria.model import (
    BOUND_SIGNS,
    LEADING_SIGN,
    NEGATIVE_RESULTS,
    NEGATIVE_WITH_NUMBER,
    POSITIVE_RESULTS,
    POSITIVE_WITH_NUMBER,
    RESULT_TEXT_PADDING,
    SAME_DOSE,
    WRITTEN_BOUNDS,
    Comparison,
    Duration,
    History,
    Measurement,
    Medication,
    Truth,
)


def _spelt(text: exp.Expr) -> exp.Expr:
    """A text result as `criteria.model.spelt_result` spells it: the padding is trimmed
    after the case is lowered."""
    return exp.Trim(this=func("lower", text), expression=lit(RESULT_TEXT_PADDING))


def _worded(text: exp.Expr, pattern: str) -> exp.Expr:
    """Whether a text result is a number, titre or bound with a word (`worded_number`).
    The pattern alone: in DuckDB, testing the text's first and last characters before it
    cost more than the pattern does on the texts no word reads."""
    return exp.RegexpLike(this=_spelt(text), expression=lit(f"^{pattern}\\z"))


def text_result(text: exp.Expr) -> exp.Expr:
    """A text result read once: 1 positive, -1 negative, 0 anything else or none. The
    figures of a result compare this small number rather than the text. A number, titre
    or bound with the word of a result before or after it (`<20 IU/mL detected`, `1:80
    negative`) reads as that word says."""
    spelt = _spelt(text)
    return case(
        [
            (is_null(text.copy()), lit(0)),
            (exp.In(this=spelt, expressions=[lit(w) for w in POSITIVE_RESULTS]), lit(1)),
            (exp.In(this=spelt.copy(), expressions=[lit(w) for w in NEGATIVE_RESULTS]), lit(-1)),
            (_worded(text.copy(), NEGATIVE_WITH_NUMBER), lit(-1)),
            (_worded(text.copy(), POSITIVE_WITH_NUMBER), lit(1)),
        ],
        lit(0),
    )


def text_number(
    number: exp.Expr, text: exp.Expr, pattern: str, bound: bool = False, decimal_comma: bool = False
) -> exp.Expr:
    """A row's text read as a number by `pattern` where the row has no number: the pattern's
    first group, a titre's dilution (`criteria.model.TITRE_READ`: `1:160` is 160) or, with
    `bound`, the number of a titre or a number written as a bound (`written_as_bound`: `<20`
    and `>=20` are 20). A text matching no pattern extracts as '', which casts to NULL. A
    bound followed by a negative word (`<20 not detected`) is none: the result reads as not
    detected, 0 (`text_result`). With `decimal_comma` (a number written as a bound), a
    decimal comma reads as a point (`<0,5` is 0.5, `criteria.model.written_number`)."""
    digits: exp.Expr = exp.RegexpExtract(this=text, expression=lit(f"^{pattern}\\z"), group=lit(1))
    if decimal_comma:
        digits = exp.Replace(this=digits, expression=lit(","), replacement=lit("."))
    read = exp.TryCast(this=digits, to=exp.DataType.build("double"))
    if not bound:
        return case([(is_null(number), read)])
    return case(
        [(may_be_bound(number, text), case([(_worded(text.copy(), NEGATIVE_WITH_NUMBER), exp.null())], read))]
    )


def text_bound_way(number: exp.Expr, text: exp.Expr) -> exp.Expr:
    """How a row's text is written as a bound where the row has no number: its way's place
    in WRITTEN_BOUNDS, from the sign the text starts with (NULL: none). Only read where the
    text is a bound (`text_number`), whose pattern starts with that sign."""
    sign = exp.RegexpExtract(this=text, expression=lit(f"^{LEADING_SIGN}"), group=lit(1))
    ways = [exp.If(this=lit(s), true=lit(i)) for i, way in enumerate(WRITTEN_BOUNDS) for s in way.signs]
    return case([(may_be_bound(number, text.copy()), exp.Case(this=sign, ifs=ways))])


def may_be_bound(number: exp.Expr, text: exp.Expr) -> exp.Expr:
    """Whether a row may hold a bound: a text, no number, and first a blank or the first
    character of a sign (`<`, or the `l` of `less than`). The test of one character spares
    the patterns the many texts that are none (`negative`, `1:160`)."""
    firsts = sorted({sign[0] for sign in BOUND_SIGNS}) + [" ", "\t"]
    first = exp.Substring(this=text.copy(), start=lit(1), length=lit(1))
    return and_(
        not_null(text.copy()),
        is_null(number.copy()),
        exp.In(this=first, expressions=[lit(c) for c in firsts]),
    )


def in_window(date: exp.Expr, index: exp.Expr, within: Duration | None) -> exp.Expr:
    """The date falls in the look-back window ending at `index` (NULL date: no)."""
    if within is None:
        return not_null(date)
    return exp.GTE(this=date, expression=window_start(index, within))


def with_missing(present: exp.Expr, value: exp.Expr, if_missing: Truth) -> exp.Expr:
    """`value` where the patient has the data (`present`), else the atom's `if_missing` truth."""
    if if_missing is Truth.UNKNOWN:
        return case([(present, value)])
    return case([(present, value)], truth(if_missing.as_bool()))


class RowAtoms:
    """Atom values on the row of their concept (of `patient_records`, `patient_results` or
    `patient_exposures`), against `index`, the patient's index date (a column or the run's
    literal)."""

    def __init__(self, plan: Plan, index: exp.Expr):
        self.plan = plan
        self.index = index

    def value(self, atom: ConceptAtom) -> exp.Expr:
        """TRUE, FALSE or NULL for UNKNOWN, given the patient's row of the atom's concept."""
        if isinstance(atom, History):
            return self._history(atom)
        if isinstance(atom, Measurement):
            return self._measurement(atom)
        return self._medication(atom)

    def _history(self, atom: History) -> exp.Expr:
        missing = truth(atom.if_missing.as_bool())
        found = truth(atom.if_found.as_bool())
        if atom.before is not None:
            # the earliest record is the one most likely to be old enough
            old_enough = exp.LTE(
                this=col("first_date"), expression=window_start(self.index.copy(), atom.before)
            )
            return case([(old_enough, found)], missing)
        if atom.min_count == 1:
            return case([(in_window(col("last_date"), self.index.copy(), atom.within), found)], missing)
        n = func("coalesce", col(self.plan.count_column(atom.concept, atom.within)), lit(0))
        return case(
            [
                (exp.GTE(this=n, expression=lit(atom.min_count)), found),
                (exp.EQ(this=n, expression=lit(0)), missing),
            ],
            exp.false(),
        )

    def _measurement(self, atom: Measurement) -> exp.Expr:
        """The latest result's figures (see `latest.py`) against the atom's bounds; with a
        `min_count`, the days of results that meet them (see `_Results.counts`)."""
        concept_id = self.plan.concept_id(atom.concept)
        concept = self.plan.concepts[concept_id]
        present = in_window(col("latest_d"), self.index.copy(), atom.within)
        if atom.min_count > 1:
            known, possible = (col(c) for c in self.plan.result_count_columns(atom))
            confirmed: exp.Expr = exp.GTE(this=known, expression=lit(atom.min_count))
            if atom.apart is not None:
                # two days that meet the rule, far enough apart: the first and the last are
                first, last = (col(c) for c in self.plan.result_span_columns(atom))
                confirmed = exp.GTE(this=window_start(last, atom.apart), expression=first)
            # fewer than asked, yet one at least: a confirmation the data do not hold yet
            counted = case(
                [
                    (confirmed, exp.true()),
                    (exp.EQ(this=possible, expression=lit(0)), exp.false()),
                ]
            )
            return with_missing(present, counted, atom.if_missing)
        verdict: exp.Expr
        if atom.result is not None:
            pos = col("latest_pos")
            positive = case(
                [
                    (exp.EQ(this=pos, expression=lit(1)), exp.true()),
                    (exp.EQ(this=pos.copy(), expression=lit(0)), exp.false()),
                ]
            )
            verdict = positive if atom.result == "positive" else not_(positive)
        elif self.plan.may_write_bounds(concept_id):
            # the latest figure, else a number written as a bound (see `_Results.unpacked`)
            written, way = written_columns(atom.figure)
            verdict = compare_written(
                col(f"latest_{atom.figure}"), col(written), col(way), atom.canonical(concept)
            )
        else:
            verdict = compare(col(f"latest_{atom.figure}"), atom.threshold(concept))
        return with_missing(present, verdict, atom.if_missing)

    def _medication(self, atom: Medication) -> exp.Expr:
        concept_id = self.plan.concept_id(atom.concept)
        if atom.total is not None:
            return self._total(atom, concept_id)
        missing = truth(atom.if_missing.as_bool())
        found = truth(atom.if_found.as_bool())
        features = coverage_features(atom, concept_id, self.plan.concepts[concept_id])
        if not features:
            # one day on any dose: the exposure that ends last decides
            return case([(in_window(col("last_end"), self.index.copy(), atom.within), found)], missing)
        known = col(self.plan.coverage_column(features[0]))
        possible = col(self.plan.coverage_column(features[-1]))  # with no dose range: the same
        return case(
            [
                (exp.GTE(this=known, expression=lit(atom.min_days)), found),
                (exp.EQ(this=possible, expression=lit(0)), missing),
                (exp.LT(this=possible.copy(), expression=lit(atom.min_days)), exp.false()),
            ]
        )

    def _total(self, atom: Medication, concept_id: int) -> exp.Expr:
        """The total dose against the bounds. Exposures without a dose make the known total
        a lower bound of the true one: TRUE when every total from it up meets the bounds,
        FALSE when none does (the known total is over an upper bound, or no dose is unknown
        and the known total fails), else UNKNOWN."""
        assert atom.total is not None
        bounds = atom.total_in_canonical(self.plan.concepts[concept_id])
        assert bounds is not None
        known_name, unknown_name = self.plan.total_columns(TotalFeature(concept_id, atom.within))
        known = col(known_name)
        all_known = exp.EQ(this=col(unknown_name), expression=lit(0))
        upper = Comparison(max=bounds.max, below=bounds.below)
        if not upper.bounds():  # more doses can only raise the total: the known one decides TRUE
            return case([(compare(known, bounds), exp.true()), (all_known, exp.false())])
        return case(
            [
                (
                    or_(not_(compare(known, upper)), and_(all_known, not_(compare(known.copy(), bounds)))),
                    exp.false(),
                ),
                (all_known.copy(), exp.true()),
            ]
        )


_DAYS_SWEPT = 2**21  # the days a sweep counts fit below this (5,700 years)

# the coverage rows' column with the patient's latest weight in kg (see `Plan.dose_weight`)
DOSE_WEIGHT_COLUMN = "weight_kg"


def _clipped(x: exp.Expr, within: Duration | None, index: exp.Expr) -> tuple[exp.Expr, exp.Expr]:
    """The first and last day (day numbers) of exposure `x` inside the window `within`
    before `index`; the first is after the last when it covers no day there."""
    first: exp.Expr = field(x, "s")
    if within is not None:
        first = func("greatest", first, day_number(window_start(index.copy(), within)))
    return first, func("least", field(x, "e"), day_number(index.copy()))


def _in_window(x: exp.Expr, within: Duration | None, index: exp.Expr) -> exp.Expr:
    """Whether exposure `x` covers a day of the window."""
    first, last = _clipped(x, within, index)
    return exp.LTE(this=first, expression=last)


def _lambda(body: exp.Expr, *names: str) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(n) for n in names])


def _meds_max(kept: exp.Lambda, value: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """The largest `value(x)` of the exposures x in `meds` that `kept` keeps (NULL: none)."""
    chosen = exp.ArrayFilter(this=col("meds"), expression=kept)
    return exp.ArrayMax(this=exp.Transform(this=chosen, expression=_lambda(value(exp.column("x")), "x")))


_LENGTH = 2**22  # an exposure's days in a window fit below this (11,000 years)


def _recency(x: exp.Expr, within: Duration | None, index: exp.Expr) -> exp.Expr:
    """A number ordering the exposures in a window as the current dose reads them: by start
    day, then by last day in the window (start * 2^22 + days after the start)."""
    _, last = _clipped(x, within, index)
    length = exp.Sub(this=last, expression=field(x.copy(), "s"))
    # BIGINT: Spark's day numbers are INT, which the product overflows
    start = exp.cast(field(x.copy(), "s"), "BIGINT", copy=False)
    return exp.Add(this=exp.Mul(this=start, expression=lit(_LENGTH)), expression=length)


def latest_exposure(within: Duration | None, index: exp.Expr) -> exp.Expr:
    """On a row with the exposure list `meds`: the recency (see `_recency`) of the exposure
    of the window that started last, of those the one lasting longest in it (NULL: no
    exposure in the window)."""
    kept = _lambda(_in_window(exp.column("x"), within, index), "x")
    return _meds_max(kept, lambda x: _recency(x, within, index))


def current_dose(within: Duration | None, index: exp.Expr, latest: exp.Expr) -> exp.Expr:
    """The current dose a stable-dose feature counts the days of: the daily dose of the
    latest exposure in the window (recency `latest`, see `latest_exposure`), the highest
    when several share it, so the answer does not depend on the order an engine keeps them
    in; NULL when none of them has a known dose."""
    x = exp.column("x")
    kept = and_(
        _in_window(x, within, index),
        exp.EQ(this=_recency(x.copy(), within, index), expression=latest),
        not_null(field(x.copy(), "d")),
    )
    return _meds_max(_lambda(kept, "x"), lambda e: field(e, "d"))


def covered_days(feature: CoverageFeature, index: exp.Expr, current: exp.Expr | None = None) -> exp.Expr:
    """On a row with the sorted exposure list `meds` (start and end as day numbers, daily
    dose in the concept's unit): the days a coverage feature counts, clipped to its window,
    with the exposures' date ranges united, so a duplicated or overlapping prescription adds
    no day twice. A stable-dose feature counts the exposures at the `current` dose (see
    `current_dose`); a feature per kilogram compares each dose divided by the row's weight
    (`DOSE_WEIGHT_COLUMN`). One sweep in start order carries the last day covered so far and
    the total, packed in one BIGINT (last day * 2^21 + total): a number is cheaper to carry
    from step to step than a struct."""
    x, acc = exp.column("x"), exp.column("acc")
    covered_to = exp.IntDiv(this=acc.copy(), expression=lit(_DAYS_SWEPT))
    total = exp.Mod(this=acc.copy(), expression=lit(_DAYS_SWEPT))
    first, last = _clipped(x, feature.within, index)
    fresh_from = func("greatest", first, exp.Add(this=covered_to, expression=lit(1)))
    added = func(
        "greatest",
        exp.Add(this=exp.Sub(this=last, expression=fresh_from), expression=lit(1)),
        lit(0),
    )
    step = exp.Add(
        this=exp.Mul(this=func("greatest", covered_to.copy(), last.copy()), expression=lit(_DAYS_SWEPT)),
        expression=exp.Add(this=total, expression=added),
    )
    exposures: exp.Expr = col("meds")
    dose = field(x, "d")
    # Each test the exposure must pass, and what leaves it undecided: the bounds compare the
    # daily dose, or the dose per kilogram (unknown without a weight); the current dose is
    # unknown when the exposure's or the current one is. A possible exposure passes every
    # test or leaves it undecided.
    tests: list[tuple[exp.Expr, list[exp.Expr]]] = []
    if feature.dose is not None:
        bounded = exp.Div(this=dose.copy(), expression=col(DOSE_WEIGHT_COLUMN)) if feature.per_kg else dose
        tests.append((compare(bounded, feature.dose), [bounded.copy()]))
    if feature.stable:
        assert current is not None, "a stable-dose feature counts the days at its current dose"
        distance = func("abs", exp.Sub(this=dose.copy(), expression=current))
        tests.append((exp.LT(this=distance, expression=lit(SAME_DOSE)), [dose.copy(), current.copy()]))
    if tests:
        if feature.possible:
            qualifies = and_(*[paren(or_(*map(is_null, unknown), test)) for test, unknown in tests])
        else:
            # a test of an unknown figure is NULL, which the filter drops as it drops FALSE
            qualifies = and_(*[test for test, _ in tests])
        exposures = exp.ArrayFilter(this=exposures, expression=_lambda(qualifies, "x"))
    swept = exp.Reduce(
        this=exposures,
        initial=exp.cast(lit(0), "BIGINT", copy=False),
        merge=_lambda(step, "acc", "x"),
    )
    return exp.Mod(this=paren(func("coalesce", swept, lit(0))), expression=lit(_DAYS_SWEPT))


def total_doses(feature: TotalFeature, index: exp.Expr) -> tuple[exp.Expr, exp.Expr]:
    """On a row with the exposure list `meds`: the total of the known doses in the feature's
    window (each daily dose times the exposure's days there, summed in the list's order so
    that every engine adds the same numbers in the same order; 0 with none), and the number
    of exposures in the window without a dose. Each exposure counts, overlapping or not:
    two prescriptions of one day are two doses taken."""
    x = exp.column("x")

    def chosen(dose_known: bool) -> exp.Lambda:
        known = not_null(field(x.copy(), "d")) if dose_known else is_null(field(x.copy(), "d"))
        return _lambda(and_(_in_window(x.copy(), feature.within, index), known), "x")

    first, last = _clipped(x.copy(), feature.within, index)
    days = exp.Add(this=exp.Sub(this=last, expression=first), expression=lit(1))
    taken = exp.Mul(this=field(x.copy(), "d"), expression=paren(days))
    summed = exp.Reduce(
        this=exp.ArrayFilter(this=col("meds"), expression=chosen(True)),
        initial=exp.cast(lit(0), "DOUBLE", copy=False),
        merge=_lambda(exp.Add(this=exp.column("acc"), expression=taken), "acc", "x"),
    )
    unknown = exp.ArraySize(this=exp.ArrayFilter(this=col("meds"), expression=chosen(False)))
    return summed, unknown


def with_atom_words(
    plan: Plan,
    family: str,
    rows: exp.Select,
    index: exp.Expr,
    tables: Tables = RUN,
    kept: Sequence[str] = (),
    by_concept: bool = False,
) -> exp.Select:
    """The family pass's (patient, concept) `rows` with the family's atoms evaluated on
    them, as the mask words the family's atoms occupy (see `Plan.family_words`): two bits
    per atom, 0 on the rows of other concepts (see `_atom_bits`). Only the keys, the words
    and the `kept` columns leave the pass, so the figures the atoms read are never stored.

    `by_concept` sorts the rows by concept first. DuckDB evaluates an expression a chunk of
    2,048 rows at a time, at a fixed cost per chunk; in hash order a chunk holds a few rows
    of each concept, so every atom pays that cost on nearly every chunk. Sorted, a chunk
    holds one or two concepts: at 1M patients and 16 trials the results' atoms took a fifth
    of the time, sort included (see `pipeline.sorts_by_concept`)."""
    values = RowAtoms(plan, index)
    concept_atoms: dict[int, list[ConceptAtom]] = {}
    for atom in plan.family_atoms(family):
        concept_atoms.setdefault(plan.concept_id(atom.concept), []).append(atom)
    words = []
    for w in plan.family_words(family):
        branches = []
        for cid, atoms in concept_atoms.items():
            in_word = [a for a in atoms if plan.atom_bit(a)[0] == w]
            if in_word:
                terms = [_atom_bits(values.value(a), plan.atom_bit(a)[1]) for a in in_word]
                branches.append((exp.EQ(this=col("concept_id"), expression=lit(cid)), _sum(terms)))
        words.append(case(branches, _zero()).as_(f"a{w}", copy=False))
    if by_concept:
        rows = exp.select(exp.Star()).from_(rows.subquery("r", copy=False), copy=False)
        rows = rows.order_by(col("concept_id"), copy=False)
    return exp.select(*[col(k) for k in (*tables.keys, *kept)], *words).from_(
        rows.subquery("f", copy=False), copy=False
    )


def atom_masks_query(plan: Plan, tables: Tables = RUN) -> exp.Expr:
    """Per patient, mask words a0.. with two bits per atom, OR-ed over the patient's rows of
    the family tables: 0 no row of the atom's concept (the atom takes its `if_missing`), 1
    FALSE, 3 TRUE, 2 UNKNOWN. Each atom's bits come from the one row of its concept, so OR
    loses nothing."""
    words = plan.atom_words
    branches = []
    for family, table in tables.families().items():
        own = plan.family_words(family)
        if own:
            other_words_zero = [(col(f"a{w}") if w in own else _zero()).as_(f"a{w}") for w in range(words)]
            branches.append(exp.select(*tables.key_columns(), *other_words_zero).from_(table, copy=False))
    if not branches:  # no concept atoms at all: an empty branch keeps the shape
        branches.append(
            exp.select(*tables.key_columns(), *[_zero().as_(f"a{w}") for w in range(words)])
            .from_(tables.demographics, copy=False)
            .where(exp.false(), copy=False)
        )
    rollup = [func("bit_or", col(f"a{w}")).as_(f"a{w}", copy=False) for w in range(words)]
    return (
        exp.select(*tables.key_columns(), *rollup)
        .from_(union_all(branches).subquery("atoms"), copy=False)
        .group_by(*tables.key_columns(), copy=False)
    )


def _zero() -> exp.Expr:
    return exp.cast(lit(0), "BIGINT", copy=False)


def _atom_bits(value: exp.Expr, low: int) -> exp.Expr:
    """An atom's value on its concept's row as its two bits: 3 TRUE, 1 FALSE, 2 UNKNOWN,
    times the atom's low bit. As arithmetic on the value read as 1 or 0 (NULL for UNKNOWN),
    so the value is evaluated once, where a CASE would test it and then its negation."""
    as_number = exp.cast(exp.Paren(this=value), "BIGINT", copy=False)
    known = exp.Add(this=exp.Mul(this=as_number, expression=lit(2 * low)), expression=lit(low))
    return func("coalesce", known, lit(2 * low))


def _sum(terms: list[exp.Expr]) -> exp.Expr:
    total: exp.Expr = _zero()
    for term in terms:
        total = exp.Add(this=total, expression=term)
    return exp.cast(total, "BIGINT", copy=False)


def truth_words(plan: Plan, word: Callable[[int], exp.Expr]) -> list[exp.Expr]:
    """Per mask word a{w} (`word(w)`, a column or a function of one), the atoms' truth as
    two words true{w} and false{w} of one bit per atom, its low bit; neither is UNKNOWN.
    An atom whose concept has no row for the patient (bits 00) takes its `if_missing`.
    With a bit per atom and value, the atoms a criterion joins by AND or OR in one word
    are tested together, one AND with a mask (see `truth_pair`), not one test per atom."""
    lows, if_true, if_false = ([0] * plan.atom_words for _ in range(3))
    for atom in plan.atoms:
        w, low = plan.atom_bit(atom)
        lows[w] |= low
        missing = atom.if_missing.as_bool()
        if_true[w] |= low if missing is True else 0
        if_false[w] |= low if missing is False else 0
    columns: list[exp.Expr] = []
    for w in range(plan.atom_words):
        bits = word(w)
        high = paren(exp.BitwiseRightShift(this=bits.copy(), expression=lit(1)))
        no_row = exp.BitwiseNot(this=paren(exp.BitwiseOr(this=bits.copy(), expression=high.copy())))
        both = exp.BitwiseAnd(this=bits.copy(), expression=high.copy())
        low_only = exp.BitwiseAnd(this=bits.copy(), expression=exp.BitwiseNot(this=high.copy()))
        for name, known, missing_mask in (("true", both, if_true[w]), ("false", low_only, if_false[w])):
            value: exp.Expr = exp.BitwiseAnd(this=known, expression=lit(lows[w]))
            if missing_mask:
                missing_bits = exp.BitwiseAnd(this=paren(no_row.copy()), expression=lit(missing_mask))
                value = exp.BitwiseOr(this=paren(value), expression=paren(missing_bits))
            columns.append(value.as_(f"{name}{w}", copy=False))
    return columns


def truth_pair(word: int, mask: int, every: bool) -> tuple[exp.Expr, exp.Expr]:
    """(is TRUE, is FALSE) of the atoms at the bits `mask` of truth word `word` (see
    `truth_words`) joined by AND (`every`) or OR: AND is TRUE when all are TRUE and FALSE
    when any is FALSE; OR the reverse."""

    def tested(name: str, all_set: bool) -> exp.Expr:
        bits = paren(exp.BitwiseAnd(this=col(f"{name}{word}"), expression=lit(mask)))
        return exp.EQ(this=bits, expression=lit(mask)) if all_set else exp.NEQ(this=bits, expression=lit(0))

    return tested("true", every), tested("false", not every)

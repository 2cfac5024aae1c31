"""Single-concept atoms evaluated on their (patient, concept) row, packed into bit masks.

History, measurement and medication atoms each read one concept. They are evaluated once,
on the one row the one-pass aggregate made for that patient and concept, and packed into
three masks per patient (OHDSI Circe's idea: one bitmask per patient, every view from it):
- `p`: the patient has a row of the atom's concept;
- `t`: the atom is TRUE;
- `k`: the atom is known (TRUE or FALSE).
A patient with no row of the concept has no record of it at all, so the atom takes its
`if_missing` value. Rolling these up per patient is a few `bit_or` aggregates, where a wide
pivot of per-concept columns would cost one filtered aggregate per feature.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from feasibility.compile.plan import ConceptAtom, CoverageFeature, Plan, coverage_features
from feasibility.compile.sqlexpr import (
    FALSE,
    TRUE,
    and_,
    case,
    col,
    compare,
    date_lit,
    field,
    func,
    lit,
    not_,
    or_,
    struct,
    truth,
    union_all,
    window_start,
)
from feasibility.compile.tables import RUN, Tables
from feasibility.criteria.model import (
    NEGATIVE_RESULTS,
    POSITIVE_RESULTS,
    Duration,
    History,
    Measurement,
    Medication,
    Truth,
)

POSITIVE, NEGATIVE = POSITIVE_RESULTS, NEGATIVE_RESULTS
EPOCH = date(1970, 1, 1)  # day numbers for sweeping exposure ranges


def is_null(e: exp.Expression) -> exp.Expression:
    return exp.Is(this=e, expression=exp.null())


def not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=is_null(e))


def text_result(text: exp.Expression) -> exp.Expression:
    """A text result read once: 1 positive, -1 negative, 0 anything else or none. The
    figures of a result compare this small number rather than the text."""
    spelt = func("lower", func("trim", text))
    return case(
        [
            (is_null(text.copy()), lit(0)),
            (exp.In(this=spelt, expressions=[lit(w) for w in POSITIVE]), lit(1)),
            (exp.In(this=spelt.copy(), expressions=[lit(w) for w in NEGATIVE]), lit(-1)),
        ],
        lit(0),
    )


def in_window(date: exp.Expression, index: exp.Expression, within: Duration | None) -> exp.Expression:
    """The date falls in the look-back window ending at `index` (NULL date: no)."""
    if within is None:
        return not_null(date)
    return exp.GTE(this=date, expression=window_start(index, within))


def with_missing(present: exp.Expression, value: exp.Expression, if_missing: Truth) -> exp.Expression:
    if if_missing is Truth.UNKNOWN:
        return case([(present, value)])
    return case([(present, value)], truth(if_missing.as_bool()))


class RowAtoms:
    """Atom values on a `patient_concept` row (columns last_date, first_date, latest_*, n*,
    meds), against `index`, the patient's index date (a column or the run's literal)."""

    def __init__(self, plan: Plan, index: exp.Expression):
        self.plan = plan
        self.index = index

    def value(self, atom: ConceptAtom) -> exp.Expression:
        """TRUE, FALSE or NULL for UNKNOWN, given the patient's row of the atom's concept."""
        if isinstance(atom, History):
            return self._history(atom)
        if isinstance(atom, Measurement):
            return self._measurement(atom)
        return self._medication(atom)

    def _history(self, atom: History) -> exp.Expression:
        missing = truth(atom.if_missing.as_bool())
        if atom.before is not None:
            # the earliest record is the one most likely to be old enough
            old_enough = exp.LTE(
                this=col("first_date"), expression=window_start(self.index.copy(), atom.before)
            )
            return case([(old_enough, TRUE)], missing)
        if atom.min_count == 1:
            return case([(in_window(col("last_date"), self.index.copy(), atom.within), TRUE)], missing)
        n = func("coalesce", col(self.plan.count_column(atom.concept, atom.within)), lit(0))
        return case(
            [
                (exp.GTE(this=n, expression=lit(atom.min_count)), TRUE),
                (exp.EQ(this=n, expression=lit(0)), missing),
            ],
            FALSE,
        )

    def _measurement(self, atom: Measurement) -> exp.Expression:
        """The latest result's figures (see `latest.py`) against the atom's bounds."""
        concept = self.plan.concepts[self.plan.concept_id(atom.concept)]
        if atom.result is not None:
            pos = col("latest_pos")
            positive = case(
                [
                    (exp.EQ(this=pos, expression=lit(1)), TRUE),
                    (exp.EQ(this=pos.copy(), expression=lit(0)), FALSE),
                ]
            )
            verdict = positive if atom.result == "positive" else not_(positive)
        else:
            assert atom.compare is not None
            if atom.uln:
                verdict = compare(col("latest_uln"), atom.compare)
            else:
                verdict = compare(col("latest_number"), atom.compare.in_canonical(concept, atom.unit))
        present = in_window(col("latest_d"), self.index.copy(), atom.within)
        return with_missing(present, verdict, atom.if_missing)

    def _medication(self, atom: Medication) -> exp.Expression:
        concept_id = self.plan.concept_id(atom.concept)
        missing = truth(atom.if_missing.as_bool())
        features = coverage_features(atom, concept_id, self.plan.concepts[concept_id])
        if not features:
            # one day on any dose: the exposure that ends last decides
            return case([(in_window(col("last_end"), self.index.copy(), atom.within), TRUE)], missing)
        known = col(self.plan.coverage_column(features[0]))
        possible = col(self.plan.coverage_column(features[-1]))  # with no dose range: the same
        return case(
            [
                (exp.GTE(this=known, expression=lit(atom.min_days)), TRUE),
                (exp.EQ(this=possible, expression=lit(0)), missing),
                (exp.LT(this=possible.copy(), expression=lit(atom.min_days)), FALSE),
            ]
        )


def covered_days(feature: CoverageFeature, index: exp.Expression) -> exp.Expression:
    """On a row with the sorted exposure list `meds`: the days a coverage feature counts,
    clipped to its window, with the exposures' date ranges united, so a duplicated or
    overlapping prescription adds no day twice. One sweep in start order carries the last
    day covered so far (u) and the total (t)."""
    x, acc = exp.column("x"), exp.column("acc")

    def day_number(d: exp.Expression) -> exp.Expression:
        return exp.DateDiff(this=d, expression=date_lit(EPOCH), unit=exp.Var(this="DAY"))

    def bigint(e: exp.Expression) -> exp.Expression:
        return exp.cast(e, "BIGINT", copy=False)

    first: exp.Expression = field(x, "s")
    if feature.within is not None:
        first = func("greatest", first, window_start(index.copy(), feature.within))
    last = func("least", field(x, "e"), index.copy())
    fresh_from = func("greatest", day_number(first), exp.Add(this=field(acc, "u"), expression=lit(1)))
    added = func(
        "greatest",
        exp.Add(this=exp.Sub(this=day_number(last), expression=fresh_from), expression=lit(1)),
        lit(0),
    )
    step = struct(
        u=bigint(func("greatest", field(acc, "u"), day_number(last.copy()))),
        t=bigint(exp.Add(this=field(acc, "t"), expression=added)),
    )
    exposures: exp.Expression = col("meds")
    if feature.dose is not None:
        dose_known = and_(not_null(field(x, "v")), not_null(field(x, "f")))
        qualifies = and_(
            dose_known, compare(exp.Mul(this=field(x, "v"), expression=field(x, "f")), feature.dose)
        )
        if feature.possible:
            qualifies = or_(qualifies, not_(dose_known.copy()))
        exposures = exp.ArrayFilter(
            this=exposures, expression=exp.Lambda(this=qualifies, expressions=[exp.to_identifier("x")])
        )
    swept = exp.Reduce(
        this=exposures,
        initial=struct(u=bigint(lit(-(10**9))), t=bigint(lit(0))),
        merge=exp.Lambda(this=step, expressions=[exp.to_identifier("acc"), exp.to_identifier("x")]),
    )
    return func("coalesce", field(swept, "t"), lit(0))


def atom_masks_query(
    plan: Plan, index: exp.Expression, tables: Tables = RUN, one_scan: bool = True
) -> exp.Expression:
    """Per patient, words p0.. (has a row of the atom's concept, on the `known` bit) and
    a0.. (two bits per atom: known, true), OR-ed over the patient's concept rows.

    With `one_scan` (the default) every word is a CASE on the row's concept over the
    concepts with atoms in that word, so the table is read once and each row evaluates only
    its own concept's atoms. Without it, one UNION ALL branch per concept reads only that
    concept's rows; the words are the same."""
    rows = RowAtoms(plan, index)
    words = plan.atom_words
    by_concept: dict[int, list[ConceptAtom]] = {}
    for atom in plan.atoms:
        by_concept.setdefault(plan.concept_id(atom.concept), []).append(atom)
    zero = exp.cast(lit(0), "BIGINT", copy=False)
    presents: list[list[int]] = []
    totals: list[list[exp.Expression]] = []
    for atoms in by_concept.values():
        present = [0] * words
        values: list[list[exp.Expression]] = [[] for _ in range(words)]
        for atom in atoms:
            w, known = plan.atom_bit(atom)
            present[w] |= known
            value = exp.Paren(this=rows.value(atom))
            # the atom evaluated once: 3 * known if TRUE, known if FALSE, 0 if NULL
            bits = exp.Mul(this=exp.cast(value, "BIGINT", copy=False), expression=lit(2 * known))
            values[w].append(func("coalesce", exp.Add(this=bits, expression=lit(known)), lit(0)))
        presents.append(present)
        total_words = []
        for w in range(words):
            total: exp.Expression = zero.copy()
            for term in values[w]:
                total = exp.Add(this=total, expression=term)
            total_words.append(exp.cast(total, "BIGINT", copy=False))
        totals.append(total_words)
    concepts = list(by_concept)
    source = exp.to_table(tables.patient_concept)
    if not concepts:  # no concept atoms at all: one empty branch keeps the shape
        branches = [
            exp.select(*tables.key_columns(), *[zero.as_(f"{k}{w}") for k in "pa" for w in range(words)])
            .from_(tables.patient_concept, copy=False)
            .where(exp.false(), copy=False)
        ]
    elif one_scan:
        branches = [_one_scan(tables, source, concepts, presents, totals, words)]
    else:
        branches = [
            exp.select(
                *tables.key_columns(),
                *[
                    exp.cast(lit(present[w]), "BIGINT", copy=False).as_(f"p{w}", copy=False)
                    for w in range(words)
                ],
                *[total[w].as_(f"a{w}", copy=False) for w in range(words)],
            )
            .from_(source.copy(), copy=False)
            .where(exp.EQ(this=col("concept_id"), expression=lit(cid)), copy=False)
            for cid, present, total in zip(concepts, presents, totals, strict=True)
        ]
    rollup = [func("bit_or", col(f"{k}{w}")).as_(f"{k}{w}", copy=False) for k in "pa" for w in range(words)]
    return (
        exp.select(*tables.key_columns(), *rollup)
        .from_(union_all(branches).subquery("atoms"), copy=False)
        .group_by(*tables.key_columns(), copy=False)
    )


def _one_scan(
    tables: Tables,
    source: exp.Expression,
    concepts: list[int],
    presents: list[list[int]],
    totals: list[list[exp.Expression]],
    words: int,
) -> exp.Select:
    """The per-concept branches of `atom_masks_query` as one SELECT: each word is a CASE on
    the row's concept, over the concepts with atoms in that word."""

    def word(values: list[exp.Expression | None]) -> exp.Expression:
        zero = exp.cast(lit(0), "BIGINT", copy=False)
        whens = [
            (exp.EQ(this=col("concept_id"), expression=lit(cid)), value)
            for cid, value in zip(concepts, values, strict=True)
            if value is not None
        ]
        return case(whens, zero) if whens else zero

    select: list[exp.Expression] = tables.key_columns()
    for w in range(words):
        bits = [exp.cast(lit(p[w]), "BIGINT", copy=False) if p[w] else None for p in presents]
        select.append(word(bits).as_(f"p{w}", copy=False))
    for w in range(words):
        select.append(
            word([t[w] if p[w] else None for p, t in zip(presents, totals, strict=True)]).as_(
                f"a{w}", copy=False
            )
        )
    return (
        exp.select(*select)
        .from_(source, copy=False)
        .where(exp.In(this=col("concept_id"), expressions=[lit(cid) for cid in concepts]), copy=False)
    )


def atom_from_masks(plan: Plan, atom: ConceptAtom) -> exp.Expression:
    """On the patient row: the atom's value from the rolled-up words."""
    w, known = plan.atom_bit(atom)

    def has(word: str, bit: int) -> exp.Expression:
        return exp.NEQ(this=exp.BitwiseAnd(this=col(word), expression=lit(bit)), expression=lit(0))

    return case(
        [(has(f"p{w}", known), case([(has(f"a{w}", 2 * known), TRUE), (has(f"a{w}", known), FALSE)]))],
        truth(atom.if_missing.as_bool()),
    )

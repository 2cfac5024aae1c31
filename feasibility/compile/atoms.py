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

from collections.abc import Sequence
from datetime import date

from sqlglot import exp

from feasibility.compile.plan import ConceptAtom, Plan
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


def text_is(text: exp.Expression, words: tuple[str, ...]) -> exp.Expression:
    return exp.In(this=func("lower", func("trim", text)), expressions=[lit(w) for w in words])


def in_window(date: exp.Expression, index: exp.Expression, within: Duration | None) -> exp.Expression:
    """The date falls in the look-back window ending at `index` (NULL date: no)."""
    if within is None:
        return not_null(date)
    return exp.GTE(this=date, expression=window_start(index, within))


def canonical(latest: exp.Expression) -> exp.Expression:
    """A latest-result struct's value in the concept's canonical unit (NULL: unit unknown)."""
    return exp.Mul(this=field(latest, "v"), expression=field(latest, "f"))


def with_missing(present: exp.Expression, value: exp.Expression, if_missing: Truth) -> exp.Expression:
    if if_missing is Truth.UNKNOWN:
        return case([(present, value)])
    return case([(present, value)], truth(if_missing.as_bool()))


class RowAtoms:
    """Atom values on a `patient_concept` row (columns last_date, latest, n*, m*_days, idx)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.index = col("idx")

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
            old_enough = exp.LTE(this=col("first_date"), expression=window_start(self.index, atom.before))
            return case([(old_enough, TRUE)], missing)
        if atom.min_count == 1:
            return case([(in_window(col("last_date"), self.index, atom.within), TRUE)], missing)
        n = func("coalesce", col(self.plan.count_column(atom.concept, atom.within)), lit(0))
        return case(
            [
                (exp.GTE(this=n, expression=lit(atom.min_count)), TRUE),
                (exp.EQ(this=n, expression=lit(0)), missing),
            ],
            FALSE,
        )

    def _measurement(self, atom: Measurement) -> exp.Expression:
        latest = col("latest")
        value, text, ref_high = field(latest, "v"), field(latest, "t"), field(latest, "rh")
        concept = self.plan.concepts[self.plan.concept_id(atom.concept)]
        if atom.result is not None:
            positive = case(
                [
                    (text_is(text, POSITIVE), TRUE),
                    (text_is(text, NEGATIVE), FALSE),
                    (
                        and_(not_null(value), exp.GT(this=ref_high, expression=lit(0))),
                        exp.GT(this=value, expression=ref_high),
                    ),
                ]
            )
            verdict = positive if atom.result == "positive" else not_(positive)
        else:
            assert atom.compare is not None
            bounds = atom.compare
            if atom.uln:
                whens = [(exp.GT(this=ref_high, expression=lit(0)), exp.Div(this=value, expression=ref_high))]
                if concept.default_uln:
                    whens.append(
                        (
                            not_null(field(latest, "f")),
                            exp.Div(this=canonical(latest), expression=lit(concept.default_uln)),
                        )
                    )
                number = case(whens)
            else:
                number = canonical(latest)
                bounds = atom.compare.in_canonical(concept, atom.unit)
            # "not detected" with no number reads as zero: below any positive threshold
            number = case([(and_(is_null(value), text_is(text, NEGATIVE)), lit(0))], number)
            verdict = compare(number, bounds)
        present = in_window(field(latest, "d"), self.index, atom.within)
        return with_missing(present, verdict, atom.if_missing)

    def _medication(self, atom: Medication) -> exp.Expression:
        concept = self.plan.concepts[self.plan.concept_id(atom.concept)]
        dose = atom.dose.in_canonical(concept, atom.dose_unit) if atom.dose else None
        x = exp.column("x")
        acc = exp.column("acc")

        def day_number(d: exp.Expression) -> exp.Expression:
            return exp.DateDiff(this=d, expression=date_lit(EPOCH), unit=exp.Var(this="DAY"))

        def bigint(e: exp.Expression) -> exp.Expression:
            return exp.cast(e, "BIGINT", copy=False)

        def covered_days(condition: exp.Expression) -> exp.Expression:
            """Days covered by the exposures meeting `condition`, clipped to the window: the
            union of their date ranges, so a duplicated or overlapping prescription adds
            no day twice. The exposures are sorted by start and swept once, carrying the
            last day covered so far (u) and the total (t)."""
            first: exp.Expression = field(x, "s")
            if atom.within is not None:
                first = func("greatest", field(x, "s"), window_start(self.index, atom.within))
            last = func("least", field(x, "e"), self.index)
            fresh_from = func("greatest", day_number(first), exp.Add(this=field(acc, "u"), expression=lit(1)))
            added = func(
                "greatest",
                exp.Add(this=exp.Sub(this=day_number(last), expression=fresh_from), expression=lit(1)),
                lit(0),
            )
            covered_to = func("greatest", field(acc, "u"), day_number(last.copy()))
            step = struct(
                u=bigint(case([(condition, covered_to)], field(acc, "u"))),
                t=bigint(exp.Add(this=field(acc, "t"), expression=case([(condition.copy(), added)], lit(0)))),
            )
            lam = exp.Lambda(this=step, expressions=[exp.to_identifier("acc"), exp.to_identifier("x")])
            swept = exp.Reduce(
                this=exp.ArraySort(this=col("meds")),
                initial=struct(u=bigint(lit(-(10**9))), t=bigint(lit(0))),
                merge=lam,
            )
            return func("coalesce", field(swept, "t"), lit(0))

        if dose is None:
            known = covered_days(exp.true())
            possible = known
        else:
            dose_known = and_(not_null(field(x, "v")), not_null(field(x, "f")))
            dose_ok = and_(dose_known, compare(exp.Mul(this=field(x, "v"), expression=field(x, "f")), dose))
            known = covered_days(dose_ok)
            # the days the patient may have been on a qualifying dose: known ones, or unknown dose
            possible = covered_days(or_(dose_ok.copy(), not_(dose_known.copy())))
        return case(
            [
                (exp.GTE(this=known, expression=lit(atom.min_days)), TRUE),
                (exp.EQ(this=possible, expression=lit(0)), truth(atom.if_missing.as_bool())),
                (exp.LT(this=possible, expression=lit(atom.min_days)), FALSE),
            ]
        )


ATOMS_PER_WORD = 31  # two bits per atom (known, true) in a positive BIGINT


def n_words(plan: Plan) -> int:
    return max(1, -(-len(plan.atoms) // ATOMS_PER_WORD))


def _bit(atom_index: int) -> tuple[int, int]:
    """(word, the atom's `known` bit); its `true` bit is the next one up."""
    w, j = divmod(atom_index, ATOMS_PER_WORD)
    return w, 1 << (2 * j)


def atom_masks_query(plan: Plan, tables: Tables = RUN, one_scan: bool = False) -> exp.Expression:
    """Per patient, words p0.. (has a row of the atom's concept, on the `known` bit) and
    a0.. (two bits per atom: known, true).

    One UNION ALL branch per concept reads only that concept's rows and evaluates only its
    atoms, each once; the branches are OR-ed together per patient. With `one_scan` (for
    Spark, which plans and ships a UNION of a hundred branches slowly) the branches become
    one SELECT, each word a CASE on the row's concept, and each atom's bits are computed by
    arithmetic on one evaluation of it; the words are the same.
    """
    rows = RowAtoms(plan)
    words = n_words(plan)
    by_concept: dict[int, list[int]] = {}
    for a, atom in enumerate(plan.atoms):
        by_concept.setdefault(plan.concept_id(atom.concept), []).append(a)
    zero = exp.cast(lit(0), "BIGINT", copy=False)
    branches = []
    presents: list[list[int]] = []
    totals: list[list[exp.Expression]] = []
    for cid, indexes in by_concept.items():
        present = [0] * words
        values: list[list[exp.Expression]] = [[] for _ in range(words)]
        for a in indexes:
            w, known = _bit(a)
            present[w] |= known
            value = exp.Paren(this=rows.value(plan.atoms[a]))
            if one_scan:  # the atom evaluated once: 3 * known if TRUE, known if FALSE, 0 if NULL
                bits = exp.Mul(this=exp.cast(value, "BIGINT", copy=False), expression=lit(2 * known))
                values[w].append(func("coalesce", exp.Add(this=bits, expression=lit(known)), lit(0)))
            else:
                values[w].append(case([(value, lit(3 * known)), (not_(value), lit(known))], lit(0)))
        select: list[exp.Expression] = tables.key_columns()
        select += [
            exp.cast(lit(present[w]), "BIGINT", copy=False).as_(f"p{w}", copy=False) for w in range(words)
        ]
        presents.append(present)
        totals.append([])
        for w in range(words):
            total: exp.Expression = zero
            for term in values[w]:
                total = exp.Add(this=total, expression=term)
            totals[-1].append(exp.cast(total, "BIGINT", copy=False))
            select.append(totals[-1][-1].as_(f"a{w}", copy=False))
        branches.append(
            exp.select(*select)
            .from_(tables.patient_concept, copy=False)
            .where(exp.EQ(this=col("concept_id"), expression=lit(cid)), copy=False)
        )
    if one_scan and branches:
        branches = [_one_scan(tables, list(by_concept), presents, totals, words)]
    if not branches:  # no concept atoms at all: one empty branch keeps the shape
        branches.append(
            exp.select(
                *tables.key_columns(),
                *[zero.as_(f"{k}{w}", copy=False) for k in "pa" for w in range(words)],
            )
            .from_(tables.patient_concept, copy=False)
            .where(exp.false(), copy=False)
        )
    union = union_all(branches)
    rollup = [func("bit_or", col(f"{k}{w}")).as_(f"{k}{w}", copy=False) for k in "pa" for w in range(words)]
    return (
        exp.select(*tables.key_columns(), *rollup)
        .from_(union.subquery("atoms"), copy=False)
        .group_by(*tables.key_columns(), copy=False)
    )


def _one_scan(
    tables: Tables,
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
        .from_(tables.patient_concept, copy=False)
        .where(exp.In(this=col("concept_id"), expressions=[lit(cid) for cid in concepts]), copy=False)
    )


def atom_from_masks(plan: Plan, atom: ConceptAtom) -> exp.Expression:
    """On the patient row: the atom's value from the rolled-up words."""
    w, known = _bit(plan.atom_index(atom))

    def has(word: str, bit: int) -> exp.Expression:
        return exp.NEQ(this=exp.BitwiseAnd(this=col(word), expression=lit(bit)), expression=lit(0))

    return case(
        [(has(f"p{w}", known), case([(has(f"a{w}", 2 * known), TRUE), (has(f"a{w}", known), FALSE)]))],
        truth(atom.if_missing.as_bool()),
    )


def mask_columns(plan: Plan) -> Sequence[exp.Expression]:
    """The patient row's words, zero for a patient with no concept rows at all."""
    return [
        func("coalesce", col(f"{k}{w}", "m"), exp.cast(lit(0), "BIGINT", copy=False)).as_(
            f"{k}{w}", copy=False
        )
        for k in "pa"
        for w in range(n_words(plan))
    ]

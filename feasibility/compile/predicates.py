"""Rules -> three-valued SQL predicates over the per-patient feature table.

A predicate is a boolean expression that is NULL when the answer is UNKNOWN. SQL's AND, OR
and NOT already follow Kleene's three-valued logic, so combinators map one to one.
"""

from __future__ import annotations

from sqlglot import exp

from feasibility.compile.plan import Plan
from feasibility.compile.sqlexpr import (
    FALSE,
    TRUE,
    and_,
    case,
    col,
    compare,
    compare_interval,
    field,
    func,
    lit,
    not_,
    or_,
    paren,
    truth,
    window_start,
)
from feasibility.criteria.model import (
    Age,
    All,
    AnyOf,
    AtLeast,
    Criterion,
    Derived,
    Duration,
    History,
    Measurement,
    Medication,
    Not,
    Rule,
    Sex,
    Truth,
)

POSITIVE = ("positive", "pos", "+", "detected", "reactive", "present", "yes")
NEGATIVE = ("negative", "neg", "-", "not detected", "undetected", "non-reactive", "nonreactive",
            "non reactive", "absent", "no", "not present")


def _is_null(e: exp.Expression) -> exp.Expression:
    return exp.Is(this=e, expression=exp.null())


def _not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=_is_null(e))


def text_is(text: exp.Expression, words: tuple[str, ...]) -> exp.Expression:
    return exp.In(this=func("lower", func("trim", text)), expressions=[lit(w) for w in words])


class PredicateCompiler:
    """Compiles rules against one feature plan."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.index = col("idx")

    # ------------------------------------------------------------ helpers

    def _in_window(self, date: exp.Expression, within: Duration | None) -> exp.Expression:
        if within is None:
            return _not_null(date)
        return exp.GTE(this=date, expression=window_start(self.index, within))

    def _latest(self, concept: str) -> exp.Expression:
        return col(f"c{self.plan.concept_id(concept)}_latest")

    def _canonical(self, latest: exp.Expression) -> exp.Expression:
        return exp.Mul(this=field(latest, "v"), expression=field(latest, "f"))

    def _present(self, concept: str, within: Duration | None) -> exp.Expression:
        return self._in_window(field(self._latest(concept), "d"), within)

    def _missing(self, present: exp.Expression, value: exp.Expression, if_missing: Truth
                 ) -> exp.Expression:
        if if_missing is Truth.UNKNOWN:
            return case([(present, value)])
        return case([(present, value)], truth(if_missing.as_bool()))

    # ------------------------------------------------------------ atoms

    def rule(self, rule: Rule) -> exp.Expression:
        """The rule's value per patient: TRUE, FALSE or NULL for UNKNOWN."""
        method = getattr(self, f"_{type(rule).__name__.lower()}")
        return method(rule)

    def _age(self, rule: Age) -> exp.Expression:
        return compare_interval(col("age_lo"), col("age_hi"), rule.compare)

    def _sex(self, rule: Sex) -> exp.Expression:
        sex = col("sex")
        known = exp.In(this=sex, expressions=[lit("F"), lit("M")])
        return case([(known, exp.In(this=sex, expressions=[lit(v) for v in rule.values]))])

    def _history(self, rule: History) -> exp.Expression:
        if rule.min_count == 1:
            last = col(f"c{self.plan.concept_id(rule.concept)}_last")
            return case([(self._in_window(last, rule.within), TRUE)],
                        truth(rule.if_missing.as_bool()))
        n = func("coalesce", col(self.plan.count_column(rule.concept, rule.within)), lit(0))
        return case(
            [(exp.GTE(this=n, expression=lit(rule.min_count)), TRUE),
             (exp.EQ(this=n, expression=lit(0)), truth(rule.if_missing.as_bool()))],
            FALSE,
        )

    def _measurement(self, rule: Measurement) -> exp.Expression:
        latest = self._latest(rule.concept)
        value, text, ref_high = field(latest, "v"), field(latest, "t"), field(latest, "rh")
        if rule.result is not None:
            positive = case([
                (text_is(text, POSITIVE), TRUE),
                (text_is(text, NEGATIVE), FALSE),
                (and_(_not_null(value), exp.GT(this=ref_high, expression=lit(0))),
                 exp.GT(this=value, expression=ref_high)),
            ])
            verdict = positive if rule.result == "positive" else not_(positive)
        else:
            assert rule.compare is not None
            concept = self.plan.concepts[self.plan.concept_id(rule.concept)]
            bounds = rule.compare
            if rule.uln:
                whens = [(exp.GT(this=ref_high, expression=lit(0)),
                          exp.Div(this=value, expression=ref_high))]
                if concept.default_uln:
                    whens.append((_not_null(field(latest, "f")),
                                  exp.Div(this=self._canonical(latest),
                                          expression=lit(concept.default_uln))))
                number = case(whens)
            else:
                number = self._canonical(latest)
                bounds = rule.compare.in_canonical(concept, rule.unit)
            # "not detected" with no number reads as zero: below any positive threshold
            number = case([(and_(_is_null(value), text_is(text, NEGATIVE)), lit(0))], number)
            verdict = compare(number, bounds)
        return self._missing(self._present(rule.concept, rule.within), verdict, rule.if_missing)

    def _medication(self, rule: Medication) -> exp.Expression:
        concept = self.plan.concepts[self.plan.concept_id(rule.concept)]
        dose = rule.dose.in_canonical(concept, rule.dose_unit) if rule.dose else None
        j = self.plan.medication_column(rule.concept, rule.within, dose)
        known = func("coalesce", col(f"m{j}_days"), lit(0))
        possible = known
        if dose is not None:
            possible = exp.Add(this=known,
                               expression=func("coalesce", col(f"m{j}_unk"), lit(0)))
        return case(
            [(exp.GTE(this=known, expression=lit(rule.min_days)), TRUE),
             (exp.EQ(this=possible, expression=lit(0)), truth(rule.if_missing.as_bool())),
             (exp.LT(this=possible, expression=lit(rule.min_days)), FALSE)],
        )

    def _derived(self, rule: Derived) -> exp.Expression:
        scr_latest = self._latest("creatinine")
        scr = self._canonical(scr_latest)
        present = self._present("creatinine", rule.within)
        sex = col("sex")
        female = exp.EQ(this=sex, expression=lit("F"))
        if rule.measure == "creatinine_clearance":
            weight = self._canonical(self._latest("weight"))
            present = and_(present, self._present("weight", rule.within))
            sex_factor = case([(female, lit(0.85)), (exp.EQ(this=sex, expression=lit("M")), lit(1.0))])

            def at_age(age: exp.Expression) -> exp.Expression:
                # Cockcroft-Gault: (140 - age) x weight / (72 x Scr), x 0.85 if female
                return exp.Mul(
                    this=exp.Div(
                        this=exp.Mul(this=paren(exp.Sub(this=lit(140), expression=age)),
                                     expression=weight),
                        expression=paren(exp.Mul(this=lit(72), expression=scr)),
                    ),
                    expression=sex_factor,
                )
        else:
            kappa = case([(female, lit(0.7)), (exp.EQ(this=sex, expression=lit("M")), lit(0.9))])
            alpha = case([(female, lit(-0.241))], lit(-0.302))
            ratio = paren(exp.Div(this=scr, expression=kappa))

            def at_age(age: exp.Expression) -> exp.Expression:
                # CKD-EPI 2021 (race-free): 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.2
                #   x 0.9938^age x 1.012 if female
                return exp.Mul(
                    this=exp.Mul(
                        this=exp.Mul(
                            this=exp.Mul(
                                this=lit(142),
                                expression=func("power", func("least", ratio, lit(1)), alpha),
                            ),
                            expression=func("power", func("greatest", ratio, lit(1)), lit(-1.2)),
                        ),
                        expression=func("power", lit(0.9938), age),
                    ),
                    expression=case([(female, lit(1.012))], lit(1.0)),
                )
        # Both equations fall with age: the oldest possible age gives the lowest value.
        # Both need the sex (LEAST/GREATEST skip NULLs, so an unknown sex must be explicit).
        # a creatinine of zero or below is not a result: UNKNOWN, not a division by zero
        computable = and_(exp.In(this=sex, expressions=[lit("F"), lit("M")]),
                          exp.GT(this=scr, expression=lit(0)))
        verdict = case([(computable, compare_interval(at_age(col("age_hi")), at_age(col("age_lo")),
                                                     rule.compare))])
        return self._missing(present, verdict, rule.if_missing)

    # ------------------------------------------------------------ combinators

    def _all(self, rule: All) -> exp.Expression:
        return and_(*(self.rule(p) for p in rule.parts))

    def _anyof(self, rule: AnyOf) -> exp.Expression:
        return or_(*(self.rule(p) for p in rule.parts))

    def _not(self, rule: Not) -> exp.Expression:
        return not_(self.rule(rule.part))

    def _atleast(self, rule: AtLeast) -> exp.Expression:
        parts = [self.rule(p) for p in rule.parts]

        def count(cond) -> exp.Expression:
            total: exp.Expression = lit(0)
            for p in parts:
                total = exp.Add(this=total, expression=case([(cond(p), lit(1))], lit(0)))
            return total

        true_count = count(lambda p: p)
        possible = count(lambda p: exp.Not(this=exp.Is(this=paren(p), expression=FALSE)))
        return case([(exp.GTE(this=true_count, expression=lit(rule.n)), TRUE),
                     (exp.LT(this=possible, expression=lit(rule.n)), FALSE)])

    # ------------------------------------------------------------ criteria

    def passes(self, criterion: Criterion) -> exp.Expression:
        """Whether the patient passes the criterion: an inclusion's rule, an exclusion's
        negation. Not assessable criteria pass everyone."""
        if criterion.rule is None:
            return TRUE
        value = self.rule(criterion.rule)
        return value if criterion.kind == "inclusion" else not_(value)

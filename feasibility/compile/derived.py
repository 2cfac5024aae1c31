"""Derived measures, computed once per patient on the patient row: Cockcroft-Gault
creatinine clearance and CKD-EPI 2021 eGFR, from the latest creatinine (and weight), the
sex and the age range.

Each measure is kept as the range of values the age range allows, two columns the criteria
compare against their thresholds (see `PredicateCompiler._derived`). Computed here once,
not inside each criterion: a criterion's TRUE and FALSE sides each read the measure at both
ends of the age range, so a measure computed in the criterion costs eight evaluations of its
powers and quotients per patient.

A latest creatinine written as a bound (`<0.5 mg/dL`) widens the range to one side: both
equations fall as the creatinine rises, so a creatinine under the bound puts the measure
anywhere over its value at the bound (up to infinity), one over the bound anywhere under
it (down to 0).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from feasibility.compile.plan import Plan
from feasibility.compile.sqlexpr import and_, case, col, field, func, is_null, lit, paren
from feasibility.criteria.model import BOUNDING_INPUT, WRITTEN_BOUNDS, DerivedMeasure


def range_columns(measure: DerivedMeasure) -> tuple[str, str]:
    """The patient row's columns holding the measure's lowest and highest value."""
    return f"{measure}_lo", f"{measure}_hi"


def latest(plan: Plan, concept: str) -> exp.Expr:
    """The patient row's latest result of `concept`: a struct of its day `d` and value `n`
    in the concept's unit (see `patients_query`)."""
    return col(f"c{plan.concept_id(concept)}_latest")


def derived_columns(plan: Plan) -> list[exp.Expr]:
    """Per derived measure the trials use, its lowest and highest value over the patient's
    age range; NULL when it cannot be computed (no creatinine, a creatinine of zero or
    below, an unknown sex, no weight for the clearance)."""
    columns: list[exp.Expr] = []
    for measure in plan.derived_measures:
        at_age = _equation(plan, measure)
        # both equations fall with age: the oldest possible age gives the lowest value
        lowest, highest = at_age(col("age_hi")), at_age(col("age_lo"))
        if plan.bounded_input is not None:
            lowest = case([(_bounded(plan, under=False), lit(0.0))], lowest)
            highest = case([(_bounded(plan, under=True), exp.cast(lit("Infinity"), "DOUBLE"))], highest)
        # both need the sex (LEAST/GREATEST skip NULLs, so an unknown sex must be explicit)
        sex = col("sex")
        computable = and_(
            exp.In(this=sex, expressions=[lit("F"), lit("M")]),
            exp.GT(this=_creatinine(plan), expression=lit(0)),
        )
        for name, value in zip(range_columns(measure), (lowest, highest), strict=True):
            columns.append(case([(computable.copy(), value)]).as_(name, copy=False))
    return columns


def _creatinine(plan: Plan) -> exp.Expr:
    """The creatinine the equations read: the latest day's number, else (where the trials'
    results may hold one) the number of its bound."""
    creatinine = latest(plan, BOUNDING_INPUT)
    if plan.bounded_input is None:
        return field(creatinine, "n")
    return func("coalesce", field(creatinine, "n"), field(creatinine.copy(), "b"))


def _bounded(plan: Plan, under: bool) -> exp.Expr:
    """Whether the creatinine read is a bound's number (`_creatinine`) whose values lie under
    it (`under`), or over it."""
    creatinine = latest(plan, BOUNDING_INPUT)
    ways = [lit(i) for i, way in enumerate(WRITTEN_BOUNDS) if way.under == under]
    return and_(is_null(field(creatinine, "n")), exp.In(this=field(creatinine.copy(), "w"), expressions=ways))


def _equation(plan: Plan, measure: DerivedMeasure) -> Callable[[exp.Expr], exp.Expr]:
    """The measure at an age, as a function of the age expression."""
    scr = _creatinine(plan)
    sex = col("sex")
    female = exp.EQ(this=sex, expression=lit("F"))
    if measure == "creatinine_clearance":
        weight = field(latest(plan, "weight"), "n")
        sex_factor = case([(female, lit(0.85)), (exp.EQ(this=sex.copy(), expression=lit("M")), lit(1.0))])

        def clearance(age: exp.Expr) -> exp.Expr:
            # Cockcroft-Gault: (140 - age) x weight / (72 x Scr), x 0.85 if female
            years_left = paren(exp.Sub(this=lit(140), expression=age))
            return exp.Mul(
                this=exp.Div(
                    this=exp.Mul(this=years_left, expression=weight.copy()),
                    expression=paren(exp.Mul(this=lit(72), expression=scr.copy())),
                ),
                expression=sex_factor.copy(),
            )

        return clearance
    kappa = case([(female, lit(0.7)), (exp.EQ(this=sex.copy(), expression=lit("M")), lit(0.9))])
    alpha = case([(female.copy(), lit(-0.241))], lit(-0.302))
    ratio = paren(exp.Div(this=scr, expression=kappa))

    def egfr(age: exp.Expr) -> exp.Expr:
        # CKD-EPI 2021 (race-free): 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.2
        #   x 0.9938^age x 1.012 if female
        return exp.Mul(
            this=exp.Mul(
                this=exp.Mul(
                    this=exp.Mul(
                        this=lit(142),
                        expression=func("power", func("least", ratio.copy(), lit(1)), alpha.copy()),
                    ),
                    expression=func("power", func("greatest", ratio.copy(), lit(1)), lit(-1.2)),
                ),
                expression=func("power", lit(0.9938), age),
            ),
            expression=case([(female.copy(), lit(1.012))], lit(1.0)),
        )

    return egfr

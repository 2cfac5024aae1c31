"""The one pass: events joined to the code map, aggregated per (patient, concept), rolled up
to one row per patient with every feature the predicates read.

Per extract row the work is one hash-join probe and one group update with a fixed set of
aggregates; it does not grow with the number of trials or criteria. Only medication
features (duration and dose windows) add a filtered sum each, on medication rows.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from feasibility.compile.atoms import mask_columns
from feasibility.compile.plan import Plan
from feasibility.compile.sqlexpr import (
    agg_filter,
    and_,
    case,
    col,
    date_lit,
    func,
    lit,
    or_,
    struct,
    window_start,
)
from feasibility.compile.tables import RUN, Tables


def index_default(default_index: date | exp.Expression) -> exp.Expression:
    """The run's default index date: a literal once known, or an expression computing it."""
    # a fresh node each time: one sqlglot node must not sit in two places of a tree
    return date_lit(default_index) if isinstance(default_index, date) else default_index.copy()


def latest_event_date() -> exp.Expression:
    """`(SELECT max(start_date) FROM events)`: the default index when no --as-of is given."""
    return exp.select(func("max", col("start_date"))).from_("events", copy=False).subquery()


def row_index_date(default_index: date | exp.Expression, has_index_column: bool) -> exp.Expression:
    """A row's patient index date: its `index_date`, else the run's default."""
    if has_index_column:
        return func("coalesce", col("index_date", "e"), index_default(default_index))
    return index_default(default_index)


def _count_star() -> exp.Expression:
    return exp.Count(this=exp.Star())


def patient_concept_query(
    plan: Plan, default_index: date | exp.Expression, has_index_column: bool, tables: Tables = RUN
) -> exp.Select:
    """Aggregate the extract once per (patient, concept); rows of no concept form the group
    with concept NULL, which still carries the demographics."""
    idx = row_index_date(default_index, has_index_column)
    start, end = col("start_date", "e"), col("end_date", "e")
    value, factor = col("value_num", "e"), col("factor", "m")
    seen = exp.LTE(this=start, expression=idx)
    measurement = col("is_measurement", "m")
    # a result outside its concept's plausible range is a data error, counted and not used
    implausible = func(
        "coalesce",
        or_(
            exp.LT(this=col("value_num", "e"), expression=col("low", "m")),
            exp.GT(this=col("value_num", "e"), expression=col("high", "m")),
        ),
        exp.false(),
    )

    selects: list[exp.Expression] = [
        *[col(k, "e").as_(k, copy=False) for k in tables.keys],
        col("concept_id", "m").as_("concept_id", copy=False),
        func("min", col("site_id", "e")).as_("site_lo", copy=False),
        func("max", col("site_id", "e")).as_("site_hi", copy=False),
        func("min", col("sex", "e")).as_("sex_lo", copy=False),
        func("max", col("sex", "e")).as_("sex_hi", copy=False),
        func("min", col("birth_year", "e")).as_("by_lo", copy=False),
        func("max", col("birth_year", "e")).as_("by_hi", copy=False),
        func("min", col("birth_date", "e")).as_("bd_lo", copy=False),
        func("max", col("birth_date", "e")).as_("bd_hi", copy=False),
        _count_star().as_("n_rows", copy=False),
        func("min", start).as_("first_date", copy=False),
        func("max", start).as_("last_any", copy=False),
        agg_filter(_count_star(), exp.GT(this=start, expression=idx)).as_("n_future", copy=False),
        agg_filter(func("max", start), seen).as_("last_date", copy=False),
        agg_filter(_count_star(), and_(measurement.copy(), implausible.copy())).as_(
            "n_implausible", copy=False
        ),
    ]
    # the patient's index date as this group sees it (atoms compare their windows to it)
    selects.append(
        (
            func("coalesce", func("max", col("index_date", "e")), index_default(default_index))
            if has_index_column
            else index_default(default_index)
        ).as_("idx", copy=False)
    )
    if has_index_column:
        selects += [
            func("min", col("index_date", "e")).as_("idx_lo", copy=False),
            func("max", col("index_date", "e")).as_("idx_hi", copy=False),
            agg_filter(_count_star(), exp.Is(this=col("index_date", "e"), expression=exp.null())).as_(
                "idx_nulls", copy=False
            ),
        ]
    if plan.measurement_ids:
        # The latest result before index serves every window: the latest within a window is
        # that one if it falls inside the window, otherwise there is none. The sort key
        # makes ties on one date deterministic whatever the row order or thread count.
        has_result = or_(
            exp.Not(this=exp.Is(this=value, expression=exp.null())),
            exp.Not(this=exp.Is(this=col("value_text", "e"), expression=exp.null())),
        )
        latest = exp.ArgMax(
            this=struct(
                d=start,
                v=value,
                f=factor,
                rh=col("ref_high", "e"),
                t=col("value_text", "e"),
            ),
            expression=struct(
                d=start,
                v=func("coalesce", value, lit(float("-1e308"))),
                t=func("coalesce", col("value_text", "e"), lit("")),
                u=func("coalesce", col("unit", "e"), lit("")),
                c=col("code", "e"),
                s=col("code_system", "e"),
                rh=func("coalesce", col("ref_high", "e"), lit(float("-1e308"))),
            ),
        )
        usable = and_(measurement, seen, has_result, exp.Not(this=implausible.copy()))
        selects.append(agg_filter(latest, usable).as_("latest", copy=False))
    for i, feature in enumerate(plan.counts):
        cond = [exp.EQ(this=col("concept_id", "m"), expression=lit(feature.concept_id)), seen]
        if feature.within is not None:
            cond.append(exp.GTE(this=start, expression=window_start(idx, feature.within)))
        # records on distinct days: a duplicated row or two codes of one visit count once
        days = exp.Count(this=exp.Distinct(expressions=[start.copy()]))
        selects.append(agg_filter(days, and_(*cond)).as_(f"n{i}", copy=False))
    if any(c.kind == "medication" for c in plan.concepts):
        # Exposures are kept as one compact list per (patient, medication concept); each
        # medication atom sums its own window and dose range from it, so the table does not
        # grow a column per atom.
        exposure = struct(s=start, e=func("coalesce", end, start), v=value, f=factor)
        selects.append(
            agg_filter(exp.ArrayAgg(this=exposure), and_(col("is_medication", "m"), seen)).as_(
                "meds", copy=False
            )
        )

    join = and_(
        exp.EQ(this=col("code_system", "m"), expression=col("code_system", "e")),
        exp.EQ(this=col("code", "m"), expression=col("code", "e")),
        exp.EQ(this=col("unit", "m"), expression=func("coalesce", col("unit", "e"), lit(""))),
    )
    return (
        exp.select(*selects)
        .from_(exp.to_table(tables.events).as_("e", copy=False))
        .join(exp.to_table("code_map").as_("m", copy=False), on=join, join_type="left")
        .group_by(*tables.key_columns("e"), col("concept_id", "m"), copy=False)
    )


def _per_concept(agg: str, column: str, concept_id: int) -> exp.Expression:
    return agg_filter(func(agg, col(column)), exp.EQ(this=col("concept_id"), expression=lit(concept_id)))


def _year(e: exp.Expression) -> exp.Expression:
    return exp.Year(this=e)


def _exact_age(birth: exp.Expression, index: exp.Expression) -> exp.Expression:
    before_birthday = or_(
        exp.LT(this=exp.Month(this=index), expression=exp.Month(this=birth)),
        and_(
            exp.EQ(this=exp.Month(this=index), expression=exp.Month(this=birth)),
            exp.LT(this=exp.Day(this=index), expression=exp.Day(this=birth)),
        ),
    )
    return exp.Sub(
        this=exp.Sub(this=_year(index), expression=_year(birth)),
        expression=case([(before_birthday, lit(1))], lit(0)),
    )


def patients_query(
    plan: Plan, default_index: date | exp.Expression, has_index_column: bool, tables: Tables = RUN
) -> exp.Select:
    """One row per patient: site, sex, age range at index, index date, and every feature."""
    default = index_default(default_index)
    if has_index_column:
        idx = func("coalesce", func("max", col("idx_hi")), default)
        idx_conflict = or_(
            exp.NEQ(this=func("min", col("idx_lo")), expression=func("max", col("idx_hi"))),
            and_(
                exp.GT(this=func("sum", col("idx_nulls")), expression=lit(0)),
                exp.Not(this=exp.Is(this=func("max", col("idx_hi")), expression=exp.null())),
            ),
        )
    else:
        idx, idx_conflict = default, exp.false()
    sex_lo, sex_hi = func("min", col("sex_lo")), func("max", col("sex_hi"))
    rollup: list[exp.Expression] = [
        *tables.key_columns(),
        func("min", col("site_lo")).as_("site_id", copy=False),
        exp.NEQ(this=func("min", col("site_lo")), expression=func("max", col("site_hi"))).as_(
            "site_conflict", copy=False
        ),
        case(
            [
                (
                    and_(
                        exp.EQ(this=sex_lo, expression=sex_hi),
                        exp.In(this=sex_lo, expressions=[lit("F"), lit("M")]),
                    ),
                    sex_lo,
                )
            ],
            lit("U"),
        ).as_("sex", copy=False),
        exp.NEQ(this=sex_lo, expression=sex_hi).as_("sex_conflict", copy=False),
        func("min", col("by_lo")).as_("by_lo", copy=False),
        func("max", col("by_hi")).as_("by_hi", copy=False),
        func("min", col("bd_lo")).as_("bd_lo", copy=False),
        func("max", col("bd_hi")).as_("bd_hi", copy=False),
        idx.as_("idx", copy=False),
        idx_conflict.as_("idx_conflict", copy=False),
        func("min", col("first_date")).as_("first_date", copy=False),
        func("max", col("last_any")).as_("last_any", copy=False),
        func("max", col("last_date")).as_("last_seen", copy=False),
        func("sum", col("n_future")).as_("n_future", copy=False),
        exp.Count(this=col("concept_id")).as_("n_concepts", copy=False),
    ]
    for cid in plan.derived_inputs:
        rollup.append(_per_concept("max", "latest", cid).as_(f"c{cid}_latest", copy=False))
    inner = (
        exp.select(*rollup)
        .from_(exp.to_table(tables.patient_concept), copy=False)
        .group_by(*tables.key_columns(), copy=False)
    )
    # Age at index as a range: exact with a birth date; with only a birth year, the year
    # difference or one less (unless the index is 31 December, when birthdays have passed).
    index = col("idx")
    year_end = and_(
        exp.EQ(this=exp.Month(this=index), expression=lit(12)),
        exp.EQ(this=exp.Day(this=index), expression=lit(31)),
    )
    has_birth_date = exp.Not(this=exp.Is(this=col("bd_lo"), expression=exp.null()))
    age_lo = case(
        [(has_birth_date, _exact_age(col("bd_hi"), index))],
        exp.Sub(
            this=exp.Sub(this=_year(index), expression=col("by_hi")),
            expression=case([(year_end, lit(0))], lit(1)),
        ),
    )
    age_hi = case(
        [(has_birth_date, _exact_age(col("bd_lo"), index))],
        exp.Sub(this=_year(index), expression=col("by_lo")),
    )
    return (
        exp.select(
            exp.Column(this=exp.Star(), table=exp.to_identifier("p")),
            age_lo.as_("age_lo", copy=False),
            age_hi.as_("age_hi", copy=False),
            *mask_columns(plan),
        )
        .from_(inner.subquery("p"), copy=False)
        .join(
            exp.to_table(tables.atom_masks).as_("m", copy=False),
            on=tables.key_join("m", "p"),
            join_type="left",
        )
    )

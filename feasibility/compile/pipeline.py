"""The compiled statements of a run, in order, renderable for any supported SQL dialect.

The DuckDB engine executes them; `feasibility sql` prints them; the Spark engine runs them
on a cluster. One set of sqlglot expressions serves all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from feasibility.analytics.incidence import month_ends_evaluated
from feasibility.analytics.waterfall import ALL_SITES
from feasibility.compile.aggregate import (
    QUALITY_COLUMN,
    FamilyPass,
    coverage_query,
    demographics_query,
    exposures_query,
    index_conflicts_query,
    index_default,
    patients_query,
    records_query,
    results_per_patient,
    results_query,
    results_rolled_up_columns,
    row_index_date,
    text_read,
    with_index_conflicts,
)
from feasibility.compile.atoms import atom_masks_query, may_be_bound, with_atom_words
from feasibility.compile.code_map import Codes, code_map_join
from feasibility.compile.histogram import (
    histogram_query,
    patient_masks_table,
    trial_masks_query,
    words_needed,
)
from feasibility.compile.plan import Plan
from feasibility.compile.predicates import PredicateCompiler
from feasibility.compile.sqlexpr import (
    agg_filter,
    and_,
    case,
    col,
    date_lit,
    field,
    func,
    is_null,
    lit,
    not_null,
    or_,
    paren,
    struct,
    union_all,
)
from feasibility.compile.tables import MONTHLY, RUN, Tables
from feasibility.criteria.model import Trial
from feasibility.errors import FeasibilityError
from feasibility.extract.contract import COLUMNS as CONTRACT_COLUMNS
from feasibility.resources import sql_text

DIALECTS = ("duckdb", "spark", "trino", "postgres")

# Constructs a dialect cannot express the way the compiler uses them. sqlglot renders some
# of them anyway (as a function the engine lacks, or a ROW whose fields lose their names),
# so they are refused here, loudly, before any SQL is shown or run.
UNSUPPORTED: dict[str, dict[type, str]] = {
    "postgres": {exp.Struct: "named structs (the latest result's packed figures)"},
    "trino": {exp.Struct: "named struct fields (Trino ROW fields lose their names)"},
}


@dataclass(frozen=True)
class Statement:
    """One step of the pipeline: the table it creates (or None for the final result)."""

    name: str
    creates: str | None
    expression: exp.Expr
    note: str
    view: bool = False  # a view, read by the next statement only, rather than a table
    # the progress line while it runs, in the user's words (the name is the table's); empty
    # for the statements the driver runs under a progress line of its own
    doing: str = ""


def code_dictionary(plan: Plan) -> exp.Expr:
    """The extract's distinct (code system, code, unit) triples and their rows (sql/), with
    two counts read by the results pass's own patterns, so that the two cannot disagree:
    the rows whose text, with no number, is a number written as a bound (`n_bounds`: `<20`,
    a number in the row's unit), and those written as any bound, a titre's too (`n_written`:
    also `<1:80`; the concepts whose rows hold one pack their bounds). Zeros where the plan
    reads no result: no bound matters then, and the SQL stays free of patterns, which not
    every dialect can express (`feasibility sql --dialect postgres`)."""
    dictionary = sqlglot.parse_one(sql_text("code_dictionary.sql"), read="duckdb")
    assert isinstance(dictionary, exp.Select)
    names = ("n_bounds", "n_written")
    if not plan.result_concepts:
        return dictionary.select(*(lit(0).as_(name, copy=False) for name in names), copy=False)
    bound = text_read("bound")
    # the cheap test first, so that the patterns' CASEs see only the rows it admits
    may_be = may_be_bound(col("value_num"), col("value_text"))
    counts = [
        exp.Count(this=case([(and_(may_be.copy(), not_null(read)), lit(1))]))
        for read in (bound, func("coalesce", bound.copy(), text_read("titre_bound")))
    ]
    return dictionary.select(
        *(count.as_(name, copy=False) for count, name in zip(counts, names, strict=True)), copy=False
    )


def sites() -> Statement:
    """The extract's sites numbered in sort order (sql/sites.sql), read by the demographics."""
    return Statement(
        "sites",
        RUN.sites,
        sqlglot.parse_one(sql_text("sites.sql"), read="duckdb"),
        "the distinct sites, numbered in sort order",
    )


# The dates every engine and Python can hold: a date before year 1 would make a negative day
# number in the packed results, one after 9999 no Python date.
FIRST_DATE, LAST_DATE = date(1, 1, 1), date(9999, 12, 31)


def extract_extent(date_columns: Sequence[str]) -> exp.Select:
    """The extract's rows, latest start date, whether any patient has an index date (when
    `index_date` is among `date_columns`: a column of NULLs gives none), and per date column
    whether any of its dates lies outside FIRST_DATE..LAST_DATE (parquet statistics answer
    all of them)."""
    outside = [
        or_(
            exp.LT(this=func("min", col(c)), expression=date_lit(FIRST_DATE)),
            exp.GT(this=func("max", col(c)), expression=date_lit(LAST_DATE)),
        ).as_(c, copy=False)
        for c in date_columns
    ]
    latest = exp.cast(func("max", col("start_date")), "VARCHAR")
    any_index = not_null(func("max", col("index_date"))) if "index_date" in date_columns else exp.false()
    return exp.select(exp.Count(this=exp.Star()), latest, any_index, *outside).from_(RUN.events, copy=False)


def first_passes(default_index: date | exp.Expr, has_index_column: bool) -> list[Statement]:
    """The statements before the code dictionary: the sites, the index conflicts (with an
    index_date column) and the demographics."""
    conflicts = [index_conflicts()] if has_index_column else []
    return [sites(), *conflicts, demographics(default_index, has_index_column)]


def index_conflicts() -> Statement:
    """The patients whose rows disagree on index_date, with the latest (their index date)."""
    return Statement(
        "index_conflicts",
        RUN.index_conflicts,
        index_conflicts_query(),
        "the patients whose rows disagree on index_date, each with the latest: their index date",
    )


def demographics(default_index: date | exp.Expr, has_index_column: bool) -> Statement:
    """The first pass: every row once per patient."""
    return Statement(
        "demographics",
        RUN.demographics,
        demographics_query(default_index, has_index_column),
        "every row once per patient: rows, site, sex, birth, index date, dates seen",
    )


def reserved_sites() -> exp.Select:
    """Site ids a report cannot use: its every-site name, or an empty one."""
    return (
        exp.select(col("site_id"))
        .from_(RUN.sites, copy=False)
        .where(
            exp.In(this=func("trim", col("site_id")), expressions=[lit(ALL_SITES), lit("")]),
            copy=False,
        )
    )


def null_patient_rows() -> exp.Select:
    """Rows without a patient id: the demographics' group with no id."""
    return (
        exp.select(func("coalesce", func("sum", col("n_rows")), lit(0)))
        .from_(RUN.demographics, copy=False)
        .where(is_null(col("patient_id")), copy=False)
    )


def data_quality_query() -> exp.Expr:
    """The patient-level data-quality counts over `patients` (sql/data_quality.sql)."""
    return sqlglot.parse_one(sql_text("data_quality.sql"), read="duckdb")


def result_quality_query() -> exp.Select:
    """Per result concept that has any, from the results pass's lists of counts per patient
    (`results_per_patient`): its rows with an implausible value, its rows of a text read as
    nothing, and the patients whose latest result was read against a default ULN, in one
    scan of `patient_results`."""
    counts = col("q")
    listed = exp.select(exp.Explode(this=col(QUALITY_COLUMN)).as_("q", copy=False)).from_(
        RUN.patient_results, copy=False
    )
    concept = field(counts, "concept_id")
    return (
        exp.select(
            concept.as_("concept_id", copy=False),
            func("sum", field(counts.copy(), "implausible")).as_("implausible", copy=False),
            func("sum", field(counts.copy(), "unread")).as_("unread", copy=False),
            agg_filter(exp.Count(this=exp.Star()), field(counts.copy(), "default_uln")).as_(
                "default_uln", copy=False
            ),
        )
        .from_(listed.subquery("l", copy=False), copy=False)
        .group_by(concept.copy(), copy=False)
        .order_by(concept.copy(), copy=False)
    )


def medication_quality_query(family: str) -> exp.Select:
    """Per medication concept of a family's pass, in one scan of its table: for `exposures`
    (one-day atoms) the exposures that end before they start, for `coverage` (atoms that
    read doses) the rows whose dose is implausible."""
    column = {"exposures": "n_reversed", "coverage": "n_implausible"}[family]
    return (
        exp.select(col("concept_id"), func("sum", col(column)).as_(column, copy=False))
        .from_(RUN.families()[family], copy=False)
        .group_by(col("concept_id"), copy=False)
        .order_by(col("concept_id"), copy=False)
    )


def duplicate_rows_query(columns: Sequence[str]) -> exp.Expr:
    """How many rows the criteria read are exact copies of another row. Only rows whose
    code some concept uses are compared: those are the rows a duplicate could miscount."""
    row = struct(**{c: col(c, "e") for c in columns})
    coded = code_map_join()
    return (
        exp.select(
            exp.Sub(
                this=exp.Count(this=exp.Star()), expression=exp.Count(this=exp.Distinct(expressions=[row]))
            ).as_("duplicate_rows", copy=False)
        )
        .from_(exp.to_table(RUN.events).as_("e", copy=False), copy=False)
        .join(exp.to_table(RUN.code_map).as_("m", copy=False), on=coded, join_type="semi", copy=False)
    )


def statements(
    trials: Sequence[Trial],
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    dialect: str = "duckdb",
    codes: Codes | None = None,
    keep_patient_masks: bool = False,
) -> list[Statement]:
    """The statements that follow the code map, in order. `codes` are the code map's raw
    codes per concept, when known (see `_grouped_coded_rows`). With `keep_patient_masks`
    each trial's per-patient masks are kept as a table (`patient_masks_table`), which the
    histogram then counts and the patient list reads."""
    compiler = PredicateCompiler(plan)
    n_words = words_needed(trials)
    kept = (
        [
            Statement(
                f"patient_masks ({trial.id})",
                patient_masks_table(position),
                trial_masks_query(trial, compiler, n_words, RUN.patients, ["patient_id", "site_id"]),
                f"each patient's criterion masks for {trial.id}, kept for the patient list",
                doing=f"keeping each patient's criteria of {trial.id} for the patient list",
            )
            for position, trial in enumerate(trials)
        ]
        if keep_patient_masks
        else []
    )
    return [
        *_patient_statements(plan, default_index, has_index_column, RUN, None, codes, dialect),
        *kept,
        Statement(
            "histogram",
            None,
            histogram_query(trials, compiler, RUN.patients, kept_masks=keep_patient_masks),
            "patients counted by (passed, unknown) criterion masks per trial and site",
        ),
    ]


# Atoms per concept from which a family's rows are sorted by concept before its atoms are
# evaluated (see `with_atom_words`). Measured at 1M patients: the seed trials' results (1.4
# atoms per concept) gained nothing from the sort, and the atom-mask step lost 0.8 s to the
# concept order; the 16 benchmark trials' results (5.4 per concept) went from 21 s to 12 s.
SORT_AT_ATOMS_PER_CONCEPT = 4


def sorts_by_concept(plan: Plan, family: str) -> bool:
    """Whether the family's atoms are many enough per concept to sort its rows by concept
    first. DuckDB only: Spark's rows are not evaluated in chunks, and a sort there is a
    shuffle across the cluster. Coverage rows are already in concept order: its query sorts
    them before the sweeps (`coverage_query`)."""
    if family == "coverage":
        return False
    atoms = plan.family_atoms(family)
    concepts = {a.concept for a in atoms}
    return bool(atoms) and len(atoms) >= SORT_AT_ATOMS_PER_CONCEPT * len(concepts)


def _patient_statements(
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    tables: Tables,
    first_pass: Statement | None,
    codes: Codes | None = None,
    dialect: str = "duckdb",
) -> list[Statement]:
    """The tables that make the patient rows: a pass over the coded rows per family of
    atoms, `first_pass` (the demographics, when the engine has not made them already), the
    atoms, and the join."""
    atoms_index = col("idx") if has_index_column else index_default(default_index)
    # what data quality (implausible results, texts read as nothing, default ULNs), the
    # derived measures and the doses per kilogram read
    results_kept = results_rolled_up_columns(plan)
    families: list[tuple[str, FamilyPass, Sequence[int], Sequence[str], str, str]] = [
        (
            "records",
            records_query,
            plan.record_concepts,
            (),
            "per patient and concept, the history atoms' bits from the dates of the records",
            "reading diagnoses, procedures and other records",
        ),
        (
            "results",
            results_query,
            plan.result_concepts,
            results_kept,
            "per patient, the measurement atoms' bits from each concept's latest result, its data quality",
            "reading lab results and observations",
        ),
        (
            "exposures",
            exposures_query,
            plan.exposure_concepts,
            ("concept_id", "n_reversed"),  # what data quality reads
            "per patient and concept, the medication atoms' bits from the latest end of an exposure",
            "reading medications",
        ),
        (
            "coverage",
            coverage_query,
            plan.coverage_concepts,
            ("concept_id", "n_implausible"),  # what data quality reads
            "per patient and concept, the medication atoms' bits from the days covered in the windows",
            "counting the days covered by each medication",
        ),
    ]

    def family_table(family: str, query: FamilyPass, kept: Sequence[str]) -> exp.Select:
        rows = with_atom_words(
            plan,
            family,
            query(plan, default_index, has_index_column, tables, codes, dialect),
            atoms_index,
            tables,
            kept,
            by_concept=dialect == "duckdb" and sorts_by_concept(plan, family),
        )
        # the results, about twelve rows per patient, are kept one row per patient
        return results_per_patient(plan, rows, tables) if family == "results" else rows

    return [
        *[
            Statement(
                f"patient_{family}",
                tables.families()[family],
                family_table(family, query, kept),
                note,
                doing=doing,
            )
            for family, query, concepts, kept, note, doing in families
            if concepts
        ],
        *([first_pass] if first_pass else []),
        Statement(
            "atom_masks",
            tables.atom_masks,
            atom_masks_query(plan, tables),
            "the families' atom bits OR-ed per patient",
            doing="combining each patient's findings",
        ),
        Statement(
            "patients",
            tables.patients,
            patients_query(plan, default_index, has_index_column, tables),
            "one row per patient with its age range and the atoms' truth words",
            doing="evaluating the criteria of each patient",
        ),
    ]


def monthly_statements(
    trials: Sequence[Trial],
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    months: int,
    codes: Codes | None = None,
) -> list[Statement]:
    """The statements of the monthly incidence: every patient evaluated again at each month
    end that `months` months of incidence read (index date minus 0, 1, 2, ... months; see
    `incidence.month_ends_evaluated`), as if that day were their index date, then per trial
    the month ends at which each patient was eligible. `codes` as for `statements`."""
    compiler = PredicateCompiler(plan)
    return [
        Statement(
            "events_monthly",
            MONTHLY.events,
            _events_monthly(default_index, has_index_column, month_ends_evaluated(months)),
            "each event repeated for every month end it precedes, with that month end as its index date",
            view=True,
            doing="repeating each event for the month ends it precedes",
        ),
        *_patient_statements(
            plan,
            default_index,
            True,
            MONTHLY,
            Statement(
                "demographics_monthly",
                MONTHLY.demographics,
                demographics_query(default_index, True, MONTHLY),
                "every row once per patient and month end: site, sex, birth, dates seen",
                doing="reading each patient at each month end",
            ),
            codes,
        ),
        Statement(
            "monthly_status",
            None,
            monthly_status_query(trials, compiler, MONTHLY.patients),
            "per trial and site, patients counted by the month ends at which they were eligible",
        ),
    ]


def _events_monthly(default_index: date | exp.Expr, has_index_column: bool, month_ends: int) -> exp.Expr:
    """Every row of `events` once per month end it precedes (of the first `month_ends`),
    with that month end as its index date (the events view has every contract column)."""
    month_back = col("month_back", "k")
    index = row_index_date(default_index, has_index_column)
    shifted = exp.cast(
        exp.Sub(this=index, expression=exp.Interval(this=month_back, unit=exp.Var(this="MONTH"))), "DATE"
    )
    ends = exp.Unnest(
        expressions=[exp.Array(expressions=[lit(j) for j in range(month_ends)])],
        alias=exp.TableAlias(this=exp.to_identifier("k"), columns=[exp.to_identifier("month_back")]),
    )
    start = col("start_date", "e")
    rows = (
        exp.select(
            *[col(c.name, "e").as_(c.name, copy=False) for c in CONTRACT_COLUMNS if c.name != "index_date"],
            shifted.as_("index_date", copy=False),
            col("month_back", "k").as_("month_back", copy=False),
        )
        .from_(exp.to_table(RUN.events).as_("e", copy=False), copy=False)
        .join(ends, join_type="cross", copy=False)
    )
    return (
        with_index_conflicts(rows, has_index_column, RUN)
        # a record dated after a month end did not exist yet at that month end
        .where(
            or_(
                is_null(start),
                exp.LTE(this=start.copy(), expression=shifted.copy()),
            ),
            copy=False,
        )
    )


def monthly_status_query(trials: Sequence[Trial], compiler: PredicateCompiler, table: str) -> exp.Expr:
    """Per trial and site: patients counted by the month ends (month_back, sorted) at which
    they were eligible and potentially eligible (NULL: at none)."""

    def month_ends(condition: exp.Expr) -> exp.Expr:
        return func("list_sort", agg_filter(exp.ArrayAgg(this=col("month_back")), condition))

    branches = []
    for trial in trials:
        verdicts = [compiler.verdict(c) for c in trial.criteria]
        eligible = and_(*[passes for passes, _ in verdicts])
        potential = exp.Not(this=paren(or_(*[fails for _, fails in verdicts])))
        per_patient = (
            exp.select(
                func("min", col("site_id")).as_("site_id", copy=False),
                month_ends(eligible).as_("eligible_at", copy=False),
                month_ends(potential).as_("potential_at", copy=False),
            )
            .from_(table, copy=False)
            .group_by(col("patient_id"), copy=False)
        )
        branches.append(
            exp.select(
                lit(trial.id).as_("trial_id", copy=False),
                col("site_id"),
                col("eligible_at"),
                col("potential_at"),
                exp.Count(this=exp.Star()).as_("n", copy=False),
            )
            .from_(per_patient.subquery("p"), copy=False)
            .group_by(col("site_id"), col("eligible_at"), col("potential_at"), copy=False)
        )
    return union_all(branches)


def render(expression: exp.Expr, dialect: str, pretty: bool = False) -> str:
    """SQL text for a dialect; constructs it cannot express raise a one-line error."""
    if dialect not in DIALECTS:
        raise FeasibilityError(
            f"unknown dialect `{dialect}`", where="--dialect", fix=f"use one of {', '.join(DIALECTS)}"
        )
    for node_type, what in UNSUPPORTED.get(dialect, {}).items():
        if expression.find(node_type) is not None:
            raise FeasibilityError(
                f"{dialect} cannot express {what}", where="--dialect", fix="use duckdb or spark"
            )
    try:
        return expression.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as e:
        raise FeasibilityError(
            f"{dialect} cannot express part of the query ({e})", where="--dialect", fix="use duckdb or spark"
        ) from None

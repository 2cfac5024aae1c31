"""The passes over the extract: coded rows per (patient, concept), every row per patient.

Each family of atoms has its pass over the rows whose code one of its concepts uses (a
filter the parquet reader applies to each row group's dictionary as it scans), aggregated
once per (patient, concept) into the few figures its atoms read: `patient_records` for
history atoms, `patient_results` for measurement atoms, `patient_exposures` and
`patient_coverage` (the exposure days, for atoms that count them) for medication atoms.
Keeping the families apart keeps each table's rows narrow: the per-row work is one
hash-join probe and one group update, and it does not grow with the number of trials. The
results, about twelve (patient, concept) groups per patient, leave their pass rolled up per
patient (`results_per_patient`).

`demographics` reads every row once per patient for what every row carries (site, sex,
birth, index date, dates seen). `patients` joins it to the atom masks: one row per patient
with the demographics, the age range at index and the masks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

from sqlglot import exp

from feasibility.compile.atoms import (
    DOSE_WEIGHT_COLUMN,
    covered_days,
    current_dose,
    latest_exposure,
    text_bound_way,
    text_number,
    text_result,
    total_doses,
    truth_words,
)
from feasibility.compile.code_map import Codes, code_map_join, row_unit
from feasibility.compile.derived import derived_columns
from feasibility.compile.latest import Packing, day_number, from_day_number, written_columns
from feasibility.compile.plan import Lookback, Plan
from feasibility.compile.sqlexpr import (
    agg_filter,
    and_,
    case,
    col,
    compare_written,
    date_lit,
    func,
    is_null,
    lit,
    not_,
    not_null,
    or_,
    paren,
    struct,
    window_start,
    written_branches,
)
from feasibility.compile.tables import RUN, Tables
from feasibility.criteria.model import (
    NUMBER_BOUND,
    TITRE_READ,
    TITRE_TEXT,
    WRITTEN_BOUNDS,
    Concept,
    Duration,
    Measurement,
    written_as_bound,
)
from feasibility.units import TITRE

# the columns a row's text titre is read into where the run reads titres, by their patterns
# (`1:160`, `Positive 1:160`; a bound, `<1:80`, `>=1:80`)
TITRES = {"titre": TITRE_READ, "titre_bound": written_as_bound(TITRE_TEXT)}
# and its text read as a number written as a bound; for either bound, how it is written
# (`BOUND_WAY`)
NUMBER_BOUNDS = {"bound": written_as_bound(NUMBER_BOUND)}
BOUND_WAY = "bound_way"


def text_read(name: str, number: exp.Expr | None = None, text: exp.Expr | None = None) -> exp.Expr:
    """A row's text read as `name` (see TITRES, NUMBER_BOUNDS) where the row has no number
    (`value_num` and `value_text` by default): one expression for the results pass and the
    code dictionary, which must read a text alike."""
    number = col("value_num") if number is None else number
    text = col("value_text") if text is None else text
    pattern = {**TITRES, **NUMBER_BOUNDS}[name]
    return text_number(number, text, pattern, bound=name != "titre", decimal_comma=name in NUMBER_BOUNDS)


# sex as a small code, so two spellings of one patient's sex compare without string work;
# lower case reads as upper case, and any value outside the contract is a code of its own,
# read as U and counted in the data quality
SEX_CODES = {"F": 1, "M": 2, "U": 3}
UNRECOGNISED_SEX = len(SEX_CODES) + 1


def index_default(default_index: date | exp.Expr) -> exp.Expr:
    """The run's default index date: a literal once known, or an expression computing it."""
    # a fresh node each time: one sqlglot node must not sit in two places of a tree
    return date_lit(default_index) if isinstance(default_index, date) else default_index.copy()


def latest_event_date() -> exp.Expr:
    """`(SELECT max(start_date) FROM events)`: the default index when no --as-of is given."""
    return exp.select(func("max", col("start_date"))).from_(RUN.events, copy=False).subquery()


def index_conflicts_query(tables: Tables = RUN) -> exp.Select:
    """The patients whose rows disagree on `index_date` (two dates, or a date on some rows
    only), each with the latest of them: their index date (docs/extract-contract.md), which
    every row of theirs counts back from. A row's own `index_date` is its patient's for
    everyone else. Usually none or a few patients, so the passes' join to it costs a probe
    of a tiny table (see `with_index_conflicts`)."""
    index = col("index_date")
    disagree = or_(
        exp.NEQ(this=func("min", index), expression=func("max", index.copy())),
        and_(
            exp.LT(this=exp.Count(this=index.copy()), expression=exp.Count(this=exp.Star())),
            not_null(func("max", index.copy())),
        ),
    )
    return (
        exp.select(*tables.key_columns(), func("max", index.copy()).as_("idx", copy=False))
        .from_(tables.events, copy=False)
        .group_by(*tables.key_columns(), copy=False)
        .having(disagree, copy=False)
    )


def with_index_conflicts(
    query: exp.Select, has_index_column: bool, tables: Tables, reads: str = "e"
) -> exp.Select:
    """`query`, whose rows (the events by default) it reads as `reads`, joined to the index
    conflicts (alias `c`) when the patient index dates read from its rows need them (see
    `row_index`)."""
    if not (has_index_column and tables.index_conflicts):
        return query
    return query.join(
        exp.to_table(tables.index_conflicts).as_("c", copy=False),
        on=tables.key_join("c", reads),
        join_type="left",
        copy=False,
    )


def row_index(tables: Tables) -> exp.Expr:
    """A row's patient index date as the extract gives it (NULL: none): the latest of the
    patient's `index_date`s where the rows disagree (see `index_conflicts_query`), else the
    row's own. The monthly events carry their patient's month end on every row."""
    if tables.index_conflicts:
        return func("coalesce", col("idx", "c"), col("index_date", "e"))
    return col("index_date", "e")


def row_index_date(default_index: date | exp.Expr, has_index_column: bool, tables: Tables = RUN) -> exp.Expr:
    """A row's patient index date: the patient's `index_date` (see `row_index`), else the
    run's default. Not the row's own date, which a patient's other rows may contradict: a
    record after the patient's index date would be seen."""
    if has_index_column:
        return func("coalesce", row_index(tables), index_default(default_index))
    return index_default(default_index)


def group_index_date(default_index: date | exp.Expr, tables: Tables = RUN) -> exp.Expr:
    """The index date of a group of one patient's rows, in an extract with an `index_date`
    column: their patient's (see `row_index`), else the run's default."""
    return func("coalesce", func("max", row_index(tables)), index_default(default_index))


# a family's pass over its coded rows, grouped per (patient, concept): (plan, default index,
# has an index column, tables, codes, dialect). The four passes share it so that the pipeline
# builds them from one table; the records and exposures passes render alike in every
# dialect and ignore the dialect.
FamilyPass = Callable[[Plan, date | exp.Expr, bool, Tables, Codes | None, str], exp.Select]


def _grouped_coded_rows(
    aggregates: list[exp.Expr],
    tables: Tables,
    codes: Codes | None,
    concepts: Sequence[int],
    rows: exp.Expr,
    has_index_column: bool,
    events: exp.Expr | None = None,
    unit: exp.Expr | None = None,
) -> exp.Select:
    """`aggregates` over the events joined to the code map, per (patient, concept), for
    the concepts in `concepts`, on the rows `rows` keeps (see `_seen_rows`).

    `codes` gives the raw codes of each concept's code map rows: their union is an IN list
    the parquet reader checks against each row group's dictionary, so rows no concept uses
    are skipped before they are decoded. Without it (`feasibility sql`, which sees no data)
    the same filter is a subquery. `events` and `unit` replace the events table and the
    rows' unit in the join to the code map (see `_Results`)."""
    join = code_map_join(unit=unit)
    if codes is not None:
        wanted = sorted({c for cid, own in codes.items() if cid in concepts for c in own})
        # an extract with none of the family's codes: no row, and no `IN ()` (Spark refuses it)
        coded: exp.Expr = (
            exp.In(this=col("code", "e"), expressions=[lit(c) for c in wanted]) if wanted else exp.false()
        )
    else:
        coded = exp.In(
            this=col("code", "e"), query=exp.select(col("code")).from_(tables.code_map, copy=False).subquery()
        )
    coded = and_(coded, _concept_in(concepts), rows)
    joined = (
        exp.select(
            *[col(k, "e").as_(k, copy=False) for k in tables.keys],
            col("concept_id", "m").as_("concept_id", copy=False),
            *aggregates,
        )
        .from_(events or exp.to_table(tables.events).as_("e", copy=False), copy=False)
        .join(exp.to_table(tables.code_map).as_("m", copy=False), on=join, join_type="inner")
    )
    return (
        with_index_conflicts(joined, has_index_column, tables)
        .where(coded, copy=False)
        .group_by(*tables.key_columns("e"), col("concept_id", "m"), copy=False)
    )


def _seen_rows(
    lookback: Mapping[int, Lookback],
    day: exp.Expr,
    index: exp.Expr,
    start: exp.Expr | None = None,
) -> exp.Expr:
    """The rows a family reads: recorded by the index date (`start`, default `day`), and
    with `day` in one of their concept's look-back windows unless the concept has an atom
    reading every record. An older row can change no atom: the latest record or result
    before the oldest window start is outside every window, so the atoms answer as if the
    patient had none; a later one did not exist yet at the index date."""
    seen = exp.LTE(this=(start or day).copy(), expression=index.copy())
    if all(windows is None for windows in lookback.values()):
        return seen
    every = [cid for cid, windows in lookback.items() if windows is None]
    terms = [_concept_in(every)] if every else []
    by_window: dict[Duration, list[int]] = {}
    for cid, windows in lookback.items():
        for window in windows or ():
            by_window.setdefault(window, []).append(cid)
    for window, cids in by_window.items():
        since = exp.GTE(this=day.copy(), expression=window_start(index.copy(), window))
        terms.append(and_(_concept_in(cids), since))
    return and_(seen, or_(*terms))


def records_query(
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    tables: Tables = RUN,
    codes: Codes | None = None,
    dialect: str = "duckdb",
) -> exp.Select:
    """Per (patient, concept) of the concepts history atoms read: the latest record before
    index, the earliest record (when a `before` atom asks), and records on distinct days in
    each count window (see `_grouped_coded_rows` for `codes`)."""
    idx = row_index_date(default_index, has_index_column, tables)
    start = col("start_date", "e")
    aggregates: list[exp.Expr] = [
        func("max", start.copy()).as_("last_date", copy=False),
        *_group_index(default_index, has_index_column, tables),
    ]
    if plan.needs_first_date:
        aggregates.append(func("min", start.copy()).as_("first_date", copy=False))
    for i, feature in enumerate(plan.counts):
        mine: exp.Expr = exp.EQ(this=col("concept_id", "m"), expression=lit(feature.concept_id))
        if feature.within is not None:
            mine = and_(mine, exp.GTE(this=start.copy(), expression=window_start(idx.copy(), feature.within)))
        # records on distinct days: a duplicated row or two codes of one visit count once
        days = exp.Count(this=exp.Distinct(expressions=[case([(mine, start.copy())])]))
        aggregates.append(days.as_(f"n{i}", copy=False))
    rows = _seen_rows(plan.lookback("records"), start, idx)
    return _grouped_coded_rows(aggregates, tables, codes, plan.record_concepts, rows, has_index_column)


def results_query(
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    tables: Tables = RUN,
    codes: Codes | None = None,
    dialect: str = "duckdb",
) -> exp.Select:
    """Per (patient, concept) of the concepts measurement atoms and derived measures read:
    the latest result's date and figures (see `_Results`), and the implausible results and
    texts read as nothing."""
    idx = row_index_date(default_index, has_index_column, tables)
    start = col("start_date", "e")
    results = _Results(plan, Packing(dialect))
    aggregates = [
        *results.aggregates(),
        *results.counts(idx),
        *_group_index(default_index, has_index_column, tables),
    ]
    grouped = _grouped_coded_rows(
        aggregates,
        tables,
        codes,
        plan.result_concepts,
        _seen_rows(plan.lookback("results"), start, idx),
        has_index_column,
        events=results.events(tables.events),
        unit=results.unit(),
    )
    # flat columns for the atoms: reading a field of a struct column costs more than a column
    flat: list[exp.Expr] = []
    for name in [*tables.keys, "concept_id", *(a.alias for a in aggregates)]:
        flat += results.unpacked(name) if name in results.packs else [col(name, "g")]
    return exp.select(*flat).from_(grouped.subquery("g"), copy=False)


# The results table's list of (concept, counts) per patient, for data quality (see
# `results_per_patient`)
QUALITY_COLUMN = "quality"


def picked_results(plan: Plan) -> dict[int, dict[str, str]]:
    """Per concept whose latest result other tables read, the results pass's columns they
    read, by the field of the patient row's struct that holds each: the derived measures'
    inputs (`d` the day, `n` the number, and the creatinine's bound where the trials'
    results may hold one, `b` its number and `w` its way) on the patient rows, and the
    weight (`n`) for the doses per kilogram."""
    picked: dict[int, dict[str, str]] = {}
    for cid in plan.derived_inputs:
        picked[cid] = {"d": "latest_d", "n": "latest_number"}
        if cid == plan.bounded_input:
            picked[cid] |= dict(zip("bw", written_columns("number"), strict=True))
    if plan.dose_weight is not None and plan.dose_weight not in picked:
        picked[plan.dose_weight] = {"n": "latest_number"}
    return picked


def results_rolled_up_columns(plan: Plan) -> list[str]:
    """The columns of the results pass's (patient, concept) rows that `results_per_patient`
    reads besides the atoms' words: the concept, its data-quality counts and default-ULN
    flags, and the columns of its latest result that `picked_results` picks."""
    picked = (name for names in picked_results(plan).values() for name in names.values())
    return ["concept_id", "n_implausible", "n_unread", *default_uln_flags(plan), *dict.fromkeys(picked)]


def picked_column(concept_id: int, name: str) -> str:
    """The results table's column holding `name` of one concept's latest result."""
    return f"c{concept_id}_{name}"


def results_per_patient(plan: Plan, rows: exp.Select, tables: Tables = RUN) -> exp.Select:
    """The results pass's (patient, concept) `rows` (their atoms' words and kept columns,
    `with_atom_words`) rolled up into one row per patient: the words OR-ed, the picked
    latest results (`picked_results`) in columns of their own, and the data-quality counts
    of the concepts that have any (implausible results, texts read as nothing, a latest
    result read against the default ULN) as a list of structs.

    A patient has about twelve such rows, nearly one per result. Kept per (patient,
    concept), the table held 1.24 GB per million patients, and at 10M it alone passed a
    12 GB memory limit, so that DuckDB spilled it and every later step paid; rolled up it is
    a twelfth of that, for about the same time at 1M (docs/performance.md)."""
    concept = col("concept_id")
    words = [func("bit_or", col(f"a{w}")).as_(f"a{w}", copy=False) for w in plan.family_words("results")]
    picked = [
        func("max", case([(exp.EQ(this=concept.copy(), expression=lit(cid)), col(name))])).as_(
            picked_column(cid, name), copy=False
        )
        for cid, names in picked_results(plan).items()
        for name in names.values()
    ]
    flags = [col(name) for name in default_uln_flags(plan)]
    default_uln: exp.Expr = exp.false()
    if flags:
        ids = [lit(i) for i in default_uln_concepts(plan)]
        default_uln = and_(exp.In(this=concept.copy(), expressions=ids), or_(*flags))
    counts = struct(
        concept_id=concept.copy(),
        implausible=col("n_implausible"),
        unread=col("n_unread"),
        default_uln=default_uln,
    )
    has_any = or_(
        exp.GT(this=col("n_implausible"), expression=lit(0)),
        exp.GT(this=col("n_unread"), expression=lit(0)),
        default_uln.copy(),
    )
    quality = agg_filter(exp.ArrayAgg(this=counts), has_any).as_(QUALITY_COLUMN, copy=False)
    return (
        exp.select(*tables.key_columns(), *words, *picked, quality)
        .from_(rows.subquery("c", copy=False), copy=False)
        .group_by(*tables.key_columns(), copy=False)
    )


def outside_plausible(value: exp.Expr) -> exp.Expr:
    """Whether a row's `value` (in its own unit) lies outside its concept's plausible range,
    which the code map gives in that unit (`m`): a data error, counted and not used. Never
    NULL: a row without a value, or a bound not given, is not outside."""
    return func(
        "coalesce",
        or_(
            exp.LT(this=value.copy(), expression=col("low", "m")),
            exp.GT(this=value.copy(), expression=col("high", "m")),
        ),
        exp.false(),
    )


def _exposure_rows() -> tuple[exp.Expr, exp.Expr]:
    """An exposure's last day (its start when it has no end), and whether it covers any day
    (an exposure ending before it starts covers none)."""
    start = col("start_date", "e")
    until = func("coalesce", col("end_date", "e"), start.copy())
    return until, exp.GTE(this=until.copy(), expression=start.copy())


def exposures_query(
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    tables: Tables = RUN,
    codes: Codes | None = None,
    dialect: str = "duckdb",
) -> exp.Select:
    """Per (patient, concept) read by medication atoms of one day on any dose: the latest
    end of an exposure that started before index, and the count of exposures that end
    before they start (no day on the drug; counted in data quality). One day on the drug in
    a window is an exposure ending in it (see `_grouped_coded_rows` for `codes`)."""
    idx = row_index_date(default_index, has_index_column, tables)
    until, covers = _exposure_rows()
    aggregates = [
        func("max", case([(covers, until.copy())])).as_("last_end", copy=False),
        exp.Count(this=case([(exp.Not(this=covers.copy()), lit(1))])).as_("n_reversed", copy=False),
        *_group_index(default_index, has_index_column, tables),
    ]
    rows = _seen_rows(plan.lookback("exposures"), until, idx, col("start_date", "e"))
    return _grouped_coded_rows(aggregates, tables, codes, plan.exposure_concepts, rows, has_index_column)


def coverage_query(
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    tables: Tables = RUN,
    codes: Codes | None = None,
    dialect: str = "duckdb",
) -> exp.Select:
    """Per (patient, concept) read by medication atoms that count days or add up doses:
    each coverage feature, from the exposures gathered, sorted by start and swept (see
    `covered_days`), and each total (see `total_doses`).
    A pass of its own, so the sweeps run on a table of lists and nothing else."""
    idx = row_index_date(default_index, has_index_column, tables)
    start = col("start_date", "e")
    until, _ = _exposure_rows()
    # day numbers and the dose in the concept's unit, so the sweeps do no date or unit work;
    # an implausible dose is not known (the exposure still counts, as one without a dose)
    implausible = outside_plausible(col("value_num", "e"))
    exposure = struct(
        s=day_number(start.copy()),
        e=day_number(until.copy()),
        d=case([(not_(implausible), exp.Mul(this=col("value_num", "e"), expression=col("factor", "m")))]),
    )
    aggregates: list[exp.Expr] = [
        exp.ArrayAgg(this=exposure).as_("meds", copy=False),
        exp.Count(this=case([(implausible.copy(), lit(1))])).as_("n_implausible", copy=False),
        *_group_index(default_index, has_index_column, tables),
    ]
    rows = _seen_rows(plan.lookback("coverage"), until, idx, start)
    grouped = _grouped_coded_rows(aggregates, tables, codes, plan.coverage_concepts, rows, has_index_column)
    index = col("idx") if has_index_column else index_default(default_index)
    names = [*tables.keys, "concept_id", *(a.alias for a in aggregates)]
    # sorted by start once, so each coverage sweeps the exposures in date order
    sorted_ = exp.select(
        *[exp.ArraySort(this=col(n, "g")).as_(n, copy=False) if n == "meds" else col(n, "g") for n in names]
    ).from_(grouped.subquery("g"), copy=False)
    if plan.dose_weight is not None:
        sorted_ = _with_dose_weight(plan.dose_weight, sorted_, tables)
        names.append(DOSE_WEIGHT_COLUMN)
    if dialect == "duckdb":
        # rows in concept order, so each chunk of rows DuckDB evaluates meets the sweeps of
        # one or two concepts, not every feature's (see `atoms.with_atom_words`): a quarter
        # off the coverage pass of the seed trials at 1M patients. Spark: no chunks, and a
        # sort there is a shuffle across the cluster.
        sorted_ = sorted_.order_by(col("concept_id"), copy=False)
    current, swept = _current_doses(plan, sorted_, names, index)
    coverage = [
        _on_concept(
            feature.concept_id,
            covered_days(feature, index.copy(), current.get((feature.concept_id, feature.within))),
        ).as_(plan.coverage_column(feature), copy=False)
        for feature in plan.coverages
    ]
    for total in plan.totals:
        for name, value in zip(plan.total_columns(total), total_doses(total, index.copy()), strict=True):
            coverage.append(_on_concept(total.concept_id, value).as_(name, copy=False))
    kept = [col(n) for n in names if n != "meds"]
    return exp.select(*kept, *coverage).from_(swept.subquery("x"), copy=False)


def _on_concept(concept_id: int, value: exp.Expr) -> exp.Expr:
    """`value` on the coverage rows of one concept, NULL on the others: each feature's lists
    are swept on its own concept's rows only."""
    return case([(exp.EQ(this=col("concept_id"), expression=lit(concept_id)), value)])


def _with_dose_weight(weight: int, rows: exp.Select, tables: Tables) -> exp.Select:
    """The coverage pass's grouped `rows` (`g`) with the patient's latest weight in kg,
    which the results pass found (NULL: none, or not above 0, which no dose divides by),
    for the doses per kilogram. Joined to the grouped rows, one per (patient, concept), not
    to the exposures."""
    weight_kg = col(picked_column(weight, "latest_number"))
    positive = case([(exp.GT(this=weight_kg, expression=lit(0)), weight_kg.copy())])
    weights = exp.select(*tables.key_columns(), positive.as_(DOSE_WEIGHT_COLUMN, copy=False)).from_(
        tables.patient_results, copy=False
    )
    return rows.select(col(DOSE_WEIGHT_COLUMN, "w"), copy=False).join(
        weights.subquery("w"), on=tables.key_join("g", "w"), join_type="left", copy=False
    )


def _current_doses(
    plan: Plan, rows: exp.Select, names: list[str], index: exp.Expr
) -> tuple[dict[tuple[int, Duration | None], exp.Expr], exp.Select]:
    """The coverage pass's `rows` with the current dose of each stable-dose window (see
    `atoms.current_dose`) in a column of its own, and those columns by (concept, window).
    Two projections: the latest exposure first, then its dose, so each is computed once per
    row rather than inside every step of the sweep that reads it."""
    # one current dose per (concept, window): the dose range and known/possible features
    # of a window share it
    stable = list(dict.fromkeys((f.concept_id, f.within) for f in plan.coverages if f.stable))
    if not stable:
        return {}, rows
    latest, doses = [], []
    for k, (concept_id, within) in enumerate(stable):
        latest.append(_on_concept(concept_id, latest_exposure(within, index.copy())).as_(f"le{k}"))
        doses.append(_on_concept(concept_id, current_dose(within, index.copy(), col(f"le{k}"))).as_(f"cd{k}"))
    first = exp.select(*[col(n) for n in names], *latest).from_(rows.subquery("s", copy=False), copy=False)
    second = exp.select(*[col(n) for n in names], *doses).from_(first.subquery("l", copy=False), copy=False)
    return {window: col(f"cd{k}") for k, window in enumerate(stable)}, second


def _group_index(default_index: date | exp.Expr, has_index_column: bool, tables: Tables) -> list[exp.Expr]:
    """With an index_date column, the group's index date, which the atoms' windows end at."""
    if not has_index_column:
        return []
    return [group_index_date(default_index, tables).as_("idx", copy=False)]


def default_uln_flags(plan: Plan) -> list[str]:
    """The results pass's flags saying a latest result was read against its concept's
    default ULN (see `_Results.unpacked`): one per figure read against the upper limit that
    some atom reads."""
    return [f"latest_{figure}_default" for figure in _Results.defaulted(plan) if plan.figure_concepts(figure)]


def default_uln_concepts(plan: Plan) -> list[int]:
    """The concepts whose latest result may be read against their default ULN: those with
    an atom reading a figure against the upper limit."""
    return sorted({cid for figure in _Results.defaulted(plan) for cid in plan.figure_concepts(figure)})


class _Results:
    """The aggregates of measurement rows: the counts of implausible results and of texts
    read as nothing, and the latest result's figures, each packed with its day (see
    `latest.py`).

    Per row: `number`, the value in the concept's unit (a text read as negative with no
    value is 0: "not detected" is below any positive threshold); `uln`, the value as a
    multiple of the row's own upper limit, or of the concept's default one (flagged); `lln`,
    the value as a multiple of the row's own lower limit; `excess`, the number minus the
    row's own upper limit in the concept's unit, or minus the concept's default one
    (flagged); `pos`, 1 or 0 for a text read as positive or negative, else whether the
    value exceeds the row's upper limit. A row's own limit is its `ref_high` (`ref_low`)
    only when that is a positive finite number (`usable_limit`); any other is treated as
    missing. Every usable result packs a number, NULL-valued (not known) when it has none or
    its unit is unknown, so the number's MAX also gives the latest result's day. The other
    figures are packed only on the rows of the concepts whose atoms read them.

    For a figure that atoms compare with a threshold (and the creatinine's number the
    derived measures read), the rows of a number written as a bound (`<20`) pack that figure
    of the bound's number apart (`latest_<figure>_bound`, flagged with the way it is
    written), which the atoms read where the latest day has no figure known. Only for the
    concepts whose rows may hold a bound (`Plan.bound_concepts`): each pack is an aggregate
    every row of the pass updates, so an extract without bounds pays nothing for them. A
    figure's own pack, which the readers of numbers alone (a dose per kilogram) read, is the
    same whether or not the run reads bounds.

    Aggregates take CASE arguments rather than FILTER clauses: DuckDB copies the rows a
    FILTER keeps, a CASE only picks them."""

    # the figures packed on the rows of the concepts whose atoms read them, beside the number
    read = ("uln", "lln", "excess", "pos")
    packed = ("latest_number", *(f"latest_{figure}" for figure in read))
    # the figures read against the upper limit, whose packs flag the concept's default limit
    against_uln = ("uln", "excess")
    # the figures that are 0 or 1, packed as whole numbers (`Packing.pack`)
    whole_figures = ("pos",)

    @classmethod
    def defaulted(cls, plan: Plan) -> tuple[str, ...]:
        """The figures whose packs flag a read against the concept's default limit: those
        read against the upper limit, and positivity where a concept has a cut-off."""
        return (*cls.against_uln, "pos") if plan.positive_cut_offs else cls.against_uln

    def __init__(self, plan: Plan, packing: Packing):
        self.plan = plan
        self.packing = packing
        # a text titre is the number of a row without one, for a concept reading titres (see
        # `criteria.model.TITRE_READ`): the code map's `titre_reader` is 1 for those, NULL
        # for the others, whose rows read as if no titre were seen
        self.titres = plan.reads_titres
        value: exp.Expr = col("value_num", "e")
        read = {name: exp.Mul(this=col(name, "e"), expression=col("titre_reader", "m")) for name in TITRES}
        if self.titres:
            value = func("coalesce", value, read["titre"])
        # the figures with a pack of bounds beside their own
        self.bounded = tuple(name for name in ("number", "uln", "lln", "excess") if plan.bound_concepts(name))
        # a titre written as a bound, `<1:80` (`>=1:1280`), read as 80 (1280) below (at or
        # above), and so a number, `<20` (`>=1000`); the two patterns never both match, and
        # the way either is written is `BOUND_WAY`. Positivity and thresholds decide from a
        # bound; every run reads one, so that a bound is never counted as a text read as
        # nothing (`unread`), whatever the trials ask
        bound = col("bound", "e")
        self.written = func("coalesce", read["titre_bound"], bound) if self.titres else bound
        self.way = col(BOUND_WAY, "e")
        self.packs = (*self.packed, *(f"latest_{name}_bound" for name in self.bounded))
        rh = col("ref_high", "e")
        self.value, self.rh = value, rh
        self.own_limit = usable_limit(rh.copy())
        self.rl = col("ref_low", "e")
        text = col("text_result", "e")
        self.negative_text = exp.EQ(this=text, expression=lit(-1))
        self.not_detected = and_(is_null(value.copy()), self.negative_text.copy())
        self.implausible = outside_plausible(value)
        has_result = or_(not_null(value.copy()), not_null(col("value_text", "e")))
        # a text with no number that is no known word, titre or bound (`haemolysed`): a result
        # UNKNOWN against every figure, counted so a site sees what its labs write
        # (the test of most rows first: few have a text)
        self.unread = and_(
            not_null(col("value_text", "e")),
            exp.EQ(this=text.copy(), expression=lit(0)),
            is_null(value.copy()),
            is_null(self._written()),
        )
        self.usable = and_(has_result, exp.Not(this=self.implausible.copy()))
        self.day = day_number(col("start_date", "e"))

    def events(self, table: str) -> exp.Expr:
        """The events with each row's text result read once (see `text_result`), its titre
        where its concepts may read one, a number written as a bound, and the way either bound
        is written."""
        columns = [exp.Star(), text_result(col("value_text")).as_("text_result", copy=False)]
        for name in [*(TITRES if self.titres else {}), *NUMBER_BOUNDS]:
            columns.append(text_read(name).as_(name, copy=False))
        columns.append(text_bound_way(col("value_num"), col("value_text")).as_(BOUND_WAY, copy=False))
        return exp.select(*columns).from_(table, copy=False).subquery("e", copy=False)

    def unit(self) -> exp.Expr | None:
        """The unit joining a row to the code map, where it is not the row's own: a titre
        read from a text is in the unit TITRE, whatever the row's unit says."""
        if not self.titres:
            return None
        read = func("coalesce", *[col(name, "e") for name in TITRES])
        return case([(not_null(read), lit(TITRE))], row_unit())

    def _written(self) -> exp.Expr:
        """The number of a titre or a number written as a bound (see `written`)."""
        return self.written.copy()

    def number(self, read: exp.Expr) -> exp.Expr:
        """A result's value in its concept's unit (NULL: no value, or a unit the concept
        does not know); a text read as negative with no value is 0."""
        return case(
            [(self.not_detected.copy(), lit(0.0))],
            exp.Mul(this=read, expression=col("factor", "m")),
        )

    def with_number(self) -> exp.Expr:
        """Whether a result has a value (or a text read as negative) to read as a number."""
        return or_(not_null(self.value.copy()), self.negative_text.copy())

    def uln(self, value: exp.Expr) -> exp.Expr:
        """A result's multiple of its own upper limit, else of its concept's default one
        (NULL when neither is known)."""
        return case(
            [
                (self.not_detected.copy(), lit(0.0)),
                (self.own_limit.copy(), exp.Div(this=value.copy(), expression=self.rh.copy())),
            ],
            exp.Div(
                this=exp.Mul(this=value.copy(), expression=col("factor", "m")), expression=col("uln", "m")
            ),
        )

    def lln(self, value: exp.Expr) -> exp.Expr:
        """A result's multiple of its own lower limit (NULL without a usable one: there is
        no default lower limit, as a concept's default ULN is for the upper)."""
        return case(
            [
                (self.not_detected.copy(), lit(0.0)),
                (usable_limit(self.rl.copy()), exp.Div(this=value, expression=self.rl.copy())),
            ]
        )

    def excess(self, value: exp.Expr) -> exp.Expr:
        """How far a result's number lies above its own upper limit, both in the concept's
        unit, else above the concept's default limit (NULL when neither is known, or the
        result's unit is not); a result read as not detected lies its whole limit below."""
        own = exp.Mul(this=self.rh.copy(), expression=col("factor", "m"))
        limit = case([(self.own_limit.copy(), own)], col("uln", "m"))
        return exp.Sub(this=self.number(value), expression=limit)

    def positivity(self) -> exp.Expr:
        """1 for a result read as positive, 0 as negative, NULL when it says neither: its
        text, else its number against its own upper limit, else against the concept's
        cut-off (`positive_from`, a titre's where it is read for its positivity alone); a
        titre written as a bound only where the bound lies on one side of the limit
        (`_against_bounds`)."""
        value = self.value
        above = and_(not_null(value.copy()), self.own_limit.copy())
        branches = [
            (exp.EQ(this=col("text_result", "e"), expression=lit(1)), lit(1)),
            (self.negative_text.copy(), lit(0)),
            (above, case([(exp.GT(this=value.copy(), expression=self.rh.copy()), lit(1))], lit(0))),
        ]
        branches += self._against_bounds(self.own_limit, self.rh, scale=None, from_limit=False)
        if self.plan.positive_cut_offs:
            cut_off = col("positive_from", "m")
            number = exp.Mul(this=value.copy(), expression=col("positive_factor", "m"))
            at_or_above = exp.GTE(this=number, expression=cut_off.copy())
            known = and_(not_null(value.copy()), not_null(cut_off.copy()))
            branches.append((known, case([(at_or_above, lit(1))], lit(0))))
            branches += self._against_bounds(
                not_null(cut_off), cut_off, scale=col("positive_factor", "m"), from_limit=True
            )
        return case(branches)

    def _against_bounds(
        self, usable: exp.Expr, limit: exp.Expr, scale: exp.Expr | None, from_limit: bool
    ) -> list[tuple[exp.Expr, exp.Expr]]:
        """A titre or a number written as a bound against a `limit` (`usable` where there is
        one; the bound times `scale` is in the limit's unit), which a value is positive
        above, or `from_limit` on: `<1:N` or `<N` is negative where N is at or below the
        limit, `>1:N` or `>N` positive where N is at or above it, `<=N` and `>=N` likewise
        but where N is the limit itself and may be positive (negative); neither otherwise
        (`WrittenBound.deciding`)."""
        scaled = self._written() if scale is None else exp.Mul(this=self._written(), expression=scale.copy())
        decisions = [
            (lit(0 if way.under else 1), way.deciding(upper=False, inclusive=from_limit), limit)
            for way in WRITTEN_BOUNDS
        ]
        decided = case(written_branches(scaled, self.way, decisions))
        return [(and_(usable.copy(), not_null(self._written())), decided)]

    def aggregates(self) -> list[exp.Expr]:
        out = [
            exp.Count(this=case([(self.implausible.copy(), lit(1))])).as_("n_implausible", copy=False),
            exp.Count(this=case([(self.unread.copy(), lit(1))])).as_("n_unread", copy=False),
            self._latest(self.figure("number"), lit(0), self.usable.copy()).as_("latest_number", copy=False),
        ]
        for name in self.read:
            concepts = self.plan.figure_concepts(name)
            if not concepts:
                continue
            figure = self.figure(name)
            # positivity may be read from a text alone, and packs a row whose positivity is
            # not known as 0, below a known one of its day (so its expression appears once
            # per row); the other figures need a number
            has = [] if name == "pos" else [self.with_number()]
            rows = and_(self.usable.copy(), *has, _concept_in(concepts))
            flag = case([(self._default_flag(name), lit(1))], lit(0))
            latest = self._latest(figure, flag, rows, whole=name in self.whole_figures)
            out.append(latest.as_(f"latest_{name}", copy=False))
        for name in self.bounded:
            # the cheap tests first: most rows have a number, and skip the bounds' patterns
            rows = and_(
                is_null(col("value_num", "e")),
                _concept_in(self.plan.bound_concepts(name)),
                not_null(self._written()),
            )
            bound = self._latest(self.figure(name, self._written()), self.way.copy(), rows)
            out.append(bound.as_(f"latest_{name}_bound", copy=False))
        return out

    def figure(self, name: str, read: exp.Expr | None = None) -> exp.Expr:
        """A result's figure `name` (see `Measurement.figure`), computed from the number
        `read` (by default the value; positivity reads the row itself)."""
        if name == "pos":
            return self.positivity()
        figures: dict[str, Callable[[exp.Expr], exp.Expr]] = {
            "number": self.number,
            "uln": self.uln,
            "lln": self.lln,
            "excess": self.excess,
        }
        return figures[name](self.value.copy() if read is None else read)

    def _default_flag(self, name: str) -> exp.Expr:
        """Whether a row's figure `name` was read against the concept's default ULN (see
        `uln` and `excess`) or positive cut-off (`positivity`); false for the figures
        read against no default."""
        if name not in self.defaulted(self.plan):
            return exp.false()
        no_own_limit = exp.Not(this=func("coalesce", self.own_limit.copy(), exp.false()))
        if name == "pos":
            no_text = exp.EQ(this=col("text_result", "e"), expression=lit(0))
            cut_off = not_null(col("positive_from", "m"))
            read = func("coalesce", self.value.copy(), self._written())
            return and_(no_text, no_own_limit, not_null(read), cut_off)
        # a text read as not detected is 0 x ULN against any limit, but its distance is not
        return and_(not_null(self.value.copy()), no_own_limit) if name == "uln" else no_own_limit

    def counts(self, idx: exp.Expr) -> list[exp.Expr]:
        """Per atom with a `min_count`, the days in its window with a usable result that
        meets it, and with one that may (its figure not known, or a number written as a
        bound on neither side of the threshold), each day counted once; with `apart`, also
        the first and the last day with one that meets it."""
        out: list[exp.Expr] = []
        start = col("start_date", "e")
        for atom in self.plan.result_counts:
            concept_id = self.plan.concept_id(atom.concept)
            if atom.result is not None:
                figure = self.figure(atom.figure)
                has = not_null(figure.copy())
                meets: exp.Expr = exp.EQ(
                    this=figure.copy(), expression=lit(1 if atom.result == "positive" else 0)
                )
                may_meet = paren(or_(is_null(figure.copy()), meets.copy()))
            else:
                has, meets = self._meets_threshold(atom, self.plan.concepts[concept_id])
                may_meet = func("coalesce", meets.copy(), exp.true())
            mine = [exp.EQ(this=col("concept_id", "m"), expression=lit(concept_id)), self.usable.copy(), has]
            if atom.within is not None:
                mine.append(exp.GTE(this=start.copy(), expression=window_start(idx.copy(), atom.within)))
            for name, test in zip(self.plan.result_count_columns(atom), (meets, may_meet), strict=True):
                days = exp.Count(this=exp.Distinct(expressions=[case([(and_(*mine, test), start.copy())])]))
                out.append(days.as_(name, copy=False))
            if atom.apart is not None:
                meeting = case([(and_(*[m.copy() for m in mine], meets.copy()), start.copy())])
                for name, end in zip(self.plan.result_span_columns(atom), ("min", "max"), strict=True):
                    out.append(func(end, meeting.copy()).as_(name, copy=False))
        return out

    def _meets_threshold(self, atom: Measurement, concept: Concept) -> tuple[exp.Expr, exp.Expr]:
        """Whether a row has a figure for `atom` to count (a number, or one written as a
        bound), and whether that meets the atom's threshold (NULL: may or may not)."""
        exact = self.figure(atom.figure)
        written = self.figure(atom.figure, self._written())
        has = or_(self.with_number(), not_null(self._written()))
        return has, compare_written(exact, written, self.way.copy(), atom.canonical(concept))

    def _latest(self, figure: exp.Expr, flag: exp.Expr, rows: exp.Expr, whole: bool = False) -> exp.Expr:
        """MAX of the figure packed with its day and `flag` (0 to 3), over `rows`: of two
        figures alike on one day, the higher flag (a bound's way) is the one read."""
        packed = self.packing.pack(self.day.copy(), figure, flag, whole)
        return func("max", case([(rows, packed)]))

    def unpacked(self, name: str) -> list[exp.Expr]:
        """The flat columns of a packed figure on the latest result's day: its value (NULL
        if that day has none, or only in a unit the concept does not know); for a pack of
        bounds, the number of the day's highest bound (`<figure>_written`) and the way it is
        written (`<figure>_way`, its place in WRITTEN_BOUNDS), which the atoms read where the
        day has no known figure; the number also gives that day (`latest_d`), a figure read
        against the upper limit whether the concept's default limit gave it
        (`<name>_default`)."""
        packed = col(name, "g")
        latest_day = self.packing.day(col("latest_number", "g"))
        if name.endswith("_bound"):
            written, way = written_columns(name.removeprefix("latest_").removesuffix("_bound"))
            return [
                self.packing.latest(packed, latest_day).as_(written, copy=False),
                self.packing.flag(packed.copy()).as_(way, copy=False),
            ]
        whole = name.removeprefix("latest_") in self.whole_figures
        columns = [self.packing.latest(packed, latest_day, whole).as_(name, copy=False)]
        if name == "latest_number":
            columns.append(from_day_number(latest_day.copy()).as_("latest_d", copy=False))
        if name.removeprefix("latest_") in self.defaulted(self.plan):
            on_latest: exp.Expr = exp.EQ(this=self.packing.day(packed.copy()), expression=latest_day.copy())
            if whole:
                # positivity's pack holds rows whose positivity is not known: a flag is read
                # only from a known one, as if the others had not been packed
                on_latest = and_(on_latest, self.packing.known(packed.copy()))
            columns.append(
                case([(on_latest, exp.EQ(this=self.packing.flag(packed.copy()), expression=lit(1)))]).as_(
                    f"{name}_default", copy=False
                )
            )
        return columns


def usable_limit(limit: exp.Expr) -> exp.Expr:
    """Whether a row's `ref_high` (or `ref_low`) is a usable limit of normal: a positive,
    finite number (NULL when it is NULL). A NaN, an infinity, zero or a negative number is
    no limit and reads as missing. `> 0` alone lets NaN through in DuckDB, Spark and
    PostgreSQL, which order NaN above every number (value / NaN then compares false
    whatever the threshold), and an infinite limit would make every result 0 × ULN.

    Finiteness is `limit - limit = 0`, which fails for NaN and for ±inf (inf - inf is NaN) in
    every dialect, rather than `isnan`/`isinf`, which not every dialect has, or
    `limit < CAST('Infinity' AS DOUBLE)`: parquet min/max statistics leave NaN out, and
    DuckDB folds a comparison of a column with a constant that its statistics decide, so
    in a file whose other limits are all finite a NaN passed that bound too. DuckDB keeps
    no statistics through floating-point arithmetic, so `limit - limit = 0` is computed per row
    (tests/test_spec_rules.py pins this)."""
    return and_(
        exp.GT(this=limit, expression=lit(0)),
        exp.EQ(this=exp.Sub(this=limit.copy(), expression=limit.copy()), expression=lit(0)),
    )


def _concept_in(concepts: Sequence[int]) -> exp.Expr:
    return exp.In(this=col("concept_id", "m"), expressions=[lit(c) for c in concepts])


def demographics_query(
    default_index: date | exp.Expr, has_index_column: bool, tables: Tables = RUN
) -> exp.Select:
    """Every row once per patient: rows, site, sex, birth, index date, the dates seen. Rows
    without a patient id form a group of their own, which the engine refuses."""
    idx = row_index_date(default_index, has_index_column, tables)
    start = col("start_date", "e")
    sex_code = case(
        [
            (exp.In(this=col("sex", "e"), expressions=[lit(s), lit(s.lower())]), lit(n))
            for s, n in SEX_CODES.items()
        ]
        # a row without a sex says nothing about it: NULL stays NULL
        + [(is_null(col("sex", "e")), exp.null())],
        lit(UNRECOGNISED_SEX),
    )
    selects: list[exp.Expr] = [
        *[col(k, "e").as_(k, copy=False) for k in tables.keys],
        exp.Count(this=exp.Star()).as_("n_rows", copy=False),
        func("min", col("site_rank", "s")).as_("site_lo", copy=False),
        func("max", col("site_rank", "s")).as_("site_hi", copy=False),
        func("min", sex_code).as_("sex_lo", copy=False),
        func("max", sex_code.copy()).as_("sex_hi", copy=False),
        func("min", col("birth_year", "e")).as_("by_lo", copy=False),
        func("max", col("birth_year", "e")).as_("by_hi", copy=False),
        func("min", col("birth_date", "e")).as_("bd_lo", copy=False),
        func("max", col("birth_date", "e")).as_("bd_hi", copy=False),
        # the earliest, where rows disagree: a patient recorded as dead is not in care after it
        func("min", col("death_date", "e")).as_("death_date", copy=False),
        func("min", start).as_("first_date", copy=False),
        func("max", case([(exp.LTE(this=start.copy(), expression=idx), start.copy())])).as_(
            "last_seen", copy=False
        ),
        exp.Count(this=case([(exp.GT(this=start.copy(), expression=idx.copy()), lit(1))])).as_(
            "n_future", copy=False
        ),
    ]
    if has_index_column:
        # the latest: the patient's index date where the rows disagree (`index_conflicts`)
        selects.append(func("max", col("index_date", "e")).as_("idx_hi", copy=False))
    joined = (
        exp.select(*selects)
        .from_(exp.to_table(tables.events).as_("e", copy=False))
        .join(
            exp.to_table(tables.sites).as_("s", copy=False),
            on=exp.EQ(this=col("site_id", "s"), expression=col("site_id", "e")),
            copy=False,
        )
    )
    return with_index_conflicts(joined, has_index_column, tables).group_by(
        *tables.key_columns("e"), copy=False
    )


def _year(e: exp.Expr) -> exp.Expr:
    return exp.Year(this=e)


def _exact_age(birth: exp.Expr, index: exp.Expr) -> exp.Expr:
    before_birthday = or_(
        exp.LT(this=exp.Month(this=index), expression=exp.Month(this=birth)),
        and_(
            exp.EQ(this=exp.Month(this=index.copy()), expression=exp.Month(this=birth.copy())),
            exp.LT(this=exp.Day(this=index.copy()), expression=exp.Day(this=birth.copy())),
        ),
    )
    return exp.Sub(
        this=exp.Sub(this=_year(index.copy()), expression=_year(birth.copy())),
        expression=case([(before_birthday, lit(1))], lit(0)),
    )


def patients_query(
    plan: Plan,
    default_index: date | exp.Expr,
    has_index_column: bool,
    tables: Tables = RUN,
) -> exp.Select:
    """One row per patient: site, sex, age range at index, index date, the atoms' truth
    words (see `truth_words`), and the latest results the derived measures need with the
    measures' ranges (see `derived.py`)."""
    d = "d"
    default = index_default(default_index)
    if has_index_column:
        idx: exp.Expr = func("coalesce", col("idx_hi", d), default)
        idx_given: exp.Expr = not_null(col("idx_hi", d))
        # one definition of rows that disagree: the patient is in `index_conflicts` (the
        # monthly events carry one month end per patient, so they have none)
        idx_conflict: exp.Expr = not_null(col("idx", "c")) if tables.index_conflicts else exp.false()
    else:
        idx, idx_conflict, idx_given = default, exp.false(), exp.false()
    # one definition of a patient dead by the index date, which the in-care step and data
    # quality read: a date of death on or before it (none: not known to have died)
    dead_by_index = func("coalesce", exp.LTE(this=col("death_date", d), expression=idx.copy()), exp.false())
    sex_lo, sex_hi = col("sex_lo", d), col("sex_hi", d)
    one_sex = exp.EQ(this=sex_lo, expression=sex_hi)
    sex = case(
        [
            (and_(one_sex.copy(), exp.EQ(this=sex_lo.copy(), expression=lit(SEX_CODES[s]))), lit(s))
            for s in ("F", "M")
        ],
        lit("U"),
    )
    demographics: list[exp.Expr] = [
        *tables.key_columns(d),
        col("site_id", "s").as_("site_id", copy=False),
        exp.NEQ(this=col("site_lo", d), expression=col("site_hi", d)).as_("site_conflict", copy=False),
        sex.as_("sex", copy=False),
        exp.NEQ(this=sex_lo.copy(), expression=sex_hi.copy()).as_("sex_conflict", copy=False),
        exp.EQ(this=sex_hi.copy(), expression=lit(UNRECOGNISED_SEX)).as_("sex_unrecognised", copy=False),
        *[col(c, d).as_(c, copy=False) for c in ("by_lo", "by_hi", "bd_lo", "bd_hi")],
        idx.as_("idx", copy=False),
        idx_conflict.as_("idx_conflict", copy=False),
        idx_given.as_("idx_given", copy=False),  # else the default index date applies
        *[col(c, d).as_(c, copy=False) for c in ("first_date", "last_seen", "n_future")],
        dead_by_index.as_("dead_by_index", copy=False),
    ]
    # a patient with no coded row at all has no atom row: every atom takes its if_missing
    masks = truth_words(plan, lambda w: func("coalesce", col(f"a{w}", "m"), lit(0)))
    inner = with_index_conflicts(
        exp.select(*demographics, *masks)
        .from_(exp.to_table(tables.demographics).as_(d, copy=False))
        .join(
            exp.to_table(tables.atom_masks).as_("m", copy=False),
            on=tables.key_join("m", d),
            join_type="left",
        )
        .join(
            exp.to_table(tables.sites).as_("s", copy=False),
            on=exp.EQ(this=col("site_rank", "s"), expression=col("site_lo", d)),
            join_type="left",
        ),
        has_index_column,
        tables,
        reads=d,
    )
    if plan.derived_inputs:
        # the derived measures read a concept's latest result on the patient row (`d`, `n`),
        # and the creatinine's bound with its way (`b`, `w`), read where the day has no number
        inner = inner.join(
            exp.to_table(tables.patient_results).as_("r", copy=False),
            on=tables.key_join("r", d),
            join_type="left",
            copy=False,
        )
        picked = picked_results(plan)
        for cid in plan.derived_inputs:
            fields = {f: col(picked_column(cid, name), "r") for f, name in picked[cid].items()}
            inner = inner.select(struct(**fields).as_(f"c{cid}_latest", copy=False), copy=False)
    # Age at index as a range: exact with a birth date; with only a birth year, the year
    # difference or one less (unless the index is 31 December, when birthdays have passed).
    index = col("idx")
    year_end = and_(
        exp.EQ(this=exp.Month(this=index), expression=lit(12)),
        exp.EQ(this=exp.Day(this=index.copy()), expression=lit(31)),
    )
    has_birth_date = not_null(col("bd_lo"))
    age_lo = case(
        [(has_birth_date, _exact_age(col("bd_hi"), index.copy()))],
        exp.Sub(
            this=exp.Sub(this=_year(index.copy()), expression=col("by_hi")),
            expression=case([(year_end, lit(0))], lit(1)),
        ),
    )
    age_hi = case(
        [(has_birth_date.copy(), _exact_age(col("bd_lo"), index.copy()))],
        exp.Sub(this=_year(index.copy()), expression=col("by_lo")),
    )
    aged = exp.select(
        exp.Column(this=exp.Star(), table=exp.to_identifier("p")),
        age_lo.as_("age_lo", copy=False),
        age_hi.as_("age_hi", copy=False),
    ).from_(inner.subquery("p"), copy=False)
    if not plan.derived_measures:
        return aged
    return exp.select(
        exp.Column(this=exp.Star(), table=exp.to_identifier("a")), *derived_columns(plan)
    ).from_(aged.subquery("a"), copy=False)

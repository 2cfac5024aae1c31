"""Run the compiled trials on an extract in DuckDB: the passes over the extract for all trials
together, then one histogram of criterion masks per trial and site."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from feasibility.analytics.histogram import MaskHistogram, join_words
from feasibility.compile.histogram import masks_query, words_needed
from feasibility.compile.pipeline import (
    code_dictionary,
    data_quality_query,
    demographics,
    duplicate_rows_query,
    extract_extent,
    monthly_statements,
    null_patient_rows,
    sites,
    statements,
)
from feasibility.compile.plan import CodeMapRow, Plan, build_code_map, code_map_table, plan_features
from feasibility.compile.predicates import PredicateCompiler
from feasibility.compile.sqlexpr import and_, col, func, lit
from feasibility.compile.tables import RUN
from feasibility.criteria.concepts import ConceptLibrary
from feasibility.criteria.model import Trial
from feasibility.errors import ExtractError, FeasibilityError, short_message
from feasibility.extract.contract import BY_NAME as CONTRACT_COLUMNS
from feasibility.extract.source import ExtractSource, open_extract


@dataclass(frozen=True)
class RunOptions:
    as_of: date | None = None
    site: str = "site"
    threads: int | None = None
    memory_limit: str | None = None  # DuckDB syntax, e.g. "4GB"
    check_duplicates: bool = False  # count exact duplicate rows (another pass over coded rows)


@dataclass
class DataQuality:
    """Counts only: what the engine noticed about the extract and how it treated it."""

    counts: dict[str, int] = field(default_factory=dict)
    unknown_unit_rows: dict[str, int] = field(default_factory=dict)
    default_uln_patients: dict[str, int] = field(default_factory=dict)
    implausible_value_rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "counts": dict(self.counts),
            "unknown_unit_rows": dict(sorted(self.unknown_unit_rows.items())),
            "default_uln_patients": dict(sorted(self.default_uln_patients.items())),
            "implausible_value_rows": dict(sorted(self.implausible_value_rows.items())),
        }


@dataclass
class EngineResult:
    """What one run computed: per trial and site, patients counted by their masks."""

    trials: list[Trial]
    histograms: dict[str, dict[str, MaskHistogram]]
    data_quality: DataQuality
    source: ExtractSource
    index_default: date

    # derived, so the engines cannot disagree with their own counts
    @property
    def rows(self) -> int:
        return self.data_quality.counts["rows"]

    @property
    def patients(self) -> int:
        return self.data_quality.counts["patients"]

    @property
    def index_from_column(self) -> bool:
        return self.source.has("index_date")


@dataclass(frozen=True)
class FirstEligible:
    """Per trial and site, patients counted by (first month eligible, first month
    potentially eligible): month_back of the earliest month end at which they were, from
    `months` (eligible already at the first month end) down to 0 (the index date), or None."""

    months: int
    counts: dict[str, dict[str, Counter[tuple[int | None, int | None]]]]


def connect(options: RunOptions) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the user's thread and memory settings."""
    con = duckdb.connect(":memory:")
    if options.threads:
        con.execute(f"SET threads = {int(options.threads)}")
    if options.memory_limit:
        try:
            con.execute(f"SET memory_limit = '{_memory_setting(options.memory_limit)}'")
        except duckdb.Error:
            raise FeasibilityError(
                f"cannot use memory limit `{options.memory_limit}`",
                where="--memory-limit",
                fix="write e.g. 4GB or 512MB",
            ) from None
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    # DuckDB spills here beyond the memory limit; our own folder, removed at exit
    spill = tempfile.mkdtemp(prefix="feasibility-spill-")
    atexit.register(shutil.rmtree, spill, ignore_errors=True)
    con.execute(f"SET temp_directory = {lit(spill).sql(dialect='duckdb')}")
    return con


def lock_down(con: duckdb.DuckDBPyConnection, readable: Sequence) -> None:
    """From here on the connection may read the extract's files and nothing else, and may
    write nothing (DuckDB refuses to lift this while the database is open)."""
    paths = exp.Array(expressions=[lit(str(Path(f).resolve())) for f in readable])
    con.execute(f"SET allowed_paths = {paths.sql(dialect='duckdb')}")
    con.execute("SET enable_external_access = false")


def _memory_setting(value: str) -> str:
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value, re.I):
        raise FeasibilityError(
            f"cannot read memory limit `{value}`", where="--memory-limit", fix="write e.g. 4GB or 512MB"
        )
    return value.strip()


class Engine:
    """One extract loaded into DuckDB with the features of a set of trials (a `Runner`)."""

    dialect = "duckdb"

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        trials: Sequence[Trial],
        library: ConceptLibrary,
        options: RunOptions,
    ):
        self.con = con
        self.trials = list(trials)
        self.library = library
        self.options = options
        self.plan: Plan = plan_features(self.trials, library)
        self.compiler = PredicateCompiler(self.plan)
        self.extract = "the extract"  # named in errors, once `load` knows it

    def _sql(self, query: exp.Expression) -> str:
        # sqlglot copies a tree before rendering it in case the dialect rewrites it; DuckDB's
        # leaves these trees unchanged (tests/test_engine_sql.py), and copying them cost
        # several times more than rendering them
        return query.sql(dialect="duckdb", copy=False)

    def load(self, extract: str, progress=None) -> EngineResult:
        """Read the extract once, build the per-patient feature table, count the masks."""
        step = progress or (lambda message: None)
        self.extract = extract
        source = open_extract(self.con, extract, self.options.site)
        lock_down(self.con, source.files)
        step("reading the extract")
        return evaluate(self, self.trials, self.plan, source, self.options, extract, step)

    def monthly(self, result: EngineResult, months: int, progress=None) -> FirstEligible:
        """After `load`: every patient evaluated again at each of the last `months` month
        ends; per trial and site, patients counted by the month they first became eligible."""
        step = progress or (lambda message: None)
        *tables, final = monthly_statements(
            self.trials,
            self.plan,
            result.index_default,
            result.index_from_column,
            [name for name, *_ in self.con.execute("DESCRIBE events").fetchall()],
            months,
        )
        for i, statement in enumerate(tables, 1):
            step(f"evaluating {months} month ends: {statement.name} ({i} of {len(tables)})")
            self.create(statement.creates, statement.expression, view=statement.view)
        counts: dict[str, dict[str, Counter]] = {t.id: {} for t in self.trials}
        for trial_id, site, first_eligible, first_potential, n in self._execute(
            self._sql(final.expression)
        ).fetchall():
            counts[trial_id].setdefault(site, Counter())[(first_eligible, first_potential)] += n
        for statement in tables:  # the monthly tables are large and no longer needed
            kind = "VIEW" if statement.view else "TABLE"
            self.con.execute(f"DROP {kind} IF EXISTS {statement.creates}")
        return FirstEligible(months, counts)

    def create(self, name: str, query: exp.Expression, what: str | None = None, view: bool = False) -> None:
        """The table (or view) `name` made by the query (see `Runner`)."""
        kind = "VIEW" if view else "TABLE"
        self._execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {self._sql(query)}", what)

    def query(self, query: exp.Expression, what: str | None = None) -> tuple[list[str], list[tuple]]:
        """The query's column names and rows (see `Runner`)."""
        with self._errors(what):
            cur = self.con.execute(self._sql(query))
            return [d[0] for d in cur.description], cur.fetchall()

    def register_code_map(self, table: pa.Table) -> None:
        """The code map as the table `code_map`."""
        self.con.register("code_map_rows", table)
        self.con.execute("CREATE OR REPLACE TEMP TABLE code_map AS SELECT * FROM code_map_rows")
        self.con.unregister("code_map_rows")

    def histogram(self, query: exp.Expression, trials: Sequence[Trial]) -> list[Sequence]:
        """The histogram query's result as numpy columns: a million patients make about a
        million rows, too many for a Python tuple each."""
        with self._errors("count the masks"):
            return list(self.con.execute(self._sql(query)).fetchnumpy().values())

    def _execute(self, sql: str, what: str | None = None) -> duckdb.DuckDBPyConnection:
        with self._errors(what):
            return self.con.execute(sql)

    @contextmanager
    def _errors(self, what: str | None) -> Iterator[None]:
        """Running out of memory, unreadable values and, while the extract is first read
        (`what` is READ), any DuckDB error become one-line user errors."""
        try:
            yield
        except duckdb.OutOfMemoryException:
            limit = f" within --memory-limit {self.options.memory_limit}" if self.options.memory_limit else ""
            raise FeasibilityError(
                f"DuckDB ran out of memory{limit}",
                where="the extract",
                fix="raise --memory-limit, use fewer --threads, or run on a machine with more memory",
            ) from None
        except duckdb.ConversionException as e:
            raise ExtractError(
                f"a value cannot be read ({short_message(e)})",
                where="the extract",
                fix="check the column types",
            ) from None
        except duckdb.Error as e:
            if what != READ:
                raise
            raise ExtractError(
                f"cannot read the extract ({short_message(e)})",
                where=self.extract,
                fix="check the file is a complete parquet export",
            ) from None

    def rule_values(self, trial: Trial) -> dict[str, dict[str, bool | None]]:
        """Per patient, the value of each criterion's rule (None = UNKNOWN; not-assessable
        criteria are left out). For spec tests and the patient list."""
        ids = [c.id for c in trial.criteria if c.rule is not None]
        selects = [col("patient_id")] + [
            self.compiler.rule(c.rule).as_(f"r{i}")
            for i, c in enumerate(trial.criteria)
            if c.rule is not None
        ]
        query = exp.select(*selects).from_("patients", copy=False).order_by(col("patient_id"), copy=False)
        return {
            row[0]: dict(zip(ids, row[1:], strict=True))
            for row in self.con.execute(self._sql(query)).fetchall()
        }

    def patient_masks(self, trial: Trial) -> list[tuple[str, str, int, int]]:
        """(patient_id, site_id, passed mask, unknown mask) per patient, for the patient list."""
        n_words = words_needed([trial])
        verdicts = [self.compiler.verdict(c) for c in trial.criteria]
        query = masks_query(verdicts, n_words, "patients", ["patient_id", "site_id"]).order_by(
            col("patient_id"), copy=False
        )
        return [
            (pid, site, join_words(rest[:n_words]), join_words(rest[n_words:]))
            for pid, site, *rest in self.con.execute(self._sql(query)).fetchall()
        ]


# ---------------------------------------------------------------- shared with the Spark engine


READ = "read the extract"  # the step of a run's first reads: their errors are the extract's


class Runner(Protocol):
    """What `evaluate` needs of an engine. `what` names the step for an error message; the
    steps named READ read the extract for the first time, so their errors are the
    extract's (a truncated file, an unreadable column)."""

    dialect: str

    def query(self, query: exp.Expression, what: str | None = None) -> tuple[list[str], list[tuple]]: ...

    def create(self, name: str, query: exp.Expression, what: str | None = None) -> None: ...

    def register_code_map(self, table: pa.Table) -> None: ...

    def histogram(self, query: exp.Expression, trials: Sequence[Trial]) -> list[Sequence]:
        """The histogram query's result as columns (see `histogram_counts`)."""
        ...


def evaluate(
    runner: Runner,
    trials: Sequence[Trial],
    plan: Plan,
    source: ExtractSource,
    options: RunOptions,
    extract: str,
    step: Callable[[str], None],
) -> EngineResult:
    """One run's steps on any engine, once its `events` view reads the extract: the extent
    and default index date, the demographics, the code dictionary and code map, the passes
    and patient rows, data quality, and the mask histogram per trial and site."""
    has_index = source.has("index_date")
    (rows, latest_start), *_ = runner.query(extract_extent(), READ)[1]
    index_default = default_index(rows, latest_start, options, extract)
    for first in (sites(), demographics(index_default, has_index)):
        assert first.creates is not None
        runner.create(first.creates, first.expression, READ)
    check_patient_ids(runner.query(null_patient_rows(), READ)[1][0][0], extract)
    summary = summarise_dictionary(plan, runner.query(code_dictionary(), READ)[1], index_default)
    runner.register_code_map(code_map_table(summary.code_map))
    *tables, histogram = statements(
        trials, plan, summary.index_default, has_index, runner.dialect, summary.codes
    )
    for i, statement in enumerate(tables, 1):
        # on a large extract each statement takes minutes: say which one is running
        step(f"aggregating events per patient: {statement.name} ({i} of {len(tables)})")
        assert statement.creates is not None
        runner.create(statement.creates, statement.expression)
    step("evaluating criteria")
    dq = collect_data_quality(plan, summary, runner.query, source, options.check_duplicates)
    return EngineResult(
        trials=list(trials),
        histograms=histogram_counts(trials, runner.histogram(histogram.expression, trials)),
        data_quality=dq,
        source=source,
        index_default=summary.index_default,
    )


def default_index(rows: int, latest_start: date | None, options: RunOptions, extract: str) -> date:
    """The run's default index date: --as-of, else the extract's latest start date; an
    extract with no rows has neither and is refused."""
    if rows == 0:
        raise ExtractError(
            "the extract has no rows", where=extract, fix="export at least one row per patient"
        )
    if options.as_of is not None:
        return options.as_of
    if latest_start is None:
        raise ExtractError(
            "no row has a start_date, so there is no default index date",
            where=extract,
            fix="pass --as-of DATE or add an index_date column",
        )
    return latest_start


@dataclass(frozen=True)
class DictionarySummary:
    """What the code dictionary tells before the passes over coded rows: the extract's row
    count, the run's default index date, the code map and the rows of unknown units per
    concept."""

    rows: int
    index_default: date
    code_map: list[CodeMapRow]
    unknown_units: dict[str, int]

    @property
    def codes(self) -> dict[int, list[str]]:
        """Per concept id, the raw codes of its code map rows: the rows worth reading."""
        out: dict[int, set[str]] = {}
        for row in self.code_map:
            out.setdefault(row.concept_id, set()).add(row.code)
        return {cid: sorted(codes) for cid, codes in sorted(out.items())}


def check_patient_ids(null_patients: int, extract: str) -> None:
    """Every row needs a patient id."""
    if null_patients:
        raise ExtractError(
            f"{null_patients} rows have no patient_id",
            where=extract,
            fix="every row needs a patient_id; drop or fix those rows",
        )


def summarise_dictionary(
    plan: Plan, dictionary: Sequence[Sequence], index_default: date
) -> DictionarySummary:
    """The code map from the code dictionary's rows (code_system, code, unit, n_rows)."""
    code_map, unknown_units = build_code_map(plan, ((r[0], r[1], r[2], r[3]) for r in dictionary))
    return DictionarySummary(sum(r[3] for r in dictionary), index_default, code_map, unknown_units)


def collect_data_quality(
    plan: Plan,
    summary: DictionarySummary,
    query: Callable[[exp.Expression], tuple[list[str], list[tuple]]],
    source: ExtractSource,
    check_duplicates: bool = False,
) -> DataQuality:
    """The data-quality counts over the tables `patients` and `patient_results`, and with
    `check_duplicates` the duplicate rows of `events`; `query` runs an expression on the
    engine and returns (column names, rows)."""
    names, rows = query(data_quality_query())
    counts = {k: int(v or 0) for k, v in zip(names, rows[0], strict=True)}
    counts["rows"] = summary.rows
    if check_duplicates:
        # rows are compared on the extract's contract columns: the ones the `events` view has
        columns = [c for c in source.columns if c in CONTRACT_COLUMNS]
        counts["duplicate_rows"] = int(query(duplicate_rows_query(columns))[1][0][0] or 0)
    n_implausible = func("sum", col("n_implausible"))
    implausible_query = (
        exp.select(col("concept_id"), n_implausible)
        .from_(RUN.patient_results, copy=False)
        .group_by(col("concept_id"), copy=False)
        .having(exp.GT(this=n_implausible.copy(), expression=lit(0)), copy=False)
    )
    implausible = (
        {plan.concepts[cid].name: int(n) for cid, n in query(implausible_query)[1]}
        if plan.result_concepts
        else {}
    )
    default_uln: dict[str, int] = {}
    if plan.uln_concepts:
        ids = {cid: plan.concepts[cid].name for cid in plan.uln_concepts}
        uln_query = (
            exp.select(col("concept_id"), exp.Count(this=exp.Star()))
            .from_(RUN.patient_results, copy=False)
            .where(
                and_(
                    exp.In(this=col("concept_id"), expressions=[lit(i) for i in ids]),
                    col("latest_uln_default"),
                ),
                copy=False,
            )
            .group_by(col("concept_id"), copy=False)
        )
        default_uln = {ids[cid]: int(n) for cid, n in query(uln_query)[1]}
    return DataQuality(
        counts=counts,
        unknown_unit_rows=summary.unknown_units,
        default_uln_patients=default_uln,
        implausible_value_rows=implausible,
    )


def histogram_counts(
    trials: Sequence[Trial], columns: Sequence[Sequence]
) -> dict[str, dict[str, MaskHistogram]]:
    """The histogram query's result as columns (trial_id, site_id, p0.., u0.., n), split per
    trial and site."""
    n_words = words_needed(trials)
    trial_codes, trial_names = _codes(columns[0])
    site_codes, site_names = _codes(columns[1])
    words = np.column_stack([np.asarray(c, dtype=np.int64) for c in columns[2 : 2 + 2 * n_words]])
    counts = np.asarray(columns[2 + 2 * n_words], dtype=np.int64)
    # one stable sort makes each (trial, site) a slice of the rows
    key = trial_codes * len(site_names) + site_codes
    by_key = np.argsort(key, kind="stable")
    key, words, counts = key[by_key], words[by_key], counts[by_key]
    bounds = [*np.flatnonzero(np.diff(key, prepend=-1)).tolist(), len(key)]
    out: dict[str, dict[str, MaskHistogram]] = {t.id: {} for t in trials}
    for a, b in pairwise(bounds):
        trial, site = divmod(int(key[a]), len(site_names))
        out[trial_names[trial]][site_names[site]] = MaskHistogram(
            counts[a:b], words[a:b, :n_words], words[a:b, n_words:]
        )
    return out


def histogram_columns(trials: Sequence[Trial], rows: Sequence[Sequence]) -> list[Sequence]:
    """The histogram query's rows as Python tuples (Spark's `collect()`) as the columns that
    `histogram_counts` reads."""
    return list(zip(*rows, strict=True)) or [()] * (3 + 2 * words_needed(trials))


def _codes(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """A column of a few distinct strings as integer codes, and the string of each code."""
    # Arrow's dictionary encoding: a Python loop over a million rows cost seconds
    encoded = pc.dictionary_encode(pa.array(values, type=pa.string()))
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()

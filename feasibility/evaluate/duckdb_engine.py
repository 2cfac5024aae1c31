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
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from feasibility import interrupts
from feasibility.analytics.histogram import join_words
from feasibility.analytics.incidence import MonthEnds, month_ends_evaluated
from feasibility.compile.histogram import patient_masks_table, words_needed
from feasibility.compile.pipeline import monthly_statements
from feasibility.compile.plan import Plan, plan_features
from feasibility.compile.predicates import PredicateCompiler
from feasibility.compile.sqlexpr import col, create_as, drop, lit, set_
from feasibility.compile.tables import RUN
from feasibility.criteria.concepts import ConceptLibrary
from feasibility.criteria.model import Trial
from feasibility.errors import ExtractError, FeasibilityError, interrupted, short_message
from feasibility.evaluate import driver
from feasibility.evaluate.driver import READ
from feasibility.evaluate.options import RunOptions, memory_setting
from feasibility.evaluate.results import EngineResult, MonthlyStatus
from feasibility.extract.contract import COLUMNS
from feasibility.extract.source import ExtractSource, open_extract


def connect(options: RunOptions) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the user's thread and memory settings."""
    con = duckdb.connect(":memory:")
    if options.threads:
        set_option(con, "threads", int(options.threads))
    if options.memory_limit:
        try:
            set_option(con, "memory_limit", memory_setting(options.memory_limit))
        except duckdb.Error:
            raise FeasibilityError(
                f"cannot use memory limit `{options.memory_limit}`",
                where="--memory-limit",
                fix="write e.g. 4GB or 512MB",
            ) from None
    set_option(con, "preserve_insertion_order", False)
    set_option(con, "enable_progress_bar", False)
    # DuckDB spills here beyond the memory limit; our own folder, removed at exit
    with interrupts.deferred():  # so that every folder made is one that exit removes
        spill = tempfile.mkdtemp(prefix="feasibility-spill-")
        atexit.register(shutil.rmtree, spill, ignore_errors=True)
    set_option(con, "temp_directory", spill)
    return con


def lock_down(con: duckdb.DuckDBPyConnection, readable: Sequence) -> None:
    """From here on the connection may read the extract's files and nothing else, and may
    write nothing (DuckDB refuses to lift this while the database is open)."""
    set_option(con, "allowed_paths", exp.Array(expressions=[lit(str(Path(f).resolve())) for f in readable]))
    set_option(con, "enable_external_access", False)


def set_option(con: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    """SET one of DuckDB's options on the connection (see `sqlexpr.set_`)."""
    con.execute(set_(name, value).sql(dialect="duckdb"))


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
        self.options = options
        self.versions = {"duckdb": duckdb.__version__}
        self.plan: Plan = plan_features(self.trials, library)
        self.compiler = PredicateCompiler(self.plan)
        self.extract = "the extract"  # named in errors, once `evaluate` knows it
        self.source: ExtractSource | None = None  # once `evaluate` has opened it

    def _sql(self, query: exp.Expr) -> str:
        # sqlglot copies a tree before rendering it in case the dialect rewrites it; DuckDB's
        # leaves these trees unchanged (tests/test_engine_sql.py), and copying them cost
        # several times more than rendering them
        return query.sql(dialect="duckdb", copy=False)

    def evaluate(self, extract: str, progress: Callable[[str], None] | None = None) -> EngineResult:
        """Check the extract and read it, one pass per family of rows for every trial
        together; build the per-patient feature table and count the masks."""
        step = progress or (lambda message: None)
        self.extract = extract
        source = self.source = open_extract(self.con, extract, self.options.site)
        lock_down(self.con, source.files)
        step("reading the extract")
        return driver.evaluate(self, self.trials, self.plan, source, self.options, step)

    def monthly(
        self, result: EngineResult, months: int, progress: Callable[[str], None] | None = None
    ) -> MonthlyStatus:
        """After `evaluate`: every patient evaluated again at each month end that `months`
        months of incidence read; per trial and site, patients counted by the month ends at
        which they were eligible and potentially eligible."""
        step = progress or (lambda message: None)
        evaluated = month_ends_evaluated(months)
        *tables, final = monthly_statements(
            self.trials,
            self.plan.reading(result.written_bounds),
            result.index_default,
            result.index_from_column,
            months,
            result.codes,
        )
        for i, statement in enumerate(tables, 1):
            step(f"{evaluated} month ends: {statement.doing} ({i} of {len(tables)})")
            assert statement.creates is not None  # every statement but the last creates one
            self.create(statement.creates, statement.expression, view=statement.view)
        counts: dict[str, dict[str, Counter[MonthEnds]]] = {t.id: {} for t in self.trials}
        for trial_id, site, eligible_at, potential_at, n in self._execute(
            self._sql(final.expression)
        ).fetchall():
            key = (tuple(eligible_at or ()), tuple(potential_at or ()))  # NULL: at no month end
            counts[trial_id].setdefault(site, Counter())[key] += n
        for statement in tables:  # the monthly tables are large and no longer needed
            assert statement.creates is not None
            self.con.execute(self._sql(drop(statement.creates, view=statement.view)))
        return MonthlyStatus(months, counts)

    def create(self, name: str, query: exp.Expr, what: str | None = None, view: bool = False) -> None:
        """The table (or view) `name` made by the query (see `Runner`)."""
        self._execute(self._sql(create_as(name, query, view=view)), what)

    def query(self, query: exp.Expr, what: str | None = None) -> tuple[list[str], list[tuple]]:
        """The query's column names and rows (see `Runner`)."""
        with self._errors(what):
            cur = self.con.execute(self._sql(query))
            return [d[0] for d in cur.description], cur.fetchall()

    def register_code_map(self, table: pa.Table) -> None:
        """The code map as the table `code_map` (see `Runner`)."""
        self.con.register("code_map_rows", table)
        self.con.execute(self._sql(create_as(RUN.code_map, exp.select("*").from_("code_map_rows"))))
        self.con.unregister("code_map_rows")

    def histogram(self, query: exp.Expr, trials: Sequence[Trial]) -> list[Any]:
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
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None  # Ctrl-C, not a problem with the extract
        except duckdb.OutOfMemoryException:
            limit = f" within --memory-limit {self.options.memory_limit}" if self.options.memory_limit else ""
            raise FeasibilityError(
                f"DuckDB ran out of memory{limit}",
                where="the extract",
                fix="raise --memory-limit, use fewer --threads, or run on a machine with more memory",
            ) from None
        except duckdb.ConversionException as e:
            named = re.search(r"source column (\w+)", str(e))
            raise ExtractError(
                f"a value cannot be read ({short_message(e)})",
                where=self.extract,
                fix=f"check column `{named[1]}` for a value out of its type's range, or export it as "
                "the contract's type (docs/extract-contract.md)"
                if named
                else "check the column types and for values out of range",
            ) from None
        except duckdb.Error as e:
            if interrupted(e):  # Ctrl-C while DuckDB read a registered Arrow stream
                raise KeyboardInterrupt from None
            if self.source is not None:
                # a file replaced or removed under the run fails a later pass in DuckDB's
                # words (even "file system operations are disabled"): say what happened
                self.source.check_unchanged()
            # After the first reads, a corrupt page can still surface when a later pass
            # decodes a column the first reads skipped: DuckDB's parquet reader raises those
            # as I/O, invalid-input or plain errors. Other errors there are the engine's own
            # bugs, which keep their traceback.
            unreadable = (
                isinstance(e, duckdb.IOException | duckdb.InvalidInputException) or type(e) is duckdb.Error
            )
            if what != READ and not unreadable:
                raise
            if "not valid UTF8" in str(e):
                column = self._column_not_utf8()
                raise ExtractError(
                    f"column `{column}` holds text that is not UTF-8" if column else "text that is not UTF-8",
                    where=self.extract,
                    fix="export the extract again with its text encoded as UTF-8",
                ) from None
            raise ExtractError(
                f"cannot read the extract ({short_message(e)})",
                where=self.extract,
                fix="check the file is a complete parquet export",
            ) from None

    def _column_not_utf8(self) -> str | None:
        """The first text column of the extract whose values are not all UTF-8: DuckDB names
        the file and withheld value only. Reading each column alone costs a scan of it, on a
        run that has already failed."""
        for column in (c.name for c in COLUMNS if c.type == "VARCHAR"):
            try:
                # MIN needs every value decoded; COUNT may read the null flags alone
                self.con.execute(self._sql(exp.select(exp.Min(this=col(column))).from_(RUN.events)))
            except duckdb.Error as e:
                if "not valid UTF8" in str(e):
                    return column
        return None

    def rule_values(self, trial: Trial) -> dict[str, dict[str, bool | None]]:
        """Per patient, the value of each criterion's rule (None = UNKNOWN; not-assessable
        criteria are left out). The spec tests compare it with the reference evaluator's."""
        ids = [c.id for c in trial.criteria if c.rule is not None]
        selects = [col("patient_id")] + [
            self.compiler.rule(c.rule).as_(f"r{i}")
            for i, c in enumerate(trial.criteria)
            if c.rule is not None
        ]
        query = exp.select(*selects).from_(RUN.patients, copy=False).order_by(col("patient_id"), copy=False)
        return {
            row[0]: dict(zip(ids, row[1:], strict=True))
            for row in self.con.execute(self._sql(query)).fetchall()
        }

    def patient_masks(self, position: int) -> list[tuple[str, str, int, int]]:
        """(patient_id, site_id, passed mask, unknown mask) per patient for the trial at
        `position`, for the patient list: read from the masks `evaluate` kept (it must have run
        with `keep_patient_masks`), not evaluated again."""
        n_words = words_needed(self.trials)
        words = [col(f"{side}{w}") for side in "pu" for w in range(n_words)]
        query = (
            exp.select(col("patient_id"), col("site_id"), *words)
            .from_(patient_masks_table(position), copy=False)
            .order_by(col("patient_id"), copy=False)
        )
        return [
            (pid, site, join_words(rest[:n_words]), join_words(rest[n_words:]))
            for pid, site, *rest in self._execute(self._sql(query), "list the patients").fetchall()
        ]

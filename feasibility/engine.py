"""Run the compiled trials on an extract in DuckDB: one pass, then histograms per trial/site."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlglot import exp

from feasibility.compile.histogram import WORD_BITS, mask_words, words_needed
from feasibility.compile.pipeline import code_dictionary, statements
from feasibility.compile.plan import Plan, build_code_map, plan_features
from feasibility.compile.predicates import PredicateCompiler
from feasibility.compile.sqlexpr import and_, col, lit
from feasibility.compile.sqlexpr import field as struct_field
from feasibility.criteria.concepts import ConceptLibrary
from feasibility.criteria.model import Measurement, Trial, walk
from feasibility.errors import ExtractError, FeasibilityError, short_message
from feasibility.extract.source import ExtractSource, open_extract
from feasibility.resources import sql_text

Masks = tuple[int, int]  # (passed, unknown)


@dataclass(frozen=True)
class RunOptions:
    as_of: date | None = None
    site: str = "site"
    threads: int | None = None
    memory_limit: str | None = None  # DuckDB syntax, e.g. "4GB"


@dataclass
class DataQuality:
    """Counts only: what the engine noticed about the extract and how it treated it."""

    counts: dict[str, int] = field(default_factory=dict)
    unknown_unit_rows: dict[str, int] = field(default_factory=dict)
    default_uln_patients: dict[str, int] = field(default_factory=dict)
    negative_value_rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "counts": dict(self.counts),
            "unknown_unit_rows": dict(sorted(self.unknown_unit_rows.items())),
            "default_uln_patients": dict(sorted(self.default_uln_patients.items())),
            "negative_value_rows": dict(sorted(self.negative_value_rows.items())),
        }


@dataclass
class EngineResult:
    """What one run computed: per trial and site, patients counted by their masks."""

    trials: list[Trial]
    histograms: dict[str, dict[str, Counter[Masks]]]
    data_quality: DataQuality
    source: ExtractSource
    rows: int
    patients: int
    index_default: date
    index_from_column: bool


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
    import re

    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value, re.I):
        raise FeasibilityError(
            f"cannot read memory limit `{value}`", where="--memory-limit", fix="write e.g. 4GB or 512MB"
        )
    return value.strip()


class Engine:
    """One extract loaded into DuckDB with the features of a set of trials."""

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

    def _sql(self, query: exp.Expression) -> str:
        return query.sql(dialect="duckdb")

    def load(self, extract: str, progress=None) -> EngineResult:
        """Read the extract once, build the per-patient feature table, count the masks."""
        step = progress or (lambda message: None)
        source = open_extract(self.con, extract, self.options.site)
        lock_down(self.con, source.files)
        step("reading the code dictionary")
        try:
            dictionary = self._execute(self._sql(code_dictionary())).fetchall()
        except FeasibilityError:
            raise
        except duckdb.Error as e:
            raise ExtractError(
                f"cannot read the extract ({short_message(e)})",
                where=extract,
                fix="check the file is a complete parquet export",
            ) from None
        rows = sum(r[3] for r in dictionary)
        if rows == 0:
            raise ExtractError(
                "the extract has no rows", where=extract, fix="export at least one row per patient"
            )
        null_patients = sum(r[5] for r in dictionary)
        if null_patients:
            raise ExtractError(
                f"{null_patients} rows have no patient_id",
                where=extract,
                fix="every row needs a patient_id; drop or fix those rows",
            )
        dates = [r[4] for r in dictionary if r[4] is not None]
        if self.options.as_of is not None:
            index_default = self.options.as_of
        elif dates:
            index_default = max(dates)
        else:
            raise ExtractError(
                "no row has a start_date, so there is no default index date",
                where=extract,
                fix="pass --as-of DATE or add an index_date column",
            )
        code_map, unknown_units = build_code_map(self.plan, ((r[0], r[1], r[2], r[3]) for r in dictionary))
        self._register_code_map(code_map)
        has_index = source.has("index_date")
        *tables, histogram = statements(self.trials, self.plan, index_default, has_index)
        step("aggregating events per patient and concept")
        for statement in tables:
            self._create(statement.creates, statement.expression)
        step("evaluating criteria")
        dq = self._data_quality(unknown_units)
        dq.counts["rows"] = rows
        histograms = self._histograms(histogram.expression)
        return EngineResult(
            trials=self.trials,
            histograms=histograms,
            data_quality=dq,
            source=source,
            rows=rows,
            patients=dq.counts["patients"],
            index_default=index_default,
            index_from_column=has_index,
        )

    def _create(self, name: str, query: exp.Expression) -> None:
        self._execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {self._sql(query)}")

    def _execute(self, sql: str) -> duckdb.DuckDBPyConnection:
        """Run SQL; running out of memory or unreadable values become one-line user errors."""
        try:
            return self.con.execute(sql)
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

    def _register_code_map(self, rows) -> None:
        table = pa.table(
            {
                "code_system": pa.array([r.code_system for r in rows], pa.string()),
                "code": pa.array([r.code for r in rows], pa.string()),
                "unit": pa.array([r.unit for r in rows], pa.string()),
                "concept_id": pa.array([r.concept_id for r in rows], pa.int32()),
                "factor": pa.array([r.factor for r in rows], pa.float64()),
                "is_measurement": pa.array([r.is_measurement for r in rows], pa.bool_()),
                "is_medication": pa.array([r.is_medication for r in rows], pa.bool_()),
            }
        )
        self.con.register("code_map_rows", table)
        self.con.execute("CREATE OR REPLACE TEMP TABLE code_map AS SELECT * FROM code_map_rows")
        self.con.unregister("code_map_rows")

    def _data_quality(self, unknown_units: dict[str, int]) -> DataQuality:
        cur = self.con.execute(sql_text("data_quality.sql"))
        names = [d[0] for d in cur.description]
        counts = {k: int(v or 0) for k, v in zip(names, cur.fetchone(), strict=True)}
        negative = {
            self.plan.concepts[cid].name: int(n)
            for cid, n in self.con.execute(
                "SELECT concept_id, sum(n_negative) FROM patient_concept "
                "WHERE concept_id IS NOT NULL GROUP BY concept_id HAVING sum(n_negative) > 0"
            ).fetchall()
        }
        uln_concepts = sorted(
            {
                node.concept
                for t in self.trials
                for c in t.criteria
                if c.rule is not None
                for node in walk(c.rule)
                if isinstance(node, Measurement) and node.uln
            }
        )
        default_uln: dict[str, int] = {}
        if uln_concepts:
            ids = {self.plan.concept_id(name): name for name in uln_concepts}
            latest = col("latest")
            query = (
                exp.select(col("concept_id"), exp.Count(this=exp.Star()))
                .from_("patient_concept", copy=False)
                .where(
                    and_(
                        exp.In(this=col("concept_id"), expressions=[lit(i) for i in ids]),
                        exp.Not(this=exp.Is(this=latest, expression=exp.null())),
                        exp.Is(this=struct_field(latest, "rh"), expression=exp.null()),
                    ),
                    copy=False,
                )
                .group_by(col("concept_id"), copy=False)
            )
            default_uln = {ids[cid]: int(n) for cid, n in self.con.execute(self._sql(query)).fetchall()}
        return DataQuality(
            counts=counts,
            unknown_unit_rows=unknown_units,
            default_uln_patients=default_uln,
            negative_value_rows=negative,
        )

    def _histograms(self, query: exp.Expression) -> dict[str, dict[str, Counter[Masks]]]:
        n_words = words_needed(self.trials)
        out: dict[str, dict[str, Counter[Masks]]] = {t.id: {} for t in self.trials}
        for trial_id, site, *rest in self._execute(self._sql(query)).fetchall():
            passed = _join_words(rest[:n_words])
            unknown = _join_words(rest[n_words : 2 * n_words])
            out[trial_id].setdefault(site, Counter())[(passed, unknown)] += rest[-1]
        return out

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
        n_words = -(-len(trial.criteria) // WORD_BITS)
        passed, unknown = mask_words([self.compiler.passes(c) for c in trial.criteria], n_words)
        query = (
            exp.select(col("patient_id"), col("site_id"), *passed, *unknown)
            .from_("patients", copy=False)
            .order_by(col("patient_id"), copy=False)
        )
        return [
            (pid, site, _join_words(rest[:n_words]), _join_words(rest[n_words:]))
            for pid, site, *rest in self.con.execute(self._sql(query)).fetchall()
        ]


def _join_words(words: Sequence[int]) -> int:
    value = 0
    for i, w in enumerate(words):
        value |= int(w) << (i * WORD_BITS)
    return value

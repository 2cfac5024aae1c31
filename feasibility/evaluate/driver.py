"""One run's steps on any engine (DuckDB, Spark): the extent and default index date, the
demographics, the code dictionary and code map, the passes, data quality, and the mask
histogram per trial and site turned into counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from feasibility.analytics.histogram import MaskHistogram
from feasibility.analytics.waterfall import ALL_SITES
from feasibility.compile.code_map import (
    CodeMapRow,
    DictionaryRow,
    build_code_map,
    code_map_table,
    codes_by_concept,
    unread_code_systems,
)
from feasibility.compile.histogram import words_needed
from feasibility.compile.pipeline import (
    code_dictionary,
    data_quality_query,
    duplicate_rows_query,
    extract_extent,
    first_passes,
    medication_quality_query,
    null_patient_rows,
    reserved_sites,
    result_quality_query,
    statements,
)
from feasibility.compile.plan import Plan
from feasibility.criteria.model import Trial
from feasibility.errors import ExtractError
from feasibility.evaluate.options import RunOptions
from feasibility.evaluate.results import DataQuality, EngineResult
from feasibility.extract.contract import BY_NAME as CONTRACT_COLUMNS
from feasibility.extract.source import ExtractSource

READ = "read the extract"  # the step of a run's first reads: their errors are the extract's


class Runner(Protocol):
    """What `evaluate` needs of an engine. `what` names the step for an error message; the
    steps named READ read the extract for the first time, so their errors are the
    extract's (a truncated file, an unreadable column)."""

    dialect: str
    versions: dict[str, str]  # the libraries that computed the counts, for the provenance

    def query(self, query: exp.Expr, what: str | None = None) -> tuple[list[str], list[tuple]]:
        """The query's column names and rows; `what` names the step in errors."""
        ...

    def create(self, name: str, query: exp.Expr, what: str | None = None) -> None:
        """The table `name` made by the query, for the statements after it."""
        ...

    def register_code_map(self, table: pa.Table) -> None:
        """The code map (see `build_code_map`) as the table `code_map`."""
        ...

    def histogram(self, query: exp.Expr, trials: Sequence[Trial]) -> list[Any]:
        """The histogram query's result as columns (see `histogram_counts`)."""
        ...


def evaluate(
    runner: Runner,
    trials: Sequence[Trial],
    plan: Plan,
    source: ExtractSource,
    options: RunOptions,
    step: Callable[[str], None],
) -> EngineResult:
    """One run's steps on any engine, once its `events` view reads the extract: the extent
    and default index date, the demographics, the code dictionary and code map, the passes
    and patient rows, data quality, and the mask histogram per trial and site."""
    # only the columns the extract has: an absent one is a NULL per row, which statistics cannot answer
    dates = [c.name for c in CONTRACT_COLUMNS.values() if c.type == "DATE" and source.has(c.name)]
    (rows, latest_start, any_index, *outside), *_ = runner.query(extract_extent(dates), READ)[1]
    # an index_date column with no date in it (an importer's, without --index-date) is no
    # per-patient index date: the report must not say patients carry their own
    has_index = bool(any_index)
    for column, bad in zip(dates, outside, strict=True):
        if bad:
            raise ExtractError(
                f"`{column}` holds dates outside the years 1 to 9999",
                where=source.label,
                fix="correct or remove those rows (a date field filled with a placeholder?)",
            )
    latest_event = date.fromisoformat(latest_start) if latest_start else None
    index_default = default_index(rows, latest_event, options, source.label)
    for first in first_passes(index_default, has_index):
        assert first.creates is not None
        runner.create(first.creates, first.expression, READ)
    check_patient_ids(runner.query(null_patient_rows(), READ)[1][0][0], source.label)
    check_site_ids([site for (site,) in runner.query(reserved_sites(), READ)[1]], source.label)
    summary = summarise_dictionary(plan, runner.query(code_dictionary(plan), READ)[1])
    runner.register_code_map(code_map_table(summary.code_map))
    codes = summary.codes
    plan = plan.reading(summary.written_bounds)
    *tables, histogram = statements(
        trials, plan, index_default, has_index, runner.dialect, codes, options.keep_patient_masks
    )
    for i, statement in enumerate(tables, 1):
        # on a large extract each statement takes minutes: say which one is running
        step(f"{statement.doing} ({i} of {len(tables)})")
        assert statement.creates is not None
        runner.create(statement.creates, statement.expression)
    step("evaluating criteria")
    dq = collect_data_quality(plan, summary, rows, runner.query, source, options.check_duplicates)
    return EngineResult(
        trials=list(trials),
        histograms=histogram_counts(trials, runner.histogram(histogram.expression, trials)),
        data_quality=dq,
        source=source,
        index_default=index_default,
        latest_event=latest_event,
        versions=dict(runner.versions),
        codes=codes,
        written_bounds=summary.written_bounds,
        index_from_column=has_index,
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
    """What the code dictionary tells before the passes over coded rows: the code map, the
    rows of unknown units per concept, the rows of code systems no concept uses, and the
    concepts whose rows hold a number or a titre written as a bound."""

    code_map: list[CodeMapRow]
    unknown_units: dict[str, dict[str, int]]  # concept -> unit as spelled -> rows
    unread_systems: dict[str, int]
    written_bounds: frozenset[int]

    @property
    def codes(self) -> dict[int, list[str]]:
        """Per concept id, the raw codes of its code map rows: the rows worth reading."""
        return codes_by_concept((row.concept_id, row.code) for row in self.code_map)


def check_site_ids(reserved: Sequence[str], extract: str) -> None:
    """No site may be named like the report's every-site total, or be empty: its rows would
    be read as ALL's, or under a name no one can tell apart."""
    if reserved:
        problem = (
            "a site_id is empty (a site needs a name)"
            if "" in [s.strip() for s in reserved]
            else f"a site_id is `{ALL_SITES}`, the report's name for every site together"
        )
        raise ExtractError(
            problem, where=extract, fix="rename that site, or leave site_id NULL so its rows take --site"
        )


def check_patient_ids(null_patients: int, extract: str) -> None:
    """Every row needs a patient id."""
    if null_patients:
        raise ExtractError(
            f"{null_patients} rows have no patient_id",
            where=extract,
            fix="every row needs a patient_id; drop or fix those rows",
        )


def summarise_dictionary(plan: Plan, dictionary: Sequence[Sequence]) -> DictionarySummary:
    """The code map from the code dictionary's rows (`pipeline.code_dictionary`: code
    system, code, unit, rows, rows with a number, rows of a number written as a bound, rows
    of any bound); a bound is read as a number (see `DictionaryRow`)."""
    triples: list[DictionaryRow] = [(r[0], r[1], r[2], r[3], r[4] + r[5]) for r in dictionary]
    code_map, unknown_units = build_code_map(plan, triples)
    # by code alone: a titre's bound joins its concept in the unit TITRE, whatever its own
    signed = {(r[0], r[1]) for r in dictionary if r[6]}
    return DictionarySummary(
        code_map,
        unknown_units,
        unread_code_systems(plan, triples),
        frozenset(row.concept_id for row in code_map if (row.code_system, row.code) in signed),
    )


def collect_data_quality(
    plan: Plan,
    summary: DictionarySummary,
    extract_rows: int,
    query: Callable[[exp.Expr], tuple[list[str], list[tuple]]],
    source: ExtractSource,
    check_duplicates: bool = False,
) -> DataQuality:
    """The data-quality counts over the tables `patients` and `patient_results` (and the
    extract's rows, from its statistics), and with
    `check_duplicates` the duplicate rows of `events`; `query` runs an expression on the
    engine and returns (column names, rows)."""
    names, rows = query(data_quality_query())
    counts = {k: int(v or 0) for k, v in zip(names, rows[0], strict=True)}
    counts["rows"] = extract_rows
    if check_duplicates:
        # rows are compared on the extract's contract columns: the ones the `events` view has
        columns = [c for c in source.columns if c in CONTRACT_COLUMNS]
        counts["duplicate_rows"] = int(query(duplicate_rows_query(columns))[1][0][0] or 0)
    implausible: dict[str, int] = {}
    unread: dict[str, int] = {}
    default_uln: dict[str, int] = {}
    if plan.result_concepts:
        for cid, n_implausible, n_unread, n_default_uln in query(result_quality_query())[1]:
            name = plan.concepts[cid].name
            for found, n in ((implausible, n_implausible), (unread, n_unread), (default_uln, n_default_uln)):
                if n:
                    found[name] = int(n)
    reversed_exposures: dict[str, int] = {}
    for family, concepts, found in (
        ("exposures", plan.exposure_concepts, reversed_exposures),
        ("coverage", plan.coverage_concepts, implausible),  # doses: no concept is also a result's
    ):
        if concepts:
            for cid, n in query(medication_quality_query(family))[1]:
                if n:
                    found[plan.concepts[cid].name] = int(n)
    return DataQuality(
        counts=counts,
        unknown_units=summary.unknown_units,
        unread_code_system_rows=summary.unread_systems,
        default_uln_patients=default_uln,
        implausible_value_rows=implausible,
        unread_text_rows=unread,
        reversed_exposure_rows=reversed_exposures,
    )


def histogram_counts(trials: Sequence[Trial], columns: Sequence[Any]) -> dict[str, dict[str, MaskHistogram]]:
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


def histogram_columns(trials: Sequence[Trial], rows: Sequence[Sequence]) -> list[Any]:
    """The histogram query's rows as Python tuples (Spark's `collect()`) as the columns that
    `histogram_counts` reads."""
    return list(zip(*rows, strict=True)) or [()] * (3 + 2 * words_needed(trials))


def _codes(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """A column of a few distinct strings as integer codes, and the string of each code."""
    # Arrow's dictionary encoding: a Python loop over a million rows cost seconds
    encoded = pc.dictionary_encode(pa.array(values, type=pa.string()))
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()

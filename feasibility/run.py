"""`feasibility run`: trials + extract -> engine -> report folder."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import duckdb

from feasibility.analytics.incidence import month_ends_evaluated
from feasibility.analytics.waterfall import ALL_SITES, check_order
from feasibility.criteria.in_care import DEFAULT_ACTIVE_WITHIN, with_in_care_step
from feasibility.criteria.load import load_trials, trial_by_id
from feasibility.criteria.model import Duration, Trial
from feasibility.errors import FeasibilityError
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.extract.contract import DEFAULT_SITE, site_order
from feasibility.extract.source import resolve_files
from feasibility.protect import DEFAULT_MIN_CELL, Protection
from feasibility.reports.build import build_report
from feasibility.reports.enrollment import ForecastSettings, enrollment_block
from feasibility.reports.files import criteria_csv, report_json, waterfall_csv
from feasibility.reports.html import render_html
from feasibility.reports.output import (
    check_file_target,
    check_folder_target,
    write_directory,
    write_with_file,
    writer_lock,
)

REPORT_FILES = ("report.json", "waterfall.csv", "criteria.csv", "report.html")
PATIENT_LIST_COLUMNS = ("trial_id", "site_id", "patient_id", "status", "criteria")


def run_feasibility(
    extract: str,
    trial_paths: Sequence[Path],
    *,
    trial_ids: Sequence[str] = (),
    out: Path,
    as_of: date | None = None,
    site: str = DEFAULT_SITE,
    min_cell: int = DEFAULT_MIN_CELL,
    order: str | None = "protocol",
    patient_list: Path | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    active_within: Duration | None = DEFAULT_ACTIVE_WITHIN,
    monthly: int | None = None,
    forecast: ForecastSettings | None = None,
    spark_master: str | None = None,
    check_duplicates: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run every trial on the extract (or only those of `trial_ids`), write the report
    folder, return the report.

    `active_within` puts the still-in-care step first in every trial (None: off);
    `monthly` adds the incidence of eligible patients over that many months and the
    enrollment forecast fitted to it. With `spark_master` the trials run on Apache Spark
    (the same compiled SQL) instead of DuckDB."""
    step = progress or (lambda message: None)
    if spark_master is not None:
        for wanted, flag in ((monthly, "--monthly"), (patient_list, "--patient-list")):
            if wanted:
                raise FeasibilityError(
                    f"{flag} runs on the DuckDB engine only", where="--engine spark", fix=f"drop {flag}"
                )
    if site.strip() in ("", ALL_SITES):
        raise FeasibilityError(
            f"`{site}` cannot name a site (`{ALL_SITES}` names every site together)",
            where="--site",
            fix="give the site's own name",
        )
    trials, library = load_trials(list(trial_paths) or None)
    if trial_ids:
        # in the files' order, not the options': the same trials give the same report
        chosen = {trial_by_id(trials, trial_id, "--trial").id for trial_id in trial_ids}
        trials = [t for t in trials if t.id in chosen]
    trials = [with_in_care_step(t, active_within) for t in trials]
    check_order(order, [t.criteria for t in trials])
    options = RunOptions(
        as_of=as_of,
        site=site,
        threads=threads,
        memory_limit=memory_limit,
        check_duplicates=check_duplicates,
        keep_patient_masks=patient_list is not None,
    )
    protection = Protection(min_cell)
    settings = forecast or ForecastSettings()
    # Spark needs no DuckDB engine: --monthly and --patient-list were refused above
    con: duckdb.DuckDBPyConnection | None = None
    engine: Engine | None = None
    locks = ExitStack()
    try:
        # the outputs are checked before the run: a refusal after an hour's run helps nobody;
        # and one run at a time writes them, from these checks to their commit
        locks.enter_context(writer_lock(out, "report folder", "--out"))
        check_folder_target(out, REPORT_FILES)
        if patient_list is not None:
            locks.enter_context(writer_lock(patient_list, "patient list", "--patient-list"))
            conversion = [forecast.conversion_file] if forecast and forecast.conversion_file else []
            inputs = [*resolve_files(extract), *(Path(t.path) for t in trials), *library.files, *conversion]
            header = (",".join(PATIENT_LIST_COLUMNS) + "\n").encode()
            check_file_target(patient_list, inputs, "--patient-list", header, "patient list")
        if spark_master is None:
            con = connect(options)
            engine = Engine(con, trials, library, options)
            result = engine.evaluate(extract, progress=step)
        else:
            from feasibility.evaluate.spark_engine import run_on_spark

            result = run_on_spark(extract, trials, library, options, master=spark_master, progress=step)
        enrollment = None
        if monthly and engine is not None:
            _check_months_reachable(monthly, result.index_default)
            # a misspelt site in the conversion file, found before the month ends are evaluated
            sites = {s for per_site in result.histograms.values() for s in per_site}
            shares = settings.site_shares(sorted(sites, key=site_order))
            status = engine.monthly(result, monthly, progress=step)
            uniform_index = None if result.index_from_column else result.index_default
            step("fitting the enrollment forecast")
            enrollment = {
                t.id: enrollment_block(t, status, shares, settings.target, protection, uniform_index)
                for t in trials
            }
        step("writing the report")
        result.source.check_unchanged()
        report = build_report(
            result,
            protect=protection,
            order=order,
            options={
                "as_of": as_of.isoformat() if as_of else None,
                "site": site,
                "min_cell": min_cell,
                "order": order or "protocol",
                "active_within": str(active_within) if active_within else None,
                "monthly": monthly,
                "conversion": settings.conversion if monthly else None,
                "conversion_by_site": dict(settings.conversion_by_site) if monthly else None,
                "target": settings.target if monthly else None,
                "engine": "spark" if spark_master is not None else "duckdb",
                "check_duplicates": check_duplicates,
            },
            # trials/concepts/labs.yaml: a trials folder's own concepts/ has files of the same names
            concept_files=[f"{f.parent.parent.name}/{f.parent.name}/{f.name}" for f in library.files],
            concept_library_sha256=library.sha256,
            enrollment=enrollment,
        )
        files: dict[str, str | bytes] = {
            "report.json": report_json(report),
            "waterfall.csv": waterfall_csv(report),
            "criteria.csv": criteria_csv(report),
            "report.html": render_html(report),
        }
        assert set(files) == set(REPORT_FILES)
        if patient_list is not None and engine is not None:
            write_with_file(out, files, patient_list, _patient_list(engine, trials))
        else:
            write_directory(out, files)
        return report
    finally:
        if con is not None:
            con.close()
        locks.close()


def _check_months_reachable(months: int, index: date) -> None:
    """The oldest month end `--monthly` reads must be a date (year 1 or later)."""
    oldest = month_ends_evaluated(months) - 1
    try:
        Duration(oldest, "month").before(index)
    except ValueError:
        raise FeasibilityError(
            f"{months} months of incidence read back to {oldest} months before the index date "
            f"{index.isoformat()}, before year 1",
            where="--monthly",
            fix="use fewer months or a later --as-of",
        ) from None


def _patient_list(engine: Engine, trials: Sequence[Trial]) -> str:
    """Each patient's status per trial: eligible, potentially eligible (with the UNKNOWN
    criteria), or not eligible (with the first failing criterion in protocol order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PATIENT_LIST_COLUMNS)
    for position, trial in enumerate(trials):
        full = (1 << len(trial.criteria)) - 1
        for pid, site, passed, unknown in engine.patient_masks(position):
            failed = full & ~(passed | unknown)
            if passed == full:
                status, detail = "eligible", ""
            elif not failed:
                status = "potentially eligible"
                detail = ";".join(c.id for k, c in enumerate(trial.criteria) if unknown >> k & 1)
            else:
                first = (failed & -failed).bit_length() - 1
                status, detail = "not eligible", trial.criteria[first].id
            writer.writerow([trial.id, site, pid, status, detail])
    return out.getvalue()

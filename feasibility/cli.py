"""The `feasibility` command line."""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from feasibility import __version__, interrupts
from feasibility.analytics.conversion import DEFAULT_CONVERSION
from feasibility.cli_options import (
    CONVERSION_FILE_FORMATS,
    SHARE,
    err,
    memory_limit_option,
    threads_option,
    working,
)
from feasibility.criteria.in_care import DEFAULT_ACTIVE_WITHIN
from feasibility.errors import FeasibilityError, interrupted
from feasibility.extract.contract import DEFAULT_SITE
from feasibility.protect import DEFAULT_MIN_CELL

if TYPE_CHECKING:
    from feasibility.criteria.model import Duration


def _parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"`{value}` is not a date; write YYYY-MM-DD") from None


def _trial_paths(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[Path, ...]:
    # `--trials "$UNSET"` would otherwise read the current folder as trials
    if any(not v.strip() for v in values):
        raise click.BadParameter("an empty path (an unset variable?); name a trial file or folder")
    return tuple(Path(v) for v in values)


trials_option = click.option(
    "--trials",
    "trial_paths",
    multiple=True,
    type=click.Path(),
    callback=_trial_paths,
    help="Trial YAML file or folder (repeatable). Default: the shipped seed trials.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feasibility")
def cli() -> None:
    """Cohort feasibility: how many of a site's patients meet each trial's criteria."""


@cli.command()
@click.argument("extract")
@trials_option
@click.option(
    "--trial",
    "trial_ids",
    multiple=True,
    metavar="ID",
    help="Only the trial of --trials with this id (repeatable; default: every trial).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("feasibility-report"),
    show_default=True,
    help="Report folder (replaced as a whole when the run succeeds).",
)
@click.option(
    "--as-of",
    callback=_parse_date,
    help="Index date (YYYY-MM-DD) for patients "
    "without an index_date. Default: the latest start_date in the extract.",
)
@click.option(
    "--site",
    default=DEFAULT_SITE,
    show_default=True,
    help="Site name when the extract has no site_id column.",
)
@click.option(
    "--min-cell",
    type=click.IntRange(min=0),
    default=DEFAULT_MIN_CELL,
    show_default=True,
    help="Suppress counts below K (and those rounding like them) and round to 5 for sharing; "
    "0 = exact (do not share).",
)
@click.option(
    "--order",
    default="protocol",
    show_default=True,
    help="Waterfall order: protocol; most-restrictive (each step the criterion leaving the fewest "
    "patients confirmed eligible, so mostly-UNKNOWN ones come early); or criterion ids a,b,c "
    "(each trial puts the ids it has first).",
)
@click.option(
    "--patient-list",
    type=click.Path(path_type=Path),
    help="Also write each patient's status per trial to this CSV (site use only; replaces only "
    "an earlier patient list).",
)
@threads_option
@memory_limit_option
@click.option(
    "--active-within",
    default=str(DEFAULT_ACTIVE_WITHIN),
    show_default=True,
    help="Base population: patients with any record in this window before their index date "
    "(shown as the waterfall's first step); `none` to turn off.",
)
@click.option(
    "--monthly",
    type=click.IntRange(min=1, max=240),
    metavar="MONTHS",
    help="Also count, per month over the last MONTHS months, the patients who newly became "
    "eligible, and forecast enrollment from it (default: off).",
)
@click.option(
    "--conversion",
    type=SHARE,
    default=DEFAULT_CONVERSION,
    show_default=True,
    help="With --monthly: share of eligible patients approached, consenting and passing screening.",
)
@click.option(
    "--conversion-file",
    type=click.Path(path_type=Path),
    help=f"With --monthly: per-site conversion, {CONVERSION_FILE_FORMATS}.",
)
@click.option(
    "--target",
    type=click.IntRange(min=1),
    help="With --monthly: the sample size whose time to recruit is forecast (default: no time "
    "to target, only the expected enrollment).",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where the compiled SQL runs; spark needs `pip install 'feasibility[spark]'` and Java.",
)
# spark_engine.DEFAULT_MASTER and pipeline.DIALECTS, typed again because importing those
# modules would load DuckDB and sqlglot for every command, `--help` included; a test keeps
# the copies equal
@click.option(
    "--spark-master",
    default="local[2]",
    show_default=True,
    help="With --engine spark: the Spark master URL (local[N] or a cluster's spark://host:port).",
)
@click.option(
    "--check-duplicates",
    is_flag=True,
    help="Also count exact duplicate rows among the rows the trials read (results never count "
    "a duplicate twice; the count costs about another pass over those rows).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print no waterfall, only where the report is.")
def run(
    extract: str,
    trial_paths: tuple[Path, ...],
    trial_ids: tuple[str, ...],
    out: Path,
    as_of: date | None,
    site: str,
    min_cell: int,
    order: str,
    patient_list: Path | None,
    threads: int | None,
    memory_limit: str | None,
    active_within: str,
    monthly: int | None,
    conversion: float,
    conversion_file: Path | None,
    target: int | None,
    engine: str,
    spark_master: str,
    check_duplicates: bool,
    quiet: bool,
) -> None:
    """Evaluate every trial on EXTRACT and write the report folder."""
    from feasibility.analytics.conversion import load_conversion
    from feasibility.extract.source import unread_note
    from feasibility.reports.enrollment import ForecastSettings
    from feasibility.run import run_feasibility

    ctx = click.get_current_context()
    # the options the user gave: some only mean something beside another
    given = {n for n in ctx.params if ctx.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT}
    if monthly is None:
        for name in ("conversion", "conversion_file", "target"):
            if name in given:
                raise FeasibilityError(
                    "is used by the enrollment forecast, which only --monthly makes",
                    where=f"--{name.replace('_', '-')}",
                    fix="add --monthly MONTHS (e.g. --monthly 24)",
                )
    if engine != "spark" and "spark_master" in given:
        raise FeasibilityError(
            "is used by the Spark engine only",
            where="--spark-master",
            fix="add --engine spark, or leave out --spark-master",
        )
    if engine == "spark" and "threads" in given:
        raise FeasibilityError(
            "sets DuckDB's threads; Spark takes its cores from the master URL",
            where="--threads",
            fix="write e.g. --spark-master 'local[4]' instead",
        )
    in_care = None if active_within.strip().lower() == "none" else _in_care_window(active_within)
    forecast = ForecastSettings(
        conversion=conversion,
        conversion_by_site=load_conversion(conversion_file) if conversion_file else {},
        target=target,
        conversion_file=conversion_file,
    )

    if patient_list is not None and _inside(patient_list, out):
        raise FeasibilityError(
            "the patient list must not be written inside the report folder",
            where=str(patient_list),
            fix="write it outside --out",
        )
    started = time.perf_counter()
    outputs = [(out, f"report in {out}/")]
    written = f"the new report in {out}/ is complete"
    if patient_list is not None:
        outputs.append((patient_list, f"patient list {patient_list}"))
        written += f", and the patient list {patient_list} (site use only: do not share)"
    with interrupts.writing(outputs, written), working("loading trials") as step:
        report = run_feasibility(
            extract,
            list(trial_paths),
            trial_ids=trial_ids,
            out=out,
            as_of=as_of,
            site=site,
            min_cell=min_cell,
            order=order,
            patient_list=patient_list,
            threads=threads,
            memory_limit=memory_limit,
            active_within=in_care,
            monthly=monthly,
            forecast=forecast,
            spark_master=spark_master if engine == "spark" else None,
            check_duplicates=check_duplicates,
            progress=step,
        )
    if not quiet:
        from feasibility.reports.terminal import print_report, report_console

        print_report(report, report_console())
    err.print(f"report written to {out}/ ({time.perf_counter() - started:.1f} s)")
    sites = [s["site_id"] for s in report["trials"][0]["sites"][1:]]
    if ctx.get_parameter_source("site") is not click.core.ParameterSource.DEFAULT and site not in sites:
        # --site only names rows without a site_id: without a word, a user would take the
        # report for one labelled with the name they gave
        err.print(
            f"note: --site {site} names only rows without a site_id; this extract's sites: {', '.join(sites)}"
        )
    not_read = report["provenance"]["extract"]["not_read"]
    if not_read:
        err.print(f"note: {unread_note(extract, not_read)}")
    if patient_list is not None:
        err.print(f"patient list written to {patient_list} (site use only: do not share)")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@trials_option
def check(paths: tuple[Path, ...], trial_paths: tuple[Path, ...]) -> None:
    """Check trial files and the concept library; print what each trial can assess, and the
    fingerprints a report will carry (a sponsor and its sites can compare them before a run).
    PATHS and --trials name the same thing: --trials as in run, show and sql."""
    from feasibility.criteria.in_care import computability
    from feasibility.criteria.load import load_trials

    given = [*paths, *trial_paths]
    try:
        trials, library = load_trials(given or None)
    except FeasibilityError:
        _each_broken_file(given)
        raise
    for t in trials:
        counts = computability(t)
        click.echo(
            f"{t.id}: {counts['total']} {'criterion' if counts['total'] == 1 else 'criteria'}, "
            f"{counts['assessable']} assessable, "
            f"{counts['not_assessable']} not assessable ({t.path}, sha256 {t.sha256[:12]})"
        )
    click.echo(
        f"{len(library.concepts)} concepts in {len(library.files)} files "
        f"(concept library fingerprint {library.sha256[:12]})"
    )


def _each_broken_file(given: list[Path]) -> None:
    """After `check` found a broken trial file: when several of the files given are broken,
    every one but the last as an error line of its own (the caller raises the last), so that
    one run of `check` lists them all."""
    from feasibility.criteria.load import load_trials, trial_files

    broken: list[FeasibilityError] = []
    for file in trial_files(given) if given else []:
        try:
            load_trials([file])
        except FeasibilityError as error:
            broken.append(error)
    # a broken concept library breaks every trial file alike: it is said once
    distinct = list({str(error): error for error in broken}.values())
    if len(distinct) < 2:
        return  # one broken file, or a fault between files (an id used twice): the error says it
    for other in distinct[:-1]:
        _print_error(str(other))
    raise distinct[-1]


@cli.command()
@click.argument("trial")
@trials_option
def show(trial: str, trial_paths: tuple[Path, ...]) -> None:
    """Print a trial's criteria with the rule each one compiles from. TRIAL is a trial
    YAML file or folder, or the id of one of the --trials (default: the seed trials)."""
    from feasibility.criteria.describe import describe
    from feasibility.criteria.load import load_trials, trial_by_id

    path = Path(trial)
    if path.exists() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        trials, _ = load_trials([path])  # a missing file is refused there, as a path
    else:
        trials = [trial_by_id(load_trials(list(trial_paths) or None)[0], trial, "TRIAL")]
    for t in trials:
        click.echo(f"{t.id} — {t.title}")
        for c in t.criteria:
            rule = describe(c.rule) if c.rule else f"not assessable: {c.reason}"
            click.echo(f"  {c.id:<8} {c.kind:<9} {rule}")
            if c.note:  # what the rule leaves to the investigator
                click.echo(f"  {'':<8} {'':<9} note: {c.note}")


@cli.command()
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "spark", "trino", "postgres"]),
    default="duckdb",
    show_default=True,
    help="SQL dialect to render; a construct the dialect cannot express is an error.",
)
@click.option("--trial", "trial_id", help="Only this trial (default: all).")
@trials_option
@click.option(
    "--as-of",
    callback=_parse_date,
    help="Index date literal (default: the latest start_date, as a subquery).",
)
@click.option(
    "--index-date-column", is_flag=True, help="Compile for an extract that has an index_date column."
)
def sql(
    dialect: str,
    trial_id: str | None,
    trial_paths: tuple[Path, ...],
    as_of: date | None,
    index_date_column: bool,
) -> None:
    """Print the compiled SQL of the trials for a SQL dialect."""
    from feasibility.criteria.load import load_trials, trial_by_id
    from feasibility.sql_listing import listing

    trials, library = load_trials(list(trial_paths) or None)
    if trial_id is not None:
        trials = [trial_by_id(trials, trial_id, "--trial")]
    click.echo(listing(trials, library, dialect, as_of, index_date_column), nl=False)


@cli.command()
@click.option(
    "--patients", type=click.IntRange(min=1), default=2000, show_default=True, help="Patients to generate."
)
@click.option(
    "--sites",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Sites the patients are spread over.",
)
@click.option(
    "--seed", type=int, default=42, show_default=True, help="The same seed and options give the same rows."
)
@click.option(
    "--out", required=True, help="Parquet file to write (an existing file is replaced only if it is parquet)."
)
@click.option(
    "--as-of",
    callback=_parse_date,
    default="2025-06-30",
    show_default=True,
    help="The extract's last date, 0086-01-01 or later (patients are up to 85 years old).",
)
@click.option(
    "--sorted/--shuffled",
    "sort_rows",
    default=True,
    show_default=True,
    help="Rows ordered by patient, or in random order (within large blocks of patients).",
)
def synth(patients: int, sites: int, seed: int, out: str, as_of: date, sort_rows: bool) -> None:
    """Generate a deterministic synthetic extract (DuckDB-side, fast at millions of patients)."""
    from feasibility.synth.generate import generate

    # Path("") would be the current folder, and Path("new/") drops the slash that says folder
    if not out.strip() or out.endswith(("/", os.sep)):
        raise FeasibilityError(
            "no file name given" if not out.strip() else "names a folder, not a file",
            where=f"--out {out}".rstrip(),
            fix="name the parquet file to write, e.g. --out extract.parquet",
        )
    if sites > patients:
        raise FeasibilityError(
            f"{sites} sites for {patients} patients: some sites would have no patient",
            where="--sites",
            fix="give at most as many sites as patients",
        )
    started = time.perf_counter()
    written = f"the new extract {out} is complete"
    with (
        interrupts.writing([(Path(out), f"extract {out}")], written),
        working(f"generating {patients:,} patients") as step,
    ):
        rows = generate(
            Path(out),
            patients=patients,
            sites=sites,
            seed=seed,
            as_of=as_of,
            sort_rows=sort_rows,
            progress=step,
        )
    err.print(
        f"{rows:,} rows for {patients:,} patients written to {out} ({time.perf_counter() - started:.1f} s)"
    )


@cli.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("feasibility-compare"),
    show_default=True,
    help="Folder for compare.csv, compare.json and compare.html.",
)
@click.option(
    "--target",
    type=click.IntRange(min=1),
    default=None,
    help="The sample size whose time to recruit the network forecast gives (reports made with --monthly).",
)
@click.option(
    "--conversion",
    type=SHARE,
    default=None,
    help="Share of eligible patients enrolled, for every site of the network forecast "
    "(default: the one each report used).",
)
@click.option(
    "--conversion-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Per-site conversion for the network forecast, by the names the comparison shows, "
    f"{CONVERSION_FILE_FORMATS}.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="Print no tables, only the notes and where the comparison is."
)
def compare(
    reports: tuple[Path, ...],
    out: Path,
    target: int | None,
    conversion: float | None,
    conversion_file: Path | None,
    quiet: bool,
) -> None:
    """Compare several sites' reports (folders or report.json files) side by side.

    Criteria where one site stands apart are flagged; reports made with another version of
    a trial or of the code lists, another index date, other counting options or other
    protection are named. Reports made with --monthly also give the network's enrollment
    forecast, fitted across all their sites."""
    from feasibility.analytics.conversion import load_conversion
    from feasibility.compare import (
        ConversionChoice,
        collect,
        compare_rows,
        describe,
        differences,
        network_forecasts,
        summary,
    )
    from feasibility.reports.compare_report import compare_csv, compare_html, compare_json, print_compare
    from feasibility.reports.output import write_directory, writer_lock
    from feasibility.reports.terminal import report_console

    sites, loaded = collect(list(reports))
    rows = compare_rows(sites, loaded)
    totals = summary(sites)
    sources = [str(path) for path in reports]
    unlike = differences(loaded, sources)
    described = describe(loaded, sources, sites)
    given = [
        name
        for name, value in (
            ("--target", target),
            ("--conversion", conversion),
            ("--conversion-file", conversion_file),
        )
        if value is not None
    ]
    chosen = None
    if conversion is not None or conversion_file is not None:
        by_site = load_conversion(conversion_file) if conversion_file else {}
        chosen = ConversionChoice(conversion, by_site, str(conversion_file or "--conversion-file"))
    forecasts = network_forecasts(sites, loaded, sources, target, chosen)
    if given and not forecasts:
        raise FeasibilityError(
            "no report counted monthly incidence, from which the network forecast is fitted",
            where=given[0],
            fix=f"run the sites with --monthly MONTHS (e.g. --monthly 24), or leave out {given[0]}",
        )
    page = compare_html(totals, rows, unlike, described, forecasts)
    # written before printing, so that `feasibility compare … | head` still leaves the files
    written = f"the new comparison in {out}/ is complete"
    with (
        writer_lock(out, "comparison folder", "--out"),
        interrupts.writing([(out, f"comparison in {out}/")], written),
    ):
        files: dict[str, str | bytes] = {
            "compare.csv": compare_csv(rows),
            "compare.json": compare_json(totals, rows, unlike, described, forecasts),
            "compare.html": page,
        }
        write_directory(out, files)
    if not quiet:
        print_compare(totals, rows, report_console(), described, forecasts)
    for line in unlike:
        err.print(f"[yellow]note:[/] not like for like: {escape(line)}", markup=True)
    err.print(f"comparison written to {out}/")


def main() -> None:
    """Entry point: user mistakes become one line on stderr and exit status 2; Ctrl-C and
    SIGTERM one line and exit status 130, saying what the outputs hold."""
    interrupts.install()
    try:
        cli.main(standalone_mode=False)
    except BaseException as e:
        # first: neither the line below nor the clean-up at exit (DuckDB's spill folder,
        # which holds patient rows) may be cut by a Ctrl-C, which would print a traceback
        interrupts.ending()
        sys.exit(_failed(e))
    interrupts.ending()
    late = interrupts.late_message()
    if late is not None:
        # the outputs are whole and the message says so; 130 still, so that a shell script
        # stops where the user asked it to
        err.print(late)
        sys.exit(130)


def _failed(error: BaseException) -> int:
    """Print the one line for a command that did not finish; return its exit status."""
    if isinstance(error, interrupts.Interrupted):
        err.print(f"interrupted: {error}")
        return 130
    if isinstance(error, interrupts.LateInterrupt):
        err.print(f"interrupted too late to stop it: {error}")
        return 130
    if isinstance(error, (click.exceptions.Abort, KeyboardInterrupt)):
        err.print("interrupted")
        return 130
    if isinstance(error, click.exceptions.NoArgsIsHelpError):
        error.show()  # a command group named alone: its help, as click prints it
        return error.exit_code
    if isinstance(error, click.ClickException):
        _print_error(_click_error(error))
        return error.exit_code
    if isinstance(error, FeasibilityError):
        _print_error(str(error))
        return 2
    if isinstance(error, Exception) and interrupted(error):
        err.print("interrupted")
        return 130
    raise error


def _print_error(message: str) -> None:
    """One user error as the command line shows it: one line on stderr, the message never
    read as markup (it names the user's files and values)."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)


def _in_care_window(text: str) -> Duration:
    """--active-within's window. The trial files' `ever` is refused here: a step that keeps
    every patient with any record is no step, and `none` already says so."""
    from feasibility.criteria.parse import parse_duration

    fix = "write e.g. `24 months` or `2 years`, or `none` to turn the check off"
    try:
        window = parse_duration(text, "--active-within")
    except FeasibilityError as e:
        raise FeasibilityError(e.message, where="--active-within", fix=fix) from None
    if window is None:
        raise FeasibilityError(
            "`ever` is not a window for the in-care step", where="--active-within", fix=fix
        )
    return window


def _click_error(error: click.ClickException) -> str:
    """Click's own refusals (an option's value out of range, an unknown option, a missing
    argument) in the one-line shape of every other user error, naming the command's help."""
    message = " ".join(error.format_message().split())
    ctx = getattr(error, "ctx", None)
    if ctx is None:
        return message
    if message.startswith("Got unexpected extra argument") and ".parquet" in message:
        # `run folder/*.parquet` unquoted: the shell gave one path per file
        return (
            f"{ctx.command_path}: {message}: one extract is one argument — fix: quote the glob "
            "(`'folder/*.parquet'`) or give the folder, so that the shell does not expand it"
        )
    return f"{ctx.command_path}: {message} — fix: see `{ctx.command_path} --help`"


from feasibility.importers.cli import import_group  # noqa: E402

cli.add_command(import_group, "import")

"""`feasibility import omop|mimic-iv|csv`: turn a site's database, or its CSV export, into an
extract."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from feasibility import interrupts
from feasibility.cli_options import err, memory_limit_option, threads_option, working

if TYPE_CHECKING:
    from feasibility.importers.common import ImportSummary

out_option = click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Extract parquet file to write (an existing parquet file is replaced only when the "
    "import succeeds; any other file is refused).",
)
# The encodings DuckDB's CSV reader decodes without an extension; its UTF-16 is the
# little-endian kind Windows writes (a big-endian file reads as no rows: common.csv_encoding
# refuses it)
encoding_option = click.option(
    "--encoding",
    type=click.Choice(["utf-8", "utf-16", "latin-1"], case_sensitive=False),
    help="Text encoding of the CSV files (default: UTF-8, or UTF-16 where a file's first "
    "bytes say so); latin-1 reads most Windows exports.",
)
notice_option = click.option(
    "--notice",
    "notices",
    multiple=True,
    metavar="TEXT",
    help="A licence or citation the data must carry, written into the extract and repeated "
    "in every report built from it (repeat for several).",
)


quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print only where the extract is.")

_Command = TypeVar("_Command", bound=Callable[..., None])


def _import_options(command: _Command) -> _Command:
    """The options every import takes, after its own (`--help` lists them in this order)."""
    shared = (encoding_option, notice_option, threads_option, memory_limit_option, quiet_option)
    for option in reversed(shared):
        command = option(command)
    return command


def _run_import(
    what: str,
    out: Path,
    notices: tuple[str, ...],
    quiet: bool,
    build: Callable[[tuple[str, ...]], ImportSummary],
) -> None:
    """An import on the command line: the `--notice` texts checked before anything starts;
    `build` (given the notice lines) writing the extract at `out` with progress shown and,
    when Ctrl-C stops it, one line saying whether the extract there is the earlier one or
    the new one; then the summary, or with `quiet` only where the extract is."""
    from feasibility.importers.common import notice_lines

    lines = notice_lines(notices)
    started = time.perf_counter()
    with (
        interrupts.writing([(out, f"extract {out}")], f"the new extract {out} is complete"),
        working(f"importing {what}"),
    ):
        summary = build(lines)
    printed = summary.lines()
    if quiet:  # the first line says where the extract is
        printed = printed[:1]
    for line in printed:
        err.print(line)
    if not quiet:
        err.print(f"import done in {time.perf_counter() - started:.1f} s")


@click.group("import", context_settings={"help_option_names": ["-h", "--help"]})
def import_group() -> None:
    """Build an extract (docs/extract-contract.md) from an OMOP CDM or MIMIC-IV database,
    or from a CSV export of the extract's columns."""


@import_group.command("omop")
@click.argument("source", type=click.Path(path_type=Path))
@out_option
@click.option(
    "--index-date",
    "index",
    type=click.Choice(["none", "observation-end"]),
    default="none",
    show_default=True,
    help="Per-patient index_date: none (use `run --as-of` or the latest date), or the "
    "end of each person's last observation period.",
)
@click.option(
    "--schema", help="Schema of the CDM tables in a DuckDB file (default: the one holding `person`)."
)
@_import_options
def omop(
    source: Path,
    out: Path,
    index: str,
    schema: str | None,
    encoding: str | None,
    notices: tuple[str, ...],
    threads: int | None,
    memory_limit: str | None,
    quiet: bool,
) -> None:
    """Read an OMOP CDM 5.3/5.4 database (SOURCE: folder of parquet/CSV tables, or a DuckDB
    file) and write the extract."""
    from feasibility.importers.omop import import_omop

    _run_import(
        "OMOP CDM",
        out,
        notices,
        quiet,
        lambda lines: import_omop(
            source,
            out,
            index=index,
            schema=schema,
            encoding=encoding,
            threads=threads,
            memory_limit=memory_limit,
            notices=lines,
        ),
    )


@import_group.command("mimic-iv")
@click.argument("hosp", type=click.Path(path_type=Path))
@out_option
@click.option(
    "--loinc-map",
    type=click.Path(path_type=Path),
    help="mimic-code d_labitems_to_loinc.csv (default: HOSP/../mimic_code_concept_map/ "
    "or HOSP/mimic_code_concept_map/).",
)
@_import_options
def mimic_iv(
    hosp: Path,
    out: Path,
    loinc_map: Path | None,
    encoding: str | None,
    notices: tuple[str, ...],
    threads: int | None,
    memory_limit: str | None,
    quiet: bool,
) -> None:
    """Read the MIMIC-IV hosp module (HOSP: folder of patients.csv.gz, labevents.csv.gz, ...)
    and write the extract. MIMIC-IV is ODbL-licensed: the extract carries its citation as
    its notice, which every report built from it repeats."""
    from feasibility.importers.mimic import import_mimic

    _run_import(
        "MIMIC-IV",
        out,
        notices,
        quiet,
        lambda lines: import_mimic(
            hosp,
            out,
            loinc_map=loinc_map,
            encoding=encoding,
            threads=threads,
            memory_limit=memory_limit,
            notices=lines,
        ),
    )


@import_group.command("csv")
@click.argument("source", type=click.Path(path_type=Path))
@out_option
@_import_options
def csv_export(
    source: Path,
    out: Path,
    encoding: str | None,
    notices: tuple[str, ...],
    threads: int | None,
    memory_limit: str | None,
    quiet: bool,
) -> None:
    """Read an extract exported as CSV (SOURCE: a CSV file, gzipped or not, with the
    contract's columns as its header, in any order and case, and any common delimiter) and
    write it as parquet. Dates must be YYYY-MM-DD, numbers use a decimal point: a value
    that is not one stops the import, naming its column and row."""
    from feasibility.importers.csv_extract import import_csv

    _run_import(
        "CSV",
        out,
        notices,
        quiet,
        lambda lines: import_csv(
            source, out, encoding=encoding, threads=threads, memory_limit=memory_limit, notices=lines
        ),
    )

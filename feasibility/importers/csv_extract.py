"""`feasibility import csv`: an extract a site exported as CSV, written as the parquet file
`run` reads, each contract column read from its text as the contract's type.

A CSV holds text only, so what a parquet export's types would say is decided here, strictly:
a date is YYYY-MM-DD (a time after it is dropped), a number has a decimal point and no
thousands separator, a year is whole. A value that is none of these stops the import with
the column, how many values and the first row, never the value itself: guessing (`1,5` as
15, `02/01/2024` as either month) would move counts silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import duckdb
from sqlglot import exp

from feasibility.compile.sqlexpr import set_
from feasibility.errors import FeasibilityError, short_message
from feasibility.extract.contract import BY_NAME, COLUMNS, Column
from feasibility.extract.source import missing_column
from feasibility.importers.common import (
    ImportSummary,
    connect,
    create_view,
    csv_error,
    reader,
    refuse_out_in_source,
    require_dir,
    summarise_written,
    temp_view,
    write_extract,
)

# What a value of each non-text contract type must look like, for the error's fix
_WRITTEN_AS: Final = {
    "DATE": ("a date", "dates", "write dates as YYYY-MM-DD (e.g. 2024-03-31)"),
    "DOUBLE": (
        "a number",
        "numbers",
        "write numbers with a decimal point and no thousands separator (1.5, not 1,5)",
    ),
    "INTEGER": ("a whole number", "whole numbers", "write years as whole numbers (e.g. 1980)"),
}


def _text(raw: exp.Expr) -> exp.Expr:
    """The cell's text, trimmed; an empty cell is NULL."""
    return exp.func("nullif", exp.Trim(this=raw), exp.Literal.string(""))


def _typed(column: Column, raw: exp.Expr) -> exp.Expr:
    """The column's cell as its contract type; NULL where the text is not one."""
    text = _text(raw)
    if column.type == "INTEGER":
        # DuckDB rounds `1980.5` to an integer; a year written `1980.0` (a float export) is
        # whole; one beyond INTEGER's range is not a year either
        number = exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))
        whole = exp.EQ(this=number, expression=exp.func("round", number))
        integer = exp.TryCast(this=number, to=exp.DataType.build("INTEGER"))
        return exp.Case(ifs=[exp.If(this=whole, true=integer)])
    if column.type in _WRITTEN_AS:
        return exp.TryCast(this=text, to=exp.DataType.build(column.type))
    return text


def _unreadable(column: Column, raw: exp.Expr) -> exp.Expr:
    """TRUE where the cell holds text that is not a value of the column's type."""
    return exp.and_(
        exp.Not(this=exp.Is(this=_text(raw), expression=exp.null())),
        exp.Is(this=_typed(column, raw), expression=exp.null()),
    )


def _columns(found: list[str], label: str) -> tuple[dict[str, str], list[str]]:
    """The contract's columns the header has (contract name -> the header's name; any case,
    spaces around ignored) and the header's other columns. A required column missing is a
    user error naming the near name if there is one."""
    by_name = {name.strip().lower(): name for name in found}
    present = {c.name: by_name[c.name] for c in COLUMNS if c.name in by_name}
    for column in COLUMNS:
        if column.required and column.name not in present:
            raise missing_column(column, list(by_name), label)
    return present, [name for key, name in by_name.items() if key not in BY_NAME]


def _query(con: duckdb.DuckDBPyConnection, query: exp.Expr, label: str) -> list[tuple]:
    """The rows of `query` over the CSV; a row DuckDB cannot read past the ones it sampled for
    the header is a user error naming its line."""
    try:
        return con.execute(query.sql(dialect="duckdb")).fetchall()
    except duckdb.Error as e:
        raise csv_error(e, label) or FeasibilityError(
            f"cannot read the CSV ({short_message(e)})",
            where=label,
            fix="check the file is a complete CSV export",
        ) from None


def _check_cells(con: duckdb.DuckDBPyConnection, present: dict[str, str], label: str) -> None:
    """A user error for a CSV with a header but no rows, or for the first column (in contract
    order) with a cell that is not of its type: how many such cells, and the first one's
    row. One scan of the file counts both."""
    typed = [c for c in COLUMNS if c.name in present and c.type in _WRITTEN_AS]
    counts = exp.select(
        exp.Count(this=exp.Star()).as_("rows"),
        *[
            exp.Filter(
                this=exp.Count(this=exp.Star()),
                expression=exp.Where(this=_unreadable(c, exp.column(present[c.name]))),
            ).as_(c.name)
            for c in typed
        ],
    ).from_("csv_source")
    rows, *unreadable = _query(con, counts, label)[0]
    if not rows:
        # `run` refuses an empty extract too, but later than the user can tell why
        raise FeasibilityError(
            "has a header but no rows", where=label, fix="export the extract's rows as well"
        )
    bad = [(c, int(n)) for c, n in zip(typed, unreadable, strict=True) if n]
    if not bad:
        return
    column, n = bad[0]
    # the first such row in file order: only on this error's path, so reading the file in
    # order, on one thread, costs nothing otherwise
    con.execute(set_("preserve_insertion_order", True).sql(dialect="duckdb"))
    con.execute(set_("threads", 1).sql(dialect="duckdb"))
    numbered = exp.select(
        exp.alias_(exp.Window(this=exp.RowNumber()), "n"), exp.column(present[column.name]).as_("raw")
    ).from_("csv_source")
    first = (
        exp.select(exp.func("min", exp.column("n")))
        .from_(numbered.subquery("numbered"))
        .where(_unreadable(column, exp.column("raw")))
    )
    (at,) = _query(con, first, label)[0]
    one, many, fix = _WRITTEN_AS[column.type]
    problem = f"a value of column `{present[column.name]}` is not {one}"
    if n > 1:
        problem = f"{n:,} values of column `{present[column.name]}` are not {many}"
    raise FeasibilityError(f"{problem} (the first in row {at:,} after the header)", where=label, fix=fix)


def import_csv(
    source: Path,
    out: Path,
    *,
    encoding: str | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    notices: tuple[str, ...] = (),
) -> ImportSummary:
    """Write the CSV extract `source` (the contract's columns as its header, in any order and
    case; any common delimiter; gzipped or not; text in `encoding`, see
    `common.csv_encoding`) to `out` as parquet, with `notices`. Columns
    outside the contract are not written, and the summary names them."""
    label = str(source)
    require_dir(source, "CSV file")
    if source.is_dir():
        raise FeasibilityError("is a folder", where=label, fix="give the CSV file itself")
    refuse_out_in_source(out, [(source, "CSV file")])
    con = connect(threads, memory_limit)
    found = create_view(con, "csv_source", reader(source, encoding), label, source, encoding)
    present, others = _columns(found, label)
    _check_cells(con, present, label)
    written = [c for c in COLUMNS if c.name != "site_id" or c.name in present]
    select = [
        (_typed(c, exp.column(present[c.name])) if c.name in present else exp.null()).as_(c.name)
        for c in written
    ]
    # by patient, then date, then every column: the same CSV gives the same file, byte for
    # byte (a report names the extract by its hash), and a file sorted by patient is the
    # faster one to read
    order = [
        "patient_id",
        "start_date",
        *(c.name for c in written if c.name not in ("patient_id", "start_date")),
    ]
    temp_view(con, "csv_extract", exp.select(*select).from_("csv_source").order_by(*order))
    write_extract(con, "csv_extract", out, notices, columns=[(c.name, c.type) for c in written])
    summary = ImportSummary(source=label, out=out)
    summarise_written(con, out, summary)
    if others:
        summary.notes.append(f"columns not in the extract contract, not written: {', '.join(others)}")
    summary.notes.extend(f"notice, repeated in every report built from the extract: {n}" for n in notices)
    return summary

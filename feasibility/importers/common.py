"""What the importers share: finding source tables, writing the extract atomically, and the
data-quality summary (counts only, never patient values)."""

from __future__ import annotations

import csv
import gzip
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from feasibility import interrupts
from feasibility.compile.sqlexpr import create_as
from feasibility.errors import FeasibilityError, short_message
from feasibility.extract.contract import COLUMNS, NOTICE_KEY, NOTICE_MAX_CHARS, split_notices
from feasibility.protect import ROUND_TO, Protection
from feasibility.resources import sql_text
from feasibility.user_files import why_not_written

# The extract's columns in contract order, with the type each is written as; an import
# writes no site_id (a run names the extract's one site with --site)
EXTRACT_COLUMNS = tuple((c.name, c.type) for c in COLUMNS if c.name != "site_id")


# The data-quality labels of rows dropped because a date was given but could not be read
# contain this; they are listed only for the tables where it happened.
UNREADABLE = "could not be read"


@dataclass(frozen=True)
class People:
    """Where an importer's mapping keeps its patients, for refusing a source without any."""

    table: str  # the mapping's table of patients, one row each (e.g. `pers`)
    view: str  # the shaped view of the source table (e.g. `omop_person`)
    source: str  # the source table's name as the site knows it (e.g. `person`)
    id_column: str  # the source column of the patient id


@dataclass
class ImportSummary:
    """What an import wrote and the gaps it found, as counts (safe to print and share)."""

    source: str
    out: Path
    rows: int = 0
    patients: int = 0
    rows_by_domain: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # data-quality gaps, label -> count
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary as lines for the terminal: counts only, no patient values, each under
        the reports' default small-count policy, so that it can be shared like a report."""
        protect = Protection()
        rows, patients = (protect.show(protect.count(n)) for n in (self.rows, self.patients))
        # said on the first line, which --quiet prints alone: a count checked against the
        # source must not look like lost rows
        rounded = f"counts rounded to a multiple of {ROUND_TO}"
        out = [f"{rows} rows for {patients} patients written to {self.out} ({rounded})"]
        if self.rows_by_domain:
            by_domain = sorted(self.rows_by_domain.items())
            out.append(
                "rows by domain (rounded): "
                + ", ".join(f"{k} {protect.show(protect.count(v))}" for k, v in by_domain)
            )
        if self.counts:  # a CSV export's import finds no gap of its own: `run` counts them
            out.append(f"data quality (counts only, rounded and below {protect.shown_from()} suppressed):")
        for label, n in self.counts.items():
            out.append(f"  {label}: {protect.show(protect.count(n))}")
        out.extend(f"note: {n}" for n in self.notes)
        return out


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the engine's settings and the importers' helper macros."""
    from feasibility.evaluate.duckdb_engine import connect as engine_connect
    from feasibility.evaluate.options import RunOptions

    con = engine_connect(RunOptions(threads=threads, memory_limit=memory_limit))
    run_sql_file(con, "import_macros.sql")
    return con


def build_extract(
    con: duckdb.DuckDBPyConnection,
    mapping: str,
    quality: str,
    source: str,
    what: str,
    out: Path,
    people: People,
    notices: Sequence[str] = (),
) -> ImportSummary:
    """Run the importer's mapping (a file of `sql/` that defines the view `extract_rows` over
    the shaped source views), write the extract to `out` with `notices` (see
    `notice_lines`) in its metadata, and return its summary with the counts of the
    `quality` query. `what` names the source in messages (e.g. OMOP CDM).
    A source without patients is refused before anything is written: `run` would refuse the
    empty extract anyway, and later than the user can tell why."""
    try:
        run_sql_file(con, mapping)
    except duckdb.Error as e:
        raise csv_error(e, source) or FeasibilityError(
            f"cannot read the {what} tables ({short_message(e)})",
            where=source,
            fix=f"check the tables are complete {what} exports",
        ) from None
    require_people(con, people, source)
    summary = ImportSummary(source=source, out=out)
    write_extract(con, "extract_rows", out, notices)
    summarise_written(con, out, summary)
    counts = fetch_counts(con, sql_text(quality))
    summary.counts = {k: n for k, n in counts.items() if n or UNREADABLE not in k}
    summary.notes.extend(f"notice, repeated in every report built from the extract: {n}" for n in notices)
    return summary


def require_people(con: duckdb.DuckDBPyConnection, people: People, source: str) -> None:
    """A user error when the mapping found no patient (an empty or header-only table, or no
    row with a usable id): an extract without patients is useless and `run` refuses it."""
    if _count_rows(con, people.table):
        return
    rows = _count_rows(con, people.view)
    detail = (
        f"table `{people.source}` has no rows"
        if rows == 0
        else f"none of the {rows:,} rows of table `{people.source}` has a numeric {people.id_column}"
    )
    raise FeasibilityError(
        f"no patients in the source ({detail})",
        where=source,
        fix=f"import a complete export: `{people.source}` lists the patients",
    )


def refuse_out_in_source(out: Path, sources: Sequence[tuple[Path, str]]) -> None:
    """A user error when `out` is one of the source files or lies inside a source folder
    (`sources`: each path with what it is, e.g. OMOP CDM folder): writing there would
    overwrite a source table (`--out DIR/person.parquet`) or add a file the next import would
    read. Checked before anything is written."""
    target = Path(out).resolve()
    for source, what in sources:
        src = Path(source).resolve()
        if target == src:
            problem = f"--out is the {what} itself"
        elif src.is_dir() and src in target.parents:
            problem = f"--out is inside the {what} {source}"
        else:
            continue
        raise FeasibilityError(
            f"{problem}: the extract would overwrite or mix with the source tables",
            where=str(out),
            fix="write the extract outside the source, e.g. --out extract.parquet",
        )


def run_sql_file(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Run the statements of a fixed SQL file in `sql/`, in order."""
    con.execute(sql_text(name))


def require_dir(path: Path, what: str) -> Path:
    """`path`, or a user error naming `what` when it does not exist."""
    if not path.exists():
        raise FeasibilityError(f"{what} not found", where=str(path), fix="check the path")
    return path


def find_table_file(folder: Path, name: str) -> Path | None:
    """`name` as parquet (a file or a folder of files), CSV or gzipped CSV, any case."""
    wanted = {f"{name}.parquet", f"{name}.csv", f"{name}.csv.gz", f"{name}.tsv", f"{name}.txt", name}
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise FeasibilityError(
            f"cannot list the folder ({e.strerror})",
            where=str(folder),
            fix="check the folder and its permissions",
        ) from None
    for suffix_order in (".parquet", ".csv.gz", ".csv", ".tsv", ".txt", ""):
        for p in entries:
            low = p.name.lower()
            if low in wanted and low == f"{name}{suffix_order}":
                if p.is_dir() and not any(p.glob("*.parquet")):
                    continue
                return p
    return None


def _opener(path: Path) -> Callable[..., Any]:
    """`open` for the file `path`, gzipped or not."""
    return gzip.open if path.name.lower().endswith(".gz") else open


# A byte-order mark, and the encoding it says a file is in
_MARKS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16-be"))


def _said_by(head: bytes) -> str | None:
    """The encoding a file's first bytes say it is in: its byte-order mark, or, without one,
    UTF-16's zero byte beside the header's first character (an ASCII one); None when they
    say nothing. UTF-8 and Latin-1 text never holds a zero byte."""
    for mark, encoding in _MARKS:
        if head.startswith(mark):
            return encoding
    if len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        return "utf-16" if head[1] == 0 else "utf-16-be"
    return None


def csv_encoding(path: Path, given: str | None) -> str:
    """The encoding to read the CSV `path` in: `given` (--encoding), else UTF-16 when the file
    is UTF-16 (as Windows' "Unicode text" is), else UTF-8. An encoding that contradicts the
    file's own mark or bytes, or big-endian UTF-16, is a user error."""
    try:
        with _opener(path)(path, "rb") as f:
            said = _said_by(f.read(3))
    except (OSError, EOFError, zlib.error):
        said = None  # a broken or unreadable file: DuckDB's reading of it says so
    if said == "utf-16-be":
        raise FeasibilityError(
            "is big-endian UTF-16 text, which cannot be read",
            where=str(path),
            fix=f"convert it to UTF-8, e.g. iconv -f utf-16 -t utf-8 {path.name}",
        )
    if said is not None and given not in (None, said):
        # read as Latin-1, UTF-8's mark would become part of the first column's name
        raise FeasibilityError(
            f"is {said.upper()} text, not {given}",
            where=str(path),
            fix=f"leave out --encoding, or give {said}",
        )
    if given == "utf-16" and said is None:
        # else DuckDB reads the file as garbage and blames the header's fields
        raise FeasibilityError(
            "is not UTF-16 text", where=str(path), fix="leave out --encoding, or give the file's own"
        )
    return given or said or "utf-8"


def reader(path: Path, encoding: str | None = None) -> exp.Expr:
    """A DuckDB table function reading `path`. CSV is read as text (codes keep leading zeros;
    the importers cast what they use), in `encoding` (see `csv_encoding`)."""
    if path.is_dir():
        return exp.func("read_parquet", exp.Literal.string(f"{path}/*.parquet"))
    if path.name.lower().endswith(".parquet"):
        return exp.func("read_parquet", exp.Literal.string(str(path)))
    options = [exp.EQ(this=exp.column(o), expression=exp.true()) for o in ("header", "all_varchar")]
    return exp.func("read_csv", exp.Literal.string(str(path)), *options, _encoding_option(path, encoding))


def _encoding_option(path: Path, encoding: str | None) -> exp.Expr:
    return exp.EQ(this=exp.column("encoding"), expression=exp.Literal.string(csv_encoding(path, encoding)))


def temp_view(con: duckdb.DuckDBPyConnection, view: str, query: exp.Expr) -> None:
    """The temporary view `view` over `query`: how the importers name what their SQL reads."""
    con.execute(create_as(view, query, view=True).sql(dialect="duckdb"))


def _count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    query = exp.select(exp.Count(this=exp.Star())).from_(table)
    return int(con.execute(query.sql(dialect="duckdb")).fetchall()[0][0])


def create_view(
    con: duckdb.DuckDBPyConnection,
    view: str,
    source: exp.Expr,
    label: str,
    path: Path | None = None,
    encoding: str | None = None,
) -> list[str]:
    """CREATE the view over `source` (a table or table function) and read its header; a file
    DuckDB cannot read is a one-line error. `path` is the file `source` reads, when it is one,
    and `encoding` the --encoding it is read with, so that a CSV whose rows do not fit its
    header is reported as such. Returns the column names, lower-cased."""
    try:
        temp_view(con, view, exp.select("*").from_(source))
        describe = exp.Describe(this=exp.to_table(view)).sql(dialect="duckdb")
        cols = [r[0].lower() for r in con.execute(describe).fetchall()]
        con.execute(exp.select("*").from_(view).limit(1).sql(dialect="duckdb")).fetchall()
    except duckdb.Error as e:
        error = csv_error(e, label)
        if error is None and path is not None and is_csv(path) and _SNIFF_FAILED in str(e):
            # DuckDB found no dialect fitting every row it sampled: read the rows with the
            # header's own delimiter, to name the row that does not fit it
            check_csv_fields(con, path, _first_line(path, encoding), label, encoding)
        raise error or FeasibilityError(
            f"cannot read the table ({short_message(e)})",
            where=label,
            fix="check the file is a complete parquet or CSV export",
        ) from None
    if path is not None and is_csv(path) and len(cols) == 1:
        check_csv_fields(con, path, cols[0], label, encoding)
    return cols


_SNIFF_FAILED = "Error when sniffing file"


def _first_line(path: Path, encoding: str | None) -> str:
    """The file's first line (gzipped or not), as text whatever bytes it holds."""
    text = csv_encoding(path, encoding)
    with _opener(path)(path, "rt", encoding=text, errors="replace", newline="") as f:
        return f.readline().rstrip("\r\n").lstrip("\ufeff")


def is_csv(path: Path) -> bool:
    """Whether `reader` reads `path` as CSV (anything but parquet)."""
    return not path.is_dir() and not path.name.lower().endswith(".parquet")


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_CSV_FILE = re.compile(r"^\s*file = (.+)$", re.M)
_CSV_FIX = "re-export the file so that every row has the header's fields (quote values holding the delimiter)"
_NOT_UTF8 = "This file is not utf-8 encoded"
_NOT_UTF16 = "File is not utf-16 encoded"


def csv_error(error: duckdb.Error, label: str) -> FeasibilityError | None:
    """The one-line error for a CSV row DuckDB could not read (its fields do not fit the
    header's, or its text is not in the encoding it is read in), or None for another error.
    It names the line and the field counts, never the row (DuckDB's message quotes it)."""
    text = str(error)
    if _NOT_UTF16 in text:
        # past its first bytes (csv_encoding checks those): DuckDB names neither the line
        # nor the file
        return FeasibilityError(
            "cannot read the CSV (it holds bytes that are not UTF-16 text)",
            where=label,
            fix="re-export the file, as UTF-8 if the export offers it",
        )
    line = _CSV_LINE.search(text)
    if line is None:
        return None
    fields = _CSV_FIELDS.search(text)
    file = _CSV_FILE.search(text)
    where = file[1].strip() if file else label
    if _NOT_UTF8 in text:
        return FeasibilityError(
            f"cannot read the CSV (line {line[1]} is not UTF-8 text)",
            where=where,
            # Latin-1 decodes any bytes, and a Windows export's accents are Latin-1's
            fix="give the file's encoding, e.g. --encoding latin-1 for a Windows export, "
            "or re-export it as UTF-8",
        )
    if fields is None:
        detail = f"line {line[1]} does not fit the header"
    elif int(fields[2]) > int(fields[1]):
        # DuckDB stops counting one field past the header's, so "more than" is all it knows
        detail = f"line {line[1]} has more fields than the header's {fields[1]}"
    else:
        detail = f"line {line[1]} has {fields[2]} fields, the header {fields[1]}"
    return FeasibilityError(f"cannot parse the CSV ({detail})", where=where, fix=_CSV_FIX)


def check_csv_fields(
    con: duckdb.DuckDBPyConnection, path: Path, header: str, label: str, encoding: str | None = None
) -> None:
    """A user error when the CSV read as one column only because DuckDB's sniffer found no
    delimiter that splits every row into the header's fields (a row with too many or too few
    fields): its one column is then the whole header line, and without this check the user
    would be told that the table lacks its columns."""
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        return  # a genuine one-column file: the caller checks its columns
    names = next(csv.reader([header], delimiter=delimiter))
    columns = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.Literal.string(f"c{i}"), expression=exp.Literal.string("VARCHAR"))
            for i in range(len(names))
        ]
    )
    options = {
        "header": exp.true(),
        "auto_detect": exp.false(),
        "delim": exp.Literal.string(delimiter),
        "quote": exp.Literal.string('"'),
        "escape": exp.Literal.string('"'),
        "columns": columns,
    }
    read = exp.func(
        "read_csv",
        exp.Literal.string(str(path)),
        *[exp.EQ(this=exp.column(k), expression=v) for k, v in options.items()],
        _encoding_option(path, encoding),
    )
    try:
        con.execute(exp.select(exp.func("count", exp.Star())).from_(read).sql(dialect="duckdb")).fetchall()
    except duckdb.Error as e:
        error = csv_error(e, label)
        if error is not None:
            raise error from None
    raise FeasibilityError(
        f"cannot parse the CSV (its rows do not split into the header's {len(names)} fields)",
        where=label,
        fix=_CSV_FIX,
    )


def shaped_view(
    con: duckdb.DuckDBPyConnection,
    view: str,
    source: str | None,
    present: Collection[str],
    columns: Sequence[str],
) -> None:
    """The view `view` with exactly `columns`: those of the view `source` it has, NULL text
    for the others, and no rows when there is no source. The importers' fixed SQL reads these
    views, so whether a site exported a table or an optional column is decided here, once."""
    select = [
        exp.column(c) if source is not None and c in present else exp.cast(exp.null(), "VARCHAR").as_(c)
        for c in columns
    ]
    query = exp.select(*select)
    temp_view(con, view, query.from_(source) if source is not None else query.where(exp.false()))


def notice_lines(texts: Sequence[str]) -> tuple[str, ...]:
    """The notice lines an import writes into the extract (contract.NOTICE_KEY): each text's
    lines, stripped, each once. A `--notice` that is empty, holds control characters or
    makes the notice longer than a report will read is refused before the import."""
    if any(not text.strip() for text in texts):
        raise FeasibilityError("is empty", where="--notice", fix="give the licence or citation text")
    lines = split_notices(texts, _refuse_control_characters)
    if len("\n".join(lines)) > NOTICE_MAX_CHARS:
        raise FeasibilityError(
            f"is longer than a notice's {NOTICE_MAX_CHARS} characters",
            where="--notice",
            fix="keep it to the licence and citation the data must carry",
        )
    return lines


def _refuse_control_characters(line: str) -> str:
    # an import's user can fix the text at once; a terminal would act on them as they are
    if not line.isprintable():
        raise FeasibilityError(
            "holds control characters", where="--notice", fix="give plain text, one notice per line"
        )
    return line


def write_extract(
    con: duckdb.DuckDBPyConnection,
    view: str,
    out: Path,
    notices: Sequence[str] = (),
    columns: Sequence[tuple[str, str]] = EXTRACT_COLUMNS,
) -> None:
    """Write the `columns` (name, type) of the view `view` to `out` as parquet, with
    `notices` as its notice metadata: first to a temporary file beside it, then renamed, so
    a failed import never leaves half a file."""
    out = out.resolve()
    if out.is_dir():
        raise FeasibilityError(
            "exists and is a folder", where=str(out), fix="give --out a file name such as extract.parquet"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with interrupts.deferred():  # the file made is always the one removed below
            fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
    except OSError as e:
        raise FeasibilityError(
            f"cannot write here ({why_not_written(e)})", where=str(out.parent), fix="choose another --out"
        ) from None
    tmp = Path(tmp_name)
    try:
        rows = exp.select(*[exp.cast(exp.column(c), t).as_(c) for c, t in columns]).from_(view)
        con.execute(_copy_to_parquet(rows, tmp, notices).sql(dialect="duckdb"))
        # the commit: on the command line, Ctrl-C no longer stops the import (interrupts.py)
        interrupts.hold()
        os.replace(tmp, out)
    except duckdb.OutOfMemoryException:
        raise FeasibilityError(
            "DuckDB ran out of memory",
            where=str(out),
            fix="raise --memory-limit or use a machine with more memory",
        ) from None
    except duckdb.Error as e:
        raise csv_error(e, str(out)) or FeasibilityError(
            f"cannot build the extract ({short_message(e)})",
            where=str(out),
            fix="check the source tables' columns and types",
        ) from None
    except OSError as e:
        raise FeasibilityError(
            f"cannot write ({e.strerror})", where=str(out), fix="choose another --out"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _copy_to_parquet(rows: exp.Select, path: Path, notices: Sequence[str]) -> exp.Copy:
    """`COPY (rows) TO path` as zstd parquet, the notice lines in its key-value metadata."""
    params = [
        exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("parquet")),
        exp.CopyParameter(this=exp.var("COMPRESSION"), expression=exp.var("zstd")),
    ]
    if notices:
        notice = exp.PropertyEQ(
            this=exp.Literal.string(NOTICE_KEY), expression=exp.Literal.string("\n".join(notices))
        )
        params.append(
            exp.CopyParameter(this=exp.var("KV_METADATA"), expression=exp.Struct(expressions=[notice]))
        )
    return exp.Copy(this=rows.subquery(), kind=False, files=[exp.Literal.string(str(path))], params=params)


def summarise_written(con: duckdb.DuckDBPyConnection, out: Path, summary: ImportSummary) -> None:
    """The written extract's rows per domain, read back from the file, into `summary`."""
    by_domain, patients = con.execute(sql_text("extract_summary.sql"), [str(out.resolve())]).fetchall()[0]
    summary.rows_by_domain = {d: int(n) for d, n in (by_domain or {}).items()}
    summary.rows = sum(summary.rows_by_domain.values())
    summary.patients = int(patients)


def fetch_counts(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    """Run a one-row query whose columns are counts; return label -> count."""
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    row = cur.fetchall()[0]
    return {n: int(v or 0) for n, v in zip(names, row, strict=True)}

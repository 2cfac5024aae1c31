"""Open a site's extract in DuckDB as the view `events`, checked against the contract."""

from __future__ import annotations

import difflib
import glob
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from sqlglot import exp

from feasibility.compile.sqlexpr import create_as, read_parquet
from feasibility.errors import ExtractError, short_message, some_names
from feasibility.extract.contract import (
    COLUMNS,
    DEFAULT_SITE,
    INTEGER_TYPES,
    NOTICE_KEY,
    NOTICE_MAX_CHARS,
    Column,
    split_notices,
)
from feasibility.resources import sql_text


@dataclass(frozen=True)
class ExtractSource:
    """The parquet files of one extract and what the engine learnt of them."""

    files: tuple[Path, ...]
    label: str  # what the user gave, for messages
    columns: dict[str, str]  # column -> DuckDB type, as found
    notices: tuple[str, ...] = ()  # the licence or attribution lines the data must carry
    unread: tuple[str, ...] = ()  # the files beside them that are not parquet (unread_files)
    widened: tuple[str, ...] = ()  # integer columns whose width differs between files
    _digest: _Digest = field(init=False, repr=False, compare=False)
    _stamps: tuple[tuple[int, int, int] | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stamps", _stamps(self.files))
        object.__setattr__(self, "_digest", _Digest(self.files))

    def has(self, column: str) -> bool:
        """Whether the extract has the (optional) column."""
        return column in self.columns

    def sha256(self) -> str:
        """SHA-256 of the file's bytes; for several files, of their names and hashes."""
        try:
            return self._digest.value()
        except OSError as e:  # a file moved or made unreadable while the run read it
            raise ExtractError(
                f"cannot read the extract to fingerprint it ({e.strerror or type(e).__name__})",
                where=self.label,
                fix="leave the extract's files in place until the run ends",
            ) from None

    def check_unchanged(self) -> None:
        """A user error when a file of the extract was replaced, rewritten or removed since it
        was opened: the passes read it again and again, so a report would mix two files'
        counts under the first one's fingerprint."""
        now = _stamps(self.files)
        if now == self._stamps:
            return
        what = (
            "was removed or made unreadable while the run read it"
            if None in now
            else "changed while the run read it, so its counts would mix two versions"
        )
        raise ExtractError(
            f"the extract {what}", where=self.label, fix="run again once nothing writes to the extract"
        )


def _stamps(files: tuple[Path, ...]) -> tuple[tuple[int, int, int] | None, ...]:
    """Each file's size, modification time and inode: a copy over it, a rename onto it or a
    rewrite in place changes one of them. None for a file that cannot be reached (removed):
    that is a change too, and the reading itself says why it failed."""
    stamps: list[tuple[int, int, int] | None] = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            stamps.append(None)
            continue
        stamps.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(stamps)


class _Digest:
    """The SHA-256 of an extract, computed from the start while DuckDB reads it (hashlib
    releases the GIL): reading a large extract once more takes seconds. A daemon thread, so
    that unlike an executor's it never holds up the exit of a run that failed early."""

    def __init__(self, files: tuple[Path, ...]) -> None:
        self._files = files
        self._hex: str | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._hex = _sha256(self._files)
        except Exception as e:  # raised to whoever asks for the digest
            self._error = e

    def value(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._hex is not None
        return self._hex


def _sha256(files: tuple[Path, ...]) -> str:
    if len(files) == 1:
        return _file_sha256(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{_file_sha256(f)}\n".encode())
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def resolve_files(spec: str) -> tuple[Path, ...]:
    """A parquet file, a folder of them, or a glob."""
    if not spec.strip():
        # Path("") is the current folder: an unset shell variable would read every parquet below it
        raise ExtractError(
            "no extract given (an empty path)", where="EXTRACT", fix="name the extract file or folder"
        )
    p = Path(spec)
    if p.is_dir():
        # a folder named *.parquet (Spark's partitioned layout) holds files; it is not one
        files = sorted(f for f in p.rglob("*.parquet") if f.is_file())
        if not files:
            raise ExtractError(
                "no *.parquet files in this folder",
                where=spec,
                fix="point at a parquet file or a folder of them",
            )
        return tuple(files)
    if p.is_file():
        return (p,)
    if any(ch in spec for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(spec, recursive=True) if Path(f).is_file())
        if not files:
            raise ExtractError("the pattern matches no file", where=spec, fix="check the pattern")
        return tuple(files)
    raise ExtractError("file not found", where=spec, fix="check the extract path")


def unread_files(spec: str) -> tuple[str, ...]:
    """The files of an extract folder that are not read, not being parquet (a CSV export
    beside the parquet one), by their path in the folder. Names beginning with `.` or `_`
    are left out, in the folder or on the way to it, as Spark and Hadoop leave them out:
    their own bookkeeping (`_SUCCESS`, `.crc` checksums, `_delta_log/`)."""
    folder = Path(spec)
    if not spec.strip() or not folder.is_dir():
        return ()  # a file or a glob names exactly the files to read
    return tuple(
        str(f.relative_to(folder))
        for f in sorted(folder.rglob("*"))
        if f.is_file()
        and f.suffix != ".parquet"
        and not any(part.startswith((".", "_")) for part in f.relative_to(folder).parts)
    )


def unread_note(label: str, unread: tuple[str, ...] | list[str]) -> str:
    """The one line that says an extract folder's files other than parquet are not read:
    only their names, never what they hold."""
    n = len(unread)
    files, are = ("files", "are") if n > 1 else ("file", "is")
    return f"{label}: {n} {files} that {are} not parquet {are} not read ({some_names(list(unread))})"


def _describe(
    con: duckdb.DuckDBPyConnection, files: tuple[Path, ...], label: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The extract's columns and types, and the integer columns whose width differs between
    files (given as their widest type). Every file is described from its own footer: DuckDB
    reads several files with the first one's schema and casts the others to it, so a file
    with other types would only fail mid-run, on a value, and a contract column only some
    files have would be dropped from the others or filled with NULLs unseen. Columns outside
    the contract are never read, so they may differ."""
    schemas = [_describe_file(con, f, str(f) if len(files) > 1 else label) for f in files]
    contract = {c.name for c in COLUMNS}
    first = {c: t for c, t in schemas[0].items() if c in contract}
    # files written by several exporters often differ in an integer's width alone, which
    # reading them by name (as their common type) settles
    integers = set(INTEGER_TYPES)
    merged = dict(schemas[0])
    widened: dict[str, None] = {}
    for f, full in zip(files[1:], schemas[1:], strict=True):
        schema = {c: t for c, t in full.items() if c in contract}
        retyped = [c for c in first if c in schema and schema[c] != first[c]]
        if schema.keys() == first.keys() and all({schema[c], first[c]} <= integers for c in retyped):
            for c in retyped:
                widened[c] = None
                merged[c] = max(merged[c], schema[c], key=INTEGER_TYPES.index)
            continue
        name = files[0].name
        missing = [c for c in first if c not in schema]
        extra = [c for c in schema if c not in first]
        retyped = [c for c in retyped if not {schema[c], first[c]} <= integers]
        if missing:
            problem = f"column `{missing[0]}` is missing here but present in {name}"
        elif extra:
            problem = f"column `{extra[0]}` is here but not in {name}"
        else:
            c = retyped[0]
            problem = f"column `{c}` is {schema[c]} here but {first[c]} in {name}"
        raise ExtractError(
            problem,
            where=str(f),
            fix="all files of one extract must have the same columns and types (integers may "
            "differ in width); export them alike",
        )
    return merged, tuple(widened)


def _describe_file(con: duckdb.DuckDBPyConnection, file: Path, label: str) -> dict[str, str]:
    try:
        described = exp.Describe(this=exp.select(exp.Star()).from_(read_parquet([str(file)])))
        rows = con.execute(described.sql(dialect="duckdb")).fetchall()
    except duckdb.OutOfMemoryException:
        raise ExtractError(
            "DuckDB ran out of memory reading the file's footer",
            where=label,
            fix="raise --memory-limit",
        ) from None
    except duckdb.Error as e:
        csv = file.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".txt"))
        raise ExtractError(
            f"cannot read as parquet ({short_message(e)})",
            where=label,
            fix=f"a CSV export: write it as parquet with `feasibility import csv {file} --out "
            f"{file.name.split('.')[0]}.parquet`"
            if csv
            else "is it a parquet file? re-export it, or check it is not truncated",
        ) from None
    return {name: str(dtype).upper() for name, dtype, *_ in rows}


def missing_column(col: Column, present: list[str], label: str) -> ExtractError:
    """The error for the required column `col` missing among the columns `present`: the
    fix renames the near one if there is one."""
    near = difflib.get_close_matches(col.name, present, n=1, cutoff=0.7)
    fix = (
        f"rename `{near[0]}` to `{col.name}`"
        if near
        else f"add `{col.name}` ({col.meaning}); see docs/extract-contract.md"
    )
    return ExtractError(f"required column `{col.name}` is missing", where=label, fix=fix)


def check_columns(columns: dict[str, str], label: str) -> None:
    """Every required column present, every known column of an accepted type."""
    lower = {c.lower(): c for c in columns}
    for col in COLUMNS:
        if col.name not in columns:
            if col.name in lower:
                raise ExtractError(
                    f"column `{lower[col.name]}` must be spelt `{col.name}`",
                    where=label,
                    fix=f"rename the column to `{col.name}`",
                )
            if col.required:
                raise missing_column(col, list(columns), label)
            continue
        found = columns[col.name]
        if not col.accepts_type(found):
            raise ExtractError(
                f"column `{col.name}` has type {found}, expected {col.type}",
                where=label,
                # the export is the user's own: say how, in the SQL most exports are written in
                fix=f"write `{col.name}` as {col.type} ({col.meaning}), e.g. CAST({col.name} AS {col.type}) "
                "in the export's query" + (" from YYYY-MM-DD text" if col.type == "DATE" else ""),
            )


def _notices(con: duckdb.DuckDBPyConnection, files: tuple[Path, ...], label: str) -> tuple[str, ...]:
    """The notice lines of the extract's files (`NOTICE_KEY` in their parquet metadata), in
    file order, each line once: files of one export usually carry the same notice."""
    found = dict(
        con.execute(
            sql_text("extract_notice.sql"), {"files": [str(f) for f in files], "key": NOTICE_KEY.encode()}
        ).fetchall()
    )
    texts = []
    for f in files:
        raw = found.get(str(f))
        if raw is None:
            continue
        where = str(f) if len(files) > 1 else label
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ExtractError(
                f"the file's `{NOTICE_KEY}` metadata is not UTF-8 text",
                where=where,
                fix="write the notice again as UTF-8 text",
            ) from None
        if len(text) > NOTICE_MAX_CHARS:
            raise ExtractError(
                f"the file's `{NOTICE_KEY}` metadata holds {len(text)} characters, more than a "
                f"notice's {NOTICE_MAX_CHARS}",
                where=where,
                fix="keep the notice to the licence and citation the data must carry",
            )
        texts.append(text)
    return split_notices(texts, _without_control_characters)


def _without_control_characters(line: str) -> str:
    # they would reach terminals and reports as they are
    return "".join(ch for ch in line if ch.isprintable())


def inspect_extract(con: duckdb.DuckDBPyConnection, spec: str) -> ExtractSource:
    """The extract's files, columns and notice, the columns checked against the contract
    (reads only metadata)."""
    files = resolve_files(spec)
    columns, widened = _describe(con, files, spec)
    check_columns(columns, spec)
    return ExtractSource(files, spec, columns, _notices(con, files, spec), unread_files(spec), widened)


def events_query(source: ExtractSource, reader: exp.Expr, site: str = DEFAULT_SITE) -> exp.Select:
    """The `events` view over `reader` (the raw rows of the extract): every contract column,
    absent optional ones as typed NULLs, `site_id` filled from `site`."""
    select = []
    for col in COLUMNS:
        if col.name in source.columns:
            value: exp.Expr = exp.column(col.name)
            if source.columns[col.name] != col.type:
                value = exp.cast(value, col.type)
            if col.name == "site_id":
                # a row without a site belongs to the site named on the command line
                value = exp.func("coalesce", value, exp.Literal.string(site))
        elif col.name == "site_id":
            value = exp.Literal.string(site)
        else:
            value = exp.cast(exp.null(), col.type)
        select.append(value.as_(col.name))
    return exp.select(*select).from_(reader)


def open_extract(con: duckdb.DuckDBPyConnection, spec: str, site: str = DEFAULT_SITE) -> ExtractSource:
    """Check the extract's schema and create the view `events` with every contract column
    (absent optional ones as typed NULLs, `site_id` filled from `site`)."""
    source = inspect_extract(con, spec)
    reader = read_parquet([str(f) for f in source.files], union_by_name=bool(source.widened))
    query = events_query(source, reader, site)
    con.execute(create_as("events", query, view=True).sql(dialect="duckdb"))
    return source

"""What the importers share: finding source tables, writing the extract atomically, and the
data-quality summary (counts only, never patient values)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from feasibility.errors import FeasibilityError, short_message
from feasibility.resources import sql_text

# The extract's columns in contract order, with the type each is written as.
EXTRACT_COLUMNS = (
    ("patient_id", "VARCHAR"),
    ("sex", "VARCHAR"),
    ("birth_year", "INTEGER"),
    ("birth_date", "DATE"),
    ("index_date", "DATE"),
    ("domain", "VARCHAR"),
    ("code_system", "VARCHAR"),
    ("code", "VARCHAR"),
    ("value_num", "DOUBLE"),
    ("value_text", "VARCHAR"),
    ("unit", "VARCHAR"),
    ("ref_low", "DOUBLE"),
    ("ref_high", "DOUBLE"),
    ("start_date", "DATE"),
    ("end_date", "DATE"),
)


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
        out = [f"{self.rows:,} rows for {self.patients:,} patients written to {self.out}"]
        if self.rows_by_domain:
            out.append(
                "rows by domain: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.rows_by_domain.items()))
            )
        out.append("data quality (counts only):")
        for label, n in self.counts.items():
            out.append(f"  {label}: {n:,}")
        out.extend(f"note: {n}" for n in self.notes)
        return out


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the engine's settings and the importers' helper macros."""
    from feasibility.engine import RunOptions
    from feasibility.engine import connect as engine_connect

    con = engine_connect(RunOptions(threads=threads, memory_limit=memory_limit))
    for statement in sql_text("import_macros.sql").split(";"):
        if statement.strip():
            con.execute(statement)
    return con


def require_dir(path: Path, what: str) -> Path:
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


def reader_sql(path: Path) -> str:
    """A DuckDB table function reading `path`. CSV is read as text (codes keep leading zeros;
    the importers cast what they use)."""
    quoted = str(path).replace("'", "''")
    if path.is_dir():
        return f"read_parquet('{quoted}/*.parquet')"
    if path.name.lower().endswith(".parquet"):
        return f"read_parquet('{quoted}')"
    return f"read_csv('{quoted}', header = true, all_varchar = true)"


def create_view(con: duckdb.DuckDBPyConnection, view: str, source_sql: str, label: str) -> list[str]:
    """CREATE the view and read its header; a file DuckDB cannot read is a one-line error."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {source_sql}")
        cols = [r[0].lower() for r in con.execute(f"DESCRIBE {view}").fetchall()]
        con.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
    except duckdb.Error as e:
        raise FeasibilityError(
            f"cannot read the table ({short_message(e)})",
            where=label,
            fix="check the file is a complete parquet or CSV export",
        ) from None
    return cols


def write_extract(con: duckdb.DuckDBPyConnection, query: str, out: Path) -> None:
    """Write `query` (which yields the extract's columns) to `out` as parquet: first to a
    temporary file beside it, then renamed, so a failed import never leaves half a file."""
    out = out.resolve()
    if out.is_dir():
        raise FeasibilityError(
            "exists and is a folder", where=str(out), fix="give --out a file name such as extract.parquet"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
    except OSError as e:
        raise FeasibilityError(
            f"cannot write here ({e.strerror})", where=str(out.parent), fix="choose another --out"
        ) from None
    tmp = Path(tmp_name)
    try:
        select = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in EXTRACT_COLUMNS)
        escaped = str(tmp).replace("'", "''")
        con.execute(
            f"COPY (SELECT {select} FROM ({query})) TO '{escaped}' (FORMAT parquet, COMPRESSION zstd)"
        )
        os.replace(tmp, out)
    except duckdb.OutOfMemoryException:
        raise FeasibilityError(
            "DuckDB ran out of memory",
            where=str(out),
            fix="raise --memory-limit or use a machine with more memory",
        ) from None
    except duckdb.Error as e:
        raise FeasibilityError(
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


def summarise_written(con: duckdb.DuckDBPyConnection, out: Path, summary: ImportSummary) -> None:
    path = str(out.resolve()).replace("'", "''")
    rows = con.execute(f"SELECT domain, count(*) FROM read_parquet('{path}') GROUP BY domain").fetchall()
    summary.rows_by_domain = {d: int(n) for d, n in rows}
    summary.rows = sum(summary.rows_by_domain.values())
    summary.patients = int(
        con.execute(f"SELECT count(DISTINCT patient_id) FROM read_parquet('{path}')").fetchall()[0][0]
    )


def fetch_counts(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    """Run a one-row query whose columns are counts; return label -> count."""
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    row = cur.fetchall()[0]
    return {n: int(v or 0) for n, v in zip(names, row, strict=True)}

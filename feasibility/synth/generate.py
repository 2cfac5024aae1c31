"""The generation: the driving tables registered in DuckDB, the fixed SQL of
`sql/synth_patients.sql` and `sql/synth_rows.sql` run over them, a block of patients at a
time."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlglot import exp

from feasibility import interrupts
from feasibility.compile.sqlexpr import read_parquet
from feasibility.errors import FeasibilityError, short_message
from feasibility.evaluate.duckdb_engine import set_option
from feasibility.resources import sql_text
from feasibility.synth.models import ODD_UNIT_SHARE
from feasibility.synth.noise import NOISE_PER_PATIENT, noise_buckets, noise_codes
from feasibility.synth.population import LAPSED_SHARE, profile_table, trait_table
from feasibility.synth.tables import build_tables
from feasibility.user_files import check_extract_out, why_not_written

CHUNK_PATIENTS = 200_000
ROW_GROUP_SIZE = 1_000_000  # rows per parquet row group

# The seed goes to DuckDB's hash() as a BIGINT.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1

# How far back from as_of sql/synth_*.sql dates things, mirrored here to refuse an --as-of
# whose extract would hold dates before year 1 (DuckDB writes them, Python and the engine
# cannot read them): the oldest patients are MAX_AGE, a lapsed patient's records move back
# up to LAPSE_MAX_DAYS, a course's latest record ends up to COURSE_MAX_DAYS back and a lab's
# latest result up to LAB_WORKUP_DAYS (a work-up) or its span.
MAX_AGE = 85
LAPSE_MAX_DAYS = 760 + 1500
COURSE_MAX_DAYS = 15 + 900
LAB_WORKUP_DAYS = 45
NOISE_MAX_DAYS = 1095


def days_back(slots: dict[str, list]) -> int:
    """An upper bound of how many days before as_of any row of the extract is dated, for
    the `slots` table of `build_tables`. Loose on purpose: each slot's latest record is
    placed at most max(span, horizon, recent window, ...) back, its older ones (and their
    course lengths) at most one horizon and two durations further."""
    slot_bounds = (
        max(COURSE_MAX_DAYS, LAB_WORKUP_DAYS, span, horizon, recent) + 2 * dur_hi + 1 + horizon
        for span, horizon, recent, dur_hi in zip(
            slots.get("span", []),
            slots.get("horizon", []),
            slots.get("recent_days", []),
            slots.get("dur_hi", []),
            strict=True,
        )
    )
    return LAPSE_MAX_DAYS + max(NOISE_MAX_DAYS, *slot_bounds)


def check_as_of(as_of: date, slots: dict[str, list]) -> None:
    """Refuse an as_of so early that a birth year or a date of the extract would fall before
    year 1, which no date holds. (Every row is dated on or before as_of, and a date after
    9999-12-31 is no date at all, so there is no latest as_of to refuse.)"""
    days = days_back(slots)
    if date.min.toordinal() + days > date.max.toordinal():
        raise FeasibilityError(
            f"the trials look back {days:,} days, further than any date an extract can hold",
            where="--as-of",
            fix="use trials with shorter look-back windows (`within`)",
        )
    earliest = max(date(MAX_AGE + 1, 1, 1), date.fromordinal(date.min.toordinal() + days))
    if as_of < earliest:
        raise FeasibilityError(
            f"{as_of.isoformat()} is too early: patients born up to {MAX_AGE} years and events "
            f"dated up to {days:,} days before it would fall before year 1",
            where="--as-of",
            fix=f"give --as-of {earliest.isoformat()} or later",
        )


def _check_seed(seed: int) -> None:
    if not SEED_MIN <= seed <= SEED_MAX:
        raise FeasibilityError(
            "the seed is out of range",
            where="--seed",
            fix=f"give a whole number from {SEED_MIN} to {SEED_MAX}",
        )


def _check_out(out: Path) -> None:
    """Refuse an output path that is not a file to write, before minutes of generation."""
    if out.is_dir():
        raise FeasibilityError(
            "this is a folder",
            where=str(out),
            fix=f"give the parquet file to write, e.g. --out {out / 'extract.parquet'}",
        )
    if out.exists() and not out.is_file():
        raise FeasibilityError(
            "this exists and is not a regular file", where=str(out), fix="give another file name"
        )
    check_extract_out(out)


def _cannot_write(out: Path, error: Exception) -> FeasibilityError:
    reason = why_not_written(error) if isinstance(error, OSError) else short_message(error)
    return FeasibilityError(
        f"cannot write the extract here ({reason})",
        where=str(out),
        fix="write it to a folder you can create files in, with space to spare",
    )


@contextmanager
def _scratch_beside(out: Path) -> Iterator[Path]:
    """A scratch folder beside `out` (so the finished file moves into place in one rename),
    removed afterwards. If the block fails, the folders made for `out` go too, and a failure
    to write becomes one line naming the file."""
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # deepest first
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".synth-") as scratch:
            yield Path(scratch)
    except BaseException as e:
        for folder in made:
            with suppress(OSError):  # not empty: something else wrote there meanwhile
                folder.rmdir()
        if isinstance(e, (OSError, duckdb.IOException)):
            raise _cannot_write(out, e) from None
        raise


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Expose an Arrow table to SQL under `name`. (Arrow scans, rather than DuckDB temp
    tables, also sidestep a DuckDB 2.0 internal error on dictionary-compressed join inputs.)"""
    con.register(name, table)


def site_ids(sites: int) -> list[str]:
    """SITE-A, SITE-B, ..., then SITE-27, SITE-28, ... beyond 26 sites."""
    return [f"SITE-{chr(65 + i)}" if i < 26 else f"SITE-{i + 1}" for i in range(sites)]


def generate(
    out: Path,
    *,
    patients: int,
    sites: int,
    seed: int,
    as_of: date,
    sort_rows: bool = True,
    trials_paths: Sequence[Path] | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Write a synthetic extract (contract v1) for `patients` patients at `sites` sites to the
    parquet file `out`; return its row count. Same arguments, same rows. Unsorted rows are
    in random order within each block of `CHUNK_PATIENTS` patients. `progress` hears of each
    block (millions of patients take minutes)."""
    from feasibility.criteria.load import load_trials

    if patients < 1 or sites < 1:
        raise ValueError("patients and sites must be at least 1")
    out = Path(out)
    _check_seed(seed)
    _check_out(out)
    trials, library = load_trials(list(trials_paths) if trials_paths else None)
    tables = build_tables(trials, library, sites)
    check_as_of(as_of, tables.slots)
    with _scratch_beside(out) as scratch:
        con = duckdb.connect(":memory:")
        try:
            if threads:
                set_option(con, "threads", int(threads))
            set_option(con, "enable_progress_bar", False)
            _register(
                con,
                "cfg",
                pa.table(
                    {
                        "seed": pa.array([int(seed)], pa.int64()),
                        "patients": [int(patients)],
                        "sites": [int(sites)],
                        "as_of": pa.array([as_of], pa.date32()),
                        "year": [as_of.year],
                        "noise": [NOISE_PER_PATIENT],
                        "odd_share": [ODD_UNIT_SHARE],
                        "lapsed_share": [LAPSED_SHARE],
                        "sort_rows": [bool(sort_rows)],
                    }
                ),
            )
            _register(con, "profiles", profile_table())
            _register(con, "trait_probs", trait_table())
            _register(con, "sites", pa.table({"site_idx": list(range(sites)), "site_id": site_ids(sites)}))
            _register(con, "noise", noise_buckets(noise_codes(tables.concepts)))
            for name in ("slots", "slot_profile", "slot_codes", "slot_units"):
                _register(con, name, pa.table(getattr(tables, name)))
            con.execute(sql_text("synth_patients.sql"))
            everyone = con.table("synth_patients").to_arrow_table()
            _register(con, "pat", everyone.slice(0, CHUNK_PATIENTS))
            con.execute(sql_text("synth_rows.sql"))  # views over `pat`, which each block replaces
            # Patients are generated in chunks, each written to a part file that is then copied
            # into the one extract in order: bounded memory, and DuckDB 2.0 hits an internal
            # error ("dict-surviving cache") when one query writes millions of patients at once.
            parts: list[str] = []
            for start in range(0, patients, CHUNK_PATIENTS):
                if progress:
                    end = min(start + CHUNK_PATIENTS, patients)
                    progress(f"generating patients {start + 1:,} to {end:,} of {patients:,}")
                _register(con, "pat", everyone.slice(start, CHUNK_PATIENTS))
                part = scratch / f"part-{len(parts):05d}.parquet"
                con.table("synth_rows").write_parquet(
                    str(part), compression="zstd", row_group_size=ROW_GROUP_SIZE
                )
                parts.append(str(part))
            done = Path(parts[0])
            if len(parts) > 1:
                if progress:
                    progress(f"writing {out.name}")
                set_option(con, "preserve_insertion_order", True)
                done = scratch / "extract.parquet"
                every_part = exp.select(exp.Star()).from_(read_parquet(parts))
                con.sql(every_part.sql(dialect="duckdb")).write_parquet(
                    str(done), compression="zstd", row_group_size=ROW_GROUP_SIZE
                )
            count = exp.select(exp.func("count", exp.Star())).from_(read_parquet([str(done)]))
            (rows,) = con.execute(count.sql(dialect="duckdb")).fetchall()[0]
        finally:
            con.close()
        # the commit: on the command line, Ctrl-C no longer stops the run (interrupts.py)
        interrupts.hold()
        done.replace(out)  # whole, in one rename: never a half-written extract at `out`
    return int(rows)

"""The generation: the driving tables registered in DuckDB, the fixed SQL of
`sql/synth_patients.sql` and `sql/synth_rows.sql` run over them, a block of patients at a
time."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from feasibility.resources import sql_text
from feasibility.synth.models import ODD_UNIT_SHARE
from feasibility.synth.noise import NOISE_PER_PATIENT, noise_buckets, noise_codes
from feasibility.synth.population import LAPSED_SHARE, profile_table, trait_table
from feasibility.synth.tables import build_tables, trial_windows

CHUNK_PATIENTS = 200_000
ROW_GROUP_SIZE = 1_000_000  # rows per parquet row group


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
    trials, library = load_trials(list(trials_paths) if trials_paths else None)
    tables = build_tables(trials, library, sites)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        if threads:
            con.execute("SET threads = ?", [int(threads)])
        con.execute("SET enable_progress_bar = false")
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
        used = [library[c] for c in trial_windows(trials)[0] if c in library]
        _register(con, "noise", noise_buckets(noise_codes(used)))
        for name in ("slots", "slot_profile", "slot_codes", "slot_units"):
            _register(con, name, pa.table(getattr(tables, name)))
        con.execute(sql_text("synth_patients.sql"))
        everyone = con.table("synth_patients").to_arrow_table()
        _register(con, "pat", everyone.slice(0, CHUNK_PATIENTS))
        con.execute(sql_text("synth_rows.sql"))  # views over `pat`, which each block replaces
        # Patients are generated in chunks, each written to a part file that is then copied
        # into the one extract in order: bounded memory, and DuckDB 2.0 hits an internal
        # error ("dict-surviving cache") when one query writes millions of patients at once.
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".synth-") as scratch:
            parts: list[str] = []
            for start in range(0, patients, CHUNK_PATIENTS):
                if progress:
                    end = min(start + CHUNK_PATIENTS, patients)
                    progress(f"generating patients {start + 1:,} to {end:,} of {patients:,}")
                _register(con, "pat", everyone.slice(start, CHUNK_PATIENTS))
                part = Path(scratch) / f"part-{len(parts):05d}.parquet"
                con.table("synth_rows").write_parquet(
                    str(part), compression="zstd", row_group_size=ROW_GROUP_SIZE
                )
                parts.append(str(part))
            if len(parts) == 1:
                Path(parts[0]).replace(out)
            else:
                if progress:
                    progress(f"writing {out.name}")
                con.execute("SET preserve_insertion_order = true")
                con.sql("SELECT * FROM read_parquet(?)", params=[parts]).write_parquet(
                    str(out), compression="zstd", row_group_size=ROW_GROUP_SIZE
                )
        (rows,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchall()[0]
    finally:
        con.close()
    return int(rows)

"""Values no calendar or file format can hold are one-line errors or counted warnings, never
a traceback: dates outside the years 1 to 9999, an absurd birth year, a corrupt page that
only a later pass decodes, month ends before year 1."""

from __future__ import annotations

import json
import random
import shutil

import duckdb
import pytest

from tests.support import REPO
from tests.test_errors import assert_one_line_error, feasibility

SAMPLE = REPO / "sample_data" / "extract.parquet"


def _copy_with(tmp_path, name: str, replace: str):
    out = tmp_path / f"{name}.parquet"
    duckdb.sql(f"COPY (SELECT * REPLACE ({replace}) FROM '{SAMPLE}') TO '{out}'")
    return out


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("start_date", "DATE '0000-12-31'"),
        ("start_date", "DATE '10000-01-01'"),
        ("end_date", "DATE '0000-06-01'"),
    ],
)
def test_dates_outside_the_years_1_to_9999_are_refused(tmp_path, column, value):
    bad = _copy_with(
        tmp_path, "dates", f"CASE WHEN row_number() OVER () = 7 THEN {value} ELSE {column} END AS {column}"
    )
    proc = feasibility("run", str(bad), "--out", "out", "-q", cwd=tmp_path)
    assert_one_line_error(proc, bad.name, f"`{column}`", "years 1 to 9999")
    assert not (tmp_path / "out").exists()


def test_an_absurd_birth_year_is_an_implausible_age_not_an_error(tmp_path):
    bad = _copy_with(
        tmp_path,
        "birth",
        f"CASE WHEN patient_id = (SELECT min(patient_id) FROM '{SAMPLE}') THEN 99999999 ELSE birth_year END"
        " AS birth_year",
    )
    proc = feasibility("run", str(bad), "--out", "out", "--min-cell", "0", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads((tmp_path / "out" / "report.json").read_text())["data_quality"]["counts"]
    assert counts["patients_with_implausible_age"] >= 1


def test_corrupt_pages_are_one_line_errors(tmp_path):
    # random damage anywhere in the file: some of it only a later pass decodes
    original = SAMPLE.read_bytes()
    failures = 0
    for seed in range(12):
        rng = random.Random(seed)
        data = bytearray(original)
        for _ in range(5):
            data[rng.randrange(4, len(data) - 8)] ^= rng.randrange(1, 256)
        path = tmp_path / f"c{seed}.parquet"
        path.write_bytes(bytes(data))
        proc = feasibility("run", path.name, "--out", f"out{seed}", "-q", cwd=tmp_path)
        assert "Traceback" not in proc.stderr, proc.stderr
        if proc.returncode:
            failures += 1
            assert_one_line_error(proc, path.name)
            assert not (tmp_path / f"out{seed}").exists()
    assert failures >= 3  # the damage is real: most files must fail to read


def test_month_ends_before_year_1_are_refused(tmp_path):
    proc = feasibility(
        "run", str(SAMPLE), "--as-of", "0001-01-01", "--monthly", "3", "--out", "out", "-q", cwd=tmp_path
    )
    assert_one_line_error(proc, "--monthly", "before year 1")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("site", "says"), [("ALL", "every site together"), ("", "empty")])
def test_a_site_named_like_the_total_or_empty_is_refused(tmp_path, site, says):
    bad = _copy_with(
        tmp_path, "sites", f"CASE WHEN site_id = 'SITE-B' THEN '{site}' ELSE site_id END AS site_id"
    )
    proc = feasibility("run", str(bad), "--out", "out", "-q", cwd=tmp_path)
    assert_one_line_error(proc, bad.name, "site_id", says)
    proc = feasibility("run", str(SAMPLE), "--site", site, "--out", "out", "-q", cwd=tmp_path)
    assert_one_line_error(proc, "--site")
    assert not (tmp_path / "out").exists()


def test_an_empty_extract_path_is_refused(tmp_path):
    # an unset shell variable: Path("") would be the current folder
    shutil.copy(SAMPLE, tmp_path / "x.parquet")
    assert_one_line_error(feasibility("run", "", "--out", "out", "-q", cwd=tmp_path), "no extract given")
    assert not (tmp_path / "out").exists()

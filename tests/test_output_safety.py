"""The outputs never destroy the inputs or anything else the user keeps: a report folder
replaces only an earlier report, the patient list never overwrites an input file, and a
refused output leaves nothing behind."""

from __future__ import annotations

import shutil

import pytest

from tests.support import REPO
from tests.test_errors import assert_one_line_error, feasibility

SAMPLE = REPO / "sample_data" / "extract.parquet"


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "extract.parquet")
    (tmp_path / "notes.txt").write_text("kept\n")
    return tmp_path


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("out", [".", ""])
def test_a_folder_holding_other_files_is_not_replaced(workdir, out):
    proc = feasibility("run", "extract.parquet", "--out", out, "-q", cwd=workdir)
    assert_one_line_error(proc, "files other than a report's", "extract.parquet", "notes.txt")
    assert _files(workdir) == ["extract.parquet", "notes.txt"]


def test_a_subfolder_makes_a_folder_not_replaceable(workdir):
    out = workdir / "out"
    (out / "keep").mkdir(parents=True)
    proc = feasibility("run", "extract.parquet", "--out", "out", "-q", cwd=workdir)
    assert_one_line_error(proc, "files other than a report's", "keep")
    assert (out / "keep").is_dir()


def test_an_earlier_report_folder_is_replaced(workdir):
    for _ in range(2):
        proc = feasibility("run", "extract.parquet", "--out", "out", "-q", cwd=workdir)
        assert proc.returncode == 0, proc.stderr
    assert _files(workdir / "out") == ["criteria.csv", "report.html", "report.json", "waterfall.csv"]


def test_the_patient_list_never_overwrites_an_input(workdir):
    before = (workdir / "extract.parquet").read_bytes()
    proc = feasibility(
        "run", "extract.parquet", "--out", "out", "--patient-list", "extract.parquet", "-q", cwd=workdir
    )
    assert_one_line_error(proc, "extract.parquet", "input files", "--patient-list")
    assert (workdir / "extract.parquet").read_bytes() == before
    assert not (workdir / "out").exists()


@pytest.mark.parametrize("target", ["d", "/proc/feasibility-patients.csv"])
def test_an_unwritable_patient_list_is_refused_before_anything_is_written(workdir, target):
    (workdir / "d").mkdir()
    proc = feasibility("run", "extract.parquet", "--out", "out", "--patient-list", target, "-q", cwd=workdir)
    assert_one_line_error(proc, target, "--patient-list")
    # no report folder, and no temporary copy of the patient list anywhere
    assert _files(workdir) == ["d", "extract.parquet", "notes.txt"]
    assert list((workdir / "d").iterdir()) == []

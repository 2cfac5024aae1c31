"""The outputs never destroy the inputs or anything else the user keeps: a report folder
replaces only an earlier report, the patient list never overwrites an input file, and a
refused output leaves nothing behind."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from feasibility.errors import FeasibilityError
from feasibility.reports import output
from feasibility.reports.output import write_directory, write_with_file
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


@pytest.mark.parametrize("out", [".", "", ".."])
def test_the_current_folder_is_never_replaced(workdir, out):
    proc = feasibility("run", "extract.parquet", "--out", out, "-q", cwd=workdir)
    assert_one_line_error(proc, "current folder")
    assert _files(workdir) == ["extract.parquet", "notes.txt"]


def test_a_folder_holding_other_files_is_not_replaced(workdir):
    # run from above: --out names the extract's folder, which is not the current one
    proc = feasibility(
        "run", f"{workdir.name}/extract.parquet", "--out", workdir.name, "-q", cwd=workdir.parent
    )
    assert_one_line_error(proc, "files this command does not write", "extract.parquet", "notes.txt")
    assert _files(workdir) == ["extract.parquet", "notes.txt"]


def test_a_subfolder_makes_a_folder_not_replaceable(workdir):
    out = workdir / "out"
    (out / "keep").mkdir(parents=True)
    proc = feasibility("run", "extract.parquet", "--out", "out", "-q", cwd=workdir)
    assert_one_line_error(proc, "files this command does not write", "keep")
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


def test_the_patient_list_replaces_only_an_earlier_patient_list(workdir):
    # a mistyped --patient-list naming a file the run does not read must not destroy it
    proc = feasibility(
        "run", "extract.parquet", "--out", "out", "--patient-list", "notes.txt", "-q", cwd=workdir
    )
    assert_one_line_error(proc, "notes.txt", "is not a patient list", "--patient-list")
    assert (workdir / "notes.txt").read_text() == "kept\n"
    assert not (workdir / "out").exists()
    for _ in range(2):  # the second run replaces the first one's list
        proc = feasibility(
            "run", "extract.parquet", "--out", "out", "--patient-list", "list.csv", "-q", cwd=workdir
        )
        assert proc.returncode == 0, proc.stderr
    assert (workdir / "list.csv").read_text().startswith("trial_id,site_id,patient_id,status,criteria\n")


@pytest.mark.parametrize("target", ["d", "/proc/feasibility-patients.csv"])
def test_an_unwritable_patient_list_is_refused_before_anything_is_written(workdir, target):
    (workdir / "d").mkdir()
    proc = feasibility("run", "extract.parquet", "--out", "out", "--patient-list", target, "-q", cwd=workdir)
    assert_one_line_error(proc, target, "--patient-list")
    # no report folder, and no temporary copy of the patient list anywhere
    assert _files(workdir) == ["d", "extract.parquet", "notes.txt"]
    assert list((workdir / "d").iterdir()) == []


def test_inputs_named_by_a_recursive_glob_or_the_conversion_file_are_never_overwritten(workdir):
    (workdir / "g" / "sub").mkdir(parents=True)
    shutil.copy(SAMPLE, workdir / "g" / "sub" / "a.parquet")
    before = (workdir / "g" / "sub" / "a.parquet").read_bytes()
    proc = feasibility(
        "run", "g/**/*.parquet", "--out", "out", "--patient-list", "g/sub/a.parquet", "-q", cwd=workdir
    )
    assert_one_line_error(proc, "input files")
    assert (workdir / "g" / "sub" / "a.parquet").read_bytes() == before
    (workdir / "conv.csv").write_text("site_id,conversion\nSITE-A,0.2\n")
    proc = feasibility(
        "run",
        "extract.parquet",
        "--monthly",
        "3",
        "--conversion-file",
        "conv.csv",
        "--patient-list",
        "conv.csv",
        "--out",
        "out",
        "-q",
        cwd=workdir,
    )
    assert_one_line_error(proc, "input files")
    assert (workdir / "conv.csv").read_text().startswith("site_id")


def test_a_folder_that_cannot_be_renamed_takes_the_new_files_one_by_one(tmp_path, monkeypatch):
    # a mount point (docker -v host:/out) cannot be renamed: EBUSY
    out = tmp_path / "out"
    write_directory(out, {"report.json": "old", "report.html": "old"})
    real_replace = os.replace

    def busy(src, dst):
        if Path(src) == out:
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", busy)
    write_directory(out, {"report.json": "new", "report.html": "new"})
    assert {p.name: p.read_text() for p in out.iterdir()} == {"report.json": "new", "report.html": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging or .old folder left


def test_a_full_disk_is_one_line_and_keeps_the_earlier_report(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_directory(out, {"report.json": "old"})

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(FeasibilityError, match="No space left on device"):
        write_directory(out, {"report.json": "new"})
    assert (out / "report.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize(
    ("error", "fix"),
    [(errno.ENOSPC, "free some space or choose another --out"), (errno.EACCES, "fix: choose another --out")],
)
def test_a_failed_write_names_the_fix_for_its_cause(tmp_path, monkeypatch, error, fix):
    # "free some space" is no advice for a folder one may not write to
    def failing(self, *args, **kwargs):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(FeasibilityError) as caught:
        write_directory(tmp_path / "out", {"report.json": "new"})
    assert str(caught.value).endswith(fix) and os.strerror(error) in str(caught.value)


def test_a_file_on_the_way_to_an_output_is_named_alike_by_every_command(workdir):
    # creating the folders would fail with only "File exists"; each command says it alike
    assert feasibility("run", "extract.parquet", "--out", "rep", "-q", cwd=workdir).returncode == 0
    kept = _files(workdir)
    file = workdir / "notes.txt"
    for flag, args in [
        ("--out", ("run", "extract.parquet", "--out", "notes.txt/out", "-q")),
        (
            "--patient-list",
            ("run", "extract.parquet", "--out", "out", "--patient-list", "notes.txt/list.csv"),
        ),
        ("--out", ("synth", "--patients", "5", "--out", "notes.txt/x.parquet")),
        ("--out", ("compare", "rep", "--out", "notes.txt/cmp")),
    ]:
        proc = feasibility(*args, cwd=workdir)
        line = assert_one_line_error(proc, "notes.txt: is a file, not a folder")
        assert line.endswith(f"fix: give {flag} a path through folders, not through this file"), line
        assert str(file) in line or args[0] == "synth", line  # synth keeps the path as given
    assert _files(workdir) == kept


def test_a_place_that_takes_no_new_files_is_named_as_such_by_every_command(workdir):
    # /proc refuses a new entry with "No such file or directory", said of a folder that exists
    for args in [
        ("run", "extract.parquet", "--out", "/proc/feasibility-report", "-q"),
        ("run", "extract.parquet", "--out", "out", "--patient-list", "/proc/list.csv"),
        ("synth", "--patients", "5", "--out", "/proc/x.parquet"),
    ]:
        proc = feasibility(*args, cwd=workdir)
        line = assert_one_line_error(proc, "/proc", "(this place takes no new files)")
        assert "No such file" not in line, line
    assert _files(workdir) == ["extract.parquet", "notes.txt"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (errno.ENOENT, "this place takes no new files"),
        (errno.EROFS, "a read-only file system"),
        (errno.ENOSPC, "the disk is full"),
        (errno.EACCES, os.strerror(errno.EACCES)),
    ],
)
def test_a_folder_that_cannot_be_made_names_the_reason(tmp_path, monkeypatch, error, reason):
    def refused(*args, **kwargs):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(output.tempfile, "mkdtemp", refused)
    with pytest.raises(FeasibilityError, match=rf"cannot write here \({reason}\)"):
        write_directory(tmp_path / "out", {"report.json": "new"})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_patient_list_leaves_no_report_behind(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.tempfile, "mkstemp", broken)
    with pytest.raises(FeasibilityError, match="No space left"):
        write_with_file(tmp_path / "out", {"report.json": "x"}, tmp_path / "patients.csv", "p")
    assert list(tmp_path.iterdir()) == []

"""Ctrl-C and SIGTERM: a command stopped before it commits its outputs writes nothing and says
that an earlier report is intact; one interrupted while it commits them finishes and says
that the interrupt came too late; neither prints a traceback or leaves a staging or spill
folder. And one run at a time writes an output: a second is refused at once."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

from feasibility import interrupts
from feasibility.errors import FeasibilityError
from feasibility.reports.output import writer_lock
from tests.support import REPO
from tests.test_errors import SPEC, assert_one_line_error, feasibility, good_rows, write_extract


@pytest.fixture(autouse=True)
def pythons_own_ctrl_c():
    """Each test starts from Python's own Ctrl-C, however pytest was started: a shell runs
    a background job (`pytest &`) with SIGINT ignored, which `install` leaves alone."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, inherited)


def _signal_self() -> None:
    """SIGINT to this process, acted on before returning (a DuckDB thread may take the
    signal, leaving the main thread to run the handler at its next instruction)."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(100):
        time.sleep(0.005)


def test_a_signal_stops_the_command_until_the_hold_then_is_recorded():
    restore = interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            _signal_self()
        # the command is on its way out: a second Ctrl-C cannot cut its clean-up short
        _signal_self()
        with pytest.raises(interrupts.LateInterrupt, match="the report in r/ is complete"):
            interrupts.finished("the report in r/ is complete")
        assert interrupts.late_message() == "interrupted too late to stop it: the report in r/ is complete"
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_the_process_was_started_ignoring_stays_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    restore = interrupts.install()
    try:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # SIGTERM is still handled
        _signal_self()  # ignored: neither raised nor recorded
        assert interrupts.late_message() is None
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_signal_during_the_commit_is_held_until_the_command_ends():
    restore = interrupts.install()
    try:
        interrupts.hold()
        _signal_self()  # held: no KeyboardInterrupt here
        assert interrupts.late_message() == "interrupted too late to stop it: the command had finished"
    finally:
        restore()


def test_once_the_outputs_are_in_place_a_signal_is_ignored():
    """Written, and told no interrupt: the command prints its results and its one line
    saying where they are, whatever comes after."""
    restore = interrupts.install()
    try:
        interrupts.finished("the report in r/ is complete")  # no interrupt: no stop
        _signal_self()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert interrupts.late_message() is None
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _SignalledWhileFinalised:
    """An object whose finaliser takes Ctrl-C: Python cannot raise the KeyboardInterrupt out
    of a finaliser (nor out of a garbage-collector callback), so it used to print
    "Exception ignored" and the command went on as if nothing had come."""

    def __del__(self) -> None:
        _signal_self()


def _recording_unraisable_hook(monkeypatch) -> list[type[BaseException] | None]:
    """Python's hook for errors it cannot raise, replaced by one recording their types."""
    seen: list[type[BaseException] | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: seen.append(info.exc_type))
    return seen


def test_a_signal_python_could_not_raise_stops_the_command_at_the_commit(monkeypatch):
    printed = _recording_unraisable_hook(monkeypatch)
    before = sys.unraisablehook
    restore = interrupts.install()
    try:
        _SignalledWhileFinalised()  # finalised at once: the signal is taken inside __del__
        assert printed == []  # not "Exception ignored"
        with pytest.raises(KeyboardInterrupt):
            interrupts.hold()  # before the commit: stopped as where the interrupt came
        interrupts.hold()  # acted on once
    finally:
        restore()
    assert sys.unraisablehook is before


def test_other_errors_python_cannot_raise_are_still_printed(monkeypatch):
    class Broken:
        def __del__(self) -> None:
            raise ValueError("a finaliser's own error")

    printed = _recording_unraisable_hook(monkeypatch)
    restore = interrupts.install()
    try:
        Broken()
        assert printed == [ValueError]
        interrupts.hold()  # no interrupt came: nothing raised
    finally:
        restore()


def test_a_signal_while_a_temporary_folder_is_made_waits_for_its_name():
    """`deferred`: the folder `mkdtemp` makes is named to the clean-up before Ctrl-C acts."""
    restore = interrupts.install()
    made = None
    try:
        with pytest.raises(KeyboardInterrupt), interrupts.deferred():
            _signal_self()
            made = "named"
        assert made == "named"
    finally:
        restore()


def test_library_callers_keep_pythons_ctrl_c():
    """Without `install` (run_feasibility called from Python), the commit's hold changes
    nothing: Ctrl-C is Python's KeyboardInterrupt, and nothing is announced as late."""
    interrupts.hold()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        _signal_self()
    interrupts.finished("the report")
    assert interrupts.late_message() is None


def test_an_interrupt_in_a_block_says_what_the_outputs_hold():
    with (
        pytest.raises(interrupts.Interrupted, match=r"^nothing was written$"),
        interrupts.meaning("nothing was written"),
    ):
        raise KeyboardInterrupt
    with pytest.raises(interrupts.Interrupted), interrupts.meaning("nothing was written"):
        raise RuntimeError("Query interrupted")  # DuckDB's words for a stopped query
    with pytest.raises(ValueError), interrupts.meaning("nothing was written"):
        raise ValueError("a bug stays a bug")


# The command line in a process that sends itself SIGINT at one point of the run: the signal
# then arrives at a known moment, where a Ctrl-C from outside would have to be timed.
_INTERRUPTING = textwrap.dedent(
    """
    import os, signal, sys, tempfile

    where, nth = sys.argv[1], int(sys.argv[2])
    calls = []

    def interrupting(real):
        def call(*args, **kwargs):
            if where == "staging" and not str(kwargs.get("prefix", "")).startswith(".rep."):
                return real(*args, **kwargs)
            calls.append(args)
            result = real(*args, **kwargs)
            if len(calls) == nth:
                os.kill(os.getpid(), signal.SIGINT)
            return result
        return call

    if where == "commit":  # after the nth rename of the commit
        os.replace = interrupting(os.replace)
    else:  # once the staging folder is made, before anything is renamed
        tempfile.mkdtemp = interrupting(tempfile.mkdtemp)
    sys.argv = ["feasibility", *sys.argv[3:]]
    from feasibility.cli import main
    main()
    """
)


def _interrupted_run(tmp_path: Path, where: str, nth: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path / "tmp")}
    return subprocess.run(
        [sys.executable, "-c", _INTERRUPTING, where, str(nth), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def earlier_report(tmp_path):
    """An extract and an earlier shareable report of it in `rep/`; a folder for the runs'
    temporary files (DuckDB's spill folder) that must be left empty."""
    (tmp_path / "tmp").mkdir()
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = feasibility("run", str(extract), "--trials", str(SPEC), "--out", "rep", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return extract


def _min_cell(report: Path) -> int:
    return json.loads((report / "report.json").read_text())["protection"]["min_cell"]


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) + [
        p.name for p in (tmp_path / "tmp").iterdir()
    ]


def _exact_run(extract: Path) -> tuple[str, ...]:
    """A run replacing the earlier report of `rep/` with one of exact counts, so that the
    report found after an interrupt tells which run wrote it."""
    return ("run", str(extract), "--trials", str(SPEC), "--out", "rep", "--min-cell", "0")


def test_ctrl_c_during_the_commit_finishes_it_and_says_so(tmp_path, earlier_report):
    proc = _interrupted_run(
        tmp_path,
        "commit",
        1,
        *_exact_run(earlier_report),
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == ["interrupted too late to stop it: the new report in rep/ is complete"]
    assert proc.stdout == ""  # stopped before printing the waterfall
    assert _min_cell(tmp_path / "rep") == 0  # the new report, whole
    assert _leftovers(tmp_path) == []


def test_ctrl_c_as_the_patient_list_is_moved_into_place(tmp_path, earlier_report):
    proc = _interrupted_run(
        tmp_path,
        "commit",
        3,  # the earlier report moved aside, the new one into place, then the patient list
        *("run", str(earlier_report), "--trials", str(SPEC), "--out", "rep", "-q"),
        *("--min-cell", "0", "--patient-list", "list.csv"),
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == [
        "interrupted too late to stop it: the new report in rep/ is complete, "
        "and the patient list list.csv (site use only: do not share)"
    ]
    assert _min_cell(tmp_path / "rep") == 0
    assert (tmp_path / "list.csv").read_text().startswith("trial_id,site_id,patient_id,status")
    assert _leftovers(tmp_path) == []


def test_ctrl_c_before_the_commit_keeps_the_earlier_report(tmp_path, earlier_report):
    before = (tmp_path / "rep" / "report.json").read_bytes()
    proc = _interrupted_run(
        tmp_path,
        "staging",
        1,
        *_exact_run(earlier_report),
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == [
        "interrupted: nothing was written; the earlier report in rep/ is intact"
    ]
    assert (tmp_path / "rep" / "report.json").read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_ctrl_c_while_the_comparison_is_committed(tmp_path, earlier_report):
    proc = _interrupted_run(tmp_path, "commit", 1, "compare", "rep", "--out", "cmp")
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == [
        "interrupted too late to stop it: the new comparison in cmp/ is complete"
    ]
    assert sorted(p.name for p in (tmp_path / "cmp").iterdir()) == [
        "compare.csv",
        "compare.html",
        "compare.json",
    ]
    assert _leftovers(tmp_path) == []


def test_ctrl_c_as_an_import_moves_its_extract_into_place(tmp_path):
    from tests.test_import_omop import _tiny_cdm

    (tmp_path / "tmp").mkdir()
    source = _tiny_cdm(tmp_path / "cdm")
    proc = _interrupted_run(tmp_path, "commit", 1, "import", "omop", str(source), "--out", "x.parquet")
    assert proc.returncode == 130, proc.stderr
    assert (
        proc.stderr.splitlines()[-1]
        == "interrupted too late to stop it: the new extract x.parquet is complete"
    )
    assert (tmp_path / "x.parquet").read_bytes().startswith(b"PAR1")
    assert _leftovers(tmp_path) == []


def test_a_run_stopped_while_it_reads_leaves_nothing(tmp_path):
    """A real Ctrl-C from outside, once the run has begun reading a synthetic extract:
    no report folder, no staging folder, no spill folder."""
    from feasibility.synth.generate import generate

    extract = tmp_path / "big.parquet"
    generate(extract, patients=40_000, sites=3, seed=7, as_of=date(2025, 6, 30))
    spill = tmp_path / "tmp"
    spill.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "feasibility", "run", str(extract), "--out", "rep"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(spill)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    # DuckDB's spill folder is made as the engine starts, just before the extract is read
    while not any(spill.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.splitlines() == ["interrupted: nothing was written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.parquet", "tmp"]
    assert list(spill.iterdir()) == []


def _hold_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_second_run_on_the_same_report_folder_is_refused(tmp_path, earlier_report):
    before = (tmp_path / "rep" / "report.json").read_bytes()
    fd = _hold_lock(tmp_path / ".rep.lock")  # as the first run holds it while it works
    try:
        proc = feasibility("run", str(earlier_report), "--trials", str(SPEC), "--out", "rep", cwd=tmp_path)
        assert_one_line_error(
            proc,
            f"{tmp_path / 'rep'}: another feasibility run is writing this report folder",
            "fix: wait for it to finish, or choose another --out",
        )
        assert (tmp_path / "rep" / "report.json").read_bytes() == before
        proc = feasibility("compare", "rep", "--out", "rep", cwd=tmp_path)
        assert_one_line_error(proc, "another feasibility run is writing this comparison folder")
    finally:
        os.close(fd)
    # once the first run is done (its lock file left, as by a run that was killed), the next
    # one writes, and removes the lock file as it ends
    proc = feasibility("run", str(earlier_report), "--trials", str(SPEC), "--out", "rep", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rep" / "report.json").read_bytes() != before
    assert _leftovers(tmp_path) == []


def test_a_run_starting_after_the_first_made_the_outputs_folders_is_refused(tmp_path):
    # the first run began before new/deeper/ existed, so its lock is in tmp_path; its commit
    # has made the folders when the second run starts, whose nearest folder is then deeper
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    target = tmp_path / "new" / "deeper" / "rep"
    with writer_lock(target, "report folder", "--out"):
        assert [p.name for p in tmp_path.glob(".*.lock")] == [".new-deeper-rep.lock"]
        target.mkdir(parents=True)
        (target / "report.json").write_text("the first run's")
        proc = feasibility("run", str(extract), "--trials", str(SPEC), "--out", str(target), cwd=tmp_path)
        assert_one_line_error(proc, f"{target}: another feasibility run is writing this report folder")
        assert (target / "report.json").read_text() == "the first run's"
        with (  # and in-process
            pytest.raises(FeasibilityError, match="another feasibility run"),
            writer_lock(target, "report folder", "--out"),
        ):
            pass
        assert not list(target.parent.glob(".*.lock")), "a refused run leaves its lock file"
    assert not list(tmp_path.rglob(".*.lock"))
    # once the first is done, the next run takes the lock beside the target and writes
    proc = feasibility("run", str(extract), "--trials", str(SPEC), "--out", str(target), "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((target / "report.json").read_text())["protection"]


def test_the_lock_finds_the_outputs_folder_as_the_output_checks_do(tmp_path):
    # one look for the nearest existing folder: a file standing there is the checks' error,
    # not a lock silently skipped for want of a folder to put it in
    (tmp_path / "afile").write_text("kept")
    with (
        pytest.raises(FeasibilityError, match="is a file, not a folder") as caught,
        writer_lock(tmp_path / "afile" / "rep", "report folder", "--out"),
    ):
        pass
    assert caught.value.where == str(tmp_path / "afile")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_second_run_writing_the_same_patient_list_is_refused(tmp_path, earlier_report):
    fd = _hold_lock(tmp_path / ".list.csv.lock")
    try:
        proc = feasibility(
            *("run", str(earlier_report), "--trials", str(SPEC), "--out", "other"),
            *("--patient-list", "list.csv"),
            cwd=tmp_path,
        )
    finally:
        os.close(fd)
    assert_one_line_error(
        proc,
        f"{tmp_path / 'list.csv'}: another feasibility run is writing this patient list",
        "fix: wait for it to finish, or choose another --patient-list",
    )
    assert not (tmp_path / "other").exists() and not (tmp_path / "list.csv").exists()

"""`feasibility check` and `feasibility show`: what a trial author reads before a run."""

from __future__ import annotations

from feasibility.criteria.load import load_trials
from tests.support import REPO
from tests.test_errors import assert_one_line_error, feasibility


def test_check_counts_each_seed_trial():
    trials, library = load_trials()
    proc = feasibility("check", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for t in trials:
        assessable = sum(c.rule is not None for c in t.criteria)
        assert any(
            line.startswith(f"{t.id}: {len(t.criteria)} criteria, {assessable} assessable, ")
            and line.endswith(f", sha256 {t.sha256[:12]})")
            for line in lines
        )
    # the fingerprints a run's report carries, so a sponsor and its sites can compare them first
    assert lines[-1] == (
        f"{len(library.concepts)} concepts in {len(library.files)} files "
        f"(concept library fingerprint {library.sha256[:12]})"
    )


def test_show_by_id_and_by_path_agree(tmp_path):
    by_id = feasibility("show", "NCT06711146", cwd=tmp_path)
    by_path = feasibility("show", str(REPO / "trials/NCT06711146.yaml"), cwd=tmp_path)
    assert by_id.returncode == 0, by_id.stderr
    assert by_id.stdout == by_path.stdout
    trial = next(t for t in load_trials()[0] if t.id == "NCT06711146")
    lines = by_id.stdout.splitlines()
    assert lines[0].startswith("NCT06711146 — ")
    assert [line.split()[0] for line in lines[1:]] == [c.id for c in trial.criteria]
    assert "  IN1      inclusion not assessable: consent" in lines


def test_show_unknown_id_lists_the_ids():
    proc = feasibility("show", "NOPE", cwd=REPO)
    assert_one_line_error(proc, "no trial with id `NOPE`", "CQPB-CD19-AID", "NCT06886919")


def test_show_missing_file_is_a_path_error(tmp_path):
    proc = feasibility("show", "nope.yaml", cwd=tmp_path)
    assert_one_line_error(proc, "nope.yaml", "not found")

"""`feasibility check` and `feasibility show`: what a trial author reads before a run."""

from __future__ import annotations

import pytest

from feasibility.criteria.load import load_trials
from feasibility.errors import TrialError
from tests.support import REPO, write_extract
from tests.test_errors import assert_one_line_error, feasibility, good_rows


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


def test_check_takes_trials_as_run_does():
    small = "tests/fixtures/trials/small.yaml"
    by_option, by_argument = (
        feasibility("check", *args, cwd=REPO) for args in (("--trials", small), (small,))
    )
    assert by_option.returncode == 0, by_option.stderr
    assert by_option.stdout == by_argument.stdout and by_option.stdout.startswith("SMALL: 5 criteria")


def test_check_counts_one_criterion_in_the_singular(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(
        "id: ONE\ntitle: one criterion\ncriteria:\n"
        "  - {id: age, kind: inclusion, text: Aged 18 or over, rule: {age: {min: 18}}}\n"
    )
    proc = feasibility("check", str(one), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ONE: 1 criterion, 1 assessable, 0 not assessable")


def test_check_lists_every_broken_file(tmp_path):
    # one run of `check` over a sponsor's trial files names each broken one, not the first only
    (tmp_path / "a.yaml").write_text(
        "id: A\ncriteria:\n  - {id: a, kind: inclusoin, text: x, rule: {sex: F}}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "id: B\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: {sex: F}\n"
    )
    (tmp_path / "c.yaml").write_text(
        "id: C\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: {sex: F}}\n"
    )
    proc = feasibility("check", "a.yaml", "b.yaml", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["a.yaml", "b.yaml"]
    assert all(line.startswith("error: ") and " — fix: " in line for line in lines)
    # a fault between files (one id in two) is said once, as before
    (tmp_path / "d.yaml").write_text((tmp_path / "c.yaml").read_text())
    proc = feasibility("check", "c.yaml", "d.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "trial id `C` is used by two files" in line


def test_show_by_id_and_by_path_agree(tmp_path):
    by_id = feasibility("show", "NCT06711146", cwd=tmp_path)
    by_path = feasibility("show", str(REPO / "trials/NCT06711146.yaml"), cwd=tmp_path)
    assert by_id.returncode == 0, by_id.stderr
    assert by_id.stdout == by_path.stdout
    trial = next(t for t in load_trials()[0] if t.id == "NCT06711146")
    lines = by_id.stdout.splitlines()
    assert lines[0].startswith("NCT06711146 — ")
    notes = [line.split("note: ", 1)[1] for line in lines[1:] if line.split()[0] == "note:"]
    assert [line.split()[0] for line in lines[1:] if line.split()[0] != "note:"] == [
        c.id for c in trial.criteria
    ]
    assert "  IN1      inclusion not assessable: consent" in lines
    # what a rule leaves to the investigator is shown under it
    assert notes and notes == [c.note for c in trial.criteria if c.note]


def test_show_unknown_id_lists_the_ids():
    proc = feasibility("show", "NOPE", cwd=REPO)
    assert_one_line_error(proc, "no trial with id `NOPE`", "CQPB-CD19-AID", "NCT06886919")


def test_show_missing_file_is_a_path_error(tmp_path):
    proc = feasibility("show", "nope.yaml", cwd=tmp_path)
    assert_one_line_error(proc, "nope.yaml", "not found")


# -- `check` refuses what would otherwise fail, or mislead, only in `run`

ONE = "id: T\ncriteria:\n  - {id: %s, kind: inclusion, text: x, rule: %s}\n"


@pytest.mark.parametrize(
    ("cid", "rule", "fragments"),
    [
        ("a", "{age: {min: .nan}}", ["trial.yaml:3: `.nan` is not a finite number"]),
        ("a", "{lab: {concept: alt, max: .inf, unit: ULN}}", ["trial.yaml:3: `.inf` is not a finite number"]),
        (
            "a",
            "{lab: {concept: alt, max: 1%s, unit: ULN}}" % ("0" * 400),
            ["trial.yaml:3:", "too large a number"],
        ),
        (
            "a",
            "{diagnosis: {concept: sle, within: 3000000 years}}",
            ["trial.yaml:3:", "longer than 200 years"],
        ),
        ("in-care", "{sex: F}", ["trial.yaml:3: criterion id `in-care` is reserved", "--active-within"]),
        ("base", "{sex: F}", ["trial.yaml:3: criterion id `base` is reserved"]),
    ],
)
def test_check_refuses_what_a_run_cannot_count(tmp_path, cid, rule, fragments):
    (tmp_path / "trial.yaml").write_text(ONE % (cid, rule))
    proc = feasibility("check", "trial.yaml", cwd=tmp_path)
    assert_one_line_error(proc, *fragments, "fix: ")


def test_check_names_the_line_of_a_concept_of_the_wrong_shape(tmp_path):
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "x.yaml").write_text(
        "concepts:\n  creatinine:\n    kind: measurement\n    codes: {LOINC: [2160-0]}\n"
        "    unit: mg/dL\n    units: [mg/dL]\n"
    )
    (tmp_path / "trial.yaml").write_text(ONE % ("a", "{sex: F}"))
    proc = feasibility("check", "trial.yaml", cwd=tmp_path)
    assert_one_line_error(proc, "x.yaml:6: `units` of concept `creatinine` must be a mapping", "fix: ")
    # every trial file of a folder reads that library: its fault is said once, not per trial
    (tmp_path / "other.yaml").write_text((ONE % ("b", "{sex: M}")).replace("id: T", "id: T2", 1))
    proc = feasibility("check", ".", cwd=tmp_path)
    assert_one_line_error(proc, "x.yaml:6: `units` of concept `creatinine` must be a mapping", "fix: ")


def test_show_missing_file_does_not_blame_trials_option(tmp_path):
    # the path was show's TRIAL argument: no --trials was given
    proc = feasibility("show", "nope.yaml", cwd=tmp_path)
    line = assert_one_line_error(proc, "nope.yaml: trial path not found", "fix: check the path")
    assert "--trials" not in line


@pytest.mark.parametrize(
    "paths",
    [
        ["trials/MC-1-50-SLE.yaml", "trials/MC-1-50-SLE.yaml"],
        ["trials", "trials/MC-1-50-SLE.yaml"],
        ["trials/MC-1-50-SLE.yaml", "trials/../trials/MC-1-50-SLE.yaml"],
    ],
)
def test_a_file_named_twice_is_read_once(paths):
    proc = feasibility("check", *paths, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    ids = [line.split(":")[0] for line in proc.stdout.splitlines()[:-1]]
    assert ids.count("MC-1-50-SLE") == 1
    assert len(ids) == (4 if "trials" in paths else 1)


def test_sql_reads_a_trial_named_twice_once(tmp_path):
    proc = feasibility("sql", "--trials", "trials", "--trials", "trials/MC-1-50-SLE.yaml", cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_trials_whose_folders_define_a_concept_differently_are_refused(tmp_path):
    for folder, codes in (("ta", "M32*"), ("tb", "E11*")):
        (tmp_path / folder / "concepts").mkdir(parents=True)
        (tmp_path / folder / "concepts" / "c.yml").write_text(
            f"concepts:\n  myc: {{kind: condition, codes: {{ICD10CM: [{codes}]}}}}\n"
        )
        (tmp_path / folder / "T.yaml").write_text(
            ONE.replace("id: T", f"id: {folder}") % ("a", "{diagnosis: myc}")
        )
    alone = feasibility("check", "ta/T.yaml", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    proc = feasibility("check", "ta/T.yaml", "tb/T.yaml", cwd=tmp_path)
    assert_one_line_error(
        proc,
        "concept `myc` is defined differently",
        "ta/concepts/c.yml:2",
        "tb/concepts/c.yml:2",
        "fix: rename one of the two",
    )


def _deep(kind: str, depth: int) -> str:
    rule = "{age: {min: 18}}"
    for _ in range(depth):
        rule = ("{not: %s}" if kind == "not" else "{any: [%s, {sex: F}]}") % rule
    return ONE % ("a", rule)


@pytest.mark.parametrize(
    ("kind", "depth", "message"),
    [
        (
            "not",
            21,
            "trial.yaml:3: the rule nests `all`, `any`, `not` and `at_least` more than 20 levels deep",
        ),
        ("not", 500, "trial.yaml:3: mappings and lists nest more than 70 levels deep"),
        ("any", 450, "trial.yaml:3: mappings and lists nest more than 70 levels deep"),
    ],
)
@pytest.mark.parametrize("command", ["check", "show", "sql", "run"])
def test_a_rule_nested_too_deep_is_a_one_line_error(tmp_path, kind, depth, message, command):
    (tmp_path / "trial.yaml").write_text(_deep(kind, depth))
    args = {
        "check": ["check", "trial.yaml"],
        "show": ["show", "trial.yaml"],
        "sql": ["sql", "--trials", "trial.yaml"],
        "run": ["run", "extract.parquet", "--trials", "trial.yaml", "--out", "report"],
    }[command]
    write_extract(good_rows(), tmp_path / "extract.parquet")
    proc = feasibility(*args, cwd=tmp_path)
    assert_one_line_error(proc, message, "fix: flatten")


def test_an_extract_given_as_a_trial_file_is_named_as_such(tmp_path):
    proc = feasibility("check", str(REPO / "sample_data/extract.parquet"), cwd=tmp_path)
    assert_one_line_error(
        proc, "extract.parquet: is a parquet file, not a trial or concept file", "feasibility run EXTRACT"
    )
    # other undecodable text is still just that
    (tmp_path / "trial.yaml").write_bytes(b"id: T\ntitle: \xff\xfe\n")
    proc = feasibility("check", "trial.yaml", cwd=tmp_path)
    assert_one_line_error(proc, "trial.yaml: not UTF-8 text", "save the file as UTF-8")


def _load(tmp_path, criterion: str):
    """One criterion in a trial file beside the spec concepts."""
    (tmp_path / "concepts").mkdir(exist_ok=True)
    (tmp_path / "concepts" / "c.yaml").write_text(
        (REPO / "tests/fixtures/trials/concepts/spec_concepts.yaml").read_text()
    )
    trial = tmp_path / "t.yaml"
    trial.write_text("id: T\ncriteria:\n  - {id: a, kind: inclusion, text: x, " + criterion + "}\n")
    return load_trials([trial])


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        ("rule: {age: {above: 18, below: 18}}", "can never be met"),
        ("rule: {lab: {concept: alt, above: 3, below: 3, unit: ULN}}", "can never be met"),
        ("rule: {age: {min: 18, above: 20}}", "gives two lower or two upper bounds"),
        ("rule: {age: {max: 65, below: 70}}", "gives two lower or two upper bounds"),
        ("rule: {age: {max: 140}}", r"an age bound is outside 0\.\.130 years"),
        (
            "rule: {diagnosis: {concept: sle, min_count: 0}}",
            "`min_count` must be a whole number of at least 1",
        ),
        (
            "rule: {at_least: {n: 3, of: [{sex: F}, {diagnosis: sle}]}}",
            "`n` must be a whole number from 1 to 2",
        ),
        (
            "rule: {lab: {concept: alt, max: 3, unit: ULN, result: positive}}",
            "gives both a threshold and `result`",
        ),
        ("rule: {diagnosis: {concept: sle, before: 1 year, min_count: 2}}", "`before` cannot be combined"),
        ("assessable: false, reason: consent, rule: {sex: F}", "has a rule but says `assessable: false`"),
        (
            "rule: {derived: {measure: creatinine_clearance, min: 60, unit: mg/dL}}",
            "is in mL/min, not `mg/dL`",
        ),
    ],
)
def test_a_rule_that_cannot_mean_what_it_says_is_refused_at_its_line(tmp_path, criterion, message):
    with pytest.raises(TrialError, match=r"t\.yaml:3: .*" + message):
        _load(tmp_path, criterion)


@pytest.mark.parametrize(
    "criterion",
    [
        "rule: {age: {min: 18, max: 18}}",
        "rule: {age: {max: 130}}",
        "rule: {at_least: {n: 2, of: [{sex: F}, {diagnosis: sle}]}}",
        "rule: {diagnosis: {concept: sle, before: 1 year}}",
        "rule: {derived: {measure: creatinine_clearance, min: 60, unit: mL/min}}",
    ],
)
def test_the_valid_neighbours_of_those_mistakes_are_read(tmp_path, criterion):
    assert _load(tmp_path, criterion)[0][0].criteria[0].rule is not None

"""The examples of docs/criteria-language.md are valid: the trial file parses, every rule
example parses against the shipped concept library, and the concept file loads. A rule or
concept renamed in the code without its example fails here."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from feasibility.criteria.concepts import load_library
from feasibility.criteria.load import load_trials
from feasibility.criteria.parse import parse_trial
from feasibility.units import normalise_unit
from tests.support import REPO

DOC = (REPO / "docs" / "criteria-language.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)
LIBRARY = load_trials(None)[1]


def _examples(block: str) -> list[str]:
    """A block's one-rule examples; a line that starts with a space continues the one above."""
    examples: list[str] = []
    for line in block.splitlines():
        if line.startswith(" ") and examples:
            examples[-1] += "\n" + line
        elif line.strip():
            examples.append(line)
    return examples


RULES = [
    example
    for block in BLOCKS
    if not block.startswith(("id:", "concepts:", "all:"))  # the trial, the library, the schema
    for example in _examples(block)
]


def test_the_doc_has_its_examples():
    assert len(BLOCKS) == 10
    assert len(RULES) >= 15


def test_the_trial_example_parses(tmp_path):
    (trial_text,) = [b for b in BLOCKS if b.startswith("id:")]
    path = tmp_path / "example.yaml"
    path.write_text(trial_text, encoding="utf-8")
    trial = parse_trial(path, LIBRARY)
    assert [c.id for c in trial.criteria] == ["IN1", "IN2", "IN6.2"]
    assert [c.assessable for c in trial.criteria] == [False, True, True]


@pytest.mark.parametrize("example", RULES)
def test_each_rule_example_parses(example, tmp_path):
    rule = yaml.safe_load(example)
    trial = {
        "id": "DOC",
        "title": "an example of docs/criteria-language.md",
        "criteria": [{"id": "C1", "kind": "inclusion", "text": "example", "rule": rule}],
    }
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(trial, allow_unicode=True), encoding="utf-8")
    assert parse_trial(path, LIBRARY).criteria[0].rule is not None


def test_the_concept_file_example_loads(tmp_path):
    (concepts,) = [b for b in BLOCKS if b.startswith("concepts:")]
    folder = tmp_path / "concepts"
    folder.mkdir()
    (folder / "example.yaml").write_text(concepts, encoding="utf-8")
    library = load_library(folder)
    assert library["alt"].unit_factor(normalise_unit("ukat/L")) == 60
    assert library["sle"].exclude and library["sle"].default_uln is None


def test_the_commands_for_a_trial_of_ones_own_work(tmp_path):
    # the doc's opening tells a new author to check and show a trial kept outside `trials/`
    commands = re.findall(r"^    feasibility (check|show) (my-trials/\S*)", DOC, flags=re.M)
    assert [c for c, _ in commands] == ["check", "show"]
    (trial_text,) = [b for b in BLOCKS if b.startswith("id:")]
    (tmp_path / "my-trials").mkdir()
    (tmp_path / "my-trials" / "T1.yaml").write_text(trial_text, encoding="utf-8")
    for command, path in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "feasibility", command, path],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "MC-1-50-SLE" in proc.stdout


def test_the_common_criteria_are_examples_of_the_doc():
    common = [
        example for example in RULES if "history: {concept: methotrexate" in example or "pregnancy" in example
    ]
    assert len(common) == 2


def test_the_concepts_a_new_trial_often_needs_are_not_in_the_library_and_the_example_loads(tmp_path):
    doc = (REPO / "docs" / "concepts.md").read_text(encoding="utf-8")
    section = doc.split("## Concepts a new trial often needs", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[2] for line in section.splitlines() if line.startswith("| ") and "`" in line]
    named = [name for row in rows for name in re.findall(r"`(\w+)`", row)]
    assert named  # the table names at least one
    # a concept added to the library must leave this list
    assert [name for name in named if name in LIBRARY] == []
    (example,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "ln.yaml").write_text(example, encoding="utf-8")
    biopsy = load_library(tmp_path / "concepts")["kidney_biopsy"]
    assert biopsy.kind == "procedure" and [p.system for p in biopsy.codes] == ["ICD10PCS", "ICD10PCS"]

"""docs/trials.md is the trial files' account of themselves: per trial its source texts, its
criteria, how many are assessable and why the others are not (counted, then criterion by
criterion), and which assessable criteria leave part to the investigator in a note."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from feasibility.criteria.load import load_trials
from tests.support import REPO

TRIALS, _ = load_trials(None)
DOC = (REPO / "docs" / "trials.md").read_text(encoding="utf-8")


def _row(trial_id: str) -> list[str]:
    line = next(line for line in DOC.splitlines() if line.startswith(f"| `{trial_id}` |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.parametrize("trial", TRIALS, ids=[t.id for t in TRIALS])
def test_the_computability_table_row_matches_the_trial_file(trial):
    _, sources, total, assessable, not_assessable, why = _row(trial.id)
    assert sources.split(", ") == [s.rsplit("/", 1)[-1] for s in trial.source]
    assert int(total) == len(trial.criteria)
    assert int(assessable) == sum(c.assessable for c in trial.criteria)
    assert int(not_assessable) == sum(not c.assessable for c in trial.criteria)
    # "not in routine data: clinical trial participation" is counted as "not in routine data"
    reasons = Counter(c.reason.split(":")[0] for c in trial.criteria if not c.assessable)
    documented = {m[0]: int(m[1]) for m in re.findall(r"([a-z ]+) \((\d+)\)", why)}
    assert {k.strip(): v for k, v in documented.items()} == dict(reasons)


def _section_items(heading: str, trial_id: str) -> list[str]:
    """The bullet lines under `### trial_id` within the `## heading` section."""
    section = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    block = section.split(f"### {trial_id}\n", 1)[1].split("\n### ", 1)[0]
    return [line for line in block.splitlines() if line.startswith("- ")]


@pytest.mark.parametrize("trial", TRIALS, ids=[t.id for t in TRIALS])
def test_each_criterion_not_assessable_is_listed_with_its_reason(trial):
    expected = [f"- **{c.id}** ({c.kind}): {c.reason}" for c in trial.criteria if not c.assessable]
    assert _section_items("Not assessable, criterion by criterion", trial.id) == expected


@pytest.mark.parametrize("trial", TRIALS, ids=[t.id for t in TRIALS])
def test_the_partly_decided_list_names_every_assessable_criterion_with_a_note(trial):
    noted = [c.id for c in trial.criteria if c.assessable and c.note]
    line = next(line for line in DOC.splitlines() if line.startswith(f"- `{trial.id}`: "))
    assert line == f"- `{trial.id}`: {len(noted)} assessable criteria carry a note: {', '.join(noted)}"

"""docs/trials.md's table of the seed trials is the trial files': per trial its source texts,
its criteria, how many are assessable, and why the others are not, counted by reason."""

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

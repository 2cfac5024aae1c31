"""Every criterion of every shipped trial keeps its protocol text verbatim: each line of it
stands, word for word, in one of the trial's source texts (../shared/seeds/, listed under the
trial's `source:`). Only whitespace and the seeds' Markdown escapes are normalised."""

from __future__ import annotations

import re

import pytest

from feasibility.criteria.load import load_trials
from tests.support import REPO

SEEDS = REPO.parent / "shared"
TRIALS, _ = load_trials(None)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _unescaped(markdown: str) -> str:
    """A seed's text as it reads: its Markdown backslash escapes (`\\>`, `\\~`) are markup,
    which a criterion's text, shown as plain text, does not carry."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!~>|<])", r"\1", markdown)


@pytest.mark.parametrize("trial", TRIALS, ids=[t.id for t in TRIALS])
def test_criterion_texts_are_verbatim(trial):
    assert trial.source, f"{trial.id} names no source"
    sources = " ".join(_flat(_unescaped((SEEDS / s).read_text(encoding="utf-8"))) for s in trial.source)
    for criterion in trial.criteria:
        for line in criterion.text.splitlines():
            assert _flat(line) in sources, (criterion.id, line)

"""The DuckDB engine renders its statements without copying them first: rendering must leave
every statement as it was, or a statement rendered twice (or sharing a subtree with another)
would change."""

from __future__ import annotations

from sqlglot import exp

from feasibility.criteria.in_care import DEFAULT_ACTIVE_WITHIN, with_in_care_step
from feasibility.criteria.load import load_trials
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from tests.support import REPO


class CheckedEngine(Engine):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.rendered = 0

    def _sql(self, query: exp.Expression) -> str:
        before = query.copy()
        text = super()._sql(query)
        assert query == before, f"rendering changed the statement:\n{text[:500]}"
        assert super()._sql(query) == text
        self.rendered += 1
        return text


def test_rendering_leaves_every_statement_unchanged():
    trials, library = load_trials(None)
    trials = [with_in_care_step(t, DEFAULT_ACTIVE_WITHIN) for t in trials]
    options = RunOptions(check_duplicates=True, keep_patient_masks=True)
    engine = CheckedEngine(connect(options), trials, library, options)
    result = engine.evaluate(str(REPO / "sample_data/extract.parquet"))
    engine.monthly(result, 2)
    engine.rule_values(trials[0])
    engine.patient_masks(0)
    assert engine.rendered > 10

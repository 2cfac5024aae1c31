"""`feasibility sql`: the compiled pipeline as SQL text for one dialect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlglot import exp

from feasibility.compile.aggregate import latest_event_date
from feasibility.compile.pipeline import Statement, code_dictionary, first_passes, render, statements
from feasibility.compile.plan import plan_features
from feasibility.compile.sqlexpr import create_as
from feasibility.criteria.concepts import ConceptLibrary
from feasibility.criteria.model import FIGURE_TOLERANCE, Trial


def listing(
    trials: Sequence[Trial],
    library: ConceptLibrary,
    dialect: str,
    as_of: date | None = None,
    index_column: bool = False,
) -> str:
    """Every statement of a run, with comments, rendered for `dialect`."""
    plan = plan_features(trials, library)
    default: date | exp.Expr = as_of if as_of else latest_event_date()
    concepts = ", ".join(f"{i} = {c.name}" for i, c in enumerate(plan.concepts))
    parts = [
        f"-- feasibility: compiled SQL for {', '.join(t.id for t in trials)} ({dialect})",
        "-- Input: a table or view `events` with the extract contract's columns.",
        "-- Thresholds on computed figures (results, doses, totals, derived measures) are moved",
        f"-- out by {FIGURE_TOLERANCE:.0e} (relative), so a figure equal to one but for binary rounding",
        "-- meets it: `<= 3.000000003` is `at most 3` (docs/criteria-language.md).",
    ]
    first = first_passes(default, index_column)
    for number, statement in enumerate(first, start=1):
        parts += _statement_text(number, statement, dialect)
    n = len(first)
    parts += [
        "",
        f"-- {n + 1}. code dictionary: the distinct (code system, code, unit) triples",
        render(code_dictionary(plan), dialect, pretty=True) + ";",
        "",
        f"-- {n + 2}. code_map(code_system, code, unit, concept_id, factor, low, high, uln) is built",
        f"--    by the engine from ({n + 1}) and the concept library (prefix patterns, exclusions,",
        f"--    unit conversions, dose factors, plausible ranges). Concept ids: {concepts}",
    ]
    for number, statement in enumerate(statements(trials, plan, default, index_column, dialect), start=n + 3):
        parts += _statement_text(number, statement, dialect)
    return "\n".join(parts) + "\n"


def _statement_text(number: int, statement: Statement, dialect: str) -> list[str]:
    """A blank line, the numbered comment naming the statement, and its SQL: the table or
    view it creates, or the final query."""
    expression = statement.expression
    if statement.creates:
        expression = create_as(statement.creates, expression, view=statement.view, temporary=False)
    body = render(expression, dialect, pretty=True)
    return ["", f"-- {number}. {statement.name}: {statement.note}", body + ";"]

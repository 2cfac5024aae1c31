"""The compiled statements of a run, in order, renderable for any supported SQL dialect.

The DuckDB engine executes them; `feasibility sql` prints them; the Spark engine runs them
on a cluster. One set of sqlglot expressions serves all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from feasibility.compile.aggregate import patient_concept_query, patients_query
from feasibility.compile.atoms import atom_masks_query
from feasibility.compile.histogram import histogram_query
from feasibility.compile.plan import Plan
from feasibility.compile.predicates import PredicateCompiler
from feasibility.criteria.model import Trial
from feasibility.errors import FeasibilityError
from feasibility.resources import sql_text

DIALECTS = ("duckdb", "spark", "trino", "postgres")

# Constructs a dialect cannot express the way the compiler uses them. sqlglot renders some
# of them anyway (as a function the engine lacks, or a ROW whose fields lose their names),
# so they are refused here, loudly, before any SQL is shown or run.
UNSUPPORTED: dict[str, dict[type, str]] = {
    "postgres": {exp.ArgMax: "arg_max / max_by (latest result per patient)", exp.Struct: "named structs"},
    "trino": {exp.Struct: "named struct fields (Trino ROW fields lose their names)"},
}


@dataclass(frozen=True)
class Statement:
    """One step of the pipeline: the table it creates (or None for the final result)."""

    name: str
    creates: str | None
    expression: exp.Expression
    note: str


def code_dictionary() -> exp.Expression:
    return sqlglot.parse_one(sql_text("code_dictionary.sql"), read="duckdb")


def statements(
    trials: Sequence[Trial], plan: Plan, default_index: date | exp.Expression, has_index_column: bool
) -> list[Statement]:
    """The statements that follow the code map, in order."""
    compiler = PredicateCompiler(plan)
    return [
        Statement(
            "patient_concept",
            "patient_concept",
            patient_concept_query(plan, default_index, has_index_column),
            "the one pass: events joined to the code map, grouped by patient and concept",
        ),
        Statement(
            "atom_masks",
            "atom_masks",
            atom_masks_query(plan),
            "each single-concept atom evaluated once on its row, packed into bit words",
        ),
        Statement(
            "patients",
            "patients",
            patients_query(plan, default_index, has_index_column),
            "one row per patient with every feature",
        ),
        Statement(
            "histogram",
            None,
            histogram_query(trials, compiler),
            "patients counted by (passed, unknown) criterion masks per trial and site",
        ),
    ]


def render(expression: exp.Expression, dialect: str, pretty: bool = False) -> str:
    """SQL text for a dialect; constructs it cannot express raise a one-line error."""
    if dialect not in DIALECTS:
        raise FeasibilityError(
            f"unknown dialect `{dialect}`", where="--dialect", fix=f"use one of {', '.join(DIALECTS)}"
        )
    for node_type, what in UNSUPPORTED.get(dialect, {}).items():
        if expression.find(node_type) is not None:
            raise FeasibilityError(
                f"{dialect} cannot express {what}", where="--dialect", fix="use duckdb or spark"
            )
    try:
        return expression.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as e:
        raise FeasibilityError(
            f"{dialect} cannot express part of the query ({e})", where="--dialect", fix="use duckdb or spark"
        ) from None

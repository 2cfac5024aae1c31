"""Small builders over sqlglot expressions, so compiler code reads like the SQL it makes.

Every value from a trial file or an extract enters SQL as a literal node, never as text
pasted into a query, so no name, code or text can change a query's structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlglot import exp

from feasibility.criteria.model import WRITTEN_BOUNDS, Comparison, Duration


def col(name: str, table: str | None = None) -> exp.Column:
    """A quoted column reference, so a column named like a keyword (`code`) stays a column."""
    return exp.column(name, table=table, quoted=True)


def lit(value: object) -> exp.Expr:
    """A literal: number, string, bool or NULL."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int | float):
        return exp.Literal.number(repr(float(value)) if isinstance(value, float) else value)
    return exp.Literal.string(str(value))


def date_lit(d: date) -> exp.Expr:
    """A DATE literal, as a cast every dialect reads."""
    return exp.cast(lit(d.isoformat()), "DATE")


def null_bool() -> exp.Expr:
    """NULL typed BOOLEAN: UNKNOWN, with a boolean type in every dialect."""
    return exp.cast(exp.null(), "BOOLEAN", copy=False)


def truth(value: bool | None) -> exp.Expr:
    """TRUE, FALSE or a typed NULL (UNKNOWN)."""
    return null_bool() if value is None else lit(value)


def paren(e: exp.Expr) -> exp.Expr:
    """`e` in parentheses unless it is atomic, so it nests safely inside any operator."""
    return e if isinstance(e, exp.Paren | exp.Column | exp.Literal | exp.Boolean) else exp.Paren(this=e)


def and_(*parts: exp.Expr) -> exp.Expr:
    """The parts AND-ed, each parenthesised, built in place."""
    return exp.and_(*(paren(p) for p in parts), copy=False)


def or_(*parts: exp.Expr) -> exp.Expr:
    """The parts OR-ed, each parenthesised, built in place."""
    return exp.or_(*(paren(p) for p in parts), copy=False)


def union_all(queries: Sequence[exp.Query]) -> exp.Query:
    """UNION ALL of the queries, built in place (sqlglot's `union` copies its inputs, which
    is quadratic over many branches)."""
    result: exp.Query = queries[0]
    for q in queries[1:]:
        result = exp.Union(this=result, expression=q, distinct=False)
    return result


def create_as(name: str, query: exp.Expr, view: bool = False, temporary: bool = True) -> exp.Create:
    """CREATE [OR REPLACE TEMPORARY] TABLE (or VIEW) `name` AS `query`: a temporary one
    replaces any earlier one of the same name, as each run re-creates its own."""
    return exp.Create(
        this=exp.to_table(name),
        kind="VIEW" if view else "TABLE",
        expression=query,
        replace=temporary,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None,
    )


def drop(name: str, view: bool = False) -> exp.Drop:
    """DROP TABLE (or VIEW) IF EXISTS `name`."""
    return exp.Drop(tables=[exp.to_table(name)], kind="VIEW" if view else "TABLE", exists=True)


def set_(name: str, value: object) -> exp.Set:
    """SET name = value, the value a literal (or an expression such as a list of them)."""
    item = exp.EQ(this=exp.var(name), expression=value if isinstance(value, exp.Expr) else lit(value))
    return exp.Set(expressions=[exp.SetItem(this=item)])


def read_parquet(files: Sequence[str], *, union_by_name: bool = False) -> exp.Expr:
    """DuckDB's read_parquet over a list of files, read as one table in the order given;
    `union_by_name` reads each column as the common type of its files' types rather than as
    the first file's."""
    files_list = exp.Array(expressions=[lit(f) for f in files])
    if not union_by_name:
        return exp.func("read_parquet", files_list)
    return exp.func(
        "read_parquet", files_list, exp.EQ(this=exp.column("union_by_name"), expression=exp.true())
    )


def not_(e: exp.Expr) -> exp.Expr:
    """NOT `e` (UNKNOWN stays UNKNOWN)."""
    return exp.Not(this=paren(e))


def case(whens: Sequence[tuple[exp.Expr, exp.Expr]], default: exp.Expr | None = None) -> exp.Case:
    """CASE WHEN ... THEN ... [ELSE default] END, built in place (no default: NULL)."""
    c = exp.Case()
    for cond, value in whens:
        c = c.when(cond, value, copy=False)
    return c.else_(default, copy=False) if default is not None else c


def func(name: str, *args: exp.Expr) -> exp.Expr:
    """A call of the SQL function `name`: sqlglot's own node where it knows the function, so
    each dialect renders its own spelling."""
    return exp.func(name, *args)


def is_null(e: exp.Expr) -> exp.Expr:
    """`e IS NULL`."""
    return exp.Is(this=e, expression=exp.null())


def not_null(e: exp.Expr) -> exp.Expr:
    """`NOT e IS NULL`."""
    return exp.Not(this=is_null(e))


def field(struct: exp.Expr, name: str) -> exp.Expr:
    """`struct.name`: one field of a struct value."""
    return exp.Dot(this=struct, expression=exp.to_identifier(name))


def struct(**fields: exp.Expr) -> exp.Expr:
    """A struct with named fields, in the order given."""
    return exp.Struct(
        expressions=[exp.PropertyEQ(this=exp.to_identifier(k), expression=v) for k, v in fields.items()]
    )


def agg_filter(agg: exp.Expr, where: exp.Expr) -> exp.Expr:
    """`agg FILTER (WHERE where)`."""
    return exp.Filter(this=agg, expression=exp.Where(this=where))


def window_start(index: exp.Expr, within: Duration) -> exp.Expr:
    """The first day of a look-back window ending at `index`."""
    if within.unit in ("day", "week"):
        # Whole days as date arithmetic, not INTERVALs: DuckDB compares INTERVAL '3 months'
        # equal to INTERVAL '90 days' and merges the two as one common subexpression.
        days = within.amount * (7 if within.unit == "week" else 1)
        return exp.Sub(this=index, expression=exp.Literal.number(days))
    return exp.DateSub(
        this=index, expression=exp.Literal.number(within.amount), unit=exp.Var(this=within.unit.upper())
    )


# the SQL operators of the comparison operators written in the criteria model
OPS: dict[str, type[exp.Binary]] = {">=": exp.GTE, "<=": exp.LTE, ">": exp.GT, "<": exp.LT}


def compare(value: exp.Expr, cmp: Comparison) -> exp.Expr:
    """`value` against every bound; NULL when value is NULL (UNKNOWN)."""
    parts = [OPS[op](this=paren(value.copy()), expression=lit(_whole(t))) for op, t in cmp.bounds()]
    return and_(*parts) if len(parts) > 1 else parts[0]


def compare_written(value: exp.Expr, written: exp.Expr, way: exp.Expr, cmp: Comparison) -> exp.Expr:
    """A figure against every bound of `cmp` (as written, not widened): its `value` where
    it has one (against the widened bounds, as `compare`), else the number of a bound
    `written` in the `way` (its place in WRITTEN_BOUNDS: `<N`, `<=N`, ...), which decides a
    bound only where the values it stands for lie wholly on one side of it
    (`Comparison.against_written`); NULL (UNKNOWN) otherwise."""
    parts: list[exp.Expr] = []
    tests = [cmp.against_written(bound) for bound in WRITTEN_BOUNDS]
    for i, (op, t) in enumerate(cmp.widened().bounds()):
        decisions = [(lit(verdict), test, lit(limit)) for verdict, test, limit in (d[i] for d in tests)]
        branches = [(not_null(value.copy()), OPS[op](this=paren(value.copy()), expression=lit(_whole(t))))]
        parts.append(case([*branches, *written_branches(written, way, decisions)]))
    return and_(*parts) if len(parts) > 1 else parts[0]


def written_branches(
    written: exp.Expr, way: exp.Expr, decisions: Sequence[tuple[exp.Expr, str, exp.Expr]]
) -> list[tuple[exp.Expr, exp.Expr]]:
    """CASE branches deciding the number of a bound `written` in the `way` (its place in
    WRITTEN_BOUNDS), given each way's decision in that order: (verdict, test, limit), the
    verdict holding where `written test limit` does. Ways with one decision share a branch
    (`way IN (0, 1)`)."""
    shared: dict[tuple[str, str, str], tuple[list[int], exp.Expr, str, exp.Expr]] = {}
    for i, (verdict, test, limit) in enumerate(decisions):
        shared.setdefault((verdict.sql(), test, limit.sql()), ([], verdict, test, limit))[0].append(i)
    branches: list[tuple[exp.Expr, exp.Expr]] = []
    for ways, verdict, test, limit in shared.values():
        which: exp.Expr = exp.EQ(this=way.copy(), expression=lit(ways[0]))
        if len(ways) > 1:
            which = exp.In(this=way.copy(), expressions=[lit(i) for i in ways])
        decided = OPS[test](this=written.copy(), expression=limit.copy())
        branches.append((and_(which, decided), verdict.copy()))
    return branches


def _whole(threshold: float) -> int | float:
    """A whole threshold as an integer: DuckDB reads 18.0 as a DECIMAL and casts an integer
    column (an age) to DECIMAL on every row to compare it; an integer compares directly,
    and a DOUBLE value against an integer costs nothing more."""
    return int(threshold) if float(threshold).is_integer() and abs(threshold) < 2**53 else threshold

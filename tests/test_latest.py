"""The packed figures of the latest result: one MAX must find the latest day and, on it,
the highest known value, and the pack must give back exactly what went in."""

from __future__ import annotations

import itertools

import duckdb
import pytest
from sqlglot import exp

from feasibility.compile.latest import Packing
from feasibility.compile.sqlexpr import lit

VALUES = [-1e300, -7.25, -2.5, -1e-300, 0.0, 1e-300, 0.1, 3.0, 3.025, 121 / 40, 7.5, 1e10, 1e300]
DAYS = [0, 1, 739_000, 739_001]


def _pack(day: int, known: int, value: float, flag: int) -> exp.Expression:
    figure = lit(value) if known else exp.cast(exp.null(), "DOUBLE")
    return Packing("duckdb").pack(lit(day), figure, lit(flag))


@pytest.fixture(scope="module")
def con():
    return duckdb.connect()


def _row(con, *expressions: exp.Expression) -> tuple:
    """The values of the expressions, selected in one row."""
    return con.execute("SELECT " + ", ".join(e.sql("duckdb") for e in expressions)).fetchone()


@pytest.mark.parametrize(("value", "flag"), list(itertools.product(VALUES, range(4))))
def test_unpack_gives_back_what_was_packed(con, value, flag):
    packing = Packing("duckdb")
    packed = exp.Paren(this=_pack(739_000, 1, value, flag))
    got = _row(
        con,
        packing.day(packed.copy()),
        packing.known(packed.copy()),
        packing.value(packed.copy()),
        packing.flag(packed.copy()),
    )
    assert got == (739_000, True, value, flag)


def test_integer_order_is_day_then_known_then_value_then_flag(con):
    # a figure not known packs alike whatever value it is given: one per day and flag
    figures = [(d, 1, v, f) for d in DAYS for v in VALUES for f in (0, 3)]
    figures += [(d, 0, 0.0, f) for d in DAYS for f in range(4)]
    packed = _row(con, *(_pack(*figure) for figure in figures))
    assert [f for _, f in sorted(zip(packed, figures, strict=True))] == sorted(figures)


def test_minus_zero_packs_as_zero(con):
    # -0.0 and 0.0 are one value: equal packs, so neither wins a tie it should not
    plus, minus = _row(con, _pack(1, 1, 0.0, 0), _pack(1, 1, -0.0, 0))
    assert plus == minus


def test_latest_reads_the_figure_only_on_the_latest_day(con):
    packing = Packing("duckdb")
    packed = exp.Paren(this=_pack(10, 1, 4.5, 0))
    on_day, before, unknown = _row(
        con,
        packing.latest(packed.copy(), lit(10)),
        packing.latest(packed.copy(), lit(11)),
        packing.latest(exp.Paren(this=_pack(10, 0, 0.0, 0)), lit(10)),
    )
    assert (on_day, before, unknown) == (4.5, None, None)


def test_a_figure_not_known_unpacks_as_not_known(con):
    packing = Packing("duckdb")
    packed = exp.Paren(this=_pack(10, 0, 0.0, 1))
    got = _row(con, packing.day(packed.copy()), packing.known(packed.copy()), packing.flag(packed))
    assert got == (10, False, 1)


def _pack_whole(day: int, figure: int | None, flag: int) -> exp.Expression:
    value = lit(figure) if figure is not None else exp.cast(exp.null(), "INT")
    return Packing("duckdb").pack(lit(day), value, lit(flag), whole=True)


@pytest.mark.parametrize(("figure", "flag"), list(itertools.product((0, 1), range(4))))
def test_a_whole_figure_unpacks_as_packed(con, figure, flag):
    packing = Packing("duckdb")
    packed = exp.Paren(this=_pack_whole(739_000, figure, flag))
    got = _row(
        con,
        packing.day(packed.copy()),
        packing.known(packed.copy()),
        packing.value(packed.copy(), whole=True),
        packing.flag(packed.copy()),
        packing.latest(packed.copy(), lit(739_000), whole=True),
    )
    assert got == (739_000, True, float(figure), flag, float(figure))


def test_a_whole_figure_orders_as_the_same_figure_packed_as_a_double(con):
    # positivity packs whole: the MAX must pick the row the double's pack picks
    figures = [(d, v, f) for d in DAYS for v in (None, 0, 1) for f in range(4)]
    whole = _row(con, *(_pack_whole(*figure) for figure in figures))
    double = _row(con, *(_pack(d, int(v is not None), float(v or 0), f) for d, v, f in figures))
    assert sorted(range(len(figures)), key=lambda i: whole[i]) == sorted(
        range(len(figures)), key=lambda i: double[i]
    )
    assert len(set(whole)) == len(figures)

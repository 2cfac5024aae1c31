"""The latest result of a measurement, found with plain MAX aggregates.

A measurement atom compares the latest result before the index date. Several figures of a
result matter (its value in the concept's unit, its multiple of the upper limit of normal,
whether it reads as positive), and a date may hold several results. Each figure is packed
with its date into one orderable value, so one MAX per figure finds the latest date and,
on that date, the highest figure: no sort, no struct key, and the same answer whatever the
row order or thread count.

On DuckDB the pack is a HUGEINT: the day, the value's IEEE 754 bits turned so that integer
order is numeric order and offset by one (0 is a figure not known, such as a value in a
unit the concept does not know, which ranks below any known one and reads as UNKNOWN), and
a flag of two bits (a figure read against a default limit; how a bound is written). The
figure's expression appears twice in the pack, its fewest: DuckDB shares no subexpression
inside an aggregate's argument, so every appearance is evaluated on every row. A whole
figure, 0 or 1 (positivity), orders as itself and packs plus one, appearing once. Other
dialects, which cannot reach a double's bits, pack a struct, which they order field by
field; the figures are the same.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from feasibility.compile.sqlexpr import case, date_lit, field, func, lit, not_null, paren, struct

EPOCH = date(1, 1, 1)  # day numbers from here are never negative, so the packs are not
# Bit positions in the pack: shifts and masks, not HUGEINT division, which costs a hundred
# times more per row. The value field is 65 bits: the turned bits made unsigned, plus one.
_VALUE_AT, _DAY_AT = 2, 67
_SIGN = 2**63  # offset that makes the turned bits unsigned
_LOW_63 = 2**63 - 1
_LOW_65 = 2**65 - 1


def day_number(d: exp.Expr) -> exp.Expr:
    """Days since 1 January of year 1: an integer that orders like the date."""
    return exp.DateDiff(this=d, expression=date_lit(EPOCH), unit=exp.Var(this="DAY"))


def from_day_number(day: exp.Expr) -> exp.Expr:
    """The date of a day number (see `day_number`)."""
    return exp.DateAdd(this=date_lit(EPOCH), expression=exp.cast(day, "INT"), unit=exp.Var(this="DAY"))


def written_columns(figure: str) -> tuple[str, str]:
    """The columns a figure's pack of bounds unpacks into (`number`: the latest day's
    highest bound's number, `latest_number_written`, and the way it is written,
    `latest_number_way`), which the atoms and the derived measures read."""
    return f"latest_{figure}_written", f"latest_{figure}_way"


def _hugeint(e: exp.Expr) -> exp.Expr:
    return exp.cast(e, "HUGEINT", copy=False)


def _bits(value: exp.Expr) -> exp.Expr:
    """A DOUBLE's IEEE 754 bits as a BIGINT."""
    return exp.cast(exp.cast(value, "BIT", copy=False), "BIGINT", copy=False)


def _turned(bits: exp.Expr) -> exp.Expr:
    """IEEE bits whose signed integer order is the doubles' numeric order (and back: the
    turn is its own inverse): negative doubles have their magnitude bits flipped. The
    arithmetic shift gives all ones for a negative, so `bits` appears twice, not three
    times as in a CASE."""
    sign = paren(exp.BitwiseRightShift(this=bits, expression=lit(63)))
    magnitude = paren(exp.BitwiseAnd(this=sign, expression=exp.cast(lit(_LOW_63), "BIGINT", copy=False)))
    return exp.BitwiseXor(this=bits.copy(), expression=magnitude)


def _plus_zero(value: exp.Expr) -> exp.Expr:
    # + 0.0 turns -0.0 into 0.0, so equal values pack equal
    return exp.cast(exp.Add(this=paren(value), expression=lit(0.0)), "DOUBLE")


def _shift(e: exp.Expr, by: int) -> exp.Expr:
    return paren(exp.BitwiseLeftShift(this=paren(e), expression=lit(by)))


def _bits_at(packed: exp.Expr, at: int, mask: int) -> exp.Expr:
    # parenthesised: SQL binds `&` looser than `-` and `=`
    shifted = paren(exp.BitwiseRightShift(this=paren(packed), expression=lit(at)))
    return paren(exp.BitwiseAnd(this=shifted, expression=lit(mask)))


class Packing:
    """Packs (day, figure, flag) into one value whose MAX is the latest figure."""

    def __init__(self, dialect: str):
        self.bits = dialect == "duckdb"

    def pack(self, day: exp.Expr, figure: exp.Expr, flag: exp.Expr, whole: bool = False) -> exp.Expr:
        """`figure`: a DOUBLE, NULL when not known, or with `whole` an integer 0 or 1;
        `flag`: 0 to 3."""
        if not self.bits:
            known = case([(not_null(figure.copy()), lit(1))], lit(0))
            return struct(d=day, k=known, v=_plus_zero(func("coalesce", figure, lit(0.0))), f=flag)
        if whole:
            # 0 or 1 orders as itself: plus one, it needs no turn, and appears once
            turned = _hugeint(exp.Add(this=paren(figure), expression=lit(1)))
        else:
            # NULL passes through the casts and the turn: a figure not known packs a 0 value
            turned = exp.Add(this=_hugeint(_turned(_bits(_plus_zero(figure)))), expression=lit(_SIGN + 1))
        return exp.Add(
            this=_shift(_hugeint(day), _DAY_AT),
            expression=exp.Add(
                this=_shift(func("coalesce", turned, lit(0)), _VALUE_AT), expression=paren(flag)
            ),
        )

    def day(self, packed: exp.Expr) -> exp.Expr:
        """The day number packed (see `day_number`)."""
        if not self.bits:
            return field(packed, "d")
        return paren(exp.BitwiseRightShift(this=paren(packed), expression=lit(_DAY_AT)))

    def known(self, packed: exp.Expr) -> exp.Expr:
        """Whether the packed figure is known (a BOOLEAN)."""
        if not self.bits:
            return exp.EQ(this=field(packed, "k"), expression=lit(1))
        return exp.NEQ(this=_bits_at(packed, _VALUE_AT, _LOW_65), expression=lit(0))

    def value(self, packed: exp.Expr, whole: bool = False) -> exp.Expr:
        """The figure packed, as a DOUBLE (meaningful only where `known`; see `pack` for
        `whole`)."""
        if not self.bits:
            return field(packed, "v")
        if whole:
            one_more = exp.Sub(this=_bits_at(packed, _VALUE_AT, _LOW_65), expression=lit(1))
            return exp.cast(one_more, "DOUBLE", copy=False)
        turned = exp.Sub(this=_bits_at(packed, _VALUE_AT, _LOW_65), expression=lit(_SIGN + 1))
        bits = _turned(exp.cast(turned, "BIGINT", copy=False))
        return exp.cast(exp.cast(bits, "BIT", copy=False), "DOUBLE", copy=False)

    def flag(self, packed: exp.Expr) -> exp.Expr:
        """The flag packed, 0 to 3."""
        if not self.bits:
            return field(packed, "f")
        return _bits_at(packed, 0, 3)

    def latest(self, packed: exp.Expr, latest_day: exp.Expr, whole: bool = False) -> exp.Expr:
        """The packed figure's value if it was recorded on the latest date and is known."""
        on_latest = exp.EQ(this=self.day(packed), expression=latest_day)
        known_on_latest = exp.And(this=on_latest, expression=self.known(packed.copy()))
        return case([(known_on_latest, self.value(packed.copy(), whole))])

"""Small-cell protection for numbers that leave the site.

Policy (with `min_cell` K > 0):
- a count from the data (a *primary* count) of 0 is shown as 0; any other count is rounded
  to the nearest multiple of 5 (at least 5), and published only when every count that
  rounds to that value is at least K; otherwise it is suppressed. So whether a count is
  shown, and as what, depends on its rounded value only: reports of one extract made with
  different K reveal no more than the one with the smallest K (with a threshold on the count
  itself, the largest K at which a count is still shown would be the count). With K = 11,
  13 and more are shown (11 and 12 round to 10, which 8 could too), and the label of a
  suppressed count is `<13`;
- every number that is a difference of counts (failed, leave-one-out gains, ...) is 0 when
  it is exactly 0, like a primary 0; otherwise it is derived from the *published* primaries
  and suppressed when that gives less than K (published numbers that cancel would otherwise
  show a small count as 0);
- a model fitted to counts (the enrollment forecast) is fitted to the published counts, a
  suppressed one taken as the middle of the suppressed counts (`for_models`), since its
  outputs would give back the exact counts it was fitted to.
- across sites, whose counts add up to ALL's: see `reports/breakdown.py`.
Because every published non-zero number carries a rounding error of up to ±2, the exact
value of any difference of two published numbers stays uncertain by several units, so no
count below K can be recovered by subtracting published numbers. `min_cell` 0 gives exact
counts for use inside the site only.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

ROUND_TO = 5


DEFAULT_MIN_CELL = 11  # the smallest count a shared report shows, unless --min-cell says otherwise


@dataclass(frozen=True)
class Protection:
    """The policy in force for one report."""

    min_cell: int = DEFAULT_MIN_CELL

    @property
    def exact(self) -> bool:
        """Whether counts are shown exactly (`--min-cell 0`: for the site's own use only)."""
        return self.min_cell <= 0

    def smallest_shown(self) -> int:
        """The smallest value published: the smallest multiple of ROUND_TO that no count
        below K rounds to."""
        value = ROUND_TO
        while _lowest_rounding_to(value) < self.min_cell:
            value += ROUND_TO
        return value

    def shown_from(self) -> int:
        """The smallest count published (K, or more where K falls inside a rounding bin):
        a suppressed count is shown as `<` this."""
        return max(1, self.min_cell) if self.exact else _lowest_rounding_to(self.smallest_shown())

    def count(self, value: int | Fraction) -> int | None:
        """A primary count as published; None when suppressed."""
        if self.exact:
            return value  # type: ignore[return-value]
        if value == 0:
            return 0
        rounded = max(ROUND_TO, int(ROUND_TO * round(Fraction(value) / ROUND_TO)))
        return rounded if rounded >= self.smallest_shown() else None

    def difference(self, minuend: int | None, *subtrahends: int | None, exact: int) -> int | None:
        """A count derived from published numbers: minuend minus the others. `exact` is the
        same difference of the exact counts: 0 only when it is exactly 0."""
        if self.exact or exact == 0:
            return exact
        if minuend is None or any(s is None for s in subtrahends):
            return None
        value = minuend - sum(s for s in subtrahends if s is not None)
        return None if value < self.min_cell else value

    def for_models(self, value: int) -> int:
        """A count as a model whose outputs are published may use it: the published count,
        or the middle of the suppressed counts when it is suppressed (so a suppressed count
        is neither read as nothing nor as the threshold)."""
        shown = self.count(value)
        return suppressed_middle(self.shown_from()) if shown is None else shown

    def describe(self) -> dict:
        """The policy, as written into every report."""
        if self.exact:
            return {
                "min_cell": 0,
                "shareable": False,
                "policy": "exact counts: FOR USE INSIDE THE SITE ONLY, must not be shared",
            }
        below = self.shown_from()  # 1 (nothing suppressed), or 8 and more
        suppressed = (
            f"counts from 1 to {below - 1} are suppressed (shown as <{below}: they round to a "
            f"value that a count below {self.min_cell} could have); other"
            if below > 1
            else "no count is suppressed (--min-cell 1);"
        )
        # a zero is suppressed only beside a suppressed ALL count, which needs something suppressed
        zeros = "; at a site, a 0 is suppressed too where the ALL count is" if below > 1 else ""
        weaker = (
            f"; this is weaker than the default --min-cell {DEFAULT_MIN_CELL}: check the site's own "
            "rules before sharing"
            if self.min_cell < DEFAULT_MIN_CELL
            else ""
        )
        return {
            "min_cell": self.min_cell,
            "suppressed_below": below,
            "round_to": ROUND_TO,
            "shareable": True,
            "policy": (
                f"{suppressed} counts are rounded to a multiple of {ROUND_TO} (at least "
                f"{ROUND_TO}); failed counts, "
                f"gains and other differences are computed from the published values{zeros}{weaker}"
            ),
        }

    def show(self, value: int | None) -> str:
        """A published number as text."""
        return f"<{self.shown_from()}" if value is None else f"{value:,}"


def _lowest_rounding_to(value: int) -> int:
    """The smallest count published as `value` (a multiple of ROUND_TO): counts from 1 up
    are published as ROUND_TO at least."""
    return 1 if value == ROUND_TO else value - ROUND_TO // 2


# The report's counts derived from others (`Protection.difference`; `false` is `alone.false`).
# Suppressed, one may be large (an operand of it was suppressed) or a little above K (its
# operands are rounded), so it reads `withheld`, never `<K`.
DERIVED_KEYS = frozenset({"failed", "false", "loo_gain", "loo_gain_potential"})
WITHHELD = "withheld"


def suppressed_text(key: str, protection: dict) -> str:
    """How the suppressed count at report key `key` reads: `withheld` or `<K`."""
    return suppressed_as(key, suppressed_label(protection))


def suppressed_as(key: str, k: int) -> str:
    """`suppressed_text` given the report's K (see `suppressed_label`)."""
    return WITHHELD if key in DERIVED_KEYS else f"<{k}"


def sharing(protection: dict) -> str:
    """From a report's `protection`: the `sharing` cell of its CSV rows (and of compare's),
    which says on every row whether the counts may leave the site."""
    if protection["shareable"]:
        return f"shareable (--min-cell {protection['min_cell']})"
    return "EXACT COUNTS (--min-cell 0): do not share"


def suppressed_middle(shown_from: int) -> int:
    """The value a model takes for a count published as suppressed (`<shown_from`): the
    middle of the suppressed counts, 1 to shown_from - 1, neither nothing nor the threshold."""
    return max(1, shown_from // 2)


def suppressed_label(protection: dict) -> int:
    """From a report's `protection`: the K of the `<K` that stands for a suppressed count
    (reports written before `suppressed_below` existed used `min_cell`)."""
    return int(protection.get("suppressed_below", protection["min_cell"]))

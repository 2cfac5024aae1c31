"""Small-cell protection for numbers that leave the site.

Policy (with `min_cell` K > 0):
- a count from the data (a *primary* count) of 0 is shown as 0; 1..K-1 is suppressed;
  K or more is rounded to a multiple of 5, never below K;
- every number that is a difference of counts (failed, leave-one-out gains, ...) is 0 when
  it is exactly 0, like a primary 0; otherwise it is derived from the *published* primaries
  and suppressed when that gives less than K (published numbers that cancel would otherwise
  show a small count as 0);
- a model fitted to counts (the enrollment forecast) is fitted to the published counts, a
  suppressed one taken as K // 2, at least 1 (`for_models`), since its outputs would give back the exact
  counts it was fitted to.
- across sites, whose counts add up to ALL's: see `reports/breakdown.py`.
Because every published non-zero number carries a rounding error of up to ±2, the exact
value of any difference of two published numbers stays uncertain by several units, so no
count of 1..K-1 can be recovered by subtracting published numbers. `min_cell` 0 gives exact
counts for use inside the site only.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

ROUND_TO = 5


@dataclass(frozen=True)
class Protection:
    """The policy in force for one report."""

    min_cell: int = 11

    @property
    def exact(self) -> bool:
        """Whether counts are shown exactly (`--min-cell 0`: for the site's own use only)."""
        return self.min_cell <= 0

    def smallest_shown(self) -> int:
        """The smallest count published: K rounded up to a multiple of ROUND_TO."""
        return -(-self.min_cell // ROUND_TO) * ROUND_TO

    def count(self, value: int | Fraction) -> int | None:
        """A primary count as published; None when suppressed."""
        if self.exact:
            return value  # type: ignore[return-value]
        if value == 0:
            return 0
        if value < self.min_cell:
            return None
        rounded = int(ROUND_TO * round(Fraction(value) / ROUND_TO))
        return max(rounded, self.smallest_shown())

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
        or K // 2 (at least 1) when it is suppressed (the middle of 1..K-1, so a suppressed
        count is neither read as nothing nor as the threshold)."""
        shown = self.count(value)
        return max(1, self.min_cell // 2) if shown is None else shown

    def describe(self) -> dict:
        """The policy, as written into every report."""
        if self.exact:
            return {
                "min_cell": 0,
                "shareable": False,
                "policy": "exact counts: FOR USE INSIDE THE SITE ONLY, must not be shared",
            }
        small = "counts of 1" if self.min_cell == 2 else f"counts from 1 to {self.min_cell - 1}"
        suppressed = (
            f"{small} are suppressed (shown as <{self.min_cell}); other"
            if self.min_cell > 1
            else "no count is suppressed (--min-cell 1);"
        )
        return {
            "min_cell": self.min_cell,
            "round_to": ROUND_TO,
            "shareable": True,
            "policy": (
                f"{suppressed} counts are rounded to a multiple of {ROUND_TO}; failed counts, "
                "gains and other differences are computed from the published values; at a site, a 0 "
                "is suppressed too where the ALL count is"
            ),
        }

    def show(self, value: int | None) -> str:
        """A published number as text."""
        return f"<{self.min_cell}" if value is None else f"{value:,}"

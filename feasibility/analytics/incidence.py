"""Newly eligible patients per month: a site's incidence of eligible patients.

The engine evaluates every patient at each month end j (the index date minus j months,
0 being the index date) and returns, per trial and site, patients counted by the month ends
at which they were eligible and potentially eligible. A patient is *newly* eligible at month
end j when eligible there and at none of the `NEW_AFTER_MONTHS` month ends before it. The
look-back is fixed, so a month's count does not depend on how many months the report
covers: a patient whose eligibility lapses (a lab older than its window) and returns within
a year is not counted again, one who returns after a year without is. Patients eligible at
the month end that opens the period are the pool the site starts with, not incidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from feasibility.analytics.waterfall import ALL_SITES
from feasibility.extract.contract import site_order

# a patient eligible again after this many month ends without being eligible is new again:
# long enough that a lab repeated within a year, whose window lapsed in between, does not
# make a patient new twice
NEW_AFTER_MONTHS = 12

# (month ends eligible, month ends potentially eligible) of one patient, each in ascending order
MonthEnds = tuple[tuple[int, ...], tuple[int, ...]]


def month_ends_evaluated(months: int) -> int:
    """How many month ends (j = 0, 1, ...) the evaluation reads for `months` months of
    incidence: each month's own and the look-back before the oldest one."""
    return months + NEW_AFTER_MONTHS


@dataclass(frozen=True)
class SiteIncidence:
    """Counts for the months `months_back` (oldest first; 0 is the month ending at the
    index date)."""

    site: str
    months_back: tuple[int, ...]
    new_eligible: tuple[int, ...]
    new_potential: tuple[int, ...]
    eligible_at_start: int
    potential_at_start: int


def new_months(month_ends: Sequence[int], months: int) -> list[int]:
    """The month ends j < `months` at which a patient eligible at `month_ends` (ascending)
    became newly eligible: eligible at j and at none of j + 1 .. j + NEW_AFTER_MONTHS, that
    is, the next month end they were eligible at is more than NEW_AFTER_MONTHS further back."""
    following = [*month_ends[1:], None] if month_ends else []
    return [
        j
        for j, before in zip(month_ends, following, strict=True)
        if j < months and (before is None or before - j > NEW_AFTER_MONTHS)
    ]


def _merge(counters: Iterable[Counter]) -> Counter:
    """Sum of several sites' counters (the `ALL` site)."""
    total: Counter = Counter()
    for c in counters:
        total.update(c)
    return total


def site_incidence(site: str, months: int, counts: Counter[MonthEnds]) -> SiteIncidence:
    """One site's monthly counts from its patients' month ends (see `MonthEnds`)."""
    months_back = tuple(range(months - 1, -1, -1))
    eligible, potential = Counter[int](), Counter[int]()
    at_start = Counter[str]()
    for (eligible_at, potential_at), n in counts.items():
        for j in new_months(eligible_at, months):
            eligible[j] += n
        for j in new_months(potential_at, months):
            potential[j] += n
        at_start["eligible"] += n if months in eligible_at else 0
        at_start["potential"] += n if months in potential_at else 0
    return SiteIncidence(
        site=site,
        months_back=months_back,
        new_eligible=tuple(eligible[j] for j in months_back),
        new_potential=tuple(potential[j] for j in months_back),
        eligible_at_start=at_start["eligible"],
        potential_at_start=at_start["potential"],
    )


def trial_incidence(months: int, per_site: dict[str, Counter[MonthEnds]]) -> list[SiteIncidence]:
    """ALL first, then each site in site order (`site_order`)."""
    in_order = sorted(per_site.items(), key=lambda s: site_order(s[0]))
    sites: Iterable[tuple[str, Counter]] = [(ALL_SITES, _merge(per_site.values())), *in_order]
    return [site_incidence(site, months, counts) for site, counts in sites]

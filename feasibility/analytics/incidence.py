"""Newly eligible patients per month: a site's incidence of eligible patients.

The engine counts, per trial and site, patients by the earliest month end at which they
were eligible (and potentially eligible). A patient first eligible at month end j (j months
before the index date) became eligible during the month that ends there; one already
eligible at the first month end is part of the pool the site starts with, not of the
incidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from feasibility.analytics.waterfall import ALL_SITES


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


def _merge(counters: Iterable[Counter]) -> Counter:
    """Sum of several sites' counters (the `ALL` site)."""
    total: Counter = Counter()
    for c in counters:
        total.update(c)
    return total


def site_incidence(site: str, months: int, counts: Counter) -> SiteIncidence:
    """One site's monthly counts from its (first eligible, first potential) counter."""
    months_back = tuple(range(months - 1, -1, -1))
    eligible = Counter[int | None]()
    potential = Counter[int | None]()
    for (first_eligible, first_potential), n in counts.items():
        eligible[first_eligible] += n
        potential[first_potential] += n
    return SiteIncidence(
        site=site,
        months_back=months_back,
        new_eligible=tuple(eligible[j] for j in months_back),
        new_potential=tuple(potential[j] for j in months_back),
        eligible_at_start=eligible[months],
        potential_at_start=potential[months],
    )


def trial_incidence(months: int, per_site: dict[str, Counter]) -> list[SiteIncidence]:
    """ALL first, then each site in name order."""
    sites: Iterable[tuple[str, Counter]] = [(ALL_SITES, _merge(per_site.values())), *sorted(per_site.items())]
    return [site_incidence(site, months, counts) for site, counts in sites]

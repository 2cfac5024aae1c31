"""The report's enrollment part: monthly incidence of (potentially) eligible patients per
site, and the Poisson-Gamma forecast fitted to it. Counts are protected like every other
published count. The forecast's outputs (posterior shapes, expected enrollment) would give
back the counts it is fitted to, so in a shared report it is fitted to each site's published
total, a suppressed one taken at `Protection.for_models`; an exact report fits the exact
counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from feasibility.analytics.conversion import DEFAULT_CONVERSION, site_conversions
from feasibility.analytics.forecast import Observed, forecast
from feasibility.analytics.incidence import SiteIncidence, trial_incidence
from feasibility.analytics.waterfall import ALL_SITES
from feasibility.criteria.model import Duration, Trial
from feasibility.evaluate.results import MonthlyStatus
from feasibility.protect import Protection, suppressed_middle
from feasibility.reports.breakdown import SITES_WITHHELD, protect_breakdown
from feasibility.reports.incidence_audit import pins_a_count

SITE_MONTHS_WITHHELD = (
    "the sites' months are not shown: with ALL's months and the forecast's site totals they "
    "would let a suppressed count be worked out (see docs/report-schema.md)"
)
MONTHS_WITHHELD = (
    "the months of newly potentially eligible patients are not shown: with the forecast's site "
    "totals they would let a suppressed count be worked out (see docs/report-schema.md)"
)


@dataclass(frozen=True)
class ForecastSettings:
    """The user's forecast options: conversion to enrollment (overall or per site) and target."""

    conversion: float = DEFAULT_CONVERSION
    conversion_by_site: dict[str, float] = field(default_factory=dict)
    target: int | None = None
    conversion_file: Path | None = None  # an input of the run, which no output may overwrite

    def site_shares(self, sites: Sequence[str]) -> dict[str, float]:
        """Each site's conversion; a site of the file that is not among `sites` is refused,
        naming the file."""
        source = str(self.conversion_file) if self.conversion_file else "--conversion-file"
        return site_conversions(sites, self.conversion, self.conversion_by_site, source=source)


def _incidence_block(inc: SiteIncidence, protect: Protection, index: date | None) -> dict:
    return {
        "site_id": inc.site,
        "months_back": list(inc.months_back),
        "month_end": [
            Duration(j, "month").before(index).isoformat() if j else index.isoformat()
            for j in inc.months_back
        ]
        if index is not None
        else None,
        "new_eligible": [protect.count(n) for n in inc.new_eligible],
        "new_potentially_eligible": [protect.count(n) for n in inc.new_potential],
        "eligible_at_start": protect.count(inc.eligible_at_start),
        "potentially_eligible_at_start": protect.count(inc.potential_at_start),
    }


def _with_trends(block: dict) -> dict:
    """The block with each half's total of its *published* months (unknown when one of them
    is suppressed). A total rounded apart from its months, over windows that move with
    --monthly, pinned suppressed months in a review: a sum of what is shown adds nothing."""

    def half_totals(published: list[int | None] | None) -> dict:
        if published is None:  # withheld (MONTHS_WITHHELD)
            published = [None] * len(block["months_back"])
        half = len(published) // 2

        def total(part: list[int | None]) -> int | None:
            return None if None in part else sum(p for p in part if p is not None)

        return {
            "first_half_months": half,
            "first_half_total": total(published[:half]),
            "second_half_months": len(published) - half,
            "second_half_total": total(published[half:]),
        }

    return {
        **block,
        "trend_eligible": half_totals(block["new_eligible"]),
        "trend_potentially_eligible": half_totals(block["new_potentially_eligible"]),
    }


def _stand_in_cautions(sites: list[dict], protect: Protection) -> list[str]:
    """A caution when sites entered the model at the stand-in for a suppressed total rather
    than at their own: their figures (all of them, when every site's is) are the stand-in's."""
    hidden = sum(site["eligible_observed"] is None for site in sites)
    if not hidden:
        return []
    entered = (
        f"suppressed (<{protect.shown_from()}) and entered the model as "
        f"{suppressed_middle(protect.shown_from())}, "
        "the middle of the suppressed counts"
    )
    if hidden == len(sites):
        return [
            f"every site's total is {entered}: the forecast shows what that stand-in gives, not their data"
        ]
    whose, figures = (
        ("one site's total is", "that site's")
        if hidden == 1
        else (f"{hidden} sites' totals are", "those sites'")
    )
    return [f"{whose} {entered}: {figures} figures show what that stand-in gives, not their data"]


def enrollment_block(
    trial: Trial,
    status: MonthlyStatus,
    conversions: Mapping[str, float],
    target: int | None,
    protect: Protection,
    index: date | None,
) -> dict:
    """The `enrollment` object of one trial in report.json; `conversions` holds every site's
    share (see `ForecastSettings.site_shares`), `target` the forecast's sample size."""
    incidences = trial_incidence(status.months, status.counts.get(trial.id, {}))
    sites = [inc for inc in incidences if inc.site != ALL_SITES]
    total, *parts = [_incidence_block(inc, protect, index) for inc in incidences]
    shown = protect_breakdown(total, parts, protect)
    sites_withheld = None if shown else SITES_WITHHELD
    months_withheld = None
    fitted = None
    if sites:
        # Screening tests are done at the screening visit, so the patients a site can approach
        # are the potentially eligible ones; the conversion covers approach, consent and screening.
        exact_totals = {s.site: sum(s.new_potential) for s in sites}
        fitted = forecast(
            {s.site: Observed(protect.for_models(exact_totals[s.site]), len(s.new_potential)) for s in sites},
            {s.site: conversions[s.site] for s in sites},
            target,
        ).as_dict()
        for site in fitted["sites"]:
            site["eligible_observed"] = protect.count(exact_totals[site["site"]])
        fitted["cautions"] += _stand_in_cautions(fitted["sites"], protect)
        # the sites' totals the forecast publishes are the rows of the months' table
        totals = [site["eligible_observed"] for site in fitted["sites"]]
        months, exact = total["new_potentially_eligible"], [s.new_potential for s in sites]
        published = [p["new_potentially_eligible"] for p in parts]
        if shown and pins_a_count(months, published, totals, exact, protect):
            shown, sites_withheld = False, SITE_MONTHS_WITHHELD
        if not shown and pins_a_count(months, None, totals, exact, protect):
            total["new_potentially_eligible"] = None
            months_withheld = MONTHS_WITHHELD
    return {
        "months": status.months,
        "basis": "potentially eligible",
        # the trends are sums of what the audits let through
        "incidence": [_with_trends(b) for b in ([total, *parts] if shown else [total])],
        "sites_withheld": sites_withheld,
        "months_withheld": months_withheld,
        "forecast": fitted,
    }

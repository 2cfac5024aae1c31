"""The base population's first step: patients still in care at the site.

A patient last seen years ago is not a candidate, however well their old records match; nor
is one who has died, however recent their records.
`--active-within` puts an `in-care` criterion before every trial's own, so the waterfall
shows how many patients it removes, like any protocol criterion.
"""

from __future__ import annotations

from dataclasses import replace

from feasibility.criteria.model import Criterion, Duration, InCare, Trial

IN_CARE_ID = "in-care"
DEFAULT_ACTIVE_WITHIN = Duration(24, "month")


def in_care_criterion(within: Duration) -> Criterion:
    """The step every waterfall starts with: patients with a record at the site in `within`,
    and not recorded as dead on or before the index date (`death_date`)."""
    return Criterion(
        IN_CARE_ID,
        "inclusion",
        f"Still in care: alive at the index date, with any record at the site in the {within} before it "
        "(--active-within)",
        InCare(within),
    )


def with_in_care_step(trial: Trial, within: Duration | None) -> Trial:
    """The trial with the in-care criterion first (unchanged when `within` is None)."""
    if within is None:
        return trial
    if any(c.id == IN_CARE_ID for c in trial.criteria):
        return trial
    return replace(trial, criteria=(in_care_criterion(within), *trial.criteria))


def protocol_criteria(trial: Trial) -> tuple[Criterion, ...]:
    """The trial's own criteria, without the in-care step the run puts first."""
    return tuple(c for c in trial.criteria if c.id != IN_CARE_ID)


def computability(trial: Trial) -> dict[str, int]:
    """How many of the protocol's criteria data can decide (the run's in-care step is the
    tool's own, not the protocol's, so `check`, docs/trials.md and the report agree)."""
    criteria = protocol_criteria(trial)
    assessable = sum(c.assessable for c in criteria)
    return {"total": len(criteria), "assessable": assessable, "not_assessable": len(criteria) - assessable}

"""How an enrollment forecast's figures read, the same in the terminal and on a page: a
sponsor comparing a site's report.html with `compare`'s terminal should see one format."""

from __future__ import annotations

from feasibility.analytics.forecast import SITE_MONTHS


def months_text(value: float | None) -> str:
    """A number of months to one decimal; None (a quantile past the horizon) as words."""
    return "beyond the horizon" if value is None else f"{value:.1f}"


def expected_text(mean: float, low80: int, high80: int) -> str:
    """An expected enrollment with its 80% interval: `mean [low–high]`."""
    return f"{mean:.1f} [{low80}–{high80}]"


def expected_cells(site: dict) -> list[str]:
    """A site's expected enrollment at `SITE_MONTHS`, each as `expected_text`."""
    by_months = {e["months"]: e for e in site["expected"]}
    return [expected_text(e["mean"], e["low80"], e["high80"]) for e in (by_months[m] for m in SITE_MONTHS)]


def band_cells(band: dict) -> list[str]:
    """The total's enrollment at `SITE_MONTHS`, from its simulated band, as `expected_cells`;
    empty past the band's last month."""
    return [
        expected_text(band["mean"][m], band["low80"][m], band["high80"][m]) if m < len(band["months"]) else ""
        for m in SITE_MONTHS
    ]


def time_to_target_text(target: dict) -> str:
    """`time to enroll N patients: median ... months (80% ..., 95% ...)`, or why it is not
    reached."""
    n = target["target"]
    head = f"time to enroll {n} patient{'' if n == 1 else 's'}"
    if target["median"] is None:
        return f"{head}: {target['note'] or 'beyond the horizon'}"
    return (
        f"{head}: median {months_text(target['median'])} months "
        f"(80% {months_text(target['low80'])}–{months_text(target['high80'])}, "
        f"95% {months_text(target['low95'])}–{months_text(target['high95'])})"
    )

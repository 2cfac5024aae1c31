"""`feasibility compare`: several sites' reports side by side, with outlying criteria flagged.

Works on the published (protected) numbers only, so reports can come from different runs,
extracts and machines. A criterion is flagged for a site when the share of remaining
patients it loses there, or the share it cannot decide there, stands apart from the other
sites: a high UNKNOWN share points to a data gap, a different FALSE share to a different
population (or different coding).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from feasibility.errors import FeasibilityError

# A site stands apart when its share differs from the median of all sites by this much.
APART = 0.20


@dataclass(frozen=True)
class SiteReport:
    """One site's block of one trial, from one report file."""

    source: str
    site_id: str
    trial_id: str
    block: dict


def load_report(path: Path) -> dict:
    """A report.json, or a report folder holding one."""
    file = path / "report.json" if path.is_dir() else path
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FeasibilityError(
            "no report.json here", where=str(path), fix="pass a report folder or its report.json"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FeasibilityError(
            f"not a JSON report ({e})",
            where=str(file),
            fix="pass the report.json written by `feasibility run`",
        ) from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith("feasibility.report/"):
        raise FeasibilityError(
            "not a feasibility report",
            where=str(file),
            fix="pass the report.json written by `feasibility run`",
        )
    return report


def collect(paths: list[Path]) -> tuple[list[SiteReport], list[dict]]:
    """Every site of every report (ALL blocks only for single-site reports); site names that
    clash across reports get the report's folder name appended."""
    sites: list[SiteReport] = []
    reports = []
    seen: set[tuple[str, str]] = set()
    for path in paths:
        report = load_report(path)
        reports.append(report)
        label = path.name if path.is_dir() else path.parent.name
        for trial in report["trials"]:
            blocks = [b for b in trial["sites"] if b["site_id"] != "ALL"] or trial["sites"]
            for block in blocks:
                site = block["site_id"]
                if (trial["id"], site) in seen:
                    site = f"{site} ({label})"
                seen.add((trial["id"], site))
                sites.append(SiteReport(str(path), site, trial["id"], block))
    return sites, reports


# The run options that change the published numbers, as `run` spells them.
_COUNTING_OPTIONS = {"as_of": "--as-of", "active_within": "--active-within", "order": "--order"}


def differences(reports: list[dict], sources: list[str]) -> list[str]:
    """What keeps the reports' numbers from being compared as they stand, one line each:
    another version of a trial's file or of the concept library, run options that change the
    counts, another engine version, other protection; and reports of exact counts, which
    were not made to be shared. `sources` names each report as the user gave it."""
    notes = []
    trials: dict[str, dict[str, str]] = {}
    for source, report in zip(sources, reports, strict=True):
        for trial in report["provenance"]["trials"]:
            trials.setdefault(trial["id"], {})[source] = trial["sha256"][:12]
    for trial_id, versions in trials.items():
        if len(set(versions.values())) > 1:
            notes.append(
                f"trial {trial_id}: the reports used different versions of its file "
                f"({_grouped(versions)}); its criteria may differ"
            )
    checks: dict[str, Callable[[dict], str]] = {
        "concept library": lambda r: r["provenance"].get("concept_library_sha256", "")[:12] or "not recorded",
        **{f"option {flag}": _option(key) for key, flag in _COUNTING_OPTIONS.items()},
        "engine version": lambda r: str(r["provenance"]["engine_version"]),
        "protection (--min-cell)": lambda r: str(r["protection"]["min_cell"]),
    }
    for what, value in checks.items():
        values = {source: value(report) for source, report in zip(sources, reports, strict=True)}
        if len(set(values.values())) > 1:
            notes.append(f"{what} differs: {_grouped(values)}")
    exact = [s for s, r in zip(sources, reports, strict=True) if not r["protection"]["shareable"]]
    if exact:
        notes.append(
            f"{', '.join(exact)}: exact counts (--min-cell 0), made for use inside the site, not to be shared"
        )
    return notes


def _option(key: str) -> Callable[[dict], str]:
    """A report's value of the run option `key`, as text."""
    return lambda report: str(report["provenance"]["options"].get(key) or "not given")


def _grouped(values: dict[str, str]) -> str:
    """`value (source, source); value (source)`: each value once, with the reports that have it."""
    by_value: dict[str, list[str]] = {}
    for source, value in values.items():
        by_value.setdefault(value, []).append(source)
    return "; ".join(f"{value} ({', '.join(sources)})" for value, sources in by_value.items())


def _share(part: int | None, whole: int | None) -> float | None:
    if part is None or whole is None or whole == 0:
        return None
    return part / whole


def compare_rows(sites: list[SiteReport], reports: list[dict]) -> list[dict]:
    """Per trial, site and waterfall step: remaining patients, lost and unknown shares, flags."""
    texts = {(t["id"], c["id"]): c for r in reports for t in r["trials"] for c in t["criteria"]}
    rows: list[dict] = []
    for s in sites:
        previous = None
        for step in s.block["waterfall"]:
            rows.append(
                {
                    "trial_id": s.trial_id,
                    "site_id": s.site_id,
                    "source": s.source,
                    "step": step["step"],
                    "criterion_id": step["criterion_id"],
                    "remaining_before": previous if step["step"] else None,
                    "failed": step["failed"],
                    "unknown": step["unknown"],
                    "lost_share": _share(step["failed"], previous) if step["step"] else None,
                    "unknown_share": _share(step["unknown"], previous) if step["step"] else None,
                    "eligible": step["eligible"],
                    "potentially_eligible": step["potentially_eligible"],
                    "assessable": texts.get((s.trial_id, step["criterion_id"]), {}).get("assessable", True),
                    "flag": "",
                }
            )
            previous = step["eligible"]
    _flag(rows)
    return rows


def _flag(rows: list[dict]) -> None:
    by_step: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r["step"]:
            by_step.setdefault((r["trial_id"], r["criterion_id"]), []).append(r)
    for group in by_step.values():
        if len(group) < 3:
            continue  # with two sites, neither can be said to stand apart
        for key, label in (("unknown_share", "data gap"), ("lost_share", "different population")):
            values = [r[key] for r in group if r[key] is not None]
            if len(values) < 3:
                continue
            # the median of all sites is robust to the one site that stands apart
            typical = statistics.median(values)
            for r in group:
                if r[key] is None or r["flag"]:
                    continue
                gap = r[key] - typical
                if abs(gap) >= APART:
                    word = "more" if gap > 0 else "fewer"
                    what = "UNKNOWN" if key == "unknown_share" else "lost"
                    r["flag"] = f"{label}: {abs(gap):.0%} {word} {what} than the typical site"


def summary(sites: list[SiteReport]) -> list[dict]:
    """Eligible and potentially eligible per trial and site."""
    return [
        {
            "trial_id": s.trial_id,
            "site_id": s.site_id,
            "source": s.source,
            "base": s.block["base"],
            "eligible": s.block["eligible"],
            "potentially_eligible": s.block["potentially_eligible"],
        }
        for s in sites
    ]

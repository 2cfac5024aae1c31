"""The report: every published number of a run, as plain data (the `report.json` schema).

Built from the engine's histograms by the analytics module and protected by the small-cell
policy; the writers (terminal, CSV, JSON, HTML) only format it and never touch SQL.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Literal

from feasibility import __version__
from feasibility.analytics.histogram import CriteriaMatrix
from feasibility.analytics.waterfall import (
    ALL_SITES,
    CriterionView,
    Step,
    all_sites,
    criterion_views,
    resolve_order,
    waterfall,
)
from feasibility.criteria.describe import describe
from feasibility.criteria.in_care import computability
from feasibility.criteria.model import Trial
from feasibility.evaluate.results import EngineResult
from feasibility.extract.contract import CONTRACT_VERSION, site_order
from feasibility.extract.source import unread_note
from feasibility.protect import Protection
from feasibility.reports.breakdown import SITES_WITHHELD, protect_breakdown

SCHEMA = "feasibility.report/1"


def _criteria(trial: Trial) -> list[dict]:
    return [
        {
            "id": c.id,
            "kind": c.kind,
            "text": c.text,
            "assessable": c.assessable,
            "rule": describe(c.rule) if c.rule is not None else None,
            "reason": c.reason,
            "note": c.note,
        }
        for c in trial.criteria
    ]


def _site_block(
    trial: Trial, site: str, steps: Sequence[Step], views: Sequence[CriterionView], protect: Protection
) -> dict:
    published = []
    previous_eligible: int | None = None
    for number, step in enumerate(steps):
        row: dict[str, Any]
        if step.index is None:
            base = protect.count(step.passed)
            row = {
                "step": 0,
                "criterion_id": "base",
                "kind": "base",
                "assessable": True,
                "passed": base,
                "failed": 0,
                "unknown": 0,
                "eligible": base,
                "potentially_eligible": base,
            }
        else:
            c = trial.criteria[step.index]
            passed = protect.count(step.passed)
            unknown = protect.count(step.unknown)
            row = {
                "step": number,
                "criterion_id": c.id,
                "kind": c.kind,
                "assessable": c.assessable,
                "passed": passed,
                "failed": protect.difference(previous_eligible, passed, unknown, exact=step.failed),
                "unknown": unknown,
                "eligible": passed,
                "potentially_eligible": protect.count(step.potentially_eligible),
            }
        previous_eligible = row["eligible"]
        published.append(row)
    base = published[0]["passed"]
    eligible = published[-1]["eligible"]
    potential = published[-1]["potentially_eligible"]
    published_views = []
    for v in views:
        alone_true = protect.count(v.alone_true)
        alone_unknown = protect.count(v.alone_unknown)
        without = protect.count(v.loo_gain + steps[-1].eligible)
        without_pot = protect.count(v.loo_gain_potential + steps[-1].potentially_eligible)
        published_views.append(
            {
                "criterion_id": trial.criteria[v.index].id,
                "alone": {
                    "true": alone_true,
                    "false": protect.difference(base, alone_true, alone_unknown, exact=v.alone_false),
                    "unknown": alone_unknown,
                },
                "eligible_without": without,
                "loo_gain": protect.difference(without, eligible, exact=v.loo_gain),
                "potentially_eligible_without": without_pot,
                "loo_gain_potential": protect.difference(without_pot, potential, exact=v.loo_gain_potential),
                "impact": _impact(v.impact, protect),
                "impact_potential": _impact(v.impact_potential, protect),
            }
        )
    return {
        "site_id": site,
        "base": base,
        "eligible": eligible,
        "potentially_eligible": potential,
        "waterfall": published,
        "criteria": published_views,
    }


SiteViews = tuple[str, Sequence[Step], Sequence[CriterionView]]


def _sites(trial: Trial, everyone: SiteViews, per_site: Sequence[SiteViews], protect: Protection) -> dict:
    """The `sites` of a trial (ALL, then each site), with `sites_withheld` when the sites'
    counts would pin a suppressed one (see `breakdown.py`)."""
    total, *parts = [_site_block(trial, *site, protect) for site in [everyone, *per_site]]
    if protect_breakdown(total, parts, protect):
        return {"sites": [total, *parts], "sites_withheld": None}
    return {"sites": [total], "sites_withheld": SITES_WITHHELD}


def _impact(value: Fraction, protect: Protection) -> float | None:
    if protect.exact:
        return round(float(value), 3)
    shown = protect.count(value)
    return None if shown is None else float(shown)


def build_report(
    result: EngineResult,
    *,
    protect: Protection,
    order: str | None = None,
    options: dict | None = None,
    concept_files: Sequence[str] = (),
    concept_library_sha256: str = "",
    enrollment: Mapping[str, dict] | None = None,
) -> dict:
    """Everything a run publishes, protected, as JSON-ready data."""
    trials_out = []
    for trial in result.trials:
        n = len(trial.criteria)
        # each site's histogram unpacked once, for the order, its waterfall and its views
        hists = result.histograms.get(trial.id, {})
        matrices = [(site, CriteriaMatrix.of(hists[site], n)) for site in sorted(hists, key=site_order)]
        ordering = resolve_order(order, trial.criteria, [m for _, m in matrices])
        per_site = [(site, waterfall(m, ordering), criterion_views(m)) for site, m in matrices]
        no_patients = CriteriaMatrix.empty(n)
        everyone = (
            ALL_SITES,
            all_sites([steps for _, steps, _ in per_site], waterfall(no_patients, ordering)),
            all_sites([views for _, _, views in per_site], criterion_views(no_patients)),
        )
        trials_out.append(
            {
                "id": trial.id,
                "title": trial.title,
                "source": list(trial.source),
                "criteria": _criteria(trial),
                "order": [trial.criteria[k].id for k in ordering],
                "computability": computability(trial),
                **_sites(trial, everyone, per_site, protect),
                "enrollment": (enrollment or {}).get(trial.id),
            }
        )
    dq = _protect_quality(result.data_quality.as_dict(), protect)
    default_used = dq["counts"]["patients_on_default_index_date"] != 0
    if not (options or {}).get("as_of") and default_used and result.index_default > datetime.now(UTC).date():
        # one mistyped year moves every patient's index date, and every window with it; a
        # de-identified extract may also have shifted its dates on purpose
        dq["warnings"].append(
            f"the index date {result.index_default.isoformat()}, the latest event date in the "
            "extract, is in the future: expected if the extract's dates are shifted; if not, "
            "a mistyped date has moved every window (pass --as-of DATE)"
        )
    drift = _as_of_drift(result, (options or {}).get("as_of"))
    if drift:
        dq["warnings"].append(drift)
    if result.source.unread:
        # a CSV export beside the parquet one: its rows are in no count
        dq["warnings"].append(unread_note(result.source.label, result.source.unread))
    return {
        "schema": SCHEMA,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "protection": protect.describe(),
        "provenance": {
            "engine": "feasibility",
            "engine_version": __version__,
            "duckdb_version": result.versions.get("duckdb"),
            "spark_version": result.versions.get("spark"),
            "python_version": platform.python_version(),
            "extract_contract": CONTRACT_VERSION,
            "extract": {
                "files": [f.name for f in result.source.files],
                "not_read": list(result.source.unread),
                "sha256": result.source.sha256(),
                "rows": protect.count(result.rows),
                "patients": protect.count(result.patients),
                "notices": list(result.source.notices),
            },
            "index_date": {
                "default": result.index_default.isoformat(),
                "per_patient": result.index_from_column,
                "rule": "per-patient index_date column where present, else the default"
                if result.index_from_column
                else "the default for every patient",
                # 0 when every patient has an index date of their own: the default is then unused
                "patients_on_default": dq["counts"]["patients_on_default_index_date"],
            },
            "trials": [
                {"id": t.id, "file": t.path.rsplit("/", 1)[-1], "sha256": t.sha256} for t in result.trials
            ],
            "concept_files": list(concept_files),
            "concept_library_sha256": concept_library_sha256,
            "options": dict(options or {}),
        },
        "data_quality": dq,
        "trials": trials_out,
    }


# an --as-of further than this from the extract's latest event is more likely a typo (2052
# for 2025) than a question asked of the data
AS_OF_DRIFT_DAYS = 366


# Beyond this many sites, a report ranks them by their potentially eligible patients rather
# than showing each in site order (report.html: a panel each; the terminal: a line each): a
# network's extract may hold dozens, and the reader looks for the sites worth recruiting at
MANY_SITES = 9


def site_blocks(trial: dict) -> list[dict]:
    """A report trial's blocks of its sites, `ALL` left out."""
    return [s for s in trial["sites"] if s["site_id"] != ALL_SITES]


def ranks_sites(trial: dict) -> bool:
    """Whether a report ranks the trial's sites rather than showing each (`MANY_SITES`)."""
    return len(site_blocks(trial)) > MANY_SITES


def ranked_sites(blocks: Sequence[dict]) -> list[dict]:
    """Site blocks of a report, the most potentially eligible first, then the most confirmed
    eligible, then in site order (`site_order`); a suppressed count ranks as 0."""
    return sorted(
        blocks,
        key=lambda b: (-(b["potentially_eligible"] or 0), -(b["eligible"] or 0), site_order(b["site_id"])),
    )


IndexBasis = Literal["default", "own", "own, else default"]


def index_basis(index: dict) -> IndexBasis:
    """How a report's `provenance.index_date` dated its patients: one default date for every
    patient, each patient's own (every one had a date in the extract), or each one's own
    where set and the default for the rest. A report made before `patients_on_default`
    existed reads as the last. The terminal, report.html and compare each word it."""
    if not index.get("per_patient"):
        return "default"
    return "own" if index.get("patients_on_default") == 0 else "own, else default"


def _as_of_drift(result: EngineResult, as_of: str | None) -> str | None:
    """A warning when `--as-of` lies more than a year after or before the extract's latest
    event date: every window ends at the index date, so a mistyped year silently turns
    every count to zero (after) or hides the recent data (before)."""
    if not as_of or result.latest_event is None:
        return None
    gap = (result.index_default - result.latest_event).days
    if abs(gap) <= AS_OF_DRIFT_DAYS:
        return None
    distance = f"{abs(gap) / 365.25:.0f} years" if abs(gap) >= 730 else f"{abs(gap) / 30.44:.0f} months"
    effect = (
        "windows that end at the index date reach none of the recent data"
        if gap > 0
        else "events after the index date are not seen"
    )
    return (
        f"--as-of {as_of} is {distance} {'after' if gap > 0 else 'before'} the latest event date in "
        f"the extract ({result.latest_event.isoformat()}): {effect}; check the date (a mistyped year?)"
    )


def _protect_quality(dq: dict, protect: Protection) -> dict:
    """Data-quality counts are counts of patients or rows: the same policy applies."""
    units = dq.pop("unknown_units", {})
    out: dict[str, Any] = {
        key: {k: protect.count(v) for k, v in values.items()} for key, values in dq.items()
    }
    out["unknown_units"] = {c: _units_shown(by_unit, protect) for c, by_unit in units.items()}
    out["warnings"] = _quality_lines(out, protect.show)
    return out


OTHER_UNITS = "(other units)"


def _named_units(dq: dict, key: str, concept: str, shown: Callable[[int | None], str]) -> str:
    """For unknown units, the units named (see `_units_shown`): what a site would add to
    the concept's `units`."""
    units = dq["unknown_units"].get(concept, {}) if key == "unknown_unit_rows" else {}
    if set(units) <= {OTHER_UNITS}:
        return ""
    return " (" + ", ".join(f"{u} {shown(n)}" for u, n in units.items()) + ")"


# What a unit's spelling may look like to be named in a report: a short run of the
# characters units are written with ("10*9/L", "mL/min/1.73m2", "/100 WBC"), with no run of
# four digits (an identifier, a date, a year), at most four words, and no two words of
# letters alone of which one is longer than three ("mm Hg", "per HPF" are units; "see
# comment", or a person's name, are what a field holds).
_UNIT_SPELLING = re.compile(
    r"(?!.*\d{4})(?!(?:\S+ ){4})(?![A-Za-z]+(?: [A-Za-z]+)+$)[A-Za-z0-9µμ°%/.*^()\[\]{}'_+\- ]{1,24}"
    r"|(?:[A-Za-z]{1,3} ){1,3}[A-Za-z]{1,3}"
)
# One word of letters alone is a unit when short ("mg", "IU", "mmol") or a word units are
# written in; a longer one ("hemolysed", a surname) is what the field holds instead.
_UNIT_WORD = re.compile(
    r"units?|cells|ratio|index|score|points|count|tit(?:er|re)|copies|percent|seconds|minutes|hours", re.I
)


def _spelled_as_unit(unit: str) -> bool:
    if unit.isalpha() and len(unit) > 4:
        return _UNIT_WORD.fullmatch(unit) is not None
    return _UNIT_SPELLING.fullmatch(unit) is not None


def _units_shown(by_unit: dict[str, int], protect: Protection) -> dict[str, int | None]:
    """A concept's unknown units by rows, most rows first. A unit is named only when its
    rows are a count the report shows and it is spelled as units are (`_spelled_as_unit`): a
    spelling that common is the lab's convention, while a rare one, or one that reads as
    free text (a unit field that holds a note or an identifier), is summed under OTHER_UNITS.
    An exact report, for the site's own use, names every unit as the extract spells it."""
    named: dict[str, int] = {}
    rare = 0
    for unit, n in by_unit.items():
        count = protect.count(n)  # n >= 1: a count shown is not 0
        if count and (protect.exact or not unit or _spelled_as_unit(unit)):
            named[unit or "(none)"] = count
        else:
            rare += n
    # ordered by the published counts, so the order tells nothing the counts do not
    ordered = sorted(named.items(), key=lambda item: (-item[1], item[0]))
    out: dict[str, int | None] = dict(ordered)
    if rare:
        out[OTHER_UNITS] = protect.count(rare)
    return out


# what to look at in the extract, for the counts whose cause is a convention
_QUALITY_HINTS = {
    "patients_with_unrecognised_sex": " (read as U: the extract contract's values are F, M and U)",
    "patients_deceased_by_index": " (their death_date on or before it: not in care)",
}


# counts that describe the extract rather than a problem in it
_NOT_FINDINGS = frozenset({"patients", "rows", "patients_on_default_index_date"})


def _quality_lines(dq: dict, shown: Callable[[int | None], str]) -> list[str]:
    """One line per finding; the per-concept findings one line per kind, listing the
    concepts, so a report with many concepts stays readable."""
    lines = [
        f"{shown(v)} {k.replace('_', ' ')}{_QUALITY_HINTS.get(k, '')}"
        for k, v in dq["counts"].items()
        if v != 0 and k not in _NOT_FINDINGS
    ]
    per_concept = (
        (
            "unknown_unit_rows",
            "rows in a unit the concept does not know (as values UNKNOWN; still read against their own "
            "ref_high and ref_low)",
        ),
        (
            "default_uln_patients",
            "patients whose latest result had no usable ref_high (default ULN or positive cut-off used)",
        ),
        ("implausible_value_rows", "implausible values, outside the concept's plausible range (not used)"),
        (
            "unread_text_rows",
            "results with no number whose text is no known word, titre or bound (UNKNOWN against every "
            "threshold)",
        ),
        ("reversed_exposure_rows", "medication rows ending before they start (no day on the drug)"),
        ("unread_code_system_rows", "rows in code systems no concept of these trials uses (not read)"),
    )
    for key, what in per_concept:
        if dq[key]:
            lines.append(
                f"{what}: "
                + ", ".join(f"{c} {shown(n)}{_named_units(dq, key, c, shown)}" for c, n in dq[key].items())
            )
    return lines

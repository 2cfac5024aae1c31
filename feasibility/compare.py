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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

from feasibility.analytics.conversion import check_sites, is_share
from feasibility.analytics.forecast import Observed, forecast
from feasibility.errors import FeasibilityError
from feasibility.extract.contract import site_order
from feasibility.protect import ROUND_TO, sharing, suppressed_label, suppressed_middle
from feasibility.reports.build import index_basis, site_blocks
from feasibility.user_files import read_user_text

# A site stands apart when its share differs from the median of all sites by this much.
APART = 0.20


@dataclass(frozen=True)
class SiteReport:
    """One site's block of one trial, from one report file; `suppressed_below` is the K of
    the `<K` its report shows for a suppressed count (`protect.suppressed_label`)."""

    source: str
    site_id: str
    trial_id: str
    block: dict
    suppressed_below: int
    sharing: str  # whether its report's counts may leave the site (`protect.sharing`)


def load_report(path: Path) -> dict:
    """A report.json, or a report folder holding one, with every field compare reads checked
    once here: a bad file is one error naming it, before anything is written."""
    file = path / "report.json" if path.is_dir() else path
    text = read_user_text(file, what="report.json file")
    try:
        report = json.loads(text)
    except json.JSONDecodeError as e:
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
    _check_report(report, file)
    return report


# What each kind of field must hold, and how an error names it.
_KINDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "object": (lambda v: isinstance(v, dict), "an object"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "text": (lambda v: isinstance(v, str) and v != "", "non-empty text"),
    "flag": (lambda v: isinstance(v, bool), "true or false"),
    # bool is an int in Python, but `true` is no count
    "whole": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number"),
    "count": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        "a count or null (suppressed)",
    ),
    "share": (is_share, "a share above 0 and at most 1"),
}


def _check_report(report: dict, file: Path) -> None:
    """Raise a FeasibilityError naming `file` and the first field (as a JSON path) that is
    missing or of the wrong kind among those compare reads, or an id given twice."""

    def bad(place: str, problem: str) -> FeasibilityError:
        return FeasibilityError(
            f"`{place}` {problem}",
            where=str(file),
            fix="pass the report.json that `feasibility run` wrote, unedited "
            "(run it again if it was changed or cut short)",
        )

    def field(obj: dict, key: str, kind: str, place: str, optional: bool = False) -> Any:
        path = f"{place}.{key}" if place else key
        if key not in obj:
            if optional:
                return None
            raise bad(path, "is missing")
        value = obj[key]
        if optional and value is None:
            return None
        ok, expected = _KINDS[kind]
        if not ok(value):
            raise bad(path, f"must be {expected}, not {_json_kind(value)}")
        return value

    def items(obj: dict, key: str, place: str) -> list[tuple[str, dict]]:
        """The objects in the list `obj[key]`, each with its path."""
        path = f"{place}.{key}" if place else key
        out = []
        for i, item in enumerate(field(obj, key, "list", place)):
            if not isinstance(item, dict):
                raise bad(f"{path}[{i}]", f"must be an object, not {_json_kind(item)}")
            out.append((f"{path}[{i}]", item))
        return out

    def texts(obj: dict, key: str, place: str) -> None:
        """The optional list `obj[key]` holds texts only."""
        path = f"{place}.{key}" if place else key
        for i, text in enumerate(field(obj, key, "list", place, optional=True) or []):
            if not isinstance(text, str):
                raise bad(f"{path}[{i}]", f"must be text, not {_json_kind(text)}")

    def unique(values: list[str], place: str, what: str) -> None:
        met: set[str] = set()
        for value in values:
            if value in met:
                raise bad(place, f"lists {what} `{value}` twice")
            met.add(value)

    provenance = field(report, "provenance", "object", "")
    for place, trial in items(provenance, "trials", "provenance"):
        field(trial, "id", "text", place)
        field(trial, "sha256", "text", place)
    field(provenance, "engine_version", "text", "provenance")
    index = field(provenance, "index_date", "object", "provenance")
    field(index, "default", "text", "provenance.index_date")
    field(index, "per_patient", "flag", "provenance.index_date")
    field(provenance, "concept_library_sha256", "text", "provenance", optional=True)
    extract = field(provenance, "extract", "object", "provenance", optional=True) or {}
    field(extract, "sha256", "text", "provenance.extract", optional=True)
    # reports written before notices (or data-quality lines) were carried have none
    texts(extract, "notices", "provenance.extract")
    texts(field(report, "data_quality", "object", "", optional=True) or {}, "warnings", "data_quality")
    field(provenance, "options", "object", "provenance")
    protection = field(report, "protection", "object", "")
    field(protection, "min_cell", "whole", "protection")
    field(protection, "suppressed_below", "whole", "protection", optional=True)
    field(protection, "shareable", "flag", "protection")
    field(report, "generated_at", "text", "")
    trials = items(report, "trials", "")
    for place, trial in trials:
        field(trial, "id", "text", place)
        for c_place, criterion in items(trial, "criteria", place):
            field(criterion, "id", "text", c_place)
            field(criterion, "assessable", "flag", c_place, optional=True)
        sites = items(trial, "sites", place)
        for s_place, site in sites:
            field(site, "site_id", "text", s_place)
            for key in ("base", "eligible", "potentially_eligible"):
                field(site, key, "count", s_place)
            steps = items(site, "waterfall", s_place)
            for w_place, step in steps:
                field(step, "step", "whole", w_place)
                field(step, "criterion_id", "text", w_place)
                field(step, "assessable", "flag", w_place, optional=True)
                for key in ("failed", "unknown", "eligible", "potentially_eligible"):
                    field(step, key, "count", w_place)
            # a step or site given twice would hide one of them in the comparison
            unique([step["criterion_id"] for _, step in steps], f"{s_place}.waterfall", "criterion")
        unique([site["site_id"] for _, site in sites], f"{place}.sites", "site")
        # a run without --monthly has no enrollment; the network forecast reads what one has
        enrollment = field(trial, "enrollment", "object", place, optional=True) or {}
        fitted = field(enrollment, "forecast", "object", f"{place}.enrollment", optional=True)
        if fitted is not None:
            f_place = f"{place}.enrollment.forecast"
            f_sites = items(fitted, "sites", f_place)
            for fs_place, site in f_sites:
                field(site, "site", "text", fs_place)
                field(site, "months_observed", "whole", fs_place)
                field(site, "eligible_observed", "count", fs_place)
                field(site, "conversion", "share", fs_place)
            unique([site["site"] for _, site in f_sites], f"{f_place}.sites", "site")
    unique([trial["id"] for _, trial in trials], "trials", "trial")


def _json_kind(value: object) -> str:
    """The JSON name of `value`'s kind, for an error message (never the value: it may be a count)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


def collect(paths: list[Path]) -> tuple[list[SiteReport], list[dict]]:
    """Every site of every report (ALL blocks only for single-site reports). A site name
    that more than one report holds for a trial is qualified in each of them, by the
    report's folder name (or its path, where folder names clash too), so that a name means
    the same site whatever the order the reports were given in. Each report is checked
    whole before any is used."""
    reports = []
    files: dict[Path, Path] = {}
    for path in paths:
        # one report given twice (a folder and its report.json, a repeated path) would show
        # its sites twice, under two names, as if they were other sites
        file = (path / "report.json" if path.is_dir() else path).resolve()
        if file in files:
            raise FeasibilityError(
                f"is the same report as {files[file]}",
                where=str(path),
                fix="give each site's report once",
            )
        files[file] = path
        reports.append(load_report(path))
    labels = [path.name if path.is_dir() else path.parent.name for path in paths]
    blocks = [
        [
            (trial["id"], block)
            for trial in report["trials"]
            for block in (site_blocks(trial) or trial["sites"])
        ]
        for report in reports
    ]
    # the reports holding each site name, over all trials: a site keeps one label in every
    # trial, even one that only its own report holds (a report of fewer trials beside it)
    holders: dict[str, list[int]] = {}
    for i, report_blocks in enumerate(blocks):
        for site_id in dict.fromkeys(block["site_id"] for _, block in report_blocks):
            holders.setdefault(site_id, []).append(i)
    sites: list[SiteReport] = []
    seen: set[tuple[str, str]] = set()
    for i, (path, report) in enumerate(zip(paths, reports, strict=True)):
        below = suppressed_label(report["protection"])
        marker = sharing(report["protection"])
        for trial_id, block in blocks[i]:
            held_by = holders[block["site_id"]]
            if len(held_by) == 1:
                name = block["site_id"]
            elif len({labels[j] for j in held_by}) == len(held_by):
                name = f"{block['site_id']} ({labels[i]})"
            else:
                name = f"{block['site_id']} ({path})"
            name = _distinct(name, trial_id, seen)
            seen.add((trial_id, name))
            sites.append(SiteReport(str(path), name, trial_id, block, below, marker))
    return sites, reports


def _distinct(name: str, trial_id: str, seen: set[tuple[str, str]]) -> str:
    """`name`, numbered if a site already goes by it for this trial (a site whose own name
    is another's qualified one): two columns under one name would merge their rows."""
    if (trial_id, name) not in seen:
        return name
    n = 2
    while (trial_id, f"{name} {n}") in seen:
        n += 1
    return f"{name} {n}"


# The run options that change the published numbers, as `run` spells them. `--as-of` is
# not among them: the index date it sets is compared instead (`index_date`), since the
# index date is what the counts depend on, and an extract's own index dates override it.
_COUNTING_OPTIONS = {"active_within": "--active-within", "order": "--order"}


def differences(reports: list[dict], sources: list[str]) -> list[str]:
    """What keeps the reports' numbers from being compared as they stand, one line each:
    another version of a trial's file or of the concept library, another index date (or
    per-patient index dates in some reports only), run options that change the counts,
    another engine version, other protection; and reports of exact counts, which
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
        "concept library": lambda r: (
            (r["provenance"].get("concept_library_sha256") or "")[:12] or "not recorded"
        ),
        "index date": index_date,
        **{f"option {flag}": _option(key) for key, flag in _COUNTING_OPTIONS.items()},
        "engine version": lambda r: str(r["provenance"]["engine_version"]),
        "protection (--min-cell)": lambda r: str(r["protection"]["min_cell"]),
    }
    for what, value in checks.items():
        values = {source: value(report) for source, report in zip(sources, reports, strict=True)}
        if len(set(values.values())) > 1:
            notes.append(f"{what} differs: {_grouped(values)}")
    by_extract: dict[str, list[str]] = {}
    for source, report in zip(sources, reports, strict=True):
        if digest := extract_sha256(report):
            by_extract.setdefault(digest, []).append(source)
    for digest, same in by_extract.items():
        if len(same) > 1:
            notes.append(
                f"{', '.join(same)}: made from one extract (sha256 {digest[:12]}), so their sites are "
                "the same patients; the network forecast counts them once, from the first"
            )
    exact = [s for s, r in zip(sources, reports, strict=True) if not r["protection"]["shareable"]]
    if exact:
        notes.append(
            f"{', '.join(exact)}: exact counts (--min-cell 0), made for use inside the site, not to be shared"
        )
    return notes


def extract_sha256(report: dict) -> str | None:
    """The SHA-256 of the extract a report was made from (None in reports that lack it)."""
    return (report["provenance"].get("extract") or {}).get("sha256")


def index_date(report: dict) -> str:
    """A report's index date as text: the default date (`--as-of`, or the extract's latest
    event), or `per patient, else DATE` when the extract's own index dates were used where
    set: patients then count back from dates of their own, not from one shared date; just
    `per patient` when every patient had one (the default, which nobody used, is left out)."""
    index = report["provenance"]["index_date"]
    return {
        "default": index["default"],
        "own": "per patient",
        "own, else default": f"per patient, else {index['default']}",
    }[index_basis(index)]


def describe(reports: list[dict], sources: list[str], sites: list[SiteReport]) -> list[dict]:
    """Per report (`sources` names each as the user gave it): `source`, its `sites` as the
    comparison names them, `index_date` (see `index_date`), `generated_at`, `min_cell`
    (0: exact counts), `notices` (the licence or citation its extract's data carries, which
    a comparison built from it must repeat) and `data_quality` (its data-quality findings,
    one line each as its report words them: a step that leaves many patients UNKNOWN at one
    site may come from its data), so that a reader can tell which numbers came from where."""
    return [
        {
            "source": source,
            "sites": list(dict.fromkeys(s.site_id for s in sites if s.source == source)),
            "index_date": index_date(report),
            "generated_at": report["generated_at"],
            "min_cell": report["protection"]["min_cell"],
            "notices": list(report["provenance"].get("extract", {}).get("notices") or []),
            "data_quality": list((report.get("data_quality") or {}).get("warnings") or []),
        }
        for source, report in zip(sources, reports, strict=True)
    ]


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


def lost_at_most(failed: int | None, previous: int | None, eligible: int | None) -> float | None:
    """Where a step's `failed` count is withheld (it would reveal a suppressed UNKNOWN count),
    the most the step can have lost: the share that did not pass it, lost or left UNKNOWN,
    from the eligible counts before and after it, which are published. Each of those is
    rounded to the nearest multiple of ROUND_TO, so the bound makes room for that: it holds
    for every true count the published ones allow, and tells no more than they do."""
    if failed is not None or previous is None or eligible is None or previous == 0:
        return None
    off = ROUND_TO // 2  # the most a rounded count is off by
    return min(1.0, (previous - eligible + 2 * off) / max(previous - off, 1))


def compare_rows(sites: list[SiteReport], reports: list[dict]) -> list[dict]:
    """Per trial, site and waterfall step: remaining patients, lost and unknown shares, flags,
    and the K of the site's report's `<K` (`suppressed_below`), to show suppressed counts
    as the report does."""
    texts = {(t["id"], c["id"]): c for r in reports for t in r["trials"] for c in t["criteria"]}
    rows: list[dict] = []
    for s in sites:
        previous = None
        for step in s.block["waterfall"]:
            # the step's own word holds for its report, which may have another version of
            # the trial than the others; reports without it say it only in the criteria
            assessable = step.get("assessable")
            if assessable is None:
                assessable = texts.get((s.trial_id, step["criterion_id"]), {}).get("assessable", True)
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
                    "lost_share_at_most": lost_at_most(step["failed"], previous, step["eligible"])
                    if step["step"]
                    else None,
                    "eligible": step["eligible"],
                    "potentially_eligible": step["potentially_eligible"],
                    "assessable": assessable,
                    "flag": "",
                    "flagged": None,
                    "suppressed_below": s.suppressed_below,
                    "sharing": s.sharing,
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
                if abs(r[key] - typical) >= APART:
                    what = "left UNKNOWN" if key == "unknown_share" else "lost"
                    r["flag"] = f"{label}: {r[key]:.0%} {what}, against {typical:.0%} at the typical site"
                    r["flagged"] = key  # which share stands apart, to mark it where it is drawn


def summary(sites: list[SiteReport]) -> list[dict]:
    """Eligible and potentially eligible per trial and site (with the K of its report's `<K`)."""
    return [
        {
            "trial_id": s.trial_id,
            "site_id": s.site_id,
            "source": s.source,
            "base": s.block["base"],
            "eligible": s.block["eligible"],
            "potentially_eligible": s.block["potentially_eligible"],
            "suppressed_below": s.suppressed_below,
        }
        for s in sites
    ]


@dataclass(frozen=True)
class ConversionChoice:
    """The sponsor's conversion for the network forecast, over the one each report used: one
    share for every site (`default`, None to keep each report's), and per site by the names
    the comparison gives the sites (`by_site`, from `source`, a file)."""

    default: float | None = None
    by_site: dict[str, float] = dataclass_field(default_factory=dict)
    source: str = "--conversion-file"

    def shares(self, reported: Mapping[str, float]) -> dict[str, float]:
        """Each site's share: its own in `by_site`, else `default`, else the one `reported`."""
        fallback = dict(reported) if self.default is None else dict.fromkeys(reported, self.default)
        return {site: self.by_site.get(site, share) for site, share in fallback.items()}


def network_forecasts(
    sites: list[SiteReport],
    reports: list[dict],
    sources: list[str],
    target: int | None,
    conversion: ConversionChoice | None = None,
) -> list[dict]:
    """Per trial that some report counted monthly (`run --monthly`): the enrollment forecast
    fitted again across the sites of every report, as one network (the prior's spread is then
    that of the network's sites, and the time to `target` is the network's). Each site enters
    with its published count of newly potentially eligible patients over its months, a
    suppressed one at the middle of the suppressed counts, as its own report's forecast took
    it, and with the conversion its report used unless the sponsor's `conversion` says
    otherwise.

    Each dict: `trial_id`; `forecast` (`Forecast.as_dict`, each site with its `source`
    report, its published `eligible_observed` and the K of its report's `<K`,
    `suppressed_below`); `without_monthly`, the sites of reports
    made without `--monthly`; `same_extract`, the sites of a report whose extract an earlier
    report of the trial's network already brought (the same patients, not counted twice);
    `suppressed`, the sites whose count was taken at the middle."""
    labels = {(s.source, s.trial_id, s.block["site_id"]): s.site_id for s in sites}
    networks: dict[str, _Network] = {}
    for source, report in zip(sources, reports, strict=True):
        below = suppressed_label(report["protection"])
        digest = extract_sha256(report)
        for trial in report["trials"]:
            network = networks.setdefault(trial["id"], _Network())
            fitted = (trial.get("enrollment") or {}).get("forecast")
            here = [s.site_id for s in sites if (s.source, s.trial_id) == (source, trial["id"])]
            if fitted is None:
                network.without += here
                continue
            if digest is not None and digest in network.extracts:
                network.same_extract += here
                continue
            if digest is not None:
                network.extracts.add(digest)
            for site in fitted["sites"]:
                # a site the comparison shows under another name (one that clashed) keeps it;
                # one whose counts the report withheld is named with its report
                label = labels.get((source, trial["id"], site["site"]), f"{site['site']} ({source})")
                published = site["eligible_observed"]
                if published is None:
                    network.suppressed.append(label)
                eligible = suppressed_middle(below) if published is None else published
                network.observed[label] = Observed(eligible, site["months_observed"])
                network.conversion[label] = site["conversion"]
                network.shown[label] = {
                    "eligible_observed": published,
                    "source": source,
                    "suppressed_below": below,
                }
    if conversion is not None:
        every_site = sorted(
            {label for network in networks.values() for label in network.observed}, key=site_order
        )
        check_sites(
            every_site, conversion.by_site, source=conversion.source, of="the reports made with --monthly"
        )
    out = []
    for trial_id, network in networks.items():
        if not network.observed:
            continue
        shares = network.conversion if conversion is None else conversion.shares(network.conversion)
        fitted = forecast(network.observed, shares, target).as_dict()
        for site in fitted["sites"]:
            site.update(network.shown[site["site"]])
        out.append(
            {
                "trial_id": trial_id,
                "forecast": fitted,
                "without_monthly": network.without,
                "same_extract": network.same_extract,
                "suppressed": network.suppressed,
            }
        )
    return out


@dataclass
class _Network:
    """A trial's sites, gathered across the reports for its network forecast."""

    observed: dict[str, Observed] = dataclass_field(default_factory=dict)
    conversion: dict[str, float] = dataclass_field(default_factory=dict)
    shown: dict[str, dict] = dataclass_field(default_factory=dict)  # what each site's report published
    without: list[str] = dataclass_field(default_factory=list)  # sites of reports without --monthly
    extracts: set[str] = dataclass_field(default_factory=set)  # the SHA-256 of the extracts counted
    same_extract: list[str] = dataclass_field(default_factory=list)  # sites of an extract counted before
    suppressed: list[str] = dataclass_field(default_factory=list)  # sites fitted at the middle

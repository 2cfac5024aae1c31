"""CSV and JSON files of a report."""

from __future__ import annotations

import csv
import io
import json

from feasibility.protect import sharing, suppressed_text

WATERFALL_COLUMNS = (
    "trial_id",
    "site_id",
    "step",
    "criterion_id",
    "kind",
    "assessable",
    "passed",
    "failed",
    "unknown",
    "eligible",
    "potentially_eligible",
)
# The last column of both CSVs: whether the counts may leave the site, on every row, so that
# a file copied out of its folder, renamed, or pasted into another table still says it. Last,
# so that a reader of the columns before it by position reads them as before.
SHARING_COLUMN = "sharing"


def _cell(value: object, protection: dict, key: str) -> str:
    """A CSV cell; `key` is the value's key in report.json, which says how a null reads."""
    if value is None:
        return suppressed_text(key, protection)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a protected impact is a multiple of 5: `125`, not `125.0`
    return str(value)


def waterfall_csv(report: dict) -> str:
    """`waterfall.csv`: one row per trial x site x step; suppressed counts read `<K`, or
    `withheld` for a derived count (see `protect.suppressed_text`); `sharing` last."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*WATERFALL_COLUMNS, SHARING_COLUMN])
    marker = sharing(report["protection"])
    for trial in report["trials"]:
        for site in trial["sites"]:
            for step in site["waterfall"]:
                row = {"trial_id": trial["id"], "site_id": site["site_id"], **step}
                writer.writerow(
                    [*(_cell(row[c], report["protection"], c) for c in WATERFALL_COLUMNS), marker]
                )
    return out.getvalue()


def criteria_csv(report: dict) -> str:
    """`criteria.csv`: per trial, site and criterion, the alone / leave-one-out / impact views;
    `sharing` last."""
    columns = (
        "trial_id",
        "site_id",
        "criterion_id",
        "kind",
        "assessable",
        "alone_true",
        "alone_false",
        "alone_unknown",
        "loo_gain",
        "loo_gain_potential",
        "impact",
        "impact_potential",
    )
    keys = [c.removeprefix("alone_") for c in columns]  # each column's key in report.json
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*columns, SHARING_COLUMN])
    marker = sharing(report["protection"])
    for trial in report["trials"]:
        kinds = {c["id"]: c for c in trial["criteria"]}
        for site in trial["sites"]:
            for view in site["criteria"]:
                c = kinds[view["criterion_id"]]
                values = [
                    trial["id"],
                    site["site_id"],
                    c["id"],
                    c["kind"],
                    c["assessable"],
                    view["alone"]["true"],
                    view["alone"]["false"],
                    view["alone"]["unknown"],
                    view["loo_gain"],
                    view["loo_gain_potential"],
                    view["impact"],
                    view["impact_potential"],
                ]
                cells = [_cell(v, report["protection"], key) for key, v in zip(keys, values, strict=True)]
                writer.writerow([*cells, marker])
    return out.getvalue()


def report_json(report: dict) -> str:
    """`report.json`, in a stable key order: two runs on the same inputs differ only in
    `generated_at`."""
    return json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False) + "\n"

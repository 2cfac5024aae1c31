"""`compare.csv`, `compare.html` and the terminal view of `feasibility compare`."""

from __future__ import annotations

import csv
import io

import plotly.graph_objects as go
import plotly.offline
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from feasibility.reports.html import STYLE, _chart, _esc

COLUMNS = (
    "trial_id",
    "site_id",
    "source",
    "step",
    "criterion_id",
    "assessable",
    "remaining_before",
    "failed",
    "unknown",
    "lost_share",
    "unknown_share",
    "eligible",
    "potentially_eligible",
    "flag",
)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compare_csv(rows: list[dict]) -> str:
    """Long format: one row per trial, site and waterfall step (empty = suppressed/undefined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_cell(r[c]) for c in COLUMNS])
    return out.getvalue()


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0%}"


def _n(v) -> str:
    return "suppressed" if v is None else f"{v:,}"


def print_compare(summary: list[dict], rows: list[dict], console: Console) -> None:
    trials = list(dict.fromkeys(s["trial_id"] for s in summary))
    for trial in trials:
        sites = [s for s in summary if s["trial_id"] == trial]
        table = Table(
            title=f"[bold]{escape(trial)}[/]: share of remaining patients lost at each step",
            title_justify="left",
        )
        table.add_column("criterion")
        for s in sites:
            table.add_column(escape(s["site_id"]), justify="right")
        steps = list(dict.fromkeys(r["criterion_id"] for r in rows if r["trial_id"] == trial and r["step"]))
        for cid in steps:
            cells = []
            for s in sites:
                r = next(
                    r
                    for r in rows
                    if r["trial_id"] == trial and r["site_id"] == s["site_id"] and r["criterion_id"] == cid
                )
                mark = " [red]◆[/]" if r["flag"] else ""
                cells.append(f"{_pct(r['lost_share'])} (?{_pct(r['unknown_share'])}){mark}")
            table.add_row(escape(cid), *cells)
        table.add_row("[bold]eligible[/]", *[_n(s["eligible"]) for s in sites])
        table.add_row("[bold]potentially[/]", *[_n(s["potentially_eligible"]) for s in sites])
        console.print(table)
        for r in rows:
            if r["trial_id"] == trial and r["flag"]:
                flagged = f"{r['criterion_id']} at {r['site_id']}: {r['flag']}"
                console.print(f"  [red]◆[/] {escape(flagged)}")
        console.print()


def compare_html(summary: list[dict], rows: list[dict]) -> str:
    trials = list(dict.fromkeys(s["trial_id"] for s in summary))
    sections = []
    for t_index, trial in enumerate(trials):
        sites = [s for s in summary if s["trial_id"] == trial]
        names = [s["site_id"] for s in sites]
        steps = list(dict.fromkeys(r["criterion_id"] for r in rows if r["trial_id"] == trial and r["step"]))
        cell = {(r["site_id"], r["criterion_id"]): r for r in rows if r["trial_id"] == trial}
        z = [[cell[(s, c)]["lost_share"] for s in names] for c in steps]
        text = [
            [(_pct(cell[(s, c)]["lost_share"]) + (" ◆" if cell[(s, c)]["flag"] else "")) for s in names]
            for c in steps
        ]
        heat = go.Figure(
            go.Heatmap(
                z=z,
                x=names,
                y=steps,
                text=text,
                texttemplate="%{text}",
                colorscale="Reds",
                zmin=0,
                zmax=1,
                colorbar={"title": "lost"},
            )
        )
        heat.update_layout(
            title="Share of remaining patients lost at each step (◆ stands apart)",
            height=max(300, 24 * len(steps) + 120),
            yaxis={"autorange": "reversed", "type": "category"},
        )
        bars = go.Figure()
        bars.add_bar(
            x=names,
            y=[s["potentially_eligible"] for s in sites],
            name="potentially eligible",
            marker_color="#99c1b9",
        )
        bars.add_bar(
            x=names, y=[s["eligible"] for s in sites], name="confirmed eligible", marker_color="#1f6f8b"
        )
        bars.update_layout(barmode="group", title="Eligible patients per site", height=320)
        flags = (
            "".join(
                f"<li><b>{_esc(r['criterion_id'])}</b> at {_esc(r['site_id'])}: {_esc(r['flag'])}</li>"
                for r in rows
                if r["trial_id"] == trial and r["flag"]
            )
            or "<li>no site stands apart</li>"
        )
        sections.append(
            f"<section class='trial'><h2>{_esc(trial)}</h2>"
            f"{_chart(bars, f'c{t_index}-eligible')}{_chart(heat, f'c{t_index}-lost')}"
            f"<h3>Criteria where a site stands apart</h3><ul>{flags}</ul></section>"
        )
    sources = "".join(f"<li>{_esc(s)}</li>" for s in dict.fromkeys(r["source"] for r in summary))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Feasibility: sites compared</title><style>{STYLE}</style>"
        f"<script>{plotly.offline.get_plotlyjs()}</script></head><body>"
        "<header><h1>Sites compared</h1><p>published (protected) numbers of each site's report"
        f"</p></header><main>{''.join(sections)}<section class='trial'><h2>Reports</h2>"
        f"<ul>{sources}</ul></section></main></body></html>"
    )

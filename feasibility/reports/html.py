"""`report.html`: one self-contained page (plotly.js inlined, no network) per report."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from itertools import cycle
from pathlib import Path

import plotly.graph_objects as go
import plotly.io
from plotly.subplots import make_subplots

from feasibility.analytics.forecast import SITE_MONTHS
from feasibility.analytics.waterfall import ALL_SITES
from feasibility.criteria.in_care import IN_CARE_ID
from feasibility.criteria.model import Duration
from feasibility.protect import WITHHELD, suppressed_as, suppressed_label
from feasibility.reports.build import MANY_SITES, index_basis, ranked_sites, ranks_sites, site_blocks
from feasibility.reports.forecast_text import expected_cells, time_to_target_text

CONFIRMED = "#1f6f8b"
POTENTIAL = "#99c1b9"
# the light bars' outline: the fill is 2:1 on white, under the 3:1 a bar needs to be seen
POTENTIAL_EDGE = "#4f8379"
POTENTIAL_BAR = {"color": POTENTIAL, "line": {"color": POTENTIAL_EDGE, "width": 1}}
FAILED = "#d1495b"
TEMPLATE = "plotly_white"
# plotly.js's cartesian bundle (assets/README.md): every trace the pages draw, at a third of
# the size of the full bundle the plotly package carries
PLOTLY_JS = Path(__file__).with_name("assets") / "plotly-cartesian.min.js"


def esc(value: object) -> str:
    """Any value as HTML text (None as nothing): the data's and the user's text is never markup."""
    return html.escape("" if value is None else str(value))


def _index_date(index: dict) -> str:
    """The report's index date as the header gives it (`build.index_basis`)."""
    return {
        "default": index["default"],
        "own": "each patient's own",
        "own, else default": f"each patient's own, else {index['default']}",
    }[index_basis(index)]


def _n(value: int | None, k: int) -> str:
    """A count not derived from others (patients, eligible), `<k` when suppressed
    (`k` from `suppressed_label`)."""
    return f"&lt;{k}" if value is None else f"{value:,}"


def _count(values: dict, key: str, k: int) -> str:
    """The count at `key`; suppressed, it reads as `suppressed_as` says (`withheld` for a
    count derived from others)."""
    value = values[key]
    return esc(suppressed_as(key, k)) if value is None else f"{value:,}"


@cache
def plotly_script() -> str:
    """plotly.js as the `<script>` element a page carries once, in its `<head>`."""
    return f"<script>{PLOTLY_JS.read_text(encoding='utf-8')}</script>"


def _figure() -> go.Figure:
    """An empty figure. Plotly copies and validates the whole template each time a figure
    gets one, which cost more than the rest of the chart: figures start with the empty
    `none` template, and `chart` puts the real one in the finished figure's data instead."""
    return go.Figure(layout={"template": "none"})


@cache
def _template() -> dict:
    """The template as a figure holds it (the registry's own copy lists its keys in another
    order)."""
    return go.Figure(layout={"template": TEMPLATE}).to_dict()["layout"]["template"]


def chart(fig: go.Figure, chart_id: str, label: str) -> str:
    """The figure as a `<div>` for a page that loads plotly.js once (the report, compare),
    named `label` for a screen reader, which should say where the chart's numbers are as
    text. The page's margins, font and legend apply where the figure does not set its own."""
    defaults = {
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "font": {"family": "system-ui, sans-serif", "size": 12},
        # the legend at the foot of the whole figure, below the x axis's title: placed under
        # the plot area instead, it covered that title
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
    }
    fig.update_layout({key: value for key, value in defaults.items() if not fig.layout[key].to_plotly_json()})
    figure = fig.to_dict()
    figure["layout"]["template"] = _template()
    drawn = plotly.io.to_html(
        figure,
        validate=False,
        full_html=False,
        include_plotlyjs=False,
        div_id=chart_id,
        config={"displayModeBar": False, "responsive": True},
    )
    # one image to a screen reader: the SVG inside is ticks and labels in no reading order
    return f"<div class='chart' role='img' aria-label='{esc(label)}'>{drawn}</div>"


def head(*names: str) -> str:
    """A table's header row, each heading marked as its column's (`scope`), so that a screen
    reader names the column with each cell."""
    return "<thead><tr>" + "".join(f"<th scope='col'>{name}</th>" for name in names) + "</tr></thead>"


def generated_text(when: str) -> str:
    """A report's `generated_at` to the minute, in its time zone (UTC as `run` writes it)."""
    try:
        return datetime.fromisoformat(when).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return when  # not ISO: shown as the report has it


def chart_numbers(caption: str, names: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A chart's numbers as a table (cells given as HTML) in a `<details>` under it: closed on
    the screen, where hovering shows them, open in print and to a reader who cannot see the
    chart."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    # the caption's first clause names the chart in the summary, so that a screen reader's list
    # of a page's expanders tells one chart's numbers from another's
    what = re.split(r"[,:;(]", caption, maxsplit=1)[0].strip()
    return (
        "<details class='chart-numbers'>"
        f"<summary>The chart's numbers: {what[:1].lower()}{what[1:]}</summary>"
        f"<table class='data'><caption>{caption}</caption>{head(*names)}"
        f"<tbody>{body}</tbody></table></details>"
    )


def _patients(value: float | None, k: int) -> str:
    """A published number of patients, as text (not HTML), that may be a share (an impact):
    whole where it is, else as published; `<K` when suppressed. A bar's hover and its
    chart's table read it, so the two never differ."""
    if value is None:
        return f"<{k}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def _labels(block: dict) -> list[str]:
    return [f"{s['step']}. {s['criterion_id']}" for s in block["waterfall"]]


def _suppressed_bars(values: list, k: int) -> dict:
    """Bar lengths with a suppressed count drawn as no bar but labelled `<K`, so it does not
    read as a true 0."""
    return {
        "x": [0 if v is None else v for v in values],
        "text": [f"<{k}" if v is None else "" for v in values],
        "textposition": "outside",
        "cliponaxis": False,
        # the hover reads as the label does: a suppressed bar's length (0) is not its count
        "customdata": [_patients(v, k) for v in values],
        "hovertemplate": "%{y}: %{customdata}",
    }


def attrition_chart(block: dict, chart_id: str, k: int) -> str:
    """Confirmed and potentially eligible after each step, as horizontal bars (top to bottom)."""
    labels = _labels(block)
    fig = _figure()
    fig.add_bar(
        y=labels,
        **_suppressed_bars([s["potentially_eligible"] for s in block["waterfall"]], k),
        name="potentially eligible",
        orientation="h",
        marker=POTENTIAL_BAR,
    )
    fig.add_bar(
        y=labels,
        **_suppressed_bars([s["eligible"] for s in block["waterfall"]], k),
        name="confirmed eligible",
        orientation="h",
        marker_color=CONFIRMED,
    )
    # "ALL" is the data's name for the sites together, not a word a reader knows
    where = "all sites" if block["site_id"] == ALL_SITES else f"site {block['site_id']}"
    fig.update_layout(
        barmode="overlay",
        height=max(300, 22 * len(labels) + 80),
        title=f"Attrition, {where}",
        xaxis={"title": "patients"},
        yaxis={"autorange": "reversed", "type": "category"},
    )
    label = (
        f"Bar chart: attrition, {where}, the confirmed and potentially eligible patients after "
        "each step. Its numbers are in the waterfall table below."
    )
    return chart(fig, chart_id, label)


def _longest_bar(blocks: list[dict]) -> int:
    """The largest published count of the blocks' waterfalls (a suppressed one is drawn as
    no bar, so it never sets the scale)."""
    counts = [s[key] for b in blocks for s in b["waterfall"] for key in ("eligible", "potentially_eligible")]
    return max([c for c in counts if c is not None], default=0) or 1


def sites_chart(trial: dict, chart_id: str, k: int) -> str:
    """Small multiples: each site's attrition on its own panel; with more than `MANY_SITES`
    sites, whose panels would be too small to read and too many to compare, the sites
    ranked on one chart (`ranked_sites_chart`)."""
    sites = site_blocks(trial)
    if ranks_sites(trial):
        return ranked_sites_chart(sites, chart_id, k)
    cols = min(3, len(sites))
    rows = -(-len(sites) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[s["site_id"] for s in sites],
        shared_yaxes=True,
        horizontal_spacing=0.04,
        figure=_figure(),
    )
    for i, block in enumerate(sites):
        r, c = divmod(i, cols)
        labels = [s["criterion_id"] for s in block["waterfall"]]
        fig.add_bar(
            y=labels,
            **_suppressed_bars([s["potentially_eligible"] for s in block["waterfall"]], k),
            orientation="h",
            marker=POTENTIAL_BAR,
            name="potentially eligible",
            showlegend=i == 0,
            row=r + 1,
            col=c + 1,
        )
        fig.add_bar(
            y=labels,
            **_suppressed_bars([s["eligible"] for s in block["waterfall"]], k),
            orientation="h",
            marker_color=CONFIRMED,
            name="confirmed eligible",
            showlegend=i == 0,
            row=r + 1,
            col=c + 1,
        )
    fig.update_yaxes(autorange="reversed", type="category")
    # one scale for every panel, so that equal bars are equal counts across sites (each
    # panel's own autorange made a small site's bars look as long as a large one's)
    fig.update_xaxes(range=[0, 1.05 * _longest_bar(sites)], matches="x")
    fig.update_xaxes(title="patients", row=rows)
    fig.update_layout(
        barmode="overlay",
        title="Attrition per site (one scale for all sites)",
        margin={"l": 10, "r": 10, "t": 70, "b": 10},  # room for the title above the panels' own
        # a row per criterion on every panel, plus the title, axis titles and legend
        height=rows * max(260, 16 * len(trial["criteria"]) + 80) + 80,
    )
    label = (
        "Bar charts, one per site: the confirmed and potentially eligible patients after each "
        "step. Their numbers are in the table under them."
    )
    names = ["criterion"] + [
        f"{esc(s['site_id'])} {what}" for s in sites for what in ("confirmed", "potentially")
    ]
    rows_of = zip(*(s["waterfall"] for s in sites), strict=True)
    numbers = chart_numbers(
        "Confirmed and potentially eligible patients after each step, per site",
        names,
        (
            [esc(steps[0]["criterion_id"])]
            + [_count(s, key, k) for s in steps for key in ("eligible", "potentially_eligible")]
            for steps in rows_of
        ),
    )
    return f"<div>{chart(fig, chart_id, label)}{numbers}</div>"


def _excludes_most(block: dict) -> str:
    """The id of the criterion with the largest published impact in the potentially-eligible
    view (the patients its FALSE removes, as a Shapley share), the first in protocol order
    of equals; `—` when no published impact is above 0."""
    published = [
        (v["impact_potential"], v["criterion_id"]) for v in block["criteria"] if v["impact_potential"]
    ]
    if not published:
        return "—"
    top = max(value for value, _ in published)
    return esc(next(cid for value, cid in published if value == top))


def ranked_sites_chart(sites: list[dict], chart_id: str, k: int) -> str:
    """Each site's confirmed and potentially eligible patients after the last step, one bar
    of each per site, the most potentially eligible first (a suppressed count ranks as 0 and
    is labelled `<K`), and a table of the same with each site's patients and the criterion
    excluding most of them. Each site's steps are in `waterfall.csv`."""
    ranked = ranked_sites(sites)
    ids = [b["site_id"] for b in ranked]
    fig = _figure()
    fig.add_bar(
        y=ids,
        **_suppressed_bars([b["potentially_eligible"] for b in ranked], k),
        orientation="h",
        marker=POTENTIAL_BAR,
        name="potentially eligible",
    )
    fig.add_bar(
        y=ids,
        **_suppressed_bars([b["eligible"] for b in ranked], k),
        orientation="h",
        marker_color=CONFIRMED,
        name="confirmed eligible",
    )
    fig.update_layout(
        barmode="overlay",
        title=f"Eligible patients per site ({len(ranked)} sites, most potentially eligible first)",
        height=max(300, 20 * len(ranked) + 120),
        xaxis={"title": "patients"},
        yaxis={"autorange": "reversed", "type": "category"},
    )
    label = (
        f"Bar chart: the confirmed and potentially eligible patients of each of the {len(ranked)} "
        "sites after the last step, the most potentially eligible first. Its numbers are in the "
        "table under it; each site's steps are in waterfall.csv."
    )
    numbers = chart_numbers(
        "Eligible patients per site, with the criterion excluding most of each site's patients "
        "(the largest Shapley share in the potentially-eligible view)",
        ["site", "patients", "confirmed eligible", "potentially eligible", "excludes most"],
        (
            [esc(b["site_id"]), _n(b["base"], k), _n(b["eligible"], k), _n(b["potentially_eligible"], k)]
            + [_excludes_most(b)]
            for b in ranked
        ),
    )
    return f"<div>{chart(fig, chart_id, label)}{numbers}</div>"


def impact_chart(block: dict, chart_id: str, k: int) -> str:
    """Criteria ranked by their share of the ineligible count (confirmed and potential); a
    criterion whose impact is suppressed stays on the chart, labelled `<K`."""
    views = sorted(block["criteria"], key=lambda v: -(v["impact"] or 0))
    views = [v for v in views if v["impact"] != 0 or v["impact_potential"] != 0]
    fig = _figure()
    ids = [v["criterion_id"] for v in views]
    fig.add_bar(
        y=ids,
        **_suppressed_bars([v["impact"] for v in views], k),
        orientation="h",
        name="confirmed view",
        marker_color=CONFIRMED,
    )
    fig.add_bar(
        y=ids,
        **_suppressed_bars([v["impact_potential"] for v in views], k),
        orientation="h",
        name="potentially-eligible view",
        marker_color=FAILED,
    )
    fig.update_layout(
        barmode="group",
        title="Impact: each criterion's share of the ineligible patients",
        height=max(260, 26 * len(ids) + 100),
        # a Shapley share is counted in patients: a patient excluded by n criteria counts
        # 1/n for each of them
        xaxis={"title": "ineligible patients (Shapley share)"},
        yaxis={"autorange": "reversed", "type": "category"},
    )
    label = (
        "Bar chart: each criterion's share of the ineligible patients, in the confirmed and the "
        "potentially-eligible views. Its numbers are in the table under it."
    )
    numbers = chart_numbers(
        "Each criterion's share of the ineligible patients (Shapley share, in patients)",
        ["criterion", "confirmed view", "potentially-eligible view"],
        (
            [esc(v["criterion_id"]), esc(_patients(v["impact"], k)), esc(_patients(v["impact_potential"], k))]
            for v in views
        ),
    )
    return f"<div>{chart(fig, chart_id, label)}{numbers}</div>"


# (impact key, the count whose complement its shares add up to, the chart's name of the view)
IMPACT_VIEWS = (
    ("impact", "eligible", "confirmed view"),
    ("impact_potential", "potentially_eligible", "potentially-eligible view"),
)


def impact_note(block: dict, protection: dict) -> str:
    """Why the published impacts do not add up to the ineligible count, when they do not:
    a suppressed one is drawn as no bar and the others are rounded. Only published numbers
    are summed or subtracted, and an ineligible count below K is not stated."""
    k = suppressed_label(protection)
    parts = []
    for key, eligible_key, view in IMPACT_VIEWS:
        values = [v[key] for v in block["criteria"]]
        hidden = sum(v is None for v in values)
        shown = sum(v for v in values if v is not None)
        eligible = block[eligible_key]
        ineligible = None if block["base"] is None or eligible is None else block["base"] - eligible
        if (hidden == 0 and protection["min_cell"] <= 0) or shown == ineligible:
            continue  # exact shares, or published ones that happen to add up
        of = (
            f" of the {ineligible:,} ineligible"
            if ineligible and ineligible >= protection["min_cell"]
            else ""
        )
        parts.append(
            f"{view}: the bars add up to {shown:,.0f}{of}"
            + (
                f", {hidden} {'impact is' if hidden == 1 else 'impacts are'} &lt;{k} (no bar)"
                if hidden
                else ""
            )
        )
    if not parts:
        return ""
    return (
        "<p class='note'>Impacts are rounded to a multiple of 5 and suppressed below "
        f"{k}, so the published ones do not add up to the ineligible patients ({'; '.join(parts)}).</p>"
    )


def _criteria_table(trial: dict, block: dict, k: int) -> str:
    views = {v["criterion_id"]: v for v in block["criteria"]}
    rows = []
    for c in trial["criteria"]:
        v = views[c["id"]]
        decided = esc(c["rule"]) if c["assessable"] else f"<em>not assessable</em>: {esc(c['reason'])}"
        note = f"<div class='note'>{esc(c['note'])}</div>" if c.get("note") else ""
        rows.append(
            f"<tr class='{'na' if not c['assessable'] else ''}'><td>{esc(c['id'])}</td>"
            f"<td>{esc(c['kind'])}</td><td class='text'>{esc(c['text'].strip())}{note}</td>"
            f"<td class='rule'>{decided}</td>"
            f"<td>{_count(v['alone'], 'true', k)}</td>"
            f"<td>{_count(v['alone'], 'false', k)}</td>"
            f"<td>{_count(v['alone'], 'unknown', k)}</td>"
            f"<td>{_count(v, 'loo_gain', k)}</td></tr>"
        )
    return (
        "<table class='criteria'><caption>Each criterion of the protocol, how the data decide it, "
        "and what it does on its own and when dropped (all sites)</caption>"
        + head(
            "id",
            "kind",
            "protocol text",
            "how it is decided",
            "alone TRUE",
            "alone FALSE",
            "alone UNKNOWN",
            "gain if dropped",
        )
        + "<tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _waterfall_table(block: dict, k: int) -> str:
    rows = "".join(
        f"<tr><td>{s['step']}</td><td>{esc(s['criterion_id'])}</td><td>{_count(s, 'passed', k)}</td>"
        f"<td>{_count(s, 'failed', k)}</td><td>{_count(s, 'unknown', k)}</td>"
        f"<td>{_count(s, 'eligible', k)}</td><td>{_count(s, 'potentially_eligible', k)}</td></tr>"
        for s in block["waterfall"]
    )
    return (
        "<table class='numbers'><caption>The patients at each step of the waterfall, all sites "
        "(eligible: confirmed eligible after the step)</caption>"
        + head("step", "criterion", "passed", "failed", "unknown", "eligible", "potentially eligible")
        + f"<tbody>{rows}</tbody></table>"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f7f8fa}
header{background:#1d2733;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.8}
.banner{padding:10px 28px;font-weight:600}
header .notice{font-size:13px;margin-top:4px}
.banner.ok{background:#e3f1ec;color:#14532d} .banner.warn{background:#fde2e1;color:#7f1d1d}
main{padding:10px 28px 40px;max-width:1300px}
section.trial{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:16px 20px;margin:18px 0}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin:8px 0 14px}
.card{background:#f1f4f7;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;font-size:13px;margin:10px 0;width:100%}
th,td{border-bottom:1px solid #e5e9ee;padding:5px 7px;text-align:left;vertical-align:top}
table.numbers td:nth-child(n+3),table.numbers th:nth-child(n+3){text-align:right}
table.criteria td:nth-child(n+5),table.criteria th:nth-child(n+5){text-align:right}
table.enrollment td:nth-child(n+2),table.enrollment th:nth-child(n+2){text-align:right}
table.criteria td.text{max-width:520px;white-space:pre-line}
td.rule{font-family:ui-monospace,monospace;font-size:12px}
/* a rule's long words (code names, nested calls) wrap rather than widen the table past the paper */
td.rule,td.text{overflow-wrap:anywhere}
tr.na{color:#6b7280} .note{font-size:12px;color:#6b7280;margin-top:3px}
/* minmax(0, ...): a column as wide as its share, never as its chart (drawn for the print until
   Plotly lays it out again) */
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px}
@media(max-width:1000px){.grid{grid-template-columns:minmax(0,1fr)}}
nav a{margin-right:12px} code{font-size:12px}
pre{white-space:pre-wrap;overflow-wrap:anywhere}
details.guide{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:10px 20px;margin:14px 0}
details.guide summary{font-weight:600;cursor:pointer}
details.guide dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:10px 0 4px}
details.guide dl{font-size:13px}
details.guide dt{font-weight:600} details.guide dd{margin:0}
caption{caption-side:top;text-align:left;font-size:12px;color:#4b5563;padding:2px 0 4px}
details.chart-numbers{margin:2px 0 10px;font-size:13px}
details.chart-numbers summary{cursor:pointer;color:#4b5563}
table.data td:nth-child(n+2),table.data th:nth-child(n+2){text-align:right}
/* an expected enrollment and its interval on one line; a path wraps anywhere, not past the paper */
table.enrollment td:nth-last-child(-n+2){white-space:nowrap}
.path{overflow-wrap:anywhere}
@page{margin:12mm}
@media print{
body{background:#fff;font-size:12px}
header{background:none;color:#1d2733;padding:0 0 8px;border-bottom:2px solid #1d2733}
header p{opacity:1}
.banner{padding:6px 10px;margin-top:8px;border:2px solid currentColor}
main{padding:0;max-width:none}
nav{display:none}
section.trial{border:0;padding:0;margin:14px 0 0}
details.guide{border:0;padding:0}
details::details-content{content-visibility:visible;display:block}
.grid{display:block}
/* a trial's four figures on one row: on two, its first chart no longer fit under them and
   the trial's first page held its title and figures alone */
.cards{gap:8px;margin:4px 0 8px} .card{min-width:0;padding:6px 10px}
/* a row of counts stays whole; a criterion's row of protocol text, often longer than what is
   left of a page, breaks between its lines rather than leaving the rest of the page blank */
.chart,.cards,table.numbers tr,table.data tr,table.enrollment tr{break-inside:avoid}
/* a heading of two lines stays whole, and with what follows it: a trial's title was split
   between the foot of one page and the top of the next */
h2,h3,caption{break-after:avoid;break-inside:avoid}
thead{display:table-header-group}
/* the protocol's text and its rule get most of the paper's width: laid out automatically, the
   four count columns took as much as the text, and a criterion ran over pages of short lines */
table.criteria{table-layout:fixed} table.criteria td.text{max-width:none}
table.criteria th,table.criteria td{padding:4px 3px} table.criteria th{font-size:10px}
table.criteria th:nth-child(-n+2){width:9%} table.criteria th:nth-child(3){width:30%}
table.criteria th:nth-child(4){width:20%} table.criteria th:nth-child(n+5){width:8%}
}
"""

# The width and the most height a chart is printed at: the width fits the narrower of A4
# and Letter within the @page margins, the height a page under a heading.
PRINT_WIDTH = 680
PRINT_HEIGHT = 900

# Printed, a Plotly chart keeps the width it was drawn at on the screen, so one drawn wider
# than the paper is cut at the right edge, and a closed <details> (the guide, a chart's
# numbers) prints as its summary only: each chart is drawn again at the paper's width for
# the print and as it was after, and every <details> prints open. The box plotly.js wraps a
# chart in keeps the height it was drawn at (`style="height: ...px"`), so it is given the
# printed chart's height too: else a chart taller than a page left the rest of its screen
# height blank, a whole blank page where the box did not fit on one.
PRINT_SCRIPT = """<script>
(() => {
  let opened = [];
  const charts = () => document.querySelectorAll(".js-plotly-plot");
  addEventListener("beforeprint", () => {
    opened = [...document.querySelectorAll("details:not([open])")];
    for (const details of opened) details.open = true;
    for (const gd of charts()) {
      const height = Math.min(gd._fullLayout.height, __HEIGHT__);
      gd.dataset.screenHeight = gd.layout.height || "";
      gd.dataset.boxHeight = gd.parentElement.style.height;
      Plotly.relayout(gd, {autosize: false, width: __WIDTH__, height: height});
      gd.parentElement.style.height = height + "px";
    }
  });
  addEventListener("afterprint", () => {
    for (const details of opened) details.open = false;
    opened = [];
    for (const gd of charts()) {
      gd.parentElement.style.height = gd.dataset.boxHeight;
      Plotly.relayout(gd, {autosize: true, width: null,
                           height: Number(gd.dataset.screenHeight) || null});
    }
  });
})();
</script>""".replace("__WIDTH__", str(PRINT_WIDTH)).replace("__HEIGHT__", str(PRINT_HEIGHT))


SERIES = ("#1d2733", "#e07a2f", "#3b8ea5", "#7b5ea7", "#5c9e4a", "#c2477b")  # ALL first
# each series' marker and dash, so that no line is told from another by its colour alone:
# the orange and the green are close to a protanope, the blue and the purple to a deuteranope
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "star")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _months(incidence: dict) -> list[str]:
    """A series' months as the chart and its table name them: month ends, or `-j` months
    before each patient's own index date."""
    return incidence["month_end"] or [f"-{j}" for j in incidence["months_back"]]


def incidence_chart(enrollment: dict, chart_id: str, k: int) -> str:
    """Newly potentially eligible patients per month, one line per site and one for ALL.

    A suppressed month is no point on its line (never a 0) but an open marker inside a band
    labelled `<K`, at the band's middle for every series, so its place says nothing but
    `<K`; a series with no published month is named in the legend instead, and a chart with
    none says so."""
    incidence = enrollment["incidence"]
    fig = _figure()
    drawn = marked = 0
    styles = cycle(zip(SERIES, SYMBOLS, DASHES, strict=True))
    for (color, symbol, dash), inc in zip(styles, incidence, strict=False):
        values = inc["new_potentially_eligible"]
        if values is None:  # withheld by the incidence audit: the note under the chart says why
            continue
        x = _months(inc)
        name = inc["site_id"]
        marker = {"color": color, "symbol": f"{symbol}-open", "size": 9}
        if all(v is None for v in values):
            # a legend entry only: twelve markers stacked on the other sites' would hide them
            fig.add_scatter(
                x=[None], y=[None], mode="markers", marker=marker, name=f"{name}: every month <{k}"
            )
            continue
        drawn += 1
        fig.add_scatter(
            x=x,
            y=values,
            mode="lines+markers",
            name=name,
            legendgroup=name,
            line={"color": color, "width": 3 if name == ALL_SITES else 2, "dash": dash},
            marker={"symbol": symbol, "size": 7},
            hovertemplate=f"{esc(name)}: %{{y}}<extra></extra>",
        )
        hidden = [j for j, v in enumerate(values) if v is None]
        marked += len(hidden)
        if hidden:
            fig.add_scatter(
                x=[x[j] for j in hidden],
                y=[k / 2] * len(hidden),
                mode="markers",
                marker=marker,
                name=f"{name} <{k}",
                legendgroup=name,
                showlegend=False,
                hovertemplate=f"{esc(name)}: &lt;{k}<extra></extra>",
            )
    if marked:  # a band only where a month of a drawn line is in it (none in an exact report)
        fig.add_hrect(
            y0=0,
            y1=k,
            fillcolor="#9aa5b1",
            opacity=0.15,
            line_width=0,
            annotation_text=f"&lt;{k}: suppressed",
            annotation_position="top left",
        )
    if not drawn:
        # no trace sets the x axis: give it the months, so the empty chart says which they are
        months = _months(incidence[0])
        fig.update_xaxes(
            {"type": "date", "range": [months[0], months[-1]]}
            if incidence[0]["month_end"]
            else {"type": "category", "categoryarray": months, "range": [-0.5, len(months) - 0.5]}
        )
        fig.add_annotation(
            text=(
                "the months are withheld (below)"
                if enrollment.get("months_withheld")
                else f"every month is suppressed (&lt;{k})"
            ),
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
        )
    month_end = incidence[0]["month_end"]
    fig.update_layout(
        height=340,
        title=f"Newly {enrollment['basis']} per month",
        hovermode="x unified",
        xaxis={"title": "month ending" if month_end else "months before index"},
        # from zero, so a line's height is its count; an empty chart still shows the band's scale
        yaxis={"title": "patients", "rangemode": "tozero", **({} if drawn else {"range": [0, k]})},
    )
    label = (
        f"Line chart: newly {enrollment['basis']} patients per month, per site and all sites. "
        "Its numbers are in the table under it."
    )
    published = [inc for inc in incidence if inc["new_potentially_eligible"] is not None]
    months = _months(incidence[0])
    numbers = chart_numbers(
        f"Newly {esc(enrollment['basis'])} patients per month",
        ["month ending" if month_end else "months before index", *(esc(inc["site_id"]) for inc in published)],
        (
            [esc(month), *(_n(inc["new_potentially_eligible"][j], k) for inc in published)]
            for j, month in enumerate(months)
        ),
    )
    return f"<div>{chart(fig, chart_id, label)}{numbers}</div>"


def _reached(band: dict, target: int) -> int | None:
    """The first month at which even the 95% band's lower edge has reached `target`."""
    return next((m for m, low in zip(band["months"], band["low95"], strict=True) if low >= target), None)


def forecast_chart(enrollment: dict, chart_id: str) -> str:
    """Cumulative enrollment, all sites: the median with its 80% and 95% bands, up to a little
    past the month where the whole 95% band has reached the target (the full horizon without
    a target or when it is not reached), so that the part that answers the question fills
    the chart."""
    band = enrollment["forecast"]["band"]
    target = enrollment["forecast"]["time_to_target"]
    reached = _reached(band, target["target"]) if target else None
    last = len(band["months"]) if reached is None else max(reached + 2, round(reached * 1.25)) + 1
    band = {key: values[:last] for key, values in band.items() if isinstance(values, list)}
    months = band["months"]
    fig = _figure()
    for low, high, name, alpha in (
        ("low95", "high95", "95% band", 0.15),
        ("low80", "high80", "80% band", 0.3),
    ):
        fig.add_scatter(
            x=months, y=band[high], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
        )
        fig.add_scatter(
            x=months,
            y=band[low],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=f"rgba(31,119,180,{alpha})",
            name=name,
        )
    fig.add_scatter(x=months, y=band["median"], mode="lines", line={"color": CONFIRMED}, name="median")
    if target:
        fig.add_hline(y=target["target"], line_dash="dot", annotation_text=f"target {target['target']}")
    fig.update_layout(
        height=340,
        title="Expected cumulative enrollment, all sites",
        xaxis={"title": "months from start", "range": [0, months[-1]]},
        yaxis={"title": "patients enrolled", "rangemode": "tozero"},
    )
    label = (
        "Line chart: expected cumulative enrollment of all sites by month, the median with its "
        "80% and 95% bands. Its numbers are in the table under it."
    )
    numbers = chart_numbers(
        "Expected cumulative enrollment, all sites: the median and the range 80% and 95% of the "
        "simulated enrollments fall in",
        ["months from start", "median", "80% band", "95% band"],
        (
            [
                str(m),
                f"{band['median'][i]:.1f}",
                f"{band['low80'][i]:.1f}–{band['high80'][i]:.1f}",
                f"{band['low95'][i]:.1f}–{band['high95'][i]:.1f}",
            ]
            for i, m in enumerate(months)
        ),
    )
    return f"<div>{chart(fig, chart_id, label)}{numbers}</div>"


def _sentence(note: str | None) -> str:
    """A note of the model as a sentence of its own, after the one before it (the model's
    notes start in lower case and end without a full stop)."""
    if not note:
        return ""
    note = note.strip()
    return f" {esc(note[:1].upper() + note[1:])}{'' if note.endswith('.') else '.'}"


def forecast_details(fc: dict, k: int | None = None, *, sources: bool = False) -> str:
    """A forecast's time to target and its table of sites: what each site was fitted on and
    is expected to enroll. A suppressed count reads `<` its site's own report's K
    (`suppressed_below`, as `compare`'s sites carry it), else `<k`; with `sources` each site
    names its report."""
    parts = []
    if fc["time_to_target"]:
        text = time_to_target_text(fc["time_to_target"])
        parts.append(f"<p>{esc(text[:1].upper() + text[1:])}.</p>")

    def row(s: dict) -> str:
        site_k = s.get("suppressed_below", k)
        if site_k is None:
            raise ValueError(f"site {s['site']!r} carries no suppressed_below and no k was given")
        return (
            f"<tr><td>{esc(s['site'])}</td>"
            + (f"<td class='path'>{esc(s['source'])}</td>" if sources else "")
            + f"<td>{s['months_observed']}</td><td>{_n(s['eligible_observed'], site_k)}</td>"
            f"<td>{s['conversion']}</td><td>{s['enrollment_rate']['mean']:.1f}</td>"
            + "".join(f"<td>{cell}</td>" for cell in expected_cells(s))
            + "</tr>"
        )

    rows = "".join(row(s) for s in fc["sites"])
    parts.append(
        "<table class='enrollment'><caption>Per site: the months and the newly potentially eligible "
        "patients the forecast was fitted on, the share of them expected to enroll (conversion), "
        "and the patients expected to enroll in the first months: mean [80% interval]</caption>"
        + head(
            "site",
            *(["report"] if sources else []),
            "months",
            "newly potentially eligible",
            "conversion",
            "enrolled / month",
            *(f"{months} months [80%]" for months in SITE_MONTHS),
        )
        + f"<tbody>{rows}</tbody></table>"
    )
    return "".join(parts)


def forecast_notes(fc: dict) -> str:
    """The prior's note and the forecast's cautions, each a sentence of its own."""
    return _sentence(fc["prior"]["note"]) + "".join(_sentence(caution) for caution in fc["cautions"])


def _enrollment_section(enrollment: dict, cid: str, k: int) -> tuple[str, list[str]]:
    fc = enrollment["forecast"]
    period = Duration(enrollment["months"], "month")  # "1 month", "24 months"
    parts = [
        f"<h3 id='{cid}-enrollment'>Enrollment (incidence over {period})</h3>",
        "<div class='grid'>",
    ]
    ids = [f"{cid}-incidence"]
    parts.append(incidence_chart(enrollment, ids[0], k))
    if fc:
        ids.append(f"{cid}-forecast")
        parts.append(forecast_chart(enrollment, ids[1]))
    parts.append("</div>")
    if enrollment.get("sites_withheld"):
        parts.append(f"<p class='note'>Incidence per site: {esc(enrollment['sites_withheld'])}.</p>")
    if enrollment.get("months_withheld"):
        parts.append(f"<p class='note'>Incidence: {esc(enrollment['months_withheld'])}.</p>")
    if fc:
        parts.append(forecast_details(fc, k))
        # the model is fitted to each site's published total over the months (see
        # enrollment.py): the note says so, then the prior's own notes as sentences of their own
        parts.append(
            "<p class='note'>Poisson-Gamma model (Anisimov and Fedorov 2007), fitted to each site's "
            f"published count of newly {esc(enrollment['basis'])} patients over the {period}."
            f"{forecast_notes(fc)}</p>"
        )
    return "".join(parts), ids


def _protection_terms(protection: dict, k: int) -> list[tuple[str, str]]:
    if not protection["shareable"]:
        return [("exact counts", "this report is not protected: every count is exact, none is hidden")]
    return [
        (
            f"&lt;{k}",
            f"a count from 1 to {k - 1} (at a site, also a 0 where the ALL count is suppressed), "
            "hidden so that no small group of patients can be singled out; every count shown is "
            f"rounded to a multiple of {protection.get('round_to', 5)}, each on its own, so passed, "
            "failed and unknown may not add up exactly to the patients before the step",
        ),
        (
            WITHHELD,
            "a count worked out from others (failed, alone FALSE, gain if dropped) and left out "
            f"because one of those is suppressed or it would be below {protection['min_cell']}: "
            f"unlike &lt;{k}, it may be large",
        ),
    ]


# What the two counts mean, as both pages' guides (report.html, compare.html) define them
ELIGIBILITY_TERMS = (
    (
        "confirmed eligible",
        "every assessable criterion is TRUE for the patient (for an exclusion, TRUE means it does not apply)",
    ),
    (
        "potentially eligible",
        "no criterion is FALSE, but some may be UNKNOWN: those still need a test or the "
        "investigator at screening. The confirmed eligible are among them",
    ),
)


def glossary(report: dict) -> str:
    """The page's "How to read this report": each term the page uses, as the report's code
    computes it (analytics/waterfall.py, protect.py), in a few plain words."""
    protection = report["protection"]
    k = suppressed_label(protection)
    in_care = report["provenance"]["options"].get("active_within")
    terms = [
        ("patients", "every patient of the extract at the site (step 0, <code>base</code>; ALL: every site)"),
        *(
            [
                (
                    IN_CARE_ID,
                    "a step the tool adds (--active-within), not a protocol criterion: patients "
                    f"alive at the index date, with any record at the site in the {esc(in_care)} "
                    "before it",
                )
            ]
            if in_care and any(c["id"] == IN_CARE_ID for t in report["trials"] for c in t["criteria"])
            else []
        ),
        *ELIGIBILITY_TERMS,
        (
            "UNKNOWN",
            "the data cannot decide the criterion for the patient, e.g. no result in the time "
            "window, a unit the concept does not know, or a detail the codes do not carry",
        ),
        (
            "not assessable",
            "a criterion no data can decide (consent, investigator judgement, ...), greyed in "
            "the criteria table with its reason: it passes every patient, so it lowers no count "
            "and is left to screening",
        ),
        (
            "waterfall",
            "the criteria applied one after another, in the order shown. A step's passed, failed "
            "and unknown count only the patients still confirmed eligible after the step before, "
            "and eligible = passed. Potentially eligible counts everyone with no FALSE so far, "
            "including patients UNKNOWN at an earlier step, who are in no later step's columns: "
            "so it can drop by more than failed",
        ),
        ("alone TRUE / FALSE / UNKNOWN", "the criterion on its own, over all the patients of step 0"),
        (
            "gain if dropped",
            "leave-one-out: how many more patients would be confirmed eligible if only this "
            "criterion were dropped",
        ),
        (
            "impact",
            "the criterion's Shapley share of the ineligible patients: a patient kept out by n "
            "criteria counts 1/n for each. Confirmed view: patients not confirmed eligible, kept "
            "out by each criterion they do not pass (FALSE or UNKNOWN); potentially-eligible view: "
            "patients not potentially eligible, kept out by their FALSE criteria. Unrounded, "
            "the shares add up to the ineligible count",
        ),
        *(
            [
                (
                    "excludes most",
                    f"with more than {MANY_SITES} sites, the sites are ranked on one chart "
                    "rather than drawn on a panel each; for each site, the criterion with the "
                    "largest impact in the potentially-eligible view",
                )
            ]
            if any(ranks_sites(t) for t in report["trials"])
            else []
        ),
        *(
            [
                (
                    "newly potentially eligible per month",
                    "patients who became potentially eligible in that month and had not been in "
                    "the 12 months before (the trial is evaluated again at each month end); the "
                    "forecast applies the conversion rate to them to estimate enrolled patients",
                )
            ]
            if any(t.get("enrollment") for t in report["trials"])
            else []
        ),
        *_protection_terms(protection, k),
    ]
    items = "".join(f"<dt>{term}</dt><dd>{text}.</dd>" for term, text in terms)
    return (
        "<details class='guide' id='guide'><summary>How to read this report</summary>"
        f"<dl>{items}</dl></details>"
    )


def _notices(notices: list[str]) -> str:
    """The licence or citation the extract's data must carry, under the page's header."""
    if not notices:
        return ""
    return "<p class='notice'>Data notice: " + "<br>".join(esc(n) for n in notices) + "</p>"


def render_html(report: dict) -> str:
    """The whole page as one string."""
    protection = report["protection"]
    k = suppressed_label(protection)
    banner = (
        f"<div class='banner ok'>Shareable: {esc(protection['policy'])}.</div>"
        if protection["shareable"]
        else "<div class='banner warn'>EXACT COUNTS — for use inside the site only. "
        "This report must not be shared.</div>"
    )
    sections = []
    chart_ids = []
    for t_index, trial in enumerate(report["trials"]):
        block = trial["sites"][0]
        comp = trial["computability"]
        cid = f"t{t_index}"
        parts = [
            f"<section class='trial' id='{cid}'><h2>{esc(trial['id'])} — {esc(trial['title'])}</h2>",
            "<div class='cards'>"
            f"<div class='card'>patients<b>{_n(block['base'], k)}</b></div>"
            f"<div class='card'>confirmed eligible<b>{_n(block['eligible'], k)}</b></div>"
            f"<div class='card'>potentially eligible<b>{_n(block['potentially_eligible'], k)}</b></div>"
            f"<div class='card'>criteria<b>{comp['total']}</b>{comp['assessable']} assessable, "
            f"{comp['not_assessable']} not</div></div>",
            "<div class='grid'>",
            attrition_chart(block, f"{cid}-attrition", k),
            impact_chart(block, f"{cid}-impact", k),
            "</div>",
            impact_note(block, protection),
        ]
        chart_ids += [f"{cid}-attrition", f"{cid}-impact"]
        if len(trial["sites"]) > 2:
            parts.append(sites_chart(trial, f"{cid}-sites", k))
            chart_ids.append(f"{cid}-sites")
        elif trial.get("sites_withheld"):
            parts.append(f"<p class='note'>Per site: {esc(trial['sites_withheld'])}.</p>")
        if trial.get("enrollment"):
            section, ids = _enrollment_section(trial["enrollment"], cid, k)
            parts.append(section)
            chart_ids += ids
        parts += [
            "<h3>Waterfall (all sites)</h3>",
            _waterfall_table(block, k),
            "<h3>Criteria</h3>",
            _criteria_table(trial, block, k),
            "</section>",
        ]
        sections.append("".join(parts))
    nav = " ".join(f"<a href='#t{i}'>{esc(t['id'])}</a>" for i, t in enumerate(report["trials"]))
    dq = report["data_quality"].get("warnings") or ["no data-quality findings"]
    prov = report["provenance"]
    provenance = json.dumps(prov, indent=2, ensure_ascii=False)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Feasibility report</title><style>{STYLE}</style>"
        f"{plotly_script()}</head><body>"
        "<header><h1>Cohort feasibility report</h1>"
        f"<p>extract {esc(', '.join(prov['extract']['files']))} · "
        f"{_n(prov['extract']['patients'], k)} patients · index date {esc(_index_date(prov['index_date']))}"
        f" · engine {esc(prov['engine_version'])}"
        f" · generated {esc(generated_text(report['generated_at']))}</p>"
        f"{_notices(prov['extract'].get('notices') or [])}</header>"
        f"{banner}<main><nav>{nav}</nav>{glossary(report)}{''.join(sections)}"
        "<section class='trial'><h2>Data quality</h2><ul>"
        + "".join(f"<li>{esc(w)}</li>" for w in dq)
        + "</ul></section><section class='trial'><h2>Provenance</h2>"
        f"<pre><code>{esc(provenance)}</code></pre></section></main>"
        f"<script>window.FEASIBILITY_CHARTS = {json.dumps(chart_ids)};</script>"
        f"{PRINT_SCRIPT}</body></html>"
    )

"""`compare.csv`, `compare.html` and the terminal view of `feasibility compare`."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from feasibility.analytics.forecast import SITE_MONTHS
from feasibility.compare import APART
from feasibility.protect import WITHHELD, suppressed_as
from feasibility.reports.forecast_text import band_cells, expected_cells, time_to_target_text
from feasibility.reports.html import (
    CONFIRMED,
    ELIGIBILITY_TERMS,
    POTENTIAL_BAR,
    PRINT_SCRIPT,
    STYLE,
    chart,
    chart_numbers,
    esc,
    forecast_chart,
    forecast_details,
    forecast_notes,
    generated_text,
    head,
    plotly_script,
)
from feasibility.reports.terminal import count_label, fallback_notes, hanging, print_site_table, table_width

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
    "lost_share_at_most",
    "eligible",
    "potentially_eligible",
    "flag",
    "sharing",  # last, as in the run's CSVs: whether the row's report may leave its site
)


# The report key of each count of a compare row or total: the key decides how the count
# reads when suppressed (`protect.suppressed_as`: `withheld` for one derived from others).
_COUNT_KEYS = {
    "remaining_before": "eligible",  # the step before's eligible
    "failed": "failed",
    "unknown": "unknown",
    "eligible": "eligible",
    "potentially_eligible": "potentially_eligible",
    "base": "base",
}

# The count each share is of (the whole is `remaining_before`).
_SHARE_OF = {"lost_share": "failed", "unknown_share": "unknown"}


def _is_label(text: str) -> bool:
    """Whether a cell's text stands in for a suppressed count, so that the legend must say
    what it means: the count's label (`<K`, `withheld`) or the bound on its share (`≤80%`)."""
    return text.startswith(("<", "≤", WITHHELD))


def count_text(row: dict, key: str) -> str:
    """The count at `key` of a compare row or total, a suppressed one as the site's report
    shows it (`<K` with its report's K, or `withheld`), so a reader of both sees one label."""
    value = row[key]
    if value is None:
        return suppressed_as(_COUNT_KEYS[key], row["suppressed_below"])
    return f"{value:,}"


def share_text(row: dict, key: str) -> str:
    """The share at `key` (`lost_share`, `unknown_share`) as a percentage; a withheld lost
    count as the most it can be (`≤80%`, `compare.lost_at_most`) where the counts around the
    step tell it; else, where the count a share is of is suppressed, that count's label
    (`<K`, `withheld`), since it says what is known; `–` where there is no share: no patients
    remain, or how many is suppressed."""
    share = row[key]
    if share is not None:
        return f"{share:.0%}"
    if key == "lost_share" and row.get("lost_share_at_most") is not None:
        # rounded first: a float's 0.30000000000000004 must read 30, not 31
        return f"≤{math.ceil(round(row['lost_share_at_most'] * 100, 6))}%"
    if row[_SHARE_OF[key]] is None:
        return count_text(row, _SHARE_OF[key])
    return "–"


def _marked_share(row: dict, key: str) -> str:
    """`share_text`, with ◆ where the share stands apart: a heatmap's cell and its table's."""
    return share_text(row, key) + (" ◆" if row["flagged"] == key else "")


def _cell(row: dict, key: str) -> str:
    value = row[key]
    # step 0 has no step before it: nothing there is suppressed
    if value is None and key in _COUNT_KEYS and (key != "remaining_before" or row["step"]):
        return count_text(row, key)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compare_csv(rows: list[dict]) -> str:
    """Long format: one row per trial, site and waterfall step; a suppressed count reads as in
    the run's own CSVs (`<K`, or `withheld` for `failed`), an empty cell has no value (no step
    before step 0, no share of a suppressed count or of no patients). A criterion a site's
    report does not have (another version of the trial) has no row there."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_cell(r, c) for c in COLUMNS])
    return out.getvalue()


COMPARE_SCHEMA = "feasibility.compare/1"


def compare_json(
    summary: list[dict],
    rows: list[dict],
    differences: Sequence[str],
    reports: Sequence[dict],
    networks: Sequence[dict],
) -> str:
    """`compare.json`: everything the comparison shows, as data: whether all of it may be
    shared (`shareable`: no report holds exact counts), the reports
    (`compare.describe`), what keeps them from being like for like, each site's totals, each
    step's row as in compare.csv (counts null where suppressed) and the network forecasts."""
    document = {
        "schema": COMPARE_SCHEMA,
        # one report of exact counts makes the whole comparison one not to share
        "shareable": all(r["min_cell"] > 0 for r in reports),
        "reports": list(reports),
        "differences": list(differences),
        "sites": summary,
        "steps": rows,
        "networks": list(networks),
    }
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# What the labels of suppressed counts mean, under a view that shows them.
SUPPRESSED_LEGEND = (
    f"<K: a count of fewer than K patients, suppressed in the site's report; {WITHHELD}: a "
    "count the report withholds because it could reveal a suppressed one; ≤N%: a withheld "
    "lost count's share is at most N%, from the published counts before and after the step; "
    "–: no share (no patients remain, or how many is suppressed)"
)

# The cell of a criterion that a site's report does not have: its report was made with
# another version of the trial (`compare.differences` names it).
ABSENT = "not in report"


def steps_of(rows: list[dict], trial: str) -> list[str]:
    """The criterion ids of `trial`'s steps over all sites, each once, in the first site's
    waterfall order; a criterion only later reports have (another version of the trial)
    goes after the step it follows in theirs."""
    order: list[str] = []
    site, previous = None, None
    for r in rows:
        if r["trial_id"] != trial or not r["step"]:
            continue
        if r["site_id"] != site:
            site, previous = r["site_id"], None
        if r["criterion_id"] not in order:
            order.insert(order.index(previous) + 1 if previous is not None else 0, r["criterion_id"])
        previous = r["criterion_id"]
    return order


def _network_terms(network: dict) -> list[str]:
    """Which sites a network forecast (`compare.network_forecasts`) left out and whose
    counts it took at their middle, a line each."""
    lines = []
    if network["without_monthly"]:
        lines.append(
            "not in it, their reports having no monthly incidence (run --monthly): "
            + ", ".join(network["without_monthly"])
        )
    if network["same_extract"]:
        lines.append(
            "not in it, their report being of an extract an earlier report brought (the same "
            "patients): " + ", ".join(network["same_extract"])
        )
    if network["suppressed"]:
        middle = ", ".join(network["suppressed"])
        lines.append(f"suppressed totals taken at the middle of the suppressed counts: {middle}")
    return lines


def _print_network(network: dict, console: Console) -> None:
    """A trial's network forecast: each site's months, published count, conversion and
    expected enrollment, the network's total, its time to target and its notes."""
    fc = network["forecast"]
    console.print(
        f"  network enrollment forecast ({len(fc['sites'])} sites, fitted to their published counts)"
    )
    columns = ("site", "months", "newly pot. eligible", "conversion", *(f"{m} mo [80%]" for m in SITE_MONTHS))
    rows = [
        [
            site["site"],
            str(site["months_observed"]),
            count_label(site["eligible_observed"], site["suppressed_below"]),
            f"{site['conversion']:g}",
            *expected_cells(site),
        ]
        for site in fc["sites"]
    ]
    print_site_table(columns, rows, console)
    # under the sites, not as a row of mostly empty cells: the network's figures are widest
    cells = zip(band_cells(fc["band"]), SITE_MONTHS, strict=True)
    console.print(f"  network: {', '.join(f'{cell} at {months} months' for cell, months in cells)} [80%]")
    if fc["time_to_target"]:
        console.print(f"  {time_to_target_text(fc['time_to_target'])}")
    notes = _network_terms(network) + fallback_notes(fc) + fc["cautions"]
    if notes:
        console.print(hanging([("  -", line) for line in notes]))


def print_compare(
    summary: list[dict],
    rows: list[dict],
    console: Console,
    reports: Sequence[dict] = (),
    networks: Sequence[dict] = (),
) -> None:
    """Per trial, the share of the remaining patients each step removes at each site, with
    the share it leaves unknown in brackets, then each site's totals, and where each report
    came from (`reports`, see `compare.describe`). Sites that would not fit the terminal's
    width go into a further table rather than squeezing the cells. A trial with a network
    forecast (`networks`, see `compare.network_forecasts`) shows it under its table."""
    by_network = {n["trial_id"]: n for n in networks}
    by_step = {(r["trial_id"], r["site_id"], r["criterion_id"]): r for r in rows}
    suppressed = False
    for trial in dict.fromkeys(s["trial_id"] for s in summary):
        sites = [s for s in summary if s["trial_id"] == trial]
        steps = steps_of(rows, trial)
        labels = [Text(cid) for cid in steps] + [Text(t, style="bold") for t in ("eligible", "potentially")]
        columns: list[tuple[str, list[Text]]] = []
        for site in sites:
            cells = []
            for cid in steps:
                r = by_step.get((trial, site["site_id"], cid))
                if r is None:
                    cells.append(Text(ABSENT, style="dim"))
                    continue
                cell = Text(f"{share_text(r, 'lost_share')} (?{share_text(r, 'unknown_share')})")
                if r["flag"]:
                    cell.append(" ◆", style="red")
                cells.append(cell)
            cells += [Text(count_text(site, key)) for key in ("eligible", "potentially_eligible")]
            columns.append((site["site_id"], cells))
            suppressed = suppressed or any(_is_label(part) for c in cells for part in c.plain.split(" (?"))
        label_width = max(len("criterion"), *(len(label) for label in labels))
        widths = [max(len(c) for c in cells) for _, cells in columns]
        runs = _fitting(widths, label_width, console.width)
        for i, run in enumerate(runs):
            part = f" (table {i + 1} of {len(runs)})" if len(runs) > 1 else ""
            # above the table, not its title: a narrow table would wrap its title
            console.print(
                f"[bold]{escape(trial)}[/]: share of remaining patients lost at each step "
                f"(?: and left UNKNOWN){part}"
            )
            table = Table()
            table.add_column("criterion", no_wrap=True, min_width=label_width)
            for j in run:
                # the cells never wrap; a long site name wraps in its heading instead
                table.add_column(Text(columns[j][0]), justify="right", min_width=widths[j])
            for k, label in enumerate(labels):
                table.add_row(label, *(columns[j][1][k] for j in run))
            console.print(table)
        for r in rows:
            if r["trial_id"] == trial and r["flag"]:
                flagged = f"{r['criterion_id']} at {r['site_id']}: {r['flag']}"
                console.print(f"  [red]◆[/] {escape(flagged)}")
        if trial in by_network:
            _print_network(by_network[trial], console)
        console.print()
    if reports:
        console.print("Reports:")
        for r in reports:  # the user's paths, site ids and notices: plain text, never markup
            console.print(Text(f"  {r['source']}: {_report_line(r)}"))
            for notice in r["notices"]:
                console.print(Text(f"    data notice: {notice}"))
            if r["data_quality"]:
                n = len(r["data_quality"])
                console.print(
                    Text(f"    data quality: {n} finding{'s' if n != 1 else ''} (compare.html lists them)")
                )
    if suppressed:
        # the labels are the run's own, but a sponsor may not have read a site's report
        console.print(SUPPRESSED_LEGEND, style="dim", markup=False)


def _report_line(report: dict) -> str:
    """A report's sites, index date, generation time and protection, in one line."""
    return (
        f"{', '.join(report['sites'])}; index date {report['index_date']}; "
        f"generated {generated_text(report['generated_at'])}; {_counts_kind(report['min_cell'])}"
    )


def _fitting(widths: list[int], label_width: int, width: int) -> list[range]:
    """The site columns (of these widths) in as few runs as fit `width` beside the
    criterion column, the runs as even in length as they can be; a site too wide on its
    own still gets a run."""
    n = len(widths)
    for runs in range(1, n + 1):
        size = -(-n // runs)
        starts = range(0, n, size)
        if size == 1 or all(table_width([label_width, *widths[i : i + size]]) <= width for i in starts):
            return [range(i, min(i + size, n)) for i in starts]
    return [range(0)]  # no sites


# The heatmaps of a trial: the share of remaining patients each step loses, and the share
# it leaves UNKNOWN, side by side, so that a data gap is not read as another population.
_HEATMAPS = (
    ("lost_share", "lost", "Reds"),
    ("unknown_share", "left UNKNOWN", "Blues"),
)


def _shade(row: dict, key: str) -> float | None:
    """A heatmap cell's colour: its share, or for a withheld lost count the most it can be."""
    if key == "lost_share" and row[key] is None:
        return row["lost_share_at_most"]
    return row[key]


def heatmaps(rows: list[dict], trial: str, names: list[str]) -> go.Figure:
    """The trial's lost and UNKNOWN shares per step and site as two heatmaps sharing the
    criteria; each cell shows its share (a suppressed count's label where the share would
    reveal it, as on the terminal), ◆ where that share stands apart."""
    steps = steps_of(rows, trial)
    cell = {(r["site_id"], r["criterion_id"]): r for r in rows if r["trial_id"] == trial}
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=[what for _, what, _ in _HEATMAPS],
    )
    for col, (key, what, colours) in enumerate(_HEATMAPS, start=1):
        # a criterion a site's report lacks is a hole in the heatmap, labelled as such
        z = [[_shade(cell[(s, c)], key) if (s, c) in cell else None for s in names] for c in steps]
        text = [
            [_marked_share(cell[(s, c)], key) if (s, c) in cell else ABSENT for s in names] for c in steps
        ]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=names,
                y=steps,
                text=text,
                texttemplate="%{text}",
                hovertemplate=f"%{{y}} at %{{x}}: %{{text}} {what}<extra></extra>",
                colorscale=colours,
                zmin=0,
                zmax=1,
                showscale=False,  # every cell is labelled
            ),
            row=1,
            col=col,
        )
    # titled by the page: a figure title would run into the two heatmaps' own
    fig.update_layout(height=max(300, 24 * len(steps) + 100))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def site_bars(sites: list[dict]) -> go.Figure:
    """Each site's eligible and potentially eligible patients; a suppressed count draws no
    bar but is labelled `<K` (as in the site's report.html), so it does not read as a 0."""
    fig = go.Figure()
    for key, name, marker in (
        ("potentially_eligible", "potentially eligible", POTENTIAL_BAR),
        ("eligible", "confirmed eligible", {"color": CONFIRMED}),
    ):
        fig.add_bar(
            x=[s["site_id"] for s in sites],
            y=[s[key] or 0 for s in sites],
            text=[count_text(s, key) if s[key] is None else "" for s in sites],
            textposition="outside",
            cliponaxis=False,
            customdata=[count_text(s, key) for s in sites],
            hovertemplate=f"%{{x}}: %{{customdata}} {name}<extra></extra>",
            name=name,
            marker=marker,
        )
    fig.update_layout(barmode="group", title="Eligible patients per site", height=320)
    fig.update_xaxes(type="category")
    return fig


def _subtitle(reports: Sequence[dict]) -> str:
    """What the numbers below are: each report's published (protected) numbers, unless
    some reports are exact (`--min-cell 0`), which the line then names."""
    exact = [r["source"] for r in reports if r["min_cell"] == 0]
    if not exact:
        return "published (protected) numbers of each site's report"
    if len(exact) == len(reports):
        return "exact counts (--min-cell 0) of each site's report: for use inside the site, not to be shared"
    return (
        "published (protected) numbers of each site's report, but exact counts (--min-cell 0) "
        f"from {', '.join(exact)}: for use inside the site, not to be shared"
    )


def _counts_kind(min_cell: int) -> str:
    return "exact (--min-cell 0)" if min_cell == 0 else f"protected (--min-cell {min_cell})"


def _reports_table(reports: Sequence[dict]) -> str:
    """One row per report: where it came from, its sites, index date, when it was generated
    whether its counts are protected, and its data notice."""
    body = "".join(
        f"<tr><td class='path'>{esc(r['source'])}</td><td>{esc(', '.join(r['sites']))}</td>"
        f"<td>{esc(r['index_date'])}</td><td>{esc(generated_text(r['generated_at']))}</td>"
        f"<td>{_counts_kind(r['min_cell'])}</td>"
        f"<td>{'<br>'.join(esc(n) for n in r['notices']) or '—'}</td></tr>"
        for r in reports
    )
    return (
        "<section class='trial'><h2>Reports</h2><table><caption>Where each site's numbers come "
        "from: its report, and how that report was made</caption>"
        + head("report", "sites", "index date", "generated", "counts", "data notice")
        + f"<tbody>{body}</tbody></table>{_findings(reports)}</section>"
    )


def _findings(reports: Sequence[dict]) -> str:
    """Each report's data-quality findings as its report words them (counts only, protected
    as its counts are), under the table: a share left UNKNOWN at one site may come from its
    data rather than its patients."""
    listed = [r for r in reports if r["data_quality"]]
    if not listed:
        return ""
    return "<h3>Data quality, as each report states it</h3>" + "".join(
        f"<p class='path'>{esc(r['source'])}</p><ul>"
        + "".join(f"<li>{esc(line)}</li>" for line in r["data_quality"])
        + "</ul>"
        for r in listed
    )


def compare_guide(reports: Sequence[dict], networks: Sequence[dict]) -> str:
    """The page's "How to read this comparison": the words and marks a sponsor meets on it
    who has not read a site's report or run the tool (its options name the protection)."""
    terms = [
        *ELIGIBILITY_TERMS,
        (
            "lost",
            "the share of the patients still confirmed eligible before the step (remaining) "
            "that the step finds FALSE",
        ),
        (
            "left UNKNOWN (?)",
            "the share of the remaining patients whose data cannot decide the step (no result "
            "in the time window, a detail the codes do not carry): a data gap, not another "
            "population. In a table it follows the lost share, as (?N%)",
        ),
        (
            "◆ stands apart",
            f"with three sites or more, the site's share is {APART * 100:.0f} percentage points or "
            "more from the median site's: an UNKNOWN share points to a data gap, a lost share to a "
            "different population or coding. The criteria are listed under the heatmaps",
        ),
        (ABSENT, "the site's report was made with another version of the trial, without this criterion"),
    ]
    if any(r["min_cell"] > 0 for r in reports):
        terms.append(
            (
                "protected (--min-cell K)",
                "how the site's report was made for sharing: counts below K are suppressed and "
                "the others rounded, so that no small group of patients can be singled out",
            )
        )
    if any(r["min_cell"] == 0 for r in reports):
        terms.append(("exact (--min-cell 0)", "every count exact: for use inside the site, not to be shared"))
    if any(r["data_quality"] for r in reports):
        terms.append(
            (
                "data quality",
                "what a site's report found in its data, as it words it (counts only): results in "
                "a unit or written in a way the engine cannot read, code systems no criterion "
                "uses. A step left UNKNOWN at one site often has its cause there",
            )
        )
    if networks:
        terms += [
            (
                "network forecast",
                "the enrollment expected from the sites together, by a Poisson-Gamma model fitted "
                "to each site's newly potentially eligible patients per month",
            ),
            ("conversion", "the share of the potentially eligible patients expected to enroll"),
            ("[80%]", "the range 80% of the simulated enrollments fall in (the chart shows 80% and 95%)"),
        ]
    items = "".join(f"<dt>{esc(term)}</dt><dd>{esc(text)}.</dd>" for term, text in terms)
    return (
        "<details class='guide' id='guide'><summary>How to read this comparison</summary>"
        f"<dl>{items}</dl></details>"
    )


def _network_section(network: dict, chart_id: str) -> str:
    """A trial's network forecast on the page: its chart, time to target, sites and notes."""
    fc = network["forecast"]
    terms = _network_terms(network)
    notes = f"<ul>{''.join(f'<li>{esc(line)}</li>' for line in terms)}</ul>" if terms else ""
    return (
        f"<h3>Enrollment forecast of the network ({len(fc['sites'])} sites)</h3>"
        f"{forecast_chart({'forecast': fc}, chart_id)}"
        # each site carries its own report's K
        f"{forecast_details(fc, sources=True)}{notes}"
        "<p class='note'>Poisson-Gamma model (Anisimov and Fedorov 2007), fitted across the sites "
        "of every report made with --monthly, each with its published count of newly potentially "
        "eligible patients over its months and the conversion in the table (its report's, unless "
        f"the comparison was given --conversion or --conversion-file).{forecast_notes(fc)}</p>"
    )


def _site_bars_html(sites: list[dict], chart_id: str) -> str:
    """The chart of each site's eligible patients, with its numbers as a table."""
    label = (
        "Bar chart: each site's confirmed and potentially eligible patients. Its numbers are "
        "in the table under it."
    )
    numbers = chart_numbers(
        "Each site's confirmed and potentially eligible patients",
        ["site", "confirmed eligible", "potentially eligible"],
        (
            [esc(s["site_id"]), esc(count_text(s, "eligible")), esc(count_text(s, "potentially_eligible"))]
            for s in sites
        ),
    )
    return f"<div>{chart(site_bars(sites), chart_id, label)}{numbers}</div>"


def _heatmaps_html(heat: go.Figure, rows: list[dict], trial: str, sites: list[dict], chart_id: str) -> str:
    """The trial's heatmaps, with each cell's share as a table (lost, then left UNKNOWN in
    brackets, as on the terminal)."""
    names = [s["site_id"] for s in sites]
    cell = {(r["site_id"], r["criterion_id"]): r for r in rows if r["trial_id"] == trial}

    def text(site: str, step: str) -> str:
        r = cell.get((site, step))
        if r is None:
            return ABSENT
        lost, unknown = (_marked_share(r, key) for key in _SHARE_OF)
        return f"{lost} (?{unknown})"

    label = (
        "Two heatmaps: the share of the remaining patients each step loses, and the share it "
        "leaves UNKNOWN, per site; every cell is labelled. The shares are in the table under them."
    )
    numbers = chart_numbers(
        "Share of the remaining patients lost at each step, and left UNKNOWN (?), per site; "
        "◆ where a site stands apart",
        ["criterion", *(esc(name) for name in names)],
        ([esc(step), *(esc(text(name, step)) for name in names)] for step in steps_of(rows, trial)),
    )
    return f"<div>{chart(heat, chart_id, label)}{numbers}</div>"


def compare_html(
    summary: list[dict],
    rows: list[dict],
    differences: Sequence[str] = (),
    reports: Sequence[dict] = (),
    networks: Sequence[dict] = (),
) -> str:
    """The comparison as one self-contained page; `differences` (see `compare.differences`)
    head it, since they qualify every number below, and `reports` (`compare.describe`) say
    where each site's numbers come from. A trial with a network forecast (`networks`, see
    `compare.network_forecasts`) shows it last in its section."""
    by_network = {n["trial_id"]: n for n in networks}
    trials = list(dict.fromkeys(s["trial_id"] for s in summary))
    sections = []
    for t_index, trial in enumerate(trials):
        sites = [s for s in summary if s["trial_id"] == trial]
        heat = heatmaps(rows, trial, [s["site_id"] for s in sites])
        flags = (
            "".join(
                f"<li><b>{esc(r['criterion_id'])}</b> at {esc(r['site_id'])}: {esc(r['flag'])}</li>"
                for r in rows
                if r["trial_id"] == trial and r["flag"]
            )
            or "<li>no site stands apart</li>"
        )
        sections.append(
            f"<section class='trial'><h2>{esc(trial)}</h2>"
            f"{_site_bars_html(sites, f'c{t_index}-eligible')}"
            "<h3>Share of remaining patients lost, and left UNKNOWN, at each step "
            f"(◆ stands apart)</h3>{_heatmaps_html(heat, rows, trial, sites, f'c{t_index}-lost')}"
            f"<h3>Criteria where a site stands apart</h3><ul>{flags}</ul>"
            + (_network_section(by_network[trial], f"c{t_index}-network") if trial in by_network else "")
            + "</section>"
        )
    shown = [count_text(s, k) for s in summary for k in ("eligible", "potentially_eligible")]
    shown += [share_text(r, k) for r in rows for k in _SHARE_OF]
    legend = f"<p class='note'>{esc(SUPPRESSED_LEGEND)}</p>" if any(map(_is_label, shown)) else ""
    warning = (
        "<div class='banner warn'>Not like for like: "
        f"<ul>{''.join(f'<li>{esc(d)}</li>' for d in differences)}</ul></div>"
        if differences
        else ""
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Feasibility: sites compared</title><style>{STYLE}</style>"
        f"{plotly_script()}</head><body>"
        f"<header><h1>Sites compared</h1><p>{esc(_subtitle(reports))}</p></header>{warning}"
        f"<main>{_reports_table(reports) if reports else ''}{compare_guide(reports, networks)}{legend}"
        f"{''.join(sections)}</main>"
        f"{PRINT_SCRIPT}</body></html>"
    )

"""The HTML report: self-contained, and every chart is drawn in a real headless browser."""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import plotly.offline
import pytest

from feasibility.analytics.forecast import Observed, forecast
from feasibility.reports.build import MANY_SITES
from feasibility.reports.enrollment import ForecastSettings
from feasibility.reports.forecast_text import time_to_target_text
from feasibility.reports.html import (
    PRINT_HEIGHT,
    PRINT_WIDTH,
    forecast_chart,
    forecast_details,
    glossary,
    impact_note,
    incidence_chart,
    render_html,
    sites_chart,
)
from feasibility.run import run_feasibility
from tests.support import REPO, event, person, small_trial_rows, ten_site_rows, write_extract

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=8000",
]


def figures(page: str) -> dict[str, dict]:
    """Every chart of the page as Plotly draws it: {chart id: {"data": [...], "layout": {...}}}."""
    decoder = json.JSONDecoder()
    found = {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', page):
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page, end + re.match(r",\s*", page[end:]).end())
        found[match[1]] = {"data": data, "layout": layout}
    return found


def dump_dom(page: Path, profile: Path, *flags: str) -> str:
    """The page's DOM once a headless Chromium has run its scripts (with `flags` too, such as
    a window size)."""
    return subprocess.run(
        [CHROMIUM, *FLAGS, *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    rows = []
    for i in range(40):
        pid = f"p{i}"
        rows += person(pid, sex="FM"[i % 2], birth_year=1950 + i, site_id="AB"[i % 2])
        if i % 3:
            rows.append(event(pid, "diagnosis", "ICD10CM", "M32.14", "2024-03-01"))
        rows.append(
            event(pid, "lab", "LOINC", "1742-6", "2025-01-10", value_num=20 + 5 * i, unit="U/L", ref_high=40)
        )
    extract = write_extract(rows, tmp / "x.parquet")
    run_feasibility(
        str(extract),
        [REPO / "tests/fixtures/trials/spec.yaml"],
        out=tmp / "report",
        as_of=None,
        min_cell=0,
        monthly=6,
        forecast=ForecastSettings(target=10),
    )
    return tmp / "report"


def test_page_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text()
    assert not re.search(r"<script[^>]*\ssrc=", page)  # every script is inline
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"""(src|href)=["']https?://""", markup)  # nothing loaded from outside
    assert "<link" not in markup


def test_the_page_inlines_plotlys_cartesian_bundle_built_for_the_plotly_package(report_dir):
    page = (report_dir / "report.html").read_text()
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    bundles = [s for s in scripts if "plotly.js" in s[:200]]
    assert len(bundles) == 1 and "plotly.js (cartesian - minified) v" in bundles[0][:200]
    # the figures' JSON comes from the plotly package: its plotly.js and the bundle share a
    # major version (assets/README.md says how to update both)
    bundled = re.search(r"plotly\.js \(cartesian - minified\) v(\d+)\.", bundles[0])[1]
    assert bundled == plotly.offline.get_plotlyjs_version().split(".")[0]
    # the full bundle alone is 4.8 MB; this page, with every chart, under 2 MB
    assert len(page.encode()) < 2_000_000 < len(plotly.offline.get_plotlyjs())


def test_the_header_dates_the_report_to_the_minute_as_compare_does(report_dir):
    page = (report_dir / "report.html").read_text()
    generated = json.loads((report_dir / "report.json").read_text())["generated_at"]
    assert f"generated {generated[:10]} {generated[11:16]} UTC</p>" in page


def test_every_chart_is_drawn_in_chromium(report_dir, tmp_path):
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium package)"
    page = report_dir / "report.html"
    charts = json.loads(re.search(r"window.FEASIBILITY_CHARTS = (\[.*?\]);", page.read_text())[1])
    # attrition, impact, per-site small multiples (two sites), monthly incidence, forecast band
    assert len(charts) == 5
    dom = dump_dom(page, tmp_path / "profile")
    for chart in charts:
        start = dom.index(f'id="{chart}"')
        following = dom[start : start + 200_000]
        # Plotly draws into an <svg class="main-svg">: one path per bar or marker, or lines
        assert 'class="main-svg"' in following, chart
        assert re.search(r'class="(point|js-line)"', following), chart
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--window-size=1300,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 50_000  # a blank page is a few kB


LAYOUT_PROBE = """<script>
const layout = {};
for (const name of ["numbers", "criteria", "enrollment"]) {
  const table = document.querySelector("table." + name);
  const align = (cells) => [...cells].map((c) => getComputedStyle(c).textAlign);
  layout[name] = {th: align(table.querySelectorAll("thead th")),
                  td: align(table.querySelector("tbody tr").querySelectorAll("td"))};
}
layout.text = getComputedStyle(document.querySelector("table.criteria td.text")).whiteSpace;
document.body.setAttribute("data-layout", JSON.stringify(layout));
</script>"""


LEGEND_PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const overlaps = [];
  const yFrom = {};
  for (const id of window.FEASIBILITY_CHARTS) {
    const chart = document.getElementById(id);
    yFrom[id] = chart._fullLayout.yaxis.range[0];
    const legend = chart.querySelector(".legend");
    if (!legend) continue;
    const top = legend.getBoundingClientRect().top;
    for (const title of chart.querySelectorAll("[class^=g-x] text, .xtitle, .xtick text")) {
      const box = title.getBoundingClientRect();
      if (box.height && box.bottom > top) overlaps.push(id + ": " + title.textContent);
    }
  }
  document.body.setAttribute("data-drawn", JSON.stringify({overlaps, yFrom}));
}, 500));
</script>"""


@pytest.fixture(scope="module")
def drawn(report_dir, tmp_path_factory):
    """The report's charts as Chromium lays them out: {"overlaps": [legends over an axis
    title or tick label], "yFrom": {chart id: where its y axis starts}}."""
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium package)"
    tmp = tmp_path_factory.mktemp("drawn")
    page = tmp / "probe.html"
    page.write_text((report_dir / "report.html").read_text().replace("</body>", LEGEND_PROBE + "</body>"))
    dom = dump_dom(page, tmp / "profile")
    return json.loads(html.unescape(re.search(r'data-drawn="([^"]*)"', dom)[1]))


def test_legends_sit_below_the_axis_titles(drawn):
    # the legend hung under the plot area, over the x axis's title ("month ending")
    assert drawn["overlaps"] == []


def test_monthly_charts_start_at_zero(drawn):
    # every month 0 here: the y axis ran from -1 before
    assert drawn["yFrom"]["t0-incidence"] == 0
    assert drawn["yFrom"]["t0-forecast"] == 0


def test_tables_align_numbers_right_and_keep_protocol_lines(report_dir, tmp_path):
    # as a browser lays the page out: counts and their headings flush right, labels left,
    # and the protocol's own line breaks kept in its text
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium package)"
    page = tmp_path / "probe.html"
    page.write_text((report_dir / "report.html").read_text().replace("</body>", LAYOUT_PROBE + "</body>"))
    dom = dump_dom(page, tmp_path / "profile")
    layout = json.loads(html.unescape(re.search(r'data-layout="([^"]*)"', dom)[1]))
    for name, first_number in (("numbers", 2), ("criteria", 4), ("enrollment", 1)):
        for cells in (layout[name]["th"], layout[name]["td"]):
            assert all(a in ("left", "start") for a in cells[:first_number]), (name, cells)
            assert all(a == "right" for a in cells[first_number:]), (name, cells)
    assert layout["text"] == "pre-line"


WIDTH_PROBE = """<script>
const root = document.documentElement;
document.body.setAttribute("data-overflow", String(root.scrollWidth - root.clientWidth));
</script>"""


def test_a_long_notice_or_provenance_line_wraps_instead_of_widening_the_page(report_dir, tmp_path):
    # a data set's citation is one long line in the provenance block: it scrolled the page sideways
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium package)"
    report = json.loads((report_dir / "report.json").read_text())
    report["provenance"]["extract"]["notices"] = ["Cite as: " + "a-long-unbroken-citation/" * 20]
    page = tmp_path / "probe.html"
    page.write_text(render_html(report).replace("</body>", WIDTH_PROBE + "</body>"))
    dom = dump_dom(page, tmp_path / "profile", "--window-size=1000,800")
    assert int(re.search(r'data-overflow="(-?\d+)"', dom)[1]) <= 0


# --------------------------------------------------------------------------- a protected page


def test_suppressed_cells_read_as_in_the_other_files(small_reports):
    """`<13` (the K the published counts imply), never `<11`, and `withheld` for a count
    derived from suppressed ones, as in the CSV files and the terminal."""
    page = render_html(small_reports["shared"][0])
    assert "&lt;13" in page and "&lt;11" not in page
    assert re.search(r"<tr><td>1</td><td>adult</td><td>&lt;13</td><td>withheld</td>", page)


def test_the_banner_says_whether_the_page_may_be_shared(small_reports):
    shared = render_html(small_reports["shared"][0])
    exact = render_html(small_reports["exact"][0])
    assert "class='banner ok'>Shareable:" in shared and "EXACT COUNTS" not in shared
    assert "class='banner warn'>EXACT COUNTS" in exact and "Shareable:" not in exact


def test_protocol_text_is_escaped(tmp_path):
    trial = tmp_path / "t.yaml"
    trial.write_text(
        "id: T\ncriteria:\n"
        "  - {id: a, kind: inclusion, text: 'ALT <b>high</b> & <script>alert(1)</script>', rule: {sex: F}}\n"
    )
    (tmp_path / "concepts").mkdir()
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    report = run_feasibility(str(extract), [trial], out=tmp_path / "r", min_cell=0, active_within=None)
    page = render_html(report)
    assert "<script>alert(1)</script>" not in page and "<b>high</b>" not in page
    assert "ALT &lt;b&gt;high&lt;/b&gt; &amp; &lt;script&gt;" in page


def exact_small_trial_report(rows: list[dict], folder: Path, **options) -> dict:
    """The small trial's report, exact counts, on `rows` written in `folder`, as of 1 January 2025."""
    return run_feasibility(
        str(write_extract(rows, folder / "x.parquet")),
        [REPO / "tests/fixtures/trials/small.yaml"],
        out=folder / "r",
        min_cell=0,
        as_of=date(2025, 1, 1),
        **options,
    )


def test_the_summary_cards_count_every_site(tmp_path):
    rows = []
    for i in range(6):
        rows += person(f"p{i}", site_id="AB"[i < 2])  # A: 4 patients, B: 2
    report = exact_small_trial_report(rows, tmp_path)
    assert [s["site_id"] for s in report["trials"][0]["sites"]] == ["ALL", "A", "B"]
    assert "patients<b>6</b>" in render_html(report)


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory):
    """The small trial at two sites of different sizes (A: 8 patients, B: 3), exact counts."""
    tmp = tmp_path_factory.mktemp("sites")
    rows = []
    for i in range(11):
        rows += person(f"p{i}", site_id="AB"[i < 3])
    return exact_small_trial_report(rows, tmp)


def test_the_sites_panels_share_one_scale(two_sites):
    # each panel's own autorange drew site B's 3 patients as long a bar as site A's 8
    sites = figures(render_html(two_sites))["t0-sites"]["layout"]
    ranges = [axis["range"] for name, axis in sites.items() if name.startswith("xaxis")]
    assert len(ranges) == 2 and ranges[0] == ranges[1]
    assert ranges[0][0] == 0 and 8 <= ranges[0][1] < 9
    assert all(
        sites[name].get("matches") == "x" for name in sites if name.startswith("xaxis") and name != "xaxis"
    )


def test_many_sites_are_ranked_on_one_chart_with_what_excludes_most_at_each(tmp_path):
    page = render_html(exact_small_trial_report(ten_site_rows(), tmp_path, active_within=None))
    chart = figures(page)["t0-sites"]
    ranked = [f"S{j}" for j in reversed(range(10))]  # the most potentially eligible first
    assert [t["name"] for t in chart["data"]] == ["potentially eligible", "confirmed eligible"]
    assert all(t["y"] == ranked for t in chart["data"])
    assert chart["data"][0]["x"] == [j + 1 for j in reversed(range(10))]
    assert chart["data"][1]["x"] == [0] * 10  # no ALT: none confirmed
    assert "10 sites, most potentially eligible first" in chart["layout"]["title"]["text"]
    table = chart_table(page, "Eligible patients per site")
    assert table[0] == ["site", "patients", "confirmed eligible", "potentially eligible", "excludes most"]
    assert table[1:] == [
        [f"S{j}", str(j + 3), "0", str(j + 1), "adult" if j % 2 == 0 else "sle"] for j in reversed(range(10))
    ]
    assert "excludes most" in guide_terms(page)


def test_up_to_the_panel_limit_each_site_keeps_its_own_panel(two_sites):
    trial = two_sites["trials"][0]
    everyone, site = trial["sites"][0], trial["sites"][1]

    def drawn(n: int) -> dict:
        sites = [everyone] + [{**site, "site_id": f"S{i}"} for i in range(n)]
        page = sites_chart({**trial, "sites": sites}, "c", 13)
        return figures(page)["c"]

    panels = drawn(MANY_SITES)
    assert len(panels["data"]) == 2 * MANY_SITES
    assert sum(name.startswith("xaxis") for name in panels["layout"]) == MANY_SITES
    assert len(drawn(MANY_SITES + 1)["data"]) == 2


SHARED = {"min_cell": 11, "suppressed_below": 13, "shareable": True}


def impact_block(impacts: list[float | None], base: int | None = 100, eligible: int | None = 40) -> dict:
    """A site block with just what the impact chart and its note read."""
    views = [{"criterion_id": f"c{i}", "impact": v, "impact_potential": 0} for i, v in enumerate(impacts)]
    return {"base": base, "eligible": eligible, "potentially_eligible": base, "criteria": views}


def test_the_impact_note_says_why_the_bars_do_not_add_up():
    note = impact_note(impact_block([30, None, 25]), SHARED)
    # 60 ineligible (100 - 40, both published), 55 in the bars and one suppressed impact
    assert "add up to 55 of the 60 ineligible" in note and "1 impact is &lt;13" in note
    assert "potentially-eligible view" not in note  # its impacts (0) add up to its 0 ineligible
    assert impact_note(impact_block([35, 25]), SHARED) == ""  # published impacts that add up
    # a suppressed count is never an operand: with eligible suppressed, no ineligible count
    note = impact_note(impact_block([30, None, 25], eligible=None), SHARED)
    assert "add up to 55," in note and "ineligible," not in note and " of the " not in note


def test_the_impact_chart_is_in_patients_and_names_no_hidden_number(small_reports):
    for name in ("exact", "shared"):
        impact = figures(render_html(small_reports[name][0]))["t0-impact"]
        assert "patients" in impact["layout"]["xaxis"]["title"]["text"], name
        hidden = [(bars, i) for bars in impact["data"] for i, text in enumerate(bars["text"]) if text]
        assert all(bars["customdata"][i] == "<13" for bars, i in hidden)  # the hover as the label
        assert len(hidden) == (5 if name == "shared" else 0)  # 3 confirmed, 2 potential
    # exact shares add up: the page has no note
    assert "published ones do not add up" not in render_html(small_reports["exact"][0])


def enrollment(**series: list[int | None]) -> dict:
    """An enrollment block with the monthly counts `series` (site id: counts, months back
    from len - 1 to 0), as `report.json` has it."""
    months = len(next(iter(series.values())))
    ends = [f"2025-{m:02d}-28" for m in range(1, months + 1)]
    blocks = [
        {
            "site_id": site,
            "months_back": list(range(months - 1, -1, -1)),
            "month_end": ends,
            "new_potentially_eligible": counts,
        }
        for site, counts in series.items()
    ]
    return {"months": months, "basis": "potentially eligible", "incidence": blocks, "forecast": None}


def test_suppressed_months_are_marked_and_carry_no_number():
    chart = figures(
        incidence_chart(enrollment(ALL=[20, None, 15, 0], A=[None] * 4, B=[15, None, None, 0]), "i", 13)
    )
    traces = {t["name"]: t for t in chart["i"]["data"]}
    # ALL is drawn beside its sites (it was left out when there were two sites or more)
    assert traces["ALL"]["y"] == [20, None, 15, 0] and traces["B"]["y"] == [15, None, None, 0]
    # a suppressed month: a marker in the band, all at one height, whose hover reads <13
    for name, months in (("ALL <13", 1), ("B <13", 2)):
        marks = traces[name]
        assert marks["mode"] == "markers" and marks["y"] == [6.5] * months
        assert "&lt;13" in marks["hovertemplate"] and "%{y}" not in marks["hovertemplate"]
    # a site with no published month is named, and draws nothing
    assert traces["A: every month <13"]["y"] == [None]
    band = chart["i"]["layout"]["shapes"][0]
    assert (band["y0"], band["y1"]) == (0, 13)
    assert chart["i"]["layout"]["yaxis"]["rangemode"] == "tozero"
    # nothing suppressed (an exact report): no band, no marks
    exact = figures(incidence_chart(enrollment(ALL=[20, 5, 0], A=[15, 5, 0]), "e", 0))["e"]
    assert "shapes" not in exact["layout"] and [t["name"] for t in exact["data"]] == ["ALL", "A"]


def test_a_chart_with_every_month_suppressed_says_so():
    chart = figures(incidence_chart(enrollment(ALL=[None] * 3, A=[None] * 3), "i", 13))["i"]
    assert [a["text"] for a in chart["layout"]["annotations"]] == ["every month is suppressed (&lt;13)"]
    assert all(y is None for t in chart["data"] for y in t["y"])
    assert chart["layout"]["xaxis"]["range"] == ["2025-01-28", "2025-03-28"]  # still the months


def test_the_forecast_chart_ends_soon_after_the_target_is_reached():
    months = list(range(61))
    band = {
        "months": months,
        **{key: [2 * m for m in months] for key in ("median", "low80", "high80", "high95")},
    }
    band["low95"] = [2 * m for m in months]  # 20 reached by the whole 95% band at month 10
    block = {"forecast": {"band": band, "time_to_target": {"target": 20}}}
    chart = figures(forecast_chart(block, "f"))["f"]
    assert chart["layout"]["xaxis"]["range"] == [0, 12]
    assert all(trace["x"] == list(range(13)) for trace in chart["data"])
    block["forecast"]["time_to_target"] = None  # no target: the whole horizon
    assert figures(forecast_chart(block, "f"))["f"]["layout"]["xaxis"]["range"] == [0, 60]


def test_the_forecast_table_shows_what_each_site_was_fitted_on():
    fc = forecast(
        {"A": Observed(40, 12), "B": Observed(6, 12)}, {"A": 0.3, "B": 0.5}, 20, draws=200
    ).as_dict()
    fc["sites"][1]["eligible_observed"] = None  # B's total was suppressed in its report
    rows = re.findall(
        r"<tr><td>(\w)</td><td>(\d+)</td><td>([^<]+)</td><td>([\d.]+)</td>", forecast_details(fc, 13)
    )
    assert rows == [("A", "12", "40", "0.3"), ("B", "12", "&lt;13", "0.5")]
    assert "Time to enroll 20 patients: median" in forecast_details(fc, 13)
    # compare's sites each carry their own report's K, which the page's K does not override
    fc["sites"][1]["suppressed_below"] = 8
    assert "<td>&lt;8</td>" in forecast_details(fc, 13)
    with pytest.raises(ValueError, match="'A' carries no suppressed_below"):
        forecast_details(fc)  # a site report's sites take the page's K, which must be given


def test_a_target_of_one_patient_reads_in_the_singular():
    target = {"target": 1, "median": None, "note": None}
    assert time_to_target_text(target) == "time to enroll 1 patient: beyond the horizon"
    assert time_to_target_text({**target, "target": 2}) == "time to enroll 2 patients: beyond the horizon"


def test_the_model_notes_are_sentences_of_their_own(report_dir):
    # the fit, the prior's note, then the caution of a period shorter than a year
    page = (report_dir / "report.html").read_text()
    assert (
        "over the 6 months. No site saw a newly eligible patient: every rate is taken as zero. "
        "Fitted on 6 months of incidence, less than a year: "
    ) in page
    assert "a year of incidence or more gives steadier rates.</p>" in page


def guide_terms(page: str, title: str = "How to read this report") -> dict[str, str]:
    """The "How to read this report" section's terms and their definitions (`title`: the
    comparison's guide)."""
    guide = re.search(rf"<details class='guide'[^>]*><summary>{title}</summary>(.*?)</details>", page)
    assert guide, "the page has no guide"
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", guide[1]))


def test_the_guide_defines_every_term_the_page_uses(small_reports, report_dir):
    terms = guide_terms(render_html(small_reports["shared"][0]))
    for term in (
        "confirmed eligible",
        "potentially eligible",
        "UNKNOWN",
        "not assessable",
        "waterfall",
        "alone TRUE / FALSE / UNKNOWN",
        "gain if dropped",
        "impact",
        "&lt;13",
        "withheld",
    ):
        assert term in terms, term
    assert "every assessable criterion is TRUE" in terms["confirmed eligible"]
    assert "no criterion is FALSE" in terms["potentially eligible"]
    assert "can drop by more than failed" in terms["waterfall"]  # the confirmed path, said plainly
    assert "leave-one-out" in terms["gain if dropped"] and "Shapley" in terms["impact"]
    assert "from 1 to 12" in terms["&lt;13"] and "below 11" in terms["withheld"]  # K and min-cell
    # the terms of what the page shows only: no in-care step or months in this run
    assert "in-care" not in terms and "newly potentially eligible per month" not in terms
    assert "excludes most" not in terms  # the sites are few enough for a panel each
    exact = guide_terms(render_html(small_reports["exact"][0]))
    assert "&lt;13" not in exact and "withheld" not in exact and "exact counts" in exact
    monthly = guide_terms((report_dir / "report.html").read_text())
    assert "alive at the index date, with any record at the site in the 24 months" in monthly["in-care"]
    assert "newly potentially eligible per month" in monthly


def test_the_guide_is_text_only(small_reports):
    # a definition may not carry markup from the data (the in-care window is an option's text)
    report = json.loads(json.dumps(small_reports["shared"][0]))
    report["provenance"]["options"]["active_within"] = "<b>24</b> months"
    report["trials"][0]["criteria"].insert(0, {"id": "in-care"})
    assert "&lt;b&gt;24&lt;/b&gt; months" in glossary(report) and "<b>" not in glossary(report)


# --------------------------------------------------------------------------- printed and read aloud

# A4's width within the page's 12 mm @page margins, in CSS pixels (96 an inch): the narrower
# of A4 and Letter
PAPER_WIDTH = 703

PRINT_PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const charts = () => [...document.querySelectorAll(".js-plotly-plot")];
  // each chart's width and height, and the height of the box plotly.js wraps it in
  const sizes = () => charts().map((gd) => [
    gd.id, gd._fullLayout.width, gd._fullLayout.height, Math.round(gd.parentElement.getBoundingClientRect().height)]);
  const opened = () => [...document.querySelectorAll("details")].map((d) => d.open);
  const result = {screen: sizes(), closed: opened()};
  dispatchEvent(new Event("beforeprint"));
  result.printed = sizes();
  result.open = opened();
  // the page's print rules as screen rules, on a body as wide as the paper
  const rules = [];
  for (const sheet of document.styleSheets) {
    for (const rule of sheet.cssRules) {
      if (rule.media && rule.media.mediaText === "print") rules.push(...[...rule.cssRules].map((r) => r.cssText));
    }
  }
  const style = document.createElement("style");
  style.textContent = rules.join("\\n");
  document.head.append(style);
  document.body.style.width = "PAPERpx";
  result.wider = [...document.querySelectorAll("body *")]
    .filter((e) => !e.parentElement.closest("svg") && e.getBoundingClientRect().right > PAPER + 0.5)
    .map((e) => e.tagName + "." + e.getAttribute("class") + "#" + e.id);
  const header = getComputedStyle(document.querySelector("header"));
  result.header = [header.color, header.backgroundColor];
  const text = document.querySelector("table.criteria th:nth-child(3)");
  result.protocolText = text ? text.getBoundingClientRect().width : null;
  // how many rows each group of figure cards takes
  result.cardRows = [...document.querySelectorAll(".cards")].map(
    (c) => new Set([...c.children].map((e) => Math.round(e.getBoundingClientRect().top))).size);
  const nav = document.querySelector("nav");
  result.nav = nav ? getComputedStyle(nav).display : "none";
  result.avoid = [...document.querySelectorAll(".chart, table.numbers tr, table.data tr, h2, h3")].every(
    (e) => getComputedStyle(e).breakInside === "avoid");
  style.remove();
  document.body.style.width = "";
  dispatchEvent(new Event("afterprint"));
  setTimeout(() => {
    result.after = sizes();
    result.reclosed = opened();
    document.body.setAttribute("data-print", JSON.stringify(result));
  }, 500);
}, 500));
</script>""".replace("PAPER", str(PAPER_WIDTH))


def printed(page: str, tmp: Path) -> dict:
    """How `page` prints, as Chromium lays it out with a wide window (1400 px): the charts'
    [id, width, height, the height of their box] on the screen, while printed and after;
    whether each <details> is open before, while printed and after; the elements wider than
    the paper under the print rules; the header's colour and background, the nav's display
    and the width of the criteria's protocol text there, and how many rows each group of figure
    cards takes; whether charts, rows of counts and headings avoid a page break."""
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium package)"
    probe = tmp / "print.html"
    probe.write_text(page.replace("</body>", PRINT_PROBE + "</body>"))
    dom = dump_dom(probe, tmp / "print-profile", "--window-size=1400,1000")
    return json.loads(html.unescape(re.search(r'data-print="([^"]*)"', dom)[1]))


def assert_prints_whole(result: dict) -> None:
    """Every chart printed at the paper's width, nothing cut at its right edge, every
    <details> open, the header readable with no background printed; and the screen as it
    was after the print."""
    assert any(width > PRINT_WIDTH for _, width, _, _ in result["screen"])  # one too wide for the paper
    assert any(height > PRINT_HEIGHT for _, _, height, _ in result["screen"])  # one too tall for a page
    # each box as tall as its chart: a box left at the screen's height printed a blank band
    # under the chart, a blank page where the box did not fit on one
    assert all(
        width == PRINT_WIDTH and height <= PRINT_HEIGHT and box == height
        for _, width, height, box in result["printed"]
    ), result["printed"]
    assert result["wider"] == []
    assert result["closed"] and not any(result["closed"]) and all(result["open"])
    assert result["header"] == ["rgb(29, 39, 51)", "rgba(0, 0, 0, 0)"]  # dark text, no background
    assert result["nav"] == "none" and result["avoid"]
    assert result["after"] == result["screen"] and result["reclosed"] == result["closed"]


def test_a_printed_report_fits_the_paper_and_leaves_no_hole(report_dir, tmp_path):
    # printed from a wide window, the per-site chart was cut at the right edge, the guide
    # printed as its summary only and the header's white text vanished without its background
    result = printed((report_dir / "report.html").read_text(), tmp_path)
    assert_prints_whole(result)
    # the protocol's text gets room: laid out as on the screen, the four count columns took as
    # much of the paper as the text (22%), and a long criterion ran over pages of short lines
    assert result["protocolText"] > 0.28 * PAPER_WIDTH
    # a trial's four figures on one row, so that its first chart fits under them
    assert result["cardRows"] and set(result["cardRows"]) == {1}


def tables_and_charts(page: str) -> tuple[list[str], list[str], list[str]]:
    """The page's tables' openings (with what follows them), its header cells, and the
    opening tags of the elements around its charts."""
    tables = re.findall(r"<table[^>]*>.{0,9}", page)
    cells = re.findall(r"<th(?:\s[^>]*)?>", page)
    charts = [
        page[: m.start()].rsplit("<div", 2)[1]
        for m in re.finditer(r'<div id="[^"]+" class="plotly-graph-div"', page)
    ]
    return tables, cells, charts


def test_every_table_has_a_caption_and_scoped_headers(report_dir, small_reports):
    for page in ((report_dir / "report.html").read_text(), render_html(small_reports["shared"][0])):
        tables, cells, _ = tables_and_charts(page)
        assert len(tables) >= 3 and all(t.endswith("<caption>") for t in tables), tables
        assert cells and all("scope='col'" in c for c in cells)


def test_every_chart_is_named_with_where_its_numbers_are(report_dir):
    page = (report_dir / "report.html").read_text()
    labels = re.findall(
        r"<div class='chart' role='img' aria-label='([^']+)'><div[^>]*>\s*<div id=\"([^\"]+)\"", page
    )
    assert sorted(chart for _, chart in labels) == sorted(figures(page))
    for label, chart in labels:
        assert "table" in label, chart
    # the charts with no table of their own on the page have one under them
    assert page.count("<details class='chart-numbers'>") == 4  # impact, sites, incidence, forecast


def test_the_headings_go_down_one_level_at_a_time(report_dir):
    levels = [int(n) for n in re.findall(r"<h([1-6])", (report_dir / "report.html").read_text())]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))


def chart_table(page: str, caption: str) -> list[list[str]]:
    """The rows of the chart-numbers table with this caption's start, header row first."""
    table = re.search(rf"<caption>{re.escape(caption)}.*?</table>", page, re.S)
    assert table, caption
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table[0])]


def test_the_charts_hover_only_numbers_are_in_tables(small_reports, two_sites):
    page = render_html(small_reports["shared"][0])
    impact = chart_table(page, "Each criterion's share")
    assert impact[0] == ["criterion", "confirmed view", "potentially-eligible view"]
    chart = {t["name"]: t for t in figures(page)["t0-impact"]["data"]}["confirmed view"]
    # each row is its bar's hover, a suppressed impact `<13` as its label says
    assert [row[1] for row in impact[1:]] == [html.escape(c) for c in chart["customdata"]]
    # and an exact report's unrounded shares read the same in the table as in the hover
    exact = render_html(small_reports["exact"][0])
    rows = chart_table(exact, "Each criterion's share")[1:]
    hover = {t["name"]: t for t in figures(exact)["t0-impact"]["data"]}["confirmed view"]["customdata"]
    assert [row[1] for row in rows] == list(hover) and "2.833" in hover
    sites = chart_table(render_html(two_sites), "Confirmed and potentially eligible patients after each step")
    assert sites[0] == ["criterion", "A confirmed", "A potentially", "B confirmed", "B potentially"]
    assert sites[1][1:] == ["8", "8", "3", "3"]  # step 0: every patient
    monthly = chart_table(incidence_chart(enrollment(ALL=[20, None], A=[None, 5]), "i", 13), "Newly")
    assert monthly == [
        ["month ending", "ALL", "A"],
        ["2025-01-28", "20", "&lt;13"],
        ["2025-02-28", "&lt;13", "5"],
    ]


def test_each_charts_numbers_are_opened_under_the_charts_name(small_reports):
    page = render_html(small_reports["shared"][0])
    summaries = re.findall(r"<details class='chart-numbers'><summary>(.*?)</summary>", page)
    assert "The chart's numbers: each criterion's share of the ineligible patients" in summaries
    # a trial's charts are told apart by their summaries alone
    per_trial = [section.count("<details class='chart-numbers'>") for section in page.split("<section")]
    distinct = [
        len(set(re.findall(r"<summary>(The chart's numbers: .*?)</summary>", s)))
        for s in page.split("<section")
    ]
    assert per_trial == distinct and max(per_trial) > 0


def test_no_line_of_the_incidence_chart_is_told_by_its_colour_alone():
    chart = figures(
        incidence_chart(enrollment(ALL=[20, 5, 0], A=[15, None, 0], B=[5, 5, 0], C=[None] * 3), "i", 13)
    )["i"]
    lines = [t for t in chart["data"] if t["mode"] == "lines+markers"]
    styles = [(t["marker"]["symbol"], t["line"]["dash"]) for t in lines]
    assert len(lines) == 3 and len(set(styles)) == 3
    # a suppressed month and a site with none published are marked with their line's symbol
    marks = {t["name"]: t["marker"]["symbol"] for t in chart["data"] if t["mode"] == "markers"}
    assert marks == {"A <13": f"{styles[1][0]}-open", "C: every month <13": "triangle-up-open"}


CONTRAST_PROBE = """<script>
const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
const lum = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => v / 255).map((v) => v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const low = [];
for (const e of document.querySelectorAll("body *")) {
  if (e.closest("svg, script, style") || ![...e.childNodes].some((n) => n.nodeType === 3 && n.data.trim())) continue;
  let back = [255, 255, 255], opacity = 1;
  for (let a = e; a; a = a.parentElement) {
    const c = rgb(getComputedStyle(a).backgroundColor);
    if (c.length < 4 || c[3] > 0) { back = c; break; }
  }
  for (let a = e; a; a = a.parentElement) opacity *= Number(getComputedStyle(a).opacity);
  const text = rgb(getComputedStyle(e).color).slice(0, 3).map((v, i) => v * opacity + back[i] * (1 - opacity));
  const [hi, lo] = [lum(text), lum(back)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  if (ratio < 4.5) low.push(e.tagName + "." + e.className + ": " + ratio.toFixed(2));
}
document.body.setAttribute("data-contrast", JSON.stringify(low));
</script>"""


def low_contrast(page: str, tmp: Path) -> list[str]:
    """The elements of `page` whose text has a contrast below 4.5:1 with the background
    behind it (from the CSS colours, opacity included), as Chromium computes them."""
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium package)"
    probe = tmp / "contrast.html"
    probe.write_text(page.replace("</body>", CONTRAST_PROBE + "</body>"))
    dom = dump_dom(probe, tmp / "contrast-profile")
    return json.loads(html.unescape(re.search(r'data-contrast="([^"]*)"', dom)[1]))


def test_all_text_has_a_contrast_of_at_least_4_5(small_reports, tmp_path):
    # the shared page: its banner, guide, notes and greyed rows of criteria not assessable
    assert low_contrast(render_html(small_reports["shared"][0]), tmp_path) == []


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two `#rrggbb` colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_light_bars_are_outlined_to_be_seen_and_all_sites_is_said_in_words(two_sites):
    # the potentially eligible bars' fill is 2:1 on white, under the 3:1 a graphic needs;
    # and the attrition chart was titled "site ALL", the data's name for the sites together
    charts = figures(render_html(two_sites))
    for chart in ("t0-attrition", "t0-sites"):
        light = [t for t in charts[chart]["data"] if t["name"] == "potentially eligible"]
        assert light and all(contrast(t["marker"]["line"]["color"], "#ffffff") >= 3 for t in light)
    assert charts["t0-attrition"]["layout"]["title"]["text"] == "Attrition, all sites"

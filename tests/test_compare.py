"""`feasibility compare` on three sites' reports made by separate runs."""

from __future__ import annotations

import copy
import csv
import html
import io
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from feasibility.compare import (
    ConversionChoice,
    SiteReport,
    collect,
    compare_rows,
    describe,
    differences,
    lost_at_most,
    network_forecasts,
    summary,
)
from feasibility.errors import FeasibilityError
from feasibility.protect import Protection
from feasibility.reports.compare_report import (
    ABSENT,
    compare_csv,
    compare_html,
    compare_json,
    heatmaps,
    print_compare,
    share_text,
    site_bars,
    steps_of,
)
from feasibility.reports.enrollment import ForecastSettings
from feasibility.reports.terminal import report_console
from feasibility.run import run_feasibility
from tests.support import REPO, event, person, write_extract
from tests.test_errors import assert_one_line_error, feasibility
from tests.test_html import CHROMIUM, dump_dom, figures

TRIAL = REPO / "tests/fixtures/trials/small.yaml"
SPEC = REPO / "tests/fixtures/trials/spec.yaml"
SHAREABLE = "shareable (--min-cell 11)"


def site_rows(prefix: str, n: int, with_alt: bool) -> list[dict]:
    rows = []
    for i in range(n):
        pid = f"{prefix}{i}"
        rows += person(pid, sex="F", birth_year=1960 + i % 30)
        rows.append(event(pid, "diagnosis", "ICD10CM", "M32.14", "2023-01-01"))
        if with_alt:
            rows.append(
                event(pid, "lab", "LOINC", "1742-6", "2025-01-20", value_num=30, unit="U/L", ref_high=40)
            )
    return rows


@pytest.fixture(scope="module")
def three_reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    paths = []
    # site C never measures ALT: a data gap that the comparison must call out
    for site, with_alt in (("A", True), ("B", True), ("C", False)):
        extract = write_extract(site_rows(site, 40, with_alt), tmp / f"{site}.parquet")
        out = tmp / f"report-{site}"
        run_feasibility(str(extract), [TRIAL], out=out, site=site, min_cell=0, as_of=None)
        paths.append(out)
    return paths


def test_sites_side_by_side(three_reports):
    sites, _ = collect(three_reports)
    assert [s.site_id for s in sites] == ["A", "B", "C"]
    totals = summary(sites)
    assert [t["base"] for t in totals] == [40, 40, 40]


def test_data_gap_is_called_out(three_reports):
    sites, reports = collect(three_reports)
    rows = compare_rows(sites, reports)
    alt = {r["site_id"]: r for r in rows if r["criterion_id"] == "alt"}
    assert alt["C"]["unknown_share"] == 1.0
    typical = sorted(r["unknown_share"] for r in alt.values())[1]
    # the flag gives both shares, not their gap in points read as a percentage
    assert alt["C"]["flag"] == f"data gap: 100% left UNKNOWN, against {typical:.0%} at the typical site"
    assert alt["A"]["flag"] == "" and alt["B"]["flag"] == ""


def test_compare_outputs(three_reports):
    sites, reports = collect(three_reports)
    rows = compare_rows(sites, reports)
    table = list(csv.DictReader(io.StringIO(compare_csv(rows))))
    assert {r["site_id"] for r in table} == {"A", "B", "C"}
    assert any(r["flag"].startswith("data gap") for r in table)
    page = compare_html(summary(sites), rows)
    assert "c0-lost" in page and "data gap" in page


def test_quiet_prints_only_where_the_comparison_is(three_reports, tmp_path):
    out = tmp_path / "cmp"
    args = [*map(str, three_reports), "--out", str(out)]
    loud = feasibility("compare", *args, cwd=tmp_path)
    quiet = feasibility("compare", *args, "-q", cwd=tmp_path)
    assert loud.returncode == quiet.returncode == 0, quiet.stderr
    assert "SMALL" in loud.stdout and quiet.stdout == ""
    # the notes saying where the reports are not like for like stay: they qualify the files
    assert quiet.stderr == loud.stderr and "not like for like" in quiet.stderr
    assert quiet.stderr.strip().splitlines()[-1] == f"comparison written to {out}/"
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.html", "compare.json"]


def test_terminal_prints_site_names_verbatim(three_reports):
    # a site's name is its own text: brackets in it are not rich markup
    sites, reports = collect(three_reports)
    rename = {"C": "C [/] [bold]"}
    totals = [{**t, "site_id": rename.get(t["site_id"], t["site_id"])} for t in summary(sites)]
    rows = [{**r, "site_id": rename.get(r["site_id"], r["site_id"])} for r in compare_rows(sites, reports)]
    out = io.StringIO()
    print_compare(totals, rows, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert any("┃" in line and "C [/] [bold]" in line for line in text.splitlines())  # the header
    assert "alt at C [/] [bold]: data gap" in text


@pytest.mark.parametrize("width", [45, 80, 200])
def test_terminal_tables_fit_the_width_without_cutting_cells(three_reports, width):
    sites, reports = collect(three_reports)
    totals = summary(sites)
    out = io.StringIO()
    print_compare(totals, compare_rows(sites, reports), report_console(out, width=width, color_system=None))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines)
    assert not any(line.endswith(" ") for line in lines)
    body = [line for line in lines if line.startswith("│")]
    assert not any("…" in line for line in body)
    # every site's totals are shown whole, in whichever table holds its column
    eligible = [int(c) for line in body if line.startswith("│ eligible") for c in line.split("│")[2:-1]]
    assert sorted(eligible) == sorted(t["eligible"] for t in totals)
    tables = sum("share of remaining patients lost" in line for line in lines)
    assert (tables == 1) == (width >= 80)


def test_same_site_name_in_two_reports_is_kept_apart(three_reports, tmp_path):
    copy = tmp_path / "again"
    shutil.copytree(three_reports[0], copy)
    sites, _ = collect([three_reports[0], copy / "report.json"])
    assert len({s.site_id for s in sites}) == 2


def test_a_shared_site_name_means_one_report_whatever_the_order(three_reports, tmp_path):
    # each site's own report names its one site alike (`A`): the first given must not keep
    # the bare name, or a conversion file written for it would follow the order of the paths
    copy = tmp_path / "again"
    shutil.copytree(three_reports[0], copy)
    forward, _ = collect([three_reports[0], copy, three_reports[1]])
    backward, _ = collect([three_reports[1], copy, three_reports[0]])
    named = {(s.source, s.site_id) for s in forward}
    assert named == {(s.source, s.site_id) for s in backward}
    assert {name for source, name in named if source != str(three_reports[1])} == {
        f"A ({three_reports[0].name})",
        "A (again)",
    }
    assert {name for source, name in named if source == str(three_reports[1])} == {"B"}  # no clash, bare


def test_a_site_keeps_one_label_in_every_trial_beside_a_report_of_fewer_trials(tmp_path):
    # site A ran SMALL and SPEC; another site, also called A, ran SMALL only (`run --trial`):
    # SPEC is in A's report alone, yet its column is A's qualified label there too, or one
    # site would read as two in the listing of the reports
    rows = site_rows("A", 20, True)
    both = tmp_path / "both"
    run_feasibility(
        str(write_extract(rows, tmp_path / "a.parquet")), [TRIAL, SPEC], out=both, site="A", min_cell=0
    )
    one = tmp_path / "one"
    run_feasibility(
        str(write_extract(rows[:30], tmp_path / "b.parquet")), [TRIAL], out=one, site="A", min_cell=0
    )
    sites, _ = collect([both, one])
    labels = {(s.source, s.trial_id): s.site_id for s in sites}
    assert labels == {
        (str(both), "SMALL"): "A (both)",
        (str(both), "SPEC"): "A (both)",
        (str(one), "SMALL"): "A (one)",
    }


def test_not_a_report(tmp_path):
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(FeasibilityError, match="not a feasibility report"):
        collect([tmp_path])


def test_a_report_that_cannot_be_read_is_one_error_naming_the_file(tmp_path):
    with pytest.raises(FeasibilityError, match=r"report\.json file not found") as e:
        collect([tmp_path])
    assert e.value.where == str(tmp_path / "report.json")
    extract = write_extract(person("p1"), tmp_path / "x.parquet")
    with pytest.raises(FeasibilityError, match=r"is a parquet file, not a report\.json file") as e:
        collect([extract])
    assert "feasibility run EXTRACT" in e.value.fix
    (tmp_path / "latin.json").write_bytes(b'{"schema": "\xe9"}')
    with pytest.raises(FeasibilityError, match="not UTF-8"):
        collect([tmp_path / "latin.json"])
    (tmp_path / "half.json").write_text('{"schema": ')
    with pytest.raises(FeasibilityError, match="not a JSON report"):
        collect([tmp_path / "half.json"])


def test_files_are_written_when_the_reader_of_stdout_goes_away(three_reports, tmp_path):
    # `feasibility compare … | head`: the pipe closes before the tables are printed, and
    # the comparison files must be there all the same
    out = tmp_path / "cmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "feasibility", "compare", *map(str, three_reports), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # closed before the child has started printing
    _, stderr = proc.communicate(timeout=120)
    assert b"Traceback" not in stderr
    assert {p.name for p in out.iterdir()} == {"compare.csv", "compare.html", "compare.json"}


# --------------------------------------------------------------------------- like for like


@pytest.fixture(scope="module")
def alike_reports(tmp_path_factory):
    """Two sites' protected reports made the same way: the comparison has nothing to say."""
    tmp = tmp_path_factory.mktemp("alike")
    paths = []
    for site in ("A", "B"):
        extract = write_extract(site_rows(site, 40, True), tmp / f"{site}.parquet")
        run_feasibility(str(extract), [TRIAL], out=tmp / site, site=site)
        paths.append(tmp / site)
    return paths


def test_reports_made_alike_have_no_differences(alike_reports):
    _, reports = collect(alike_reports)
    assert differences(reports, ["A", "B"]) == []


def test_each_difference_is_named_with_the_reports_that_have_it(alike_reports):
    _, (a, b) = collect(alike_reports)
    b = copy.deepcopy(b)
    provenance = b["provenance"]
    provenance["trials"][0]["sha256"] = "f" * 64
    provenance["concept_library_sha256"] = "e" * 64
    provenance["options"]["order"] = "most-restrictive"
    provenance["index_date"] = {**provenance["index_date"], "default": "2025-01-01", "per_patient": False}
    provenance["options"]["active_within"] = "12 months"
    provenance["engine_version"] = "9.9"
    b["protection"] = {**b["protection"], "min_cell": 0, "shareable": False}
    notes = differences([a, b], ["site-a", "site-b"])
    expected = [
        f"trial SMALL: the reports used different versions of its file "
        f"({a['provenance']['trials'][0]['sha256'][:12]} (site-a); ffffffffffff (site-b))",
        f"concept library differs: {a['provenance']['concept_library_sha256'][:12]} (site-a); "
        "eeeeeeeeeeee (site-b)",
        f"index date differs: {a['provenance']['index_date']['default']} (site-a); 2025-01-01 (site-b)",
        "option --active-within differs: 24 months (site-a); 12 months (site-b)",
        "option --order differs: protocol (site-a); most-restrictive (site-b)",
        f"engine version differs: {a['provenance']['engine_version']} (site-a); 9.9 (site-b)",
        "protection (--min-cell) differs: 11 (site-a); 0 (site-b)",
        "site-b: exact counts (--min-cell 0)",
    ]
    assert len(notes) == len(expected)
    for note, start in zip(notes, expected, strict=True):
        assert note.startswith(start), (note, start)


def _another_extract(report: dict) -> dict:
    """A copy of `report` as if made from another extract (which `differences` would
    otherwise name as the same)."""
    report = copy.deepcopy(report)
    report["provenance"]["extract"]["sha256"] = next(_DIGESTS)
    return report


_DIGESTS = (f"{n:064x}" for n in itertools.count(1))


def _index_date(report: dict, default: str, per_patient: bool) -> dict:
    """`report`, from another extract, with another index date."""
    report = _another_extract(report)
    report["provenance"]["index_date"].update(default=default, per_patient=per_patient)
    return report


def test_reports_of_other_index_dates_are_not_alike(alike_reports):
    # the index date, not --as-of, is what the windows count back from: an extract's latest
    # event sets it when --as-of is not given, and its own index dates override it
    _, (a, _) = collect(alike_reports)
    other_day = _index_date(a, "2024-06-30", False)
    own_dates = _index_date(a, "2024-06-30", True)
    same_day = _index_date(a, "2024-06-30", False)
    assert differences([other_day, own_dates, same_day], ["a", "b", "c"]) == [
        "index date differs: 2024-06-30 (a, c); per patient, else 2024-06-30 (b)"
    ]
    assert differences([other_day, _index_date(a, "2025-06-30", False)], ["a", "b"]) == [
        "index date differs: 2024-06-30 (a); 2025-06-30 (b)"
    ]
    # every patient with a date of their own: the default nobody counted back from is not named
    all_own = _index_date(a, "2202-08-26", True)
    all_own["provenance"]["index_date"]["patients_on_default"] = 0
    assert differences([own_dates, all_own], ["b", "d"]) == [
        "index date differs: per patient, else 2024-06-30 (b); per patient (d)"
    ]
    # --as-of given as the date the other extract ends on: the same index date, like for like
    as_of = _another_extract(a)
    as_of["provenance"]["options"]["as_of"] = a["provenance"]["index_date"]["default"]
    assert differences([a, as_of], ["a", "b"]) == []


def test_a_report_without_the_library_fingerprint_is_not_taken_for_alike(alike_reports):
    # reports written before the fingerprint was recorded cannot vouch for their code lists
    _, (a, b) = collect(alike_reports)
    b = copy.deepcopy(b)
    del b["provenance"]["concept_library_sha256"]
    assert differences([a, b], ["a", "b"]) == [
        f"concept library differs: {a['provenance']['concept_library_sha256'][:12]} (a); not recorded (b)"
    ]


def test_compare_says_what_is_not_alike_on_the_terminal_and_the_page(alike_reports, tmp_path):
    other = tmp_path / "ordered"
    extract = write_extract(site_rows("C", 40, True), tmp_path / "C.parquet")
    run_feasibility(str(extract), [TRIAL], out=other, site="C", order="most-restrictive")
    out = tmp_path / "cmp"
    proc = feasibility("compare", *map(str, alike_reports), str(other), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "not like for like: option --order differs" in proc.stderr
    page = (out / "compare.html").read_text()
    assert "Not like for like" in page and "option --order differs" in page


def test_a_report_with_a_null_library_fingerprint_is_not_recorded(alike_reports):
    _, (a, b) = collect(alike_reports)
    b = copy.deepcopy(b)
    b["provenance"]["concept_library_sha256"] = None
    assert differences([a, b], ["a", "b"]) == [
        f"concept library differs: {a['provenance']['concept_library_sha256'][:12]} (a); not recorded (b)"
    ]


def test_same_site_name_in_reports_of_same_named_folders_is_kept_apart(alike_reports, tmp_path):
    # three sites' reports, each in a folder called `report`: the folder name alone would
    # put two of them under one name and merge their rows
    paths = []
    for where in ("one", "two", "three"):
        shutil.copytree(alike_reports[0], tmp_path / where / "report")
        paths.append(tmp_path / where / "report")
    sites, reports = collect(paths)
    assert len({s.site_id for s in sites}) == 3
    rows = compare_rows(sites, reports)
    assert len({(r["site_id"], r["criterion_id"]) for r in rows}) == len(rows)


# --------------------------------------------------------------------------- trial versions


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """Site A ran the trial as it is; site B ran a version without `alt` and with `older`
    after `sle`."""
    tmp = tmp_path_factory.mktemp("versions")
    text = TRIAL.read_text(encoding="utf-8")
    start, end = text.index("  - id: alt\n"), text.index("  - id: stroke\n")
    older = "  - {id: older, kind: inclusion, text: Age 75 or under, rule: {age: {max: 75}}}\n"
    (tmp / "trials").mkdir()
    other = tmp / "trials" / "small.yaml"
    other.write_text(text[:start] + older + text[end:], encoding="utf-8")
    paths = []
    for site, trial in (("A", TRIAL), ("B", other)):
        extract = write_extract(site_rows(site, 40, True), tmp / f"{site}.parquet")
        run_feasibility(str(extract), [trial], out=tmp / site, site=site, min_cell=0, as_of=None)
        paths.append(tmp / site)
    return paths


def test_each_criterion_is_shown_once_in_the_order_of_the_waterfalls(two_versions):
    sites, reports = collect(two_versions)
    rows = compare_rows(sites, reports)
    assert steps_of(rows, "SMALL") == ["in-care", "adult", "sle", "older", "alt", "stroke", "consent"]
    # a site's report has rows only for the criteria of its own version of the trial
    by_site = {site: {r["criterion_id"] for r in rows if r["site_id"] == site} for site in ("A", "B")}
    assert "older" not in by_site["A"] and "alt" in by_site["A"]
    assert "alt" not in by_site["B"] and "older" in by_site["B"]


def test_reports_of_two_trial_versions_are_compared(two_versions, tmp_path):
    out = tmp_path / "cmp"
    proc = feasibility("compare", *map(str, two_versions), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "trial SMALL: the reports used different versions of its file" in proc.stderr
    # each criterion one report lacks is marked so at that report's site, and only there
    cells = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in proc.stdout.splitlines()
        if line.startswith("│")
    }
    assert cells["alt"][1] == ABSENT and cells["alt"][0] != ABSENT
    assert cells["older"][0] == ABSENT and cells["older"][1] != ABSENT
    assert sum(c == ABSENT for row in cells.values() for c in row) == 2
    table = list(csv.DictReader(io.StringIO((out / "compare.csv").read_text())))
    pairs = {(r["site_id"], r["criterion_id"]) for r in table}
    assert ("B", "alt") not in pairs and ("A", "older") not in pairs
    assert ("A", "alt") in pairs and ("B", "older") in pairs
    page = (out / "compare.html").read_text()
    assert ABSENT in page and "different versions of its file" in page


# --------------------------------------------------------------------------- malformed reports


def _set(path: str, value: object) -> Callable[[dict], None]:
    """A change to a report: the field at `path` (dotted, with list indexes) set to `value`,
    or removed when `value` is `...`."""

    def change(report: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = report
        for key in parents:
            node = node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return change


_FORECAST_SITE = {"site": "A", "months_observed": 12, "eligible_observed": 20, "conversion": 0.3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.clear() or r.update(schema="feasibility.report/1"), "`provenance` is missing"),
        (_set("provenance", ...), "`provenance` is missing"),
        (_set("protection", ...), "`protection` is missing"),
        (_set("trials", {"SMALL": {}}), "`trials` must be a list, not an object"),
        (_set("provenance.trials.0", "SMALL"), "`provenance.trials[0]` must be an object, not text"),
        (_set("provenance.options", None), "`provenance.options` must be an object, not null"),
        (_set("provenance.index_date", ...), "`provenance.index_date` is missing"),
        (
            _set("provenance.index_date.per_patient", "no"),
            "`provenance.index_date.per_patient` must be true or false, not text",
        ),
        (_set("protection.shareable", "yes"), "`protection.shareable` must be true or false, not text"),
        (_set("generated_at", 20251205), "`generated_at` must be non-empty text, not a number"),
        (_set("data_quality", []), "`data_quality` must be an object, not a list"),
        (_set("data_quality.warnings", [3]), "`data_quality.warnings[0]` must be text, not a number"),
        (_set("trials.0.criteria", ...), "`trials[0].criteria` is missing"),
        (
            _set("trials.0.sites.1.waterfall.2.criterion_id", ...),
            "`trials[0].sites[1].waterfall[2].criterion_id` is missing",
        ),
        (
            _set("trials.0.sites.1.waterfall.2.failed", "12"),
            "`trials[0].sites[1].waterfall[2].failed` must be a count or null (suppressed), not text",
        ),
        (_set("trials.0.sites.1.eligible", True), "`trials[0].sites[1].eligible` must be a count or null"),
        (_set("trials.0.sites.1.site_id", "ALL"), "`trials[0].sites` lists site `ALL` twice"),
        (
            _set("trials.0.sites.1.waterfall.3.criterion_id", "adult"),
            "`trials[0].sites[1].waterfall` lists criterion `adult` twice",
        ),
        (
            _set("trials.0.sites.1.waterfall.2.failed", -5),
            "`trials[0].sites[1].waterfall[2].failed` must be a count",
        ),
        (lambda r: r["trials"].append(r["trials"][0]), "`trials` lists trial `SMALL` twice"),
        # the network forecast reads the enrollment of reports made with --monthly
        (_set("trials.0.enrollment", []), "`trials[0].enrollment` must be an object, not a list"),
        (
            _set("trials.0.enrollment", {"forecast": {"sites": [_FORECAST_SITE | {"conversion": 3}]}}),
            "`trials[0].enrollment.forecast.sites[0].conversion` must be a share above 0 and at most 1, not a number",
        ),
        (
            _set(
                "trials.0.enrollment", {"forecast": {"sites": [_FORECAST_SITE | {"months_observed": None}]}}
            ),
            "`trials[0].enrollment.forecast.sites[0].months_observed` must be a whole number, not null",
        ),
        (
            _set("trials.0.enrollment", {"forecast": {"sites": [_FORECAST_SITE, _FORECAST_SITE]}}),
            "`trials[0].enrollment.forecast.sites` lists site `A` twice",
        ),
    ],
)
def test_a_malformed_report_is_named_with_the_field_and_a_fix(alike_reports, tmp_path, change, message):
    report = json.loads((alike_reports[0] / "report.json").read_text())
    change(report)
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps(report))
    with pytest.raises(FeasibilityError) as caught:
        collect([alike_reports[1], tmp_path])
    assert caught.value.where == str(bad)
    assert message in str(caught.value)
    assert caught.value.fix and "feasibility run" in caught.value.fix


def test_a_malformed_report_is_one_line_and_nothing_is_written(alike_reports, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "report.json").write_text('{"schema": "feasibility.report/1"}')
    out = tmp_path / "cmp"
    proc = feasibility("compare", str(alike_reports[0]), str(bad), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(proc, str(bad / "report.json"), "`provenance` is missing", "fix:")
    assert not out.exists()


def test_a_report_json_that_is_a_folder_is_one_line(alike_reports, tmp_path):
    (tmp_path / "site" / "report.json").mkdir(parents=True)
    out = tmp_path / "cmp"
    proc = feasibility(
        "compare", str(alike_reports[0]), str(tmp_path / "site"), "--out", str(out), cwd=tmp_path
    )
    assert_one_line_error(proc, str(tmp_path / "site" / "report.json"), "a folder, not a report.json file")
    assert not out.exists()


def test_a_report_given_twice_is_refused(alike_reports, tmp_path):
    folder = alike_reports[0]
    for again in (folder, folder / "report.json"):
        with pytest.raises(
            FeasibilityError, match=f"is the same report as {re.escape(str(folder))}"
        ) as caught:
            collect([folder, alike_reports[1], again])
        assert caught.value.where == str(again)


def test_a_site_report_folder_is_never_replaced_by_the_comparison(alike_reports, tmp_path):
    report = tmp_path / "site-report"
    shutil.copytree(alike_reports[0], report)
    before = sorted(p.name for p in report.iterdir())
    proc = feasibility("compare", str(report), str(alike_reports[1]), "--out", str(report), cwd=tmp_path)
    line = assert_one_line_error(proc, "files this command does not write", "report.json")
    assert "one this command wrote (compare.csv, compare.html, compare.json)" in line
    assert sorted(p.name for p in report.iterdir()) == before


# --------------------------------------------------------------------------- flags on hand-built sites


def _block(site: str, failed: int, unknown: int, base: int = 100) -> dict:
    eligible = base - failed - unknown
    return {
        "site_id": site,
        "base": base,
        "eligible": eligible,
        "potentially_eligible": base - failed,
        "waterfall": [
            {
                "step": 0,
                "criterion_id": "base",
                "failed": 0,
                "unknown": 0,
                "eligible": base,
                "potentially_eligible": base,
            },
            {
                "step": 1,
                "criterion_id": "c1",
                "failed": failed,
                "unknown": unknown,
                "eligible": eligible,
                "potentially_eligible": base - failed,
            },
        ],
    }


def _flags(specs: dict[str, tuple[int, int]]) -> dict[str, dict]:
    """compare's row of step 1 per site, for sites of 100 patients losing (failed, unknown)."""
    sites = [SiteReport("r", s, "T", _block(s, f, u), 13, SHAREABLE) for s, (f, u) in specs.items()]
    reports = [{"trials": [{"id": "T", "criteria": [{"id": "c1", "assessable": True}]}]}]
    return {r["site_id"]: r for r in compare_rows(sites, reports) if r["step"]}


def test_a_site_losing_far_fewer_is_flagged_too():
    rows = _flags({"A": (50, 0), "B": (50, 0), "C": (0, 0)})
    assert rows["C"]["flag"] == "different population: 0% lost, against 50% at the typical site"
    assert rows["A"]["flag"] == rows["B"]["flag"] == ""


def test_shares_are_of_the_patients_remaining_before_the_step():
    rows = _flags({"A": (20, 30), "B": (10, 0), "C": (0, 0)})
    assert (rows["A"]["remaining_before"], rows["A"]["lost_share"], rows["A"]["unknown_share"]) == (
        100,
        0.2,
        0.3,
    )


def test_a_data_gap_is_not_relabelled_as_another_population():
    rows = _flags({"A": (50, 0), "B": (50, 0), "C": (0, 100)})
    assert rows["C"]["flag"].startswith("data gap: 100% left UNKNOWN")


def test_a_site_is_flagged_twenty_points_from_the_typical_one():
    rows = _flags({"A": (0, 5), "B": (0, 5), "E": (0, 5), "C": (0, 30), "D": (0, 20)})
    assert rows["C"]["flag"].startswith("data gap: 30%")
    assert rows["D"]["flag"] == ""  # 15 points from the typical 5%


# --------------------------------------------------------------------------- suppressed counts


def _suppressed_site(k: int) -> tuple[list[dict], list[dict]]:
    """The summary and rows of one site whose report suppresses counts below `k`: step c1
    loses a withheld number and leaves `<k` unknown, c2's eligible is suppressed, so c3 has
    no share."""
    counts = [
        ("base", 0, 0, 100, 100),
        ("c1", None, None, 90, 95),
        ("c2", 80, None, None, 15),
        ("c3", 0, 0, None, None),
    ]
    keys = ("step", "criterion_id", "failed", "unknown", "eligible", "potentially_eligible")
    block = {
        "site_id": "S",
        "base": 100,
        "eligible": None,
        "potentially_eligible": None,
        "waterfall": [dict(zip(keys, (i, *values), strict=True)) for i, values in enumerate(counts)],
    }
    sites = [SiteReport("r", "S", "T", block, k, SHAREABLE)]
    return summary(sites), compare_rows(sites, [{"trials": [{"id": "T", "criteria": []}]}])


def test_suppressed_counts_read_as_in_the_sites_report():
    # the report's own labels (`<K` with its K, `withheld` for a count derived from others),
    # not compare's own words, so that the sponsor reads one label in both
    totals, rows = _suppressed_site(18)
    out = io.StringIO()
    print_compare(totals, rows, Console(file=out, width=200, color_system=None))
    cells = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.getvalue().splitlines()
        if line.startswith("│")
    }
    assert cells == {
        "c1": "≤15% (?<18)",  # 100 before, 90 after: at most (100 - 90 + 4) / 98 lost
        "c2": "89% (?<18)",
        "c3": "– (?–)",
        "eligible": "<18",
        "potentially": "<18",
    }
    assert "<K: a count of fewer than K patients" in out.getvalue()
    table = list(csv.DictReader(io.StringIO(compare_csv(rows))))
    assert [(r["remaining_before"], r["failed"], r["unknown"], r["eligible"]) for r in table] == [
        ("", "0", "0", "100"),  # step 0 has no step before it: empty, not suppressed
        ("100", "withheld", "<18", "90"),
        ("90", "80", "<18", "<18"),
        ("<18", "0", "0", "<18"),
    ]
    # a share of a suppressed count, or of a suppressed number of patients, is no number
    assert [(r["lost_share"], r["unknown_share"]) for r in table[1:]] == [
        ("", ""),
        ("0.8889", ""),
        ("", ""),
    ]
    # where the lost count is withheld, the most it can be, from the counts around the step
    assert [r["lost_share_at_most"] for r in table[1:]] == [f"{14 / 98:.4f}", "", ""]


def test_compare_takes_each_reports_label_for_suppressed_counts(alike_reports, tmp_path):
    report = json.loads((alike_reports[0] / "report.json").read_text())
    report["protection"]["suppressed_below"] = 23  # as a run with another --min-cell writes it
    (tmp_path / "k23.json").write_text(json.dumps(report))
    del report["protection"]["suppressed_below"]  # as reports written before it existed
    report["protection"]["min_cell"] = 7
    (tmp_path / "old.json").write_text(json.dumps(report))
    sites, reports = collect([alike_reports[0], tmp_path / "k23.json", tmp_path / "old.json"])
    rows = compare_rows(sites, reports)
    below = {(Path(r["source"]).name, r["suppressed_below"]) for r in [*rows, *summary(sites)]}
    assert below == {(alike_reports[0].name, 13), ("k23.json", 23), ("old.json", 7)}


# --------------------------------------------------------------------------- compare.html


def test_the_page_shows_the_unknown_share_beside_the_lost_one():
    # a data gap (C leaves everyone UNKNOWN) is not read as a site that loses no one
    sites = [
        SiteReport("r", s, "T", _block(s, f, u), 13, SHAREABLE)
        for s, (f, u) in {"A": (50, 0), "B": (50, 0), "C": (0, 100)}.items()
    ]
    rows = compare_rows(sites, [{"trials": [{"id": "T", "criteria": []}]}])
    lost, unknown = heatmaps(rows, "T", ["A", "B", "C"]).data
    assert [lost.z[0], unknown.z[0]] == [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    # the site stands apart by its UNKNOWN share: marked there, not in the lost one
    assert [lost.text[0], unknown.text[0]] == [["50%", "50%", "0%"], ["0%", "0%", "100% ◆"]]
    # protected as on the terminal: a suppressed count's label, never a share of it
    _, suppressed = _suppressed_site(18)
    lost, unknown = heatmaps(suppressed, "T", ["S"]).data
    assert [lost.text, unknown.text] == [
        (["≤15%"], ["89%"], ["–"]),
        (["<18"], ["<18"], ["–"]),
    ]
    assert unknown.z == ([None], [None], [None])
    assert lost.z[0] == [pytest.approx(14 / 98)]  # shaded by the most it can be


def test_a_suppressed_total_is_labelled_not_drawn_as_a_zero():
    totals, _ = _suppressed_site(18)
    zero = {**totals[0], "site_id": "Z", "eligible": 0, "potentially_eligible": 0}
    potential, eligible = site_bars([totals[0], zero]).data
    for bars in (potential, eligible):
        assert list(bars.y) == [0, 0]  # no length: 18 would read as a count
        assert list(bars.text) == ["<18", ""]  # only the suppressed one is labelled
        assert list(bars.customdata) == ["<18", "0"]  # and hovering says what each is


@pytest.fixture(scope="module")
def mixed(alike_reports, three_reports):
    """A protected report and an exact one, with what the page says of each."""
    paths = [alike_reports[0], three_reports[0]]
    sites, reports = collect(paths)
    sources = [str(p) for p in paths]
    return sites, reports, describe(reports, sources, sites)


def test_each_report_is_named_with_its_sites_index_date_and_age(mixed):
    sites, reports, described = mixed
    protected, exact = described
    assert protected["sites"] == ["A (A)"] and exact["sites"] == ["A (report-A)"]  # as in the columns
    index = reports[0]["provenance"]["index_date"]["default"]
    # the test extracts' index_date column holds no date: one index date for every patient
    assert protected["index_date"] == index
    assert protected["generated_at"] == reports[0]["generated_at"]
    assert (protected["min_cell"], exact["min_cell"]) == (11, 0)
    page = compare_html(summary(sites), compare_rows(sites, reports), (), described)
    reports_section = page[page.index("<h2>Reports</h2>") :]
    generated = reports[0]["generated_at"]  # ISO, in UTC: shown to the minute
    assert f"{generated[:10]} {generated[11:16]} UTC" in reports_section
    assert f"<td>A (report-A)</td><td>{index}</td>" in reports_section
    assert "protected (--min-cell 11)" in reports_section and "exact (--min-cell 0)" in reports_section


def test_the_terminal_lists_each_report(mixed):
    sites, reports, described = mixed
    out = io.StringIO()
    print_compare(summary(sites), compare_rows(sites, reports), Console(file=out, width=300), described)
    lines = out.getvalue().splitlines()
    listed = lines[lines.index("Reports:") + 1 : lines.index("Reports:") + 3]
    index = reports[0]["provenance"]["index_date"]["default"]
    generated = reports[0]["generated_at"]
    assert listed[0] == (
        f"  {described[0]['source']}: A (A); index date {index}; "
        f"generated {generated[:10]} {generated[11:16]} UTC; protected (--min-cell 11)"
    )
    assert listed[1].startswith(f"  {described[1]['source']}: A (report-A); index date ")
    assert listed[1].endswith("exact (--min-cell 0)")


def test_each_reports_data_quality_findings_are_listed(tmp_path):
    """A site whose ALT results read as nothing leaves ALT UNKNOWN for its patients: the
    comparison lists what its report says of its data, and nothing for a site with no
    finding, in compare.json, on the page and, counted, in the terminal."""
    paths = []
    for site in ("A", "B"):
        rows = site_rows(site, 40, True)
        if site == "A":
            rows += [
                event(f"A{i}", "lab", "LOINC", "1742-6", "2025-01-21", value_text="haemolysed")
                for i in range(3)
            ]
        extract = write_extract(rows, tmp_path / f"{site}.parquet")
        run_feasibility(str(extract), [TRIAL], out=tmp_path / site, site=site, min_cell=0, as_of=None)
        paths.append(tmp_path / site)
    sites, reports = collect(paths)
    described = describe(reports, ["A", "B"], sites)
    assert described[0]["data_quality"] == reports[0]["data_quality"]["warnings"]
    assert any("no known word" in w and "alt 3" in w for w in described[0]["data_quality"])
    assert described[1]["data_quality"] == []
    page = compare_html(summary(sites), compare_rows(sites, reports), (), described)
    listed = page[page.index("<h3>Data quality, as each report states it</h3>") : page.index("</section>")]
    assert "<p class='path'>A</p>" in listed and "<p class='path'>B</p>" not in listed
    # the guide says what the list is, only where there is one
    assert "<dt>data quality</dt>" in page
    assert "<dt>data quality</dt>" not in compare_html(
        summary(sites), compare_rows(sites, reports), (), [d | {"data_quality": []} for d in described]
    )
    assert all(f"<li>{html.escape(w)}</li>" in listed for w in described[0]["data_quality"])
    out = io.StringIO()
    print_compare(summary(sites), compare_rows(sites, reports), Console(file=out, width=300), described)
    lines = out.getvalue().splitlines()
    at = lines.index("Reports:")
    n = len(described[0]["data_quality"])
    assert lines[at + 2] == f"    data quality: {n} finding{'s' if n > 1 else ''} (compare.html lists them)"
    assert lines[at + 3].startswith("  B: ")
    document = json.loads(compare_json(summary(sites), compare_rows(sites, reports), [], described, []))
    assert [r["data_quality"] for r in document["reports"]] == [d["data_quality"] for d in described]


def test_each_row_of_compare_csv_says_whether_its_report_may_be_shared(mixed):
    # as in the run's own CSVs: a row copied out of the comparison still says it
    sites, reports, _ = mixed
    table = list(csv.DictReader(io.StringIO(compare_csv(compare_rows(sites, reports)))))
    assert list(table[0])[-1] == "sharing"
    marks = {r["site_id"]: r["sharing"] for r in table}
    assert marks == {
        "A (A)": "shareable (--min-cell 11)",
        "A (report-A)": "EXACT COUNTS (--min-cell 0): do not share",
    }


def test_the_header_says_when_counts_are_exact(mixed):
    sites, reports, described = mixed
    rows = compare_rows(sites, reports)

    def header(described: list[dict]) -> str:
        page = compare_html(summary(sites), rows, (), described)
        return page[page.index("<header>") : page.index("</header>")]

    assert "exact" not in header(described[:1])
    assert "published (protected) numbers" in header(described[:1])
    both = header(described)
    assert f"exact counts (--min-cell 0) from {described[1]['source']}" in both
    assert "not to be shared" in both
    assert header(described[1:]).startswith("<header><h1>Sites compared</h1><p>exact counts")


# --------------------------------------------------------------------------- network forecast

SEED = REPO / "trials/MC-1-50-SLE.yaml"


@pytest.fixture(scope="module")
def monthly_reports(tmp_path_factory):
    """The sample's three sites counted monthly twice (12 months, protected; 6 months, exact,
    another conversion, from a copy written anew, so that the network takes both as other
    extracts), and once without --monthly."""
    tmp = tmp_path_factory.mktemp("network")
    sample = str(REPO / "sample_data/extract.parquet")
    rewritten = tmp / "rewritten.parquet"
    duckdb.sql(f"COPY (FROM '{sample}') TO '{rewritten}' (COMPRESSION zstd)")
    paths = [tmp / "year", tmp / "half", tmp / "plain"]
    run_feasibility(sample, [SEED], out=paths[0], monthly=12)
    run_feasibility(
        str(rewritten), [SEED], out=paths[1], monthly=6, min_cell=0, forecast=ForecastSettings(conversion=0.5)
    )
    run_feasibility(sample, [SEED], out=paths[2])
    return paths


def _networks(paths: list[Path], target: int | None = None) -> list[dict]:
    sites, reports = collect(paths)
    return network_forecasts(sites, reports, [str(p) for p in paths], target)


def _own_forecast(path: Path) -> dict:
    (trial,) = json.loads((path / "report.json").read_text())["trials"]
    return trial["enrollment"]["forecast"]


def test_one_reports_network_forecast_is_its_own(monthly_reports):
    # fitted again from the published counts, a report's sites give back the forecast its
    # run fitted to the exact counts it protected: the sponsor's figures are the site's
    for path in monthly_reports[:2]:
        (network,) = _networks([path], target=30)
        own = _own_forecast(path)
        fitted = network["forecast"]
        for site in fitted["sites"]:
            assert site.pop("source") == str(path)
            assert site.pop("suppressed_below") == (13 if path.name == "year" else 0)
        assert {k: v for k, v in fitted.items() if k != "time_to_target"} == {
            k: v for k, v in own.items() if k != "time_to_target"
        }
        assert network["without_monthly"] == [] and network["suppressed"] == []


def test_the_network_takes_every_monthly_reports_sites_under_their_compared_names(monthly_reports):
    (network,) = _networks(monthly_reports, target=40)
    fitted = network["forecast"]
    year, half = (_own_forecast(p)["sites"] for p in monthly_reports[:2])
    expected = [(f"{s['site']} (year)", s, "year") for s in year] + [
        (f"{s['site']} (half)", s, "half") for s in half
    ]
    assert [s["site"] for s in fitted["sites"]] == [name for name, _, _ in expected]
    for site, (_, own, report) in zip(fitted["sites"], expected, strict=True):
        assert site["source"].endswith(report)
        for key in ("months_observed", "eligible_observed", "conversion"):
            assert site[key] == own[key]
    assert {s["conversion"] for s in fitted["sites"]} == {0.3, 0.5}
    assert {s["months_observed"] for s in fitted["sites"]} == {12, 6}
    assert network["without_monthly"] == ["SITE-A (plain)", "SITE-B (plain)", "SITE-C (plain)"]
    assert fitted["prior"]["sites"] == 6
    assert fitted["time_to_target"]["target"] == 40
    # half the sites were counted over six months, but the others over a year: no caution
    assert fitted["cautions"] == []


def test_a_copy_of_a_report_adds_no_sites_to_the_network(monthly_reports, tmp_path):
    # the same extract's patients counted twice would double the network's enrollment
    copied = tmp_path / "copied"
    shutil.copytree(monthly_reports[0], copied)
    paths = [monthly_reports[0], copied]
    (network,) = _networks(paths)
    (alone,) = _networks(paths[:1])
    # the same sites, each now named with its report's folder, as its copy's are
    assert [s["site"] for s in network["forecast"]["sites"]] == [
        f"{s['site']} (year)" for s in alone["forecast"]["sites"]
    ]
    assert network["forecast"]["total_rate_mean"] == alone["forecast"]["total_rate_mean"]
    assert network["same_extract"] == ["SITE-A (copied)", "SITE-B (copied)", "SITE-C (copied)"]
    sites, reports = collect(paths)
    (note,) = differences(reports, [str(p) for p in paths])
    assert note.startswith(f"{paths[0]}, {copied}: made from one extract (sha256 ")
    assert "the network forecast counts them once, from the first" in note
    out = io.StringIO()
    print_compare(summary(sites), compare_rows(sites, reports), Console(file=out, width=200), (), [network])
    assert "their report being of an extract an earlier report brought" in out.getvalue()
    # reports of other extracts are not taken for copies
    others = monthly_reports[:2]
    assert not any(
        "one extract" in line for line in differences(collect(others)[1], [str(p) for p in others])
    )


def test_a_suppressed_total_enters_the_network_at_the_middle_of_the_suppressed_counts(
    monthly_reports, tmp_path
):
    report = json.loads((monthly_reports[0] / "report.json").read_text())
    site = report["trials"][0]["enrollment"]["forecast"]["sites"][0]
    site["eligible_observed"] = None  # as a site with fewer than 13 newly eligible publishes it
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(report))
    (network,) = _networks([edited])
    fitted = network["forecast"]
    assert network["suppressed"] == [site["site"]]
    first = fitted["sites"][0]
    assert first["eligible_observed"] is None and first["suppressed_below"] == 13
    # the posterior's shape is the prior's plus the count the site entered with: 13 // 2
    assert first["eligible_rate"]["shape"] == pytest.approx(fitted["prior"]["shape"] + 6, rel=1e-3)
    out = io.StringIO()
    sites, reports = collect([edited])
    print_compare(summary(sites), compare_rows(sites, reports), Console(file=out, width=200), (), [network])
    text = out.getvalue()
    assert re.search(rf"│ {site['site']} +│ +12 │ +<13 │", text), text
    assert f"suppressed totals taken at the middle of the suppressed counts: {site['site']}" in text


def test_compare_shows_the_network_forecast(monthly_reports, tmp_path):
    proc = feasibility("compare", *map(str, monthly_reports), "--target", "40", "--out", "cmp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "network enrollment forecast (6 sites, fitted to their published counts)" in proc.stdout
    assert "time to enroll 40 patients: median" in proc.stdout
    # 80 columns: the table drops its borders rather than wrap a figure in its cell
    assert re.search(
        r"^SITE-C \(half\) +6 +\d+ +0\.5 +\d+\.\d \[\d+–\d+\] +\d+\.\d \[\d+–\d+\] *$", proc.stdout, re.M
    )
    assert re.search(
        r"^  network: \d+\.\d \[\d+–\d+\] at 6 months, \d+\.\d \[\d+–\d+\] at 12 months \[80%\]",
        proc.stdout,
        re.M,
    )
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "Enrollment forecast of the network (6 sites)" in page
    assert "Time to enroll 40 patients: median" in page
    assert "not in it, their reports having no monthly incidence (run --monthly): SITE-A (plain)" in page
    # the same as data, beside the comparison's rows
    document = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert document["schema"] == "feasibility.compare/1"
    assert [r["source"] for r in document["reports"]] == [str(p) for p in monthly_reports]
    # `half` holds exact counts: the comparison is not to be shared, and says so as data
    assert document["shareable"] is False
    protected = [monthly_reports[0], monthly_reports[2]]
    sites, reports = collect(protected)
    described = describe(reports, [str(p) for p in protected], sites)
    assert json.loads(compare_json(summary(sites), compare_rows(sites, reports), [], described, []))[
        "shareable"
    ]
    assert len(document["steps"]) == len(
        list(csv.DictReader(io.StringIO((tmp_path / "cmp/compare.csv").read_text())))
    )
    (network,) = document["networks"]
    assert network["trial_id"] == "MC-1-50-SLE" and len(network["forecast"]["sites"]) == 6
    assert network["forecast"]["time_to_target"]["target"] == 40
    # without --monthly reports there is no forecast to time a target on: one line, nothing written
    proc = feasibility("compare", str(monthly_reports[2]), "--target", "40", "--out", "none", cwd=tmp_path)
    assert_one_line_error(proc, "--target", "no report counted monthly incidence", "--monthly")
    assert not (tmp_path / "none").exists()


def test_every_chart_of_the_comparison_is_drawn_in_chromium(monthly_reports, tmp_path):
    # the network forecast's band among them: compare.html is as self-contained as a report
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium package)"
    sites, reports = collect(monthly_reports)
    networks = network_forecasts(sites, reports, [str(p) for p in monthly_reports], 40)
    page = tmp_path / "compare.html"
    page.write_text(compare_html(summary(sites), compare_rows(sites, reports), (), (), networks))
    charts = list(figures(page.read_text()))
    assert charts == ["c0-eligible", "c0-lost", "c0-network"]
    dom = dump_dom(page, tmp_path / "profile")
    for chart in charts:
        following = dom[dom.index(f'id="{chart}"') :][:200_000]
        # Plotly draws into an <svg class="main-svg">: bars, lines, or a heatmap's image
        assert 'class="main-svg"' in following, chart
        assert re.search(r'class="(point|js-line|hm)"', following), chart


def test_the_sponsors_conversion_replaces_the_reports():
    reported = {"A": 0.3, "B": 0.5}
    assert ConversionChoice().shares(reported) == reported
    assert ConversionChoice(0.2).shares(reported) == {"A": 0.2, "B": 0.2}
    assert ConversionChoice(None, {"B": 0.1}).shares(reported) == {"A": 0.3, "B": 0.1}
    assert ConversionChoice(0.2, {"B": 0.1}).shares(reported) == {"A": 0.2, "B": 0.1}


def test_the_network_forecast_takes_the_sponsors_conversion(monthly_reports, tmp_path):
    sites, reports = collect(monthly_reports)
    sources = [str(p) for p in monthly_reports]
    chosen = ConversionChoice(0.2, {"SITE-B (half)": 0.6}, "conv.yaml")
    (network,) = network_forecasts(sites, reports, sources, None, chosen)
    shares = {s["site"]: s["conversion"] for s in network["forecast"]["sites"]}
    assert shares == {
        "SITE-A (year)": 0.2,
        "SITE-B (year)": 0.2,
        "SITE-C (year)": 0.2,
        "SITE-A (half)": 0.2,
        "SITE-B (half)": 0.6,
        "SITE-C (half)": 0.2,
    }
    # enrollment is the eligible rate thinned by the share, so the rates follow the shares
    (plain,) = network_forecasts(sites, reports, sources, None)
    rate = {s["site"]: s["enrollment_rate"]["mean"] for s in network["forecast"]["sites"]}
    before = {s["site"]: s["enrollment_rate"]["mean"] for s in plain["forecast"]["sites"]}
    assert rate["SITE-A (year)"] == pytest.approx(before["SITE-A (year)"] * 0.2 / 0.3, rel=1e-3)
    assert rate["SITE-B (half)"] == pytest.approx(before["SITE-B (half)"] * 0.6 / 0.5, rel=1e-3)
    # a site the comparison does not show under that name is refused, with the names it shows
    with pytest.raises(FeasibilityError, match=re.escape("site `SITE-B (half` has a conversion")) as caught:
        network_forecasts(
            sites, reports, sources, None, ConversionChoice(None, {"SITE-B (half": 0.5}, "conv.yaml")
        )
    assert caught.value.where == "conv.yaml" and "SITE-A (half)" in caught.value.fix


def test_compare_takes_a_conversion_file_by_the_names_it_shows(monthly_reports, tmp_path):
    conv = tmp_path / "conv.yaml"
    conv.write_text('"SITE-A (half)": 0.1\n')
    proc = feasibility(
        "compare", *map(str, monthly_reports), "--conversion-file", str(conv), "--out", "cmp", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    (network,) = json.loads((tmp_path / "cmp" / "compare.json").read_text())["networks"]
    shares = {s["site"]: s["conversion"] for s in network["forecast"]["sites"]}
    assert (
        shares["SITE-A (half)"] == 0.1 and shares["SITE-A (year)"] == 0.3 and shares["SITE-B (half)"] == 0.5
    )
    conv.write_text("SITE-Z: 0.1\n")
    proc = feasibility(
        "compare", *map(str, monthly_reports), "--conversion-file", str(conv), "--out", "bad", cwd=tmp_path
    )
    assert_one_line_error(proc, str(conv), "site `SITE-Z` has a conversion", "SITE-A (half)")
    assert not (tmp_path / "bad").exists()
    proc = feasibility(
        "compare", str(monthly_reports[2]), "--conversion", "0.2", "--out", "none", cwd=tmp_path
    )
    assert_one_line_error(proc, "--conversion:", "no report counted monthly incidence")
    assert not (tmp_path / "none").exists()


def test_a_withheld_lost_share_is_bounded_for_every_true_count_the_report_allows():
    # the bound reads only published counts, each rounded: it must hold whatever they rounded
    protection = Protection(11)
    held = 0
    for before in range(1, 90):
        for passed in range(before + 1):
            for unknown in range(before - passed + 1):
                failed = before - passed - unknown
                bound = lost_at_most(None, protection.count(before), protection.count(passed))
                if bound is not None:
                    held += 1
                    assert failed / before <= bound <= 1, (before, passed, unknown)
    assert held > 10_000
    # published failed counts have their exact share; a suppressed eligible count gives no bound
    assert lost_at_most(30, 100, 70) is None and lost_at_most(None, 100, None) is None
    assert lost_at_most(None, 445, 90) == pytest.approx((445 - 90 + 4) / 443)


def test_a_withheld_lost_count_reads_as_the_most_it_can_be():
    row = {"lost_share": None, "failed": None, "lost_share_at_most": 0.8104, "suppressed_below": 13}
    assert share_text(row, "lost_share") == "≤82%"
    assert share_text({**row, "lost_share_at_most": 0.3 + 1e-16}, "lost_share") == "≤30%"
    assert share_text({**row, "lost_share_at_most": None}, "lost_share") == "withheld"


# --------------------------------------------------------------------------- compare.html printed and read aloud


def test_a_printed_comparison_fits_the_paper_and_leaves_no_hole(monthly_reports, tmp_path):
    # the network forecast's chart, drawn at the screen's width, was cut at the paper's edge
    from tests.test_html import assert_prints_whole, printed

    sites, reports = collect(monthly_reports)
    networks = network_forecasts(sites, reports, [str(p) for p in monthly_reports], 40)
    described = describe(reports, [str(p) for p in monthly_reports], sites)
    # a report's findings, as long as a site's run writes them, wrap within the paper
    described[0]["data_quality"] = [
        "patients whose latest result had no usable ref_high (default ULN or positive cut-off used): "
        + ", ".join(f"concept_{i} {5 * i}" for i in range(40))
    ]
    page = compare_html(summary(sites), compare_rows(sites, reports), (), described, networks)
    assert "Data quality, as each report states it" in page
    assert_prints_whole(printed(page, tmp_path))


def test_the_comparisons_tables_and_charts_are_named_for_a_screen_reader(three_reports):
    from tests.test_html import tables_and_charts

    sites, reports = collect(three_reports)
    rows = compare_rows(sites, reports)
    page = compare_html(summary(sites), rows, (), describe(reports, [str(p) for p in three_reports], sites))
    tables, cells, charts = tables_and_charts(page)
    assert len(tables) == 3 and all(t.endswith("<caption>") for t in tables)  # reports, two charts'
    assert cells and all("scope='col'" in c for c in cells)
    assert len(charts) == 2 and all(" role='img' aria-label='" in c and "table" in c for c in charts)
    # the heatmaps' cells as a table, read as the terminal prints them
    shares = re.search(r"<caption>Share of the remaining patients lost.*?</table>", page, re.S)[0]
    first = rows[1]  # the first step after step 0 at the first site
    lost, unknown = share_text(first, "lost_share"), share_text(first, "unknown_share")
    assert f"<tr><td>{first['criterion_id']}</td><td>{lost} (?{unknown})</td>" in shares


def test_the_page_says_how_to_read_its_words_and_marks(monthly_reports):
    # a sponsor met ◆, (?), `--min-cell 11` and [80%] on the page with nothing saying what they are
    from tests.test_html import guide_terms

    sites, reports = collect(monthly_reports)
    sources = [str(p) for p in monthly_reports]
    described = describe(reports, sources, sites)
    networks = network_forecasts(sites, reports, sources, 40)
    page = compare_html(summary(sites), compare_rows(sites, reports), (), described, networks)
    terms = guide_terms(page, "How to read this comparison")
    for term in ("confirmed eligible", "potentially eligible", "lost", "left UNKNOWN (?)", "◆ stands apart"):
        assert term in terms, term
    assert "20 percentage points or more from the median site" in terms["◆ stands apart"]
    # both kinds of report are here, and the network's words
    assert "protected (--min-cell K)" in terms and "exact (--min-cell 0)" in terms
    assert "[80%]" in terms and "conversion" in terms
    protected = [d for d in described if d["min_cell"]]
    plain = guide_terms(compare_html(summary(sites), [], (), protected), "How to read this comparison")
    assert "exact (--min-cell 0)" not in plain and "[80%]" not in plain


def test_all_the_comparisons_text_has_a_contrast_of_at_least_4_5(three_reports, tmp_path):
    # the legend of suppressed labels sits on the page's grey, not on a white section
    from tests.test_html import low_contrast

    sites, reports = collect(three_reports)
    described = describe(reports, [str(p) for p in three_reports], sites)
    described[0]["data_quality"] = [
        "implausible values, outside the concept's plausible range (not used): alt 3"
    ]
    page = compare_html(summary(sites), compare_rows(sites, reports), ["another index date"], described)
    assert low_contrast(page, tmp_path) == []

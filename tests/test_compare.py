"""`feasibility compare` on three sites' reports made by separate runs."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
from rich.console import Console

from feasibility.compare import collect, compare_rows, summary
from feasibility.errors import FeasibilityError
from feasibility.reports.compare_report import compare_csv, compare_html, print_compare
from feasibility.run import run_feasibility
from tests.support import REPO, event, person, write_extract

TRIAL = REPO / "tests/fixtures/trials/small.yaml"


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
    assert alt["C"]["flag"].startswith("data gap")
    assert alt["A"]["flag"] == "" and alt["B"]["flag"] == ""
    assert alt["C"]["unknown_share"] == 1.0


def test_compare_outputs(three_reports):
    sites, reports = collect(three_reports)
    rows = compare_rows(sites, reports)
    table = list(csv.DictReader(io.StringIO(compare_csv(rows))))
    assert {r["site_id"] for r in table} == {"A", "B", "C"}
    assert any(r["flag"].startswith("data gap") for r in table)
    page = compare_html(summary(sites), rows)
    assert "c0-lost" in page and "data gap" in page


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
    print_compare(totals, compare_rows(sites, reports), Console(file=out, width=width, color_system=None))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines)
    body = [line for line in lines if line.startswith("│")]
    assert not any("…" in line for line in body)
    # every site's totals are shown whole, in whichever table holds its column
    eligible = [int(c) for line in body if line.startswith("│ eligible") for c in line.split("│")[2:-1]]
    assert sorted(eligible) == sorted(t["eligible"] for t in totals)
    tables = sum("share of remaining patients lost" in line for line in lines)
    assert (tables == 1) == (width >= 80)


def test_same_site_name_in_two_reports_is_kept_apart(three_reports):
    sites, _ = collect([three_reports[0], three_reports[0] / "report.json"])
    assert len({s.site_id for s in sites}) == 2


def test_not_a_report(tmp_path):
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(FeasibilityError, match="not a feasibility report"):
        collect([tmp_path])


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
    assert {p.name for p in out.iterdir()} == {"compare.csv", "compare.html"}

"""The shipped sample extract exercises every seed trial and every assessable criterion."""

from __future__ import annotations

import csv
import io
import re

import pytest

from feasibility.protect import suppressed_text
from feasibility.reports.files import criteria_csv
from feasibility.reports.terminal import NOT_ASSESSABLE_MARK, print_report, report_console
from feasibility.run import run_feasibility
from tests.support import REPO

# Criteria that an earlier criterion of the same protocol already implies, so in protocol
# order they can remove nobody; each is still checked to be FALSE for someone on its own.
IMPLIED = {
    ("NCT06711146", "IN9.2g"): "≤ 5 × ULN follows from IN9.2b, IN9.2c and IN9.2f",
    ("NCT06886919", "IN2.2"): "IN2 already requires the combination that waives the minimum",
    ("NCT06886919", "EX14.5"): "its LVEF < 50 % contradicts IN7.5's LVEF ≥ 50 %",
}
# Exclusions whose only records are read with `if_found: unknown`: they can never exclude a
# patient outright, only leave one for the investigator (UNKNOWN)
FOR_THE_INVESTIGATOR = {
    ("MC-1-50-SLE", "EX7.3"),
    ("MC-1-50-SLE", "EX7.4"),
    ("NCT06886919", "EX4"),
    ("NCT06886919", "EX14.4"),
    ("NCT06886919", "EX14.6"),
    ("NCT06886919", "EX16"),
}


PROGRESS: list[str] = []


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "report"
    extract = str(REPO / "sample_data/extract.parquet")
    return run_feasibility(extract, [], out=out, min_cell=0, progress=PROGRESS.append)


def test_progress_names_each_step(report):
    # a run on a large extract takes minutes: the status line says which statement is running
    # in the user's words, never a table's name
    tables = [m for m in PROGRESS if m.endswith(" of 6)")]
    assert [m.split(" (")[0] for m in tables] == [
        "reading diagnoses, procedures and other records",
        "reading lab results and observations",
        "reading medications",
        "counting the days covered by each medication",
        "combining each patient's findings",
        "evaluating the criteria of each patient",
    ]
    assert tables[-1].endswith("(6 of 6)")
    assert PROGRESS.index("evaluating criteria") > PROGRESS.index(tables[-1])
    assert PROGRESS[-1] == "writing the report"


def test_all_four_seed_trials_with_every_criterion(report):
    assert [t["id"] for t in report["trials"]] == [
        "CQPB-CD19-AID",
        "MC-1-50-SLE",
        "NCT06711146",
        "NCT06886919",
    ]
    for trial in report["trials"]:
        steps = [s["criterion_id"] for s in trial["sites"][0]["waterfall"][1:]]
        assert steps == [c["id"] for c in trial["criteria"]]
        assert all(c["text"] for c in trial["criteria"])


def test_no_trial_ends_at_zero(report):
    for trial in report["trials"]:
        for site in trial["sites"]:
            assert site["eligible"] > 0, (trial["id"], site["site_id"])


def _sites(trial):
    return [s for s in trial["sites"] if s["site_id"] != "ALL"]


def test_every_assessable_criterion_removes_patients(report):
    for trial in report["trials"]:
        for c in trial["criteria"]:
            if not c["assessable"]:
                continue
            alone = [v["alone"] for s in _sites(trial) for v in s["criteria"] if v["criterion_id"] == c["id"]]
            alone_false = sum(a["false"] for a in alone)
            if (trial["id"], c["id"]) in FOR_THE_INVESTIGATOR:
                assert alone_false == 0, (trial["id"], c["id"])
                assert sum(a["unknown"] for a in alone) > 0, (trial["id"], c["id"])
                continue
            assert alone_false > 0, (trial["id"], c["id"])
            removed = sum(
                st["failed"] + st["unknown"]
                for s in _sites(trial)
                for st in s["waterfall"]
                if st["criterion_id"] == c["id"]
            )
            if (trial["id"], c["id"]) in IMPLIED:
                assert removed == 0, f"{trial['id']} {c['id']} is no longer implied: update IMPLIED"
            else:
                assert removed > 0, (trial["id"], c["id"])


def test_sites_use_different_units(report):
    # the sample exercises unit conversion: three sites, and no unknown-unit flood
    assert len(_sites(report["trials"][0])) == 3
    unknown = report["data_quality"]["unknown_unit_rows"]
    assert sum(unknown.values()) < 0.01 * report["provenance"]["extract"]["rows"]


def _terminal(report: dict, width: int) -> list[str]:
    out = io.StringIO()
    print_report(report, report_console(out, width=width, color_system=None))
    return out.getvalue().splitlines()


@pytest.fixture(scope="module")
def shared_report(tmp_path_factory):
    """The sample's report as a site would share it (protected: `<13`, `withheld`)."""
    out = tmp_path_factory.mktemp("shared") / "report"
    return run_feasibility(str(REPO / "sample_data/extract.parquet"), [], out=out)


KINDS = {"inc", "exc", "n/a"}


def _waterfall_rows(lines: list[str], trial: dict) -> list[list[str]]:
    """Each waterfall step's line of the trial's table, as its cells after the criterion id
    and kind, whatever the table's borders."""
    heading = next(i for i, line in enumerate(lines) if line.startswith(f"{trial['id']} "))
    remaining, rows = iter(lines[heading:]), []
    for step in trial["sites"][0]["waterfall"]:
        for line in remaining:
            cells = line.translate({ord(c): " " for c in "│┃"}).split()
            ids = [i for i, c in enumerate(cells) if c.rstrip(NOT_ASSESSABLE_MARK) == step["criterion_id"]]
            if ids and ids[0] <= 1:  # after the step number, if shown
                rows.append([c for c in cells[ids[0] + 1 :] if c not in KINDS])
                break
    return rows


@pytest.mark.parametrize("width", [60, 70, 80, 100, 120, 200])
@pytest.mark.parametrize("which", ["exact", "shared"])
def test_terminal_counts_are_never_cut_short(report, shared_report, width, which):
    # a pipe is 80 columns: a shared report's `withheld` must not push its counts off the edge
    shown = report if which == "exact" else shared_report
    lines = _terminal(shown, width)
    assert all(len(line) <= width for line in lines)
    assert not any(line.endswith(" ") for line in lines)  # where rich wrapped at a word
    protection = shown["protection"]
    for trial in shown["trials"]:
        steps = trial["sites"][0]["waterfall"]
        rows = _waterfall_rows(lines, trial)
        assert len(rows) == len(steps)
        for step, row in zip(steps, rows, strict=True):
            keys = ("passed", "failed", "unknown", "eligible", "potentially_eligible")
            expected = [suppressed_text(k, protection) if step[k] is None else f"{step[k]:,}" for k in keys]
            assert row[:5] == expected
    # every word of a title is printed whole (a title used to be cut at the table's edge)
    for word in shown["trials"][0]["title"].split():
        assert any(word in line.split() for line in lines), word
    has_text = any("text" in line.split() and "potential" in line.split() for line in lines)
    assert has_text == (width >= 120)


def test_terminal_in_colour_ends_no_line_in_a_space(report):
    out = io.StringIO()
    print_report(report, report_console(out, width=80, force_terminal=True, color_system="standard"))
    text = out.getvalue()
    assert "\x1b[" in text
    assert not re.search(r" (\x1b\[[0-9;]*m)*\n", text)  # a space, then only colour codes, then the end


def test_a_narrow_terminal_marks_criteria_not_assessable(report):
    lines = _terminal(report, 60)
    trial = report["trials"][0]
    not_assessable = [c["id"] for c in trial["criteria"] if not c["assessable"]]
    assert not_assessable
    for cid in not_assessable:
        assert any(line.split()[:1] == [cid + NOT_ASSESSABLE_MARK] for line in lines), cid
    assert f"  {NOT_ASSESSABLE_MARK} not assessable from the data" in lines
    assert not any("inc" in line.split() for line in lines)  # no room for the kind column


def test_terminal_shows_criterion_text_on_one_line(report):
    lines = _terminal(report, 200)
    # protocol texts whose first line is short enough for the next line's start to show
    broken = [
        [part for part in c["text"].split("\n") if part.strip()]
        for t in report["trials"]
        for c in t["criteria"]
        if len(c["text"].strip().split("\n")[0]) < 40 and "\n" in c["text"].strip()
    ]
    assert broken
    for first, second, *_ in broken:
        joined = f"{first.split()[-1]} {second.split()[0]}"
        assert any(joined in line for line in lines), joined


def test_terminal_data_quality_one_line_per_kind(report):
    lines = _terminal(report, 1000)
    start = lines.index("Data quality:")
    findings = lines[start + 1 :]
    unknown_units = [line for line in findings if "unit the concept does not know" in line]
    assert len(unknown_units) == 1
    assert all(f"{c} " in unknown_units[0] for c in report["data_quality"]["unknown_unit_rows"])
    assert len(report["data_quality"]["unknown_unit_rows"]) > 1


def test_terminal_prints_user_text_verbatim(report):
    # titles, ids and sites are the user's text: brackets in them are not rich markup
    trial = {**report["trials"][0], "title": "Lupus [phase 1/2] [/] [bold]"}
    lines = _terminal({**report, "trials": [trial]}, 200)
    assert any("Lupus [phase 1/2] [/] [bold]" in line for line in lines)


def test_terminal_per_site_totals_each_on_one_line(report):
    lines = _terminal(report, 80)
    for trial in report["trials"]:
        for s in trial["sites"]:
            if s["site_id"] != "ALL":
                total = (
                    f"{s['site_id']}: {s['eligible']:,} eligible, {s['potentially_eligible']:,} potentially"
                )
                assert any(line.rstrip().endswith(total) for line in lines), total


def test_terminal_heads_each_trial_with_its_id_and_title_once(report):
    trial = report["trials"][0]
    lines = _terminal(report, 200)
    assert any(line.startswith(f"{trial['id']} — {trial['title']}  (site ALL)") for line in lines)
    # a trial file without a title is titled by its id: not repeated
    untitled = {**trial, "title": trial["id"]}
    lines = _terminal({**report, "trials": [untitled]}, 200)
    assert any(line.startswith(f"{trial['id']}  (site ALL)") for line in lines)


def test_protected_impacts_read_as_whole_numbers(shared_report):
    # rounded to a multiple of 5, an impact is a whole number: `15` in criteria.csv, as every
    # other count, not `15.0`
    table = list(csv.DictReader(io.StringIO(criteria_csv(shared_report))))
    views = {
        (t["id"], s["site_id"], v["criterion_id"]): v
        for t in shared_report["trials"]
        for s in t["sites"]
        for v in s["criteria"]
    }
    shown = [
        (row[key], views[(row["trial_id"], row["site_id"], row["criterion_id"])][key])
        for row in table
        for key in ("impact", "impact_potential")
    ]
    published = [(cell, value) for cell, value in shown if value is not None]
    assert len(published) > 100
    assert all(cell == f"{value:.0f}" and value % 5 == 0 for cell, value in published)


def test_the_terminal_says_what_its_columns_and_marks_mean(report, shared_report):
    def key(report: dict) -> str:
        lines = _terminal(report, 100)
        start = next(i for i, line in enumerate(lines) if line.startswith("Key:"))
        end = lines.index("", start)
        return " ".join(" ".join(line.split()) for line in lines[start:end])

    shared = key(shared_report)
    k = shared_report["protection"]["suppressed_below"]
    assert "potential: none FALSE so far" in shared and "n/a: not assessable" in shared
    assert f"<{k}: 1 to {k - 1} patients, suppressed" in shared and "withheld:" in shared
    assert "each on its own, so a row may not add up exactly" in shared  # rounding, not an error
    exact = key(report)
    assert "potential: none FALSE so far" in exact
    assert "<" not in exact and "withheld" not in exact  # nothing is suppressed in an exact report
    assert "rounded" not in exact

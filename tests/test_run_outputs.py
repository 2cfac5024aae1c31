"""End-to-end outputs of `feasibility run`: >64 criteria, the patient list, the CSV files."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from datetime import date

import polars as pl
import pytest

from feasibility.errors import FeasibilityError
from feasibility.reports.files import WATERFALL_COLUMNS
from feasibility.run import run_feasibility
from tests.support import REPO, event, person, small_trial_rows, ten_site_rows, write_extract


def test_trial_with_more_than_64_criteria(tmp_path):
    """Masks of two words: the waterfall, and the patient list (read from the masks the run
    kept) beside a one-word trial, whose list must not read another trial's masks."""
    # criterion k: age at most 99 - k; patients of exact ages 20..95 by birth date
    n = 80
    lines = ["id: MANY", "title: many criteria", "criteria:"]
    for k in range(n):
        lines.append(
            f"  - {{id: c{k}, kind: inclusion, text: age at most {99 - k}, rule: {{age: {{max: {99 - k}}}}}}}"
        )
    trial = tmp_path / "many.yaml"
    trial.write_text("\n".join(lines) + "\n")
    young = tmp_path / "young.yaml"
    young.write_text(
        "id: YOUNG\ncriteria:\n  - {id: y, kind: inclusion, text: at most 50, rule: {age: {max: 50}}}\n"
    )
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "c.yaml").write_text(
        (REPO / "tests/fixtures/trials/concepts/spec_concepts.yaml").read_text()
    )
    rows = []
    for age in range(20, 96):
        pid = f"a{age}"
        rows += person(pid, birth_date=f"{2025 - age}-01-01")
        rows.append(event(pid, "diagnosis", "ICD10CM", "J45.0", "2025-01-01"))
    report = run_feasibility(
        str(write_extract(rows, tmp_path / "x.parquet")),
        [trial, young],
        out=tmp_path / "report",
        min_cell=0,
        active_within=None,
        patient_list=tmp_path / "patients.csv",
    )
    listed = {
        (r["trial_id"], r["patient_id"]): (r["status"], r["criteria"])
        for r in csv.DictReader(io.StringIO((tmp_path / "patients.csv").read_text()))
    }
    assert len(listed) == 2 * 76
    for age in range(20, 96):
        # the first criterion failed is the first limit below the age: k = 100 - age
        assert listed["MANY", f"a{age}"] == (
            ("eligible", "") if age == 20 else ("not eligible", f"c{100 - age}")
        )
        assert listed["YOUNG", f"a{age}"] == (("eligible", "") if age <= 50 else ("not eligible", "y"))
    steps = report["trials"][0]["sites"][0]["waterfall"]
    assert len(steps) == n + 1
    # step k+1 (limit 99-k) removes exactly the patient aged 100-k once that age exists
    for k in range(n):
        limit = 99 - k
        assert steps[k + 1]["eligible"] == len([a for a in range(20, 96) if a <= limit])
        assert steps[k + 1]["failed"] == (1 if 20 <= limit + 1 <= 95 else 0)


def test_patient_list(tmp_path):
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    out = tmp_path / "report"
    run_feasibility(
        str(extract),
        [REPO / "tests/fixtures/trials/small.yaml"],
        out=out,
        patient_list=tmp_path / "patients.csv",
        active_within=None,
    )
    status = {
        r["patient_id"]: r for r in csv.DictReader(io.StringIO((tmp_path / "patients.csv").read_text()))
    }
    assert status["p0"]["status"] == "eligible"
    # p1, p2 have SLE but no ALT: potentially eligible, lacking the ALT test
    assert status["p1"]["status"] == "potentially eligible" and status["p1"]["criteria"] == "alt"
    assert status["p3"]["status"] == "not eligible" and status["p3"]["criteria"] == "sle"
    assert status["p5"]["status"] == "not eligible" and status["p5"]["criteria"] == "adult"
    assert not any(p.name == "patients.csv" for p in out.iterdir())


def test_patient_list_refused_inside_the_report(tmp_path):
    from click.testing import CliRunner

    from feasibility.cli import cli

    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(extract),
            "--out",
            str(tmp_path / "r"),
            "--patient-list",
            str(tmp_path / "r" / "list.csv"),
        ],
    )
    assert isinstance(result.exception, FeasibilityError)
    assert "must not be written inside the report folder" in str(result.exception)


def test_criteria_csv_and_order(tmp_path):
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    report = run_feasibility(
        str(extract),
        [REPO / "tests/fixtures/trials/small.yaml"],
        out=tmp_path / "r",
        min_cell=0,
        order="alt,sle",
        active_within=None,
    )
    assert report["trials"][0]["order"] == ["alt", "sle", "adult", "stroke", "consent"]
    table = list(csv.DictReader(io.StringIO((tmp_path / "r" / "criteria.csv").read_text())))
    alt = next(r for r in table if r["site_id"] == "ALL" and r["criterion_id"] == "alt")
    assert (alt["alone_true"], alt["alone_unknown"]) == ("2", "4")
    with pytest.raises(FeasibilityError, match="unknown criterion id"):
        run_feasibility(
            str(extract), [REPO / "tests/fixtures/trials/small.yaml"], out=tmp_path / "r2", order="nope"
        )
    # most restrictive, worked out by hand: ALT confirms 2 of the 6 (p0, p3), SLE then 1 of
    # those (p0); adult, stroke and consent then all keep p0, a tie kept in protocol order
    report = run_feasibility(
        str(extract),
        [REPO / "tests/fixtures/trials/small.yaml"],
        out=tmp_path / "r3",
        min_cell=0,
        order="most-restrictive",
        active_within=None,
    )
    assert report["trials"][0]["order"] == ["alt", "sle", "adult", "stroke", "consent"]
    steps = report["trials"][0]["sites"][0]["waterfall"]
    assert [(s["criterion_id"], s["eligible"]) for s in steps] == [
        ("base", 6),
        ("alt", 2),
        ("sle", 1),
        ("adult", 1),
        ("stroke", 1),
        ("consent", 1),
    ]


def test_computability_counts_the_protocol_criteria_not_the_in_care_step(tmp_path):
    # `check` and docs/trials.md count the trial file's criteria; the report must agree
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    report = run_feasibility(str(extract), [REPO / "tests/fixtures/trials/small.yaml"], out=tmp_path / "r")
    trial = report["trials"][0]
    assert trial["criteria"][0]["id"] == "in-care"
    assert trial["computability"] == {"total": 5, "assessable": 4, "not_assessable": 1}


def test_a_patient_dead_by_the_index_date_is_not_in_care(tmp_path):
    """The in-care step keeps a patient seen in the window only while alive: dead before or
    on the index date is FALSE, dead after it (a later record of death) TRUE; rows that
    disagree take the earliest date of death, and a row without one says nothing. Data
    quality counts the patients dead by their index date."""
    alive = {  # patient: (death dates on the person row and on the event, in care at 2025-01-31)
        "no_death": ((None, None), True),
        "died_before": (("2025-01-10", "2025-01-10"), False),
        "died_on_index": (("2025-01-31", "2025-01-31"), False),
        "died_after": (("2025-02-15", "2025-02-15"), True),
        "earliest_counts": (("2025-03-01", "2025-01-20"), False),
        "one_row_says": (("2025-01-20", None), False),
    }
    rows = []
    for pid, ((on_person, on_event), _) in alive.items():
        rows += person(pid, index_date="2025-01-31", death_date=on_person)
        seen = event(pid, "diagnosis", "ICD10CM", "M32.14", "2025-01-05")
        rows.append({**seen, "death_date": None if on_event is None else date.fromisoformat(on_event)})
    extract = write_extract(rows, tmp_path / "x.parquet")
    report = run_feasibility(
        str(extract), [REPO / "tests/fixtures/trials/small.yaml"], out=tmp_path / "r", min_cell=0
    )
    in_care = report["trials"][0]["sites"][0]["criteria"][0]
    assert in_care["criterion_id"] == "in-care"
    expected = [answer for _, answer in alive.values()]
    assert (in_care["alone"]["true"], in_care["alone"]["false"]) == (
        expected.count(True),
        expected.count(False),
    )
    assert report["data_quality"]["counts"]["patients_deceased_by_index"] == expected.count(False)


def test_report_schema_documents_every_field_a_run_writes(tmp_path):
    """docs/report-schema.md is what sites' tooling is written against: every top-level,
    protection and provenance field, data-quality count, run option, site field and CSV
    column a run writes must be named there."""
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    report = run_feasibility(
        str(extract),
        [REPO / "tests/fixtures/trials/small.yaml"],
        out=tmp_path / "r",
        check_duplicates=True,
    )
    documented = set(re.findall(r"[a-z_0-9]+", (REPO / "docs/report-schema.md").read_text()))
    site = report["trials"][0]["sites"][0]
    names = {
        *report,
        *report["protection"],
        *report["provenance"],
        *report["provenance"]["extract"],
        *report["provenance"]["index_date"],
        *report["provenance"]["trials"][0],
        *report["data_quality"]["counts"],
        *report["data_quality"],
        *report["provenance"]["options"],
        *site,
        *site["criteria"][0],
        *site["waterfall"][0],
    }
    for table in ("waterfall.csv", "criteria.csv"):
        names.update(next(csv.reader(io.StringIO((tmp_path / "r" / table).read_text()))))
    assert "duplicate_rows" in names
    assert sorted(names - documented) == []


def test_a_patient_at_two_sites_is_counted_once_at_the_first(tmp_path):
    # sites are numbered in sort order before the demographics pass: the patient's site is
    # the first in that order, and the two-site count sees the disagreement
    rows = [
        *[{**r, "site_id": "ZETA"} for r in person("p1")],
        {**event("p1", "diagnosis", "ICD10CM", "M32.14", "2024-01-01"), "site_id": "ALPHA"},
        *[{**r, "site_id": "MID"} for r in person("p2")],
        *[{**r, "site_id": "ZETA"} for r in person("p3")],
    ]
    report = run_feasibility(
        str(write_extract(rows, tmp_path / "x.parquet")),
        [REPO / "tests/fixtures/trials/small.yaml"],
        out=tmp_path / "r",
        min_cell=0,
        active_within=None,
    )
    bases = {s["site_id"]: s["base"] for s in report["trials"][0]["sites"]}
    assert bases == {"ALL": 3, "ALPHA": 1, "MID": 1, "ZETA": 1}
    assert report["data_quality"]["counts"]["patients_at_two_sites"] == 1


def test_a_future_latest_date_is_flagged_and_the_index_date_is_printed(tmp_path):
    """The default index date is the latest event date, so one mistyped year would move
    every window: the report says so, and the terminal always names the index date."""
    from rich.console import Console

    from feasibility.reports.terminal import print_report

    rows = small_trial_rows() + [
        event("p0", "lab", "LOINC", "1742-6", "2099-01-01", value_num=30, unit="U/L")
    ]
    extract = write_extract(rows, tmp_path / "x.parquet")
    trials = [REPO / "tests/fixtures/trials/small.yaml"]
    report = run_feasibility(str(extract), trials, out=tmp_path / "r1")
    (flag,) = [w for w in report["data_quality"]["warnings"] if "index date" in w]
    assert "2099-01-01" in flag and "dates are shifted" in flag and "--as-of" in flag
    out = io.StringIO()
    print_report(report, Console(file=out, width=120, color_system=None))
    first = out.getvalue().splitlines()[0]
    assert first.startswith("Index date") and "2099-01-01 (the latest event date" in first
    # a date given by the user is theirs: nothing to flag, and the terminal says where it came from
    from datetime import date

    given = run_feasibility(str(extract), trials, out=tmp_path / "r2", as_of=date(2025, 2, 1))
    assert not [w for w in given["data_quality"]["warnings"] if "is in the future" in w]
    # ... but one far from the extract's latest event is named, whichever is mistyped
    (drift,) = [w for w in given["data_quality"]["warnings"] if w.startswith("--as-of")]
    assert "--as-of 2025-02-01 is 74 years before the latest event date in the extract (2099-01-01)" in drift

    out = io.StringIO()
    print_report(given, Console(file=out, width=120, color_system=None))
    first = out.getvalue().splitlines()[0]
    assert first.startswith("Index date") and "2025-02-01 (--as-of)" in first


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (
            "2052-01-10",
            "--as-of 2052-01-10 is 27 years after the latest event date in the extract (2024-12-20)",
        ),
        (
            "2023-06-01",
            "--as-of 2023-06-01 is 19 months before the latest event date in the extract (2024-12-20)",
        ),
        ("2025-12-20", None),  # a year after: a question asked of the data, not a typo
        ("2023-12-20", None),
    ],
)
def test_an_as_of_far_from_the_data_is_flagged(tmp_path, as_of, expected):
    """A mistyped --as-of year (2052 for 2025) turns every count to zero without an error:
    the report says how far the date lies from the data."""
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    trials = [REPO / "tests/fixtures/trials/small.yaml"]
    report = run_feasibility(str(extract), trials, out=tmp_path / "r", as_of=date.fromisoformat(as_of))
    flagged = [w for w in report["data_quality"]["warnings"] if w.startswith("--as-of")]
    if expected is None:
        assert flagged == []
    else:
        (only,) = flagged
        assert only.startswith(expected) and only.endswith("check the date (a mistyped year?)")


def test_an_unknown_exclusion_leaves_a_patient_potentially_eligible(tmp_path):
    """Missing data is an answer: an exclusion nobody can decide (no haemoglobin measured)
    keeps the patient out of the confirmed count and in the potential one, and the patient
    list names it; a decided exclusion removes the patient from both."""
    trial = tmp_path / "t.yaml"
    trial.write_text(
        "id: T\ncriteria:\n"
        "  - {id: sle, kind: inclusion, text: SLE, rule: {diagnosis: sle}}\n"
        "  - {id: anaemia, kind: exclusion, text: Haemoglobin below 80 g/L,\n"
        "     rule: {lab: {concept: hemoglobin, below: 80, unit: g/L, within: 30 days}}}\n"
    )
    hb = {"value_num": 120, "unit": "g/L"}
    rows = []
    for pid, value in (("measured", 120), ("unmeasured", None), ("anaemic", 70)):
        rows += person(pid) + [event(pid, "diagnosis", "ICD10CM", "M32.14", "2024-01-01")]
        if value is not None:
            rows.append(event(pid, "lab", "LOINC", "718-7", "2025-01-20", **{**hb, "value_num": value}))
    extract = write_extract(rows, tmp_path / "x.parquet")
    report = run_feasibility(
        str(extract),
        [trial],
        out=tmp_path / "r",
        min_cell=0,
        active_within=None,
        patient_list=tmp_path / "patients.csv",
    )
    last = report["trials"][0]["sites"][0]["waterfall"][-1]
    assert (last["criterion_id"], last["passed"], last["failed"], last["unknown"]) == ("anaemia", 1, 1, 1)
    assert (last["eligible"], last["potentially_eligible"]) == (1, 2)
    status = {
        r["patient_id"]: r for r in csv.DictReader(io.StringIO((tmp_path / "patients.csv").read_text()))
    }
    assert status["measured"]["status"] == "eligible"
    assert (status["unmeasured"]["status"], status["unmeasured"]["criteria"]) == (
        "potentially eligible",
        "anaemia",
    )
    assert (status["anaemic"]["status"], status["anaemic"]["criteria"]) == ("not eligible", "anaemia")


def test_the_terminal_says_when_patients_carry_their_own_index_date(tmp_path):
    from rich.console import Console

    from feasibility.reports.terminal import print_report

    rows = person("a", index_date="2024-06-01") + [event("a", "diagnosis", "ICD10CM", "M32.14", "2024-01-01")]
    rows += person("b") + [event("b", "diagnosis", "ICD10CM", "M32.14", "2024-03-01")]
    extract = write_extract(rows, tmp_path / "x.parquet")
    report = run_feasibility(str(extract), [REPO / "tests/fixtures/trials/small.yaml"], out=tmp_path / "r")
    assert report["provenance"]["index_date"]["per_patient"] is True
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, color_system=None))
    first = out.getvalue().splitlines()[0]
    assert first == (
        "Index date: each patient's own, from the extract's index_date column; "
        "2024-03-01 (the latest event date in the extract; --as-of to change) for patients without one"
    )


def test_when_every_patient_has_an_index_date_the_default_is_not_spoken_of(tmp_path):
    # the default (the latest event, here a future one) applies to nobody: neither the
    # header nor a warning about it may suggest that any count depends on it
    from rich.console import Console

    from feasibility.reports.html import render_html
    from feasibility.reports.terminal import print_report

    rows = person("a", index_date="2024-06-01") + [event("a", "diagnosis", "ICD10CM", "M32.14", "2024-01-01")]
    rows += person("b", index_date="2024-05-01") + [event("b", "lab", "LOINC", "1742-6", "2201-01-01")]
    extract = write_extract(rows, tmp_path / "x.parquet")
    trial = REPO / "tests/fixtures/trials/small.yaml"
    report = run_feasibility(str(extract), [trial], out=tmp_path / "r", min_cell=0)
    assert report["provenance"]["index_date"]["patients_on_default"] == 0
    assert not [w for w in report["data_quality"]["warnings"] if "in the future" in w or "default" in w]
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, color_system=None))
    assert out.getvalue().splitlines()[1] == (
        "Index date: each patient's own, from the extract's index_date column (every patient has one)"
    )
    assert "index date each patient&#x27;s own ·" in render_html(report)
    # one patient without: the default is theirs, and its future date is flagged again
    rows += person("c") + [event("c", "diagnosis", "ICD10CM", "M32.14", "2024-02-01")]
    report = run_feasibility(
        str(write_extract(rows, tmp_path / "y.parquet")), [trial], out=tmp_path / "s", min_cell=0
    )
    assert report["provenance"]["index_date"]["patients_on_default"] == 1
    assert [w for w in report["data_quality"]["warnings"] if "2201-01-01" in w and "in the future" in w]
    assert "index date each patient&#x27;s own, else 2201-01-01 ·" in render_html(report)


def test_an_index_date_column_without_dates_is_no_per_patient_index(tmp_path):
    # an importer run without --index-date writes the column with no date in it: patients
    # then all count back from the one default date, and the report says so
    rows = small_trial_rows()
    extract = write_extract(rows, tmp_path / "x.parquet")
    assert "index_date" in pl.read_parquet(extract).columns
    assert pl.read_parquet(extract)["index_date"].null_count() == len(rows)
    report = run_feasibility(str(extract), [REPO / "tests/fixtures/trials/small.yaml"], out=tmp_path / "r")
    assert report["provenance"]["index_date"]["per_patient"] is False
    assert report["provenance"]["index_date"]["default"] == "2024-12-20"


def test_exact_impacts_keep_three_decimals(small_reports):
    report, _ = small_reports["exact"]
    views = report["trials"][0]["sites"][0]["criteria"]
    assert [v["impact"] for v in views] == [0.333, 1.833, 2.833, 0.0, 0.0]
    assert [v["impact_potential"] for v in views] == [0.5, 2.5, 0.0, 0.0, 0.0]


def test_the_extract_size_in_the_provenance_is_protected(small_reports):
    shared, _ = small_reports["shared"]  # 6 patients, 11 rows: both below K
    exact, _ = small_reports["exact"]
    assert (shared["provenance"]["extract"]["patients"], shared["provenance"]["extract"]["rows"]) == (
        None,
        None,
    )
    assert (exact["provenance"]["extract"]["patients"], exact["provenance"]["extract"]["rows"]) == (6, 11)


def test_unknown_units_are_listed_most_rows_first(tmp_path):
    """A site adds the commonest unit to the concept first."""
    rows = []
    for i, unit in enumerate(["furlong", "ukat/dl", "ukat/dl", "ukat/dl", "bogus", "bogus"]):
        rows += person(f"p{i}") + [
            event(f"p{i}", "lab", "LOINC", "1742-6", "2025-01-10", value_num=30, unit=unit)
        ]
    trial = REPO / "tests/fixtures/trials/small.yaml"
    report = run_feasibility(
        str(write_extract(rows, tmp_path / "x.parquet")), [trial], out=tmp_path / "r", min_cell=0
    )
    assert list(report["data_quality"]["unknown_units"]["alt"].items()) == [
        ("ukat/dl", 3),
        ("bogus", 2),
        ("furlong", 1),
    ]


def test_a_future_index_date_the_user_gave_is_not_flagged(tmp_path):
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    trial = REPO / "tests/fixtures/trials/small.yaml"
    report = run_feasibility(str(extract), [trial], out=tmp_path / "r", as_of=date(2099, 1, 1))
    # a future date may be the shifted dates' own; only its distance from the data is flagged
    assert not [w for w in report["data_quality"]["warnings"] if "is in the future" in w]
    assert [
        w for w in report["data_quality"]["warnings"] if w.startswith("--as-of 2099-01-01 is 74 years after")
    ]


def test_criteria_csv_cells_are_the_report_values(small_reports):
    report, folder = small_reports["exact"]
    table = list(csv.DictReader(io.StringIO((folder / "criteria.csv").read_text())))
    views = {
        (s["site_id"], v["criterion_id"]): v for s in report["trials"][0]["sites"] for v in s["criteria"]
    }
    for row in table:
        v = views[(row["site_id"], row["criterion_id"])]
        assert (row["loo_gain"], row["loo_gain_potential"]) == (
            str(v["loo_gain"]),
            str(v["loo_gain_potential"]),
        )
        assert (row["alone_true"], row["alone_false"], row["alone_unknown"]) == tuple(
            str(v["alone"][k]) for k in ("true", "false", "unknown")
        )
    sle = next(r for r in table if r["site_id"] == "ALL" and r["criterion_id"] == "sle")
    assert (sle["loo_gain"], sle["loo_gain_potential"]) == ("1", "2")


def test_csv_flags_read_true_and_false(small_reports):
    _, folder = small_reports["exact"]
    for name in ("waterfall.csv", "criteria.csv"):
        table = list(csv.DictReader(io.StringIO((folder / name).read_text())))
        assert {r["criterion_id"]: r["assessable"] for r in table}["consent"] == "false"
        assert {r["assessable"] for r in table} == {"true", "false"}


def test_an_exact_reports_csvs_say_on_every_row_not_to_share_them(small_reports):
    # report.json and report.html say it in their header; a CSV copied out of its folder,
    # or its rows pasted elsewhere, must still say it
    for kind, expected in (
        ("exact", "EXACT COUNTS (--min-cell 0): do not share"),
        ("shared", "shareable (--min-cell 11)"),
    ):
        report, folder = small_reports[kind]
        assert report["protection"]["shareable"] is (kind == "shared")
        for name in ("waterfall.csv", "criteria.csv"):
            header, *rows = list(csv.reader(io.StringIO((folder / name).read_text())))
            assert header[-1] == "sharing" and rows
            assert {row[-1] for row in rows} == {expected}, name
    # the columns before it keep their documented places
    _, folder = small_reports["exact"]
    header = next(csv.reader(io.StringIO((folder / "waterfall.csv").read_text())))
    assert header[:-1] == list(WATERFALL_COLUMNS)


def test_report_json_keeps_the_documented_key_order(small_reports):
    _, folder = small_reports["exact"]
    report = json.loads((folder / "report.json").read_text())
    assert list(report) == ["schema", "generated_at", "protection", "provenance", "data_quality", "trials"]


@pytest.mark.parametrize("how", ["replaced", "rewritten", "removed"])
def test_an_extract_changed_during_the_run_is_refused(tmp_path, how):
    # the passes read the file again and again: a report must never mix two versions of it
    small = REPO / "tests/fixtures/trials/small.yaml"
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    other = write_extract(small_trial_rows()[:-3], tmp_path / "other.parquet")

    def change_midway(message: str) -> None:
        if message.startswith("reading lab results"):
            if how == "replaced":  # a new file renamed onto the old one's name
                other.replace(extract)
            elif how == "rewritten":  # the same file written over in place
                extract.write_bytes(other.read_bytes())
            else:  # DuckDB holds what it needs: the passes may even run to the end
                extract.rename(tmp_path / "moved.parquet")

    said = "was removed or made unreadable" if how == "removed" else "changed while the run read it"
    with pytest.raises(FeasibilityError, match=f"the extract {said}") as caught:
        run_feasibility(str(extract), [small], out=tmp_path / "report", progress=change_midway)
    assert caught.value.where == str(extract)
    assert not (tmp_path / "report").exists()
    # left alone, the same extract runs
    if how == "removed":
        (tmp_path / "moved.parquet").rename(extract)
    run_feasibility(str(extract), [small], out=tmp_path / "report", progress=lambda message: None)
    assert (tmp_path / "report" / "report.json").is_file()


def test_concept_files_of_the_same_name_in_two_folders_are_told_apart(tmp_path):
    # the shipped library and a trials folder's own concepts/ may both hold labs.yaml
    trials = tmp_path / "site_trials"
    (trials / "concepts").mkdir(parents=True)
    shutil.copy(REPO / "tests/fixtures/trials/small.yaml", trials / "small.yaml")
    shutil.copy(REPO / "tests/fixtures/trials/concepts/spec_concepts.yaml", trials / "concepts" / "labs.yaml")
    extract = write_extract(small_trial_rows(), tmp_path / "x.parquet")
    report = run_feasibility(str(extract), [trials / "small.yaml"], out=tmp_path / "report")
    files = report["provenance"]["concept_files"]
    assert "trials/concepts/labs.yaml" in files and "site_trials/concepts/labs.yaml" in files
    assert len(set(files)) == len(files)


def test_the_terminal_ranks_many_sites_by_their_potentially_eligible_patients(tmp_path):
    from feasibility.reports.terminal import print_report, report_console

    trial = [REPO / "tests/fixtures/trials/small.yaml"]

    def printed(rows: list[dict], name: str) -> str:
        report = run_feasibility(
            str(write_extract(rows, tmp_path / f"{name}.parquet")), trial, out=tmp_path / name, min_cell=0
        )
        out = io.StringIO()
        print_report(report, report_console(out, width=120, color_system=None))
        return out.getvalue()

    lines = printed(ten_site_rows(), "ten").splitlines()
    title = lines.index("  per site: 10 sites, most potentially eligible first")
    listed = [
        re.fullmatch(r" +(S\d): 0 eligible, (\d+) potentially", line).groups()
        for line in lines[title + 1 : title + 11]
    ]
    assert listed == [(f"S{j}", str(j + 1)) for j in reversed(range(10))]
    # three sites keep their order and the short label
    few = small_trial_rows()
    for r in few:
        r["site_id"] = "ABC"[int(r["patient_id"][1:]) % 3]
    assert re.search(r"per site — A: .*\n +B: .*\n +C: ", printed(few, "three"))


def test_sites_are_listed_with_their_numbers_in_numeric_order(tmp_path):
    # text order would put SITE-10 before SITE-9 and S10 before S2: every file lists the
    # sites as a reader counts them
    rows = small_trial_rows()
    names = ["SITE-10", "SITE-9", "S2", "S10", "SITE-B", "SITE-A"]
    for r in rows:
        r["site_id"] = names[int(r["patient_id"][1:]) % len(names)]
    trial = [REPO / "tests/fixtures/trials/small.yaml"]
    out = tmp_path / "report"
    report = run_feasibility(str(write_extract(rows, tmp_path / "x.parquet")), trial, out=out, min_cell=0)
    expected = ["S2", "S10", "SITE-9", "SITE-10", "SITE-A", "SITE-B"]
    assert [s["site_id"] for s in report["trials"][0]["sites"]] == ["ALL", *expected]
    with (out / "waterfall.csv").open() as f:
        in_csv = list(dict.fromkeys(r["site_id"] for r in csv.DictReader(f)))
    assert in_csv == ["ALL", *expected]


@pytest.mark.parametrize(
    ("ids", "ordered"),
    [
        (["SITE-10", "SITE-9", "SITE-100"], ["SITE-9", "SITE-10", "SITE-100"]),
        (["10", "9", "1"], ["1", "9", "10"]),
        # ids written alike still come in one order, whatever the input order
        (["S01", "S1", "S001"], ["S001", "S01", "S1"]),
        (["S1", "S001", "S01"], ["S001", "S01", "S1"]),
        (["b2", "a10", "a9", "B1"], ["B1", "a9", "a10", "b2"]),
        (["2024-B", "2024-A", "999-Z"], ["999-Z", "2024-A", "2024-B"]),
    ],
)
def test_site_order_reads_runs_of_digits_as_numbers(ids, ordered):
    from feasibility.extract.contract import site_order

    assert sorted(ids, key=site_order) == ordered


def test_trial_picks_trials_by_id_each_counted_as_among_all(tmp_path):
    extract = str(REPO / "sample_data/extract.parquet")
    every = run_feasibility(extract, [], out=tmp_path / "all")
    # named in the other order: the report keeps the files' order
    picked = run_feasibility(extract, [], trial_ids=("NCT06886919", "CQPB-CD19-AID"), out=tmp_path / "two")
    ids = [t["id"] for t in every["trials"]]
    assert [t["id"] for t in picked["trials"]] == [i for i in ids if i in ("NCT06886919", "CQPB-CD19-AID")]
    by_id = {t["id"]: t for t in every["trials"]}
    for trial in picked["trials"]:
        # the same waterfall, criteria and views as when every trial ran in the same pass
        assert trial == by_id[trial["id"]]
    assert json.loads((tmp_path / "two" / "report.json").read_text())["trials"] == picked["trials"]


def test_an_unknown_trial_id_is_refused_before_anything_is_written(tmp_path):
    from tests.test_errors import assert_one_line_error, feasibility

    extract = str(REPO / "sample_data/extract.parquet")
    out = tmp_path / "report"
    proc = feasibility("run", extract, "--trial", "NCT0671114", "--out", str(out), cwd=tmp_path)
    assert_one_line_error(proc, "--trial", "no trial with id `NCT0671114`", "did you mean `NCT06711146`?")
    assert not out.exists()

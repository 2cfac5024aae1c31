"""Monthly incidence and the still-in-care step, on hand-built patients who become
eligible at known dates. Each patient sits at their own site, so the per-site counts read
as the months that patient is newly eligible in.

The index date is 2025-06-30 and six months of incidence are counted; month end j is the
index date minus j months: 06-30, 05-30, 04-30, 03-30, 02-28, 01-30 and 2024-12-30 (j = 6,
the start), and the year before it is read too (to 2024-01-30, j = 17): a patient is newly
eligible at a month end when eligible there and at none of the 12 before it.
"""

from __future__ import annotations

import io
import json
import tempfile
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from feasibility.analytics.incidence import NEW_AFTER_MONTHS, new_months, site_incidence, trial_incidence
from feasibility.criteria.in_care import IN_CARE_ID, with_in_care_step
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import Duration
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.reports.enrollment import ForecastSettings
from feasibility.reports.terminal import print_report
from feasibility.run import run_feasibility
from tests.support import REPO, event, person, write_extract
from tests.test_errors import assert_one_line_error, feasibility

TRIAL = REPO / "tests/fixtures/trials/monthly/monthly.yaml"
AS_OF = date(2025, 6, 30)
MONTHS = 6


def sle(pid, day="2015-01-01"):
    return event(pid, "diagnosis", "ICD10CM", "M32.14", day)


def hb(pid, day, value):
    return event(pid, "lab", "LOINC", "718-7", day, value_num=value, unit="g/L")


def normal_hb(pid):
    # a normal result never more than 90 days before any month end
    return [hb(pid, d, 120) for d in ("2024-10-15", "2025-01-15", "2025-04-15")]


def patient(pid, *rows, **demographics):
    """A person row and the given event rows, all carrying the patient's demographics (the
    event rows are built before the person row, so they are given them here)."""
    head = person(pid, site_id=pid, **demographics)
    shared = {k: head[0][k] for k in ("sex", "birth_year", "birth_date", "index_date") if k in head[0]}
    return head + [{**r, **shared, "site_id": pid} for r in rows]


# patient: (rows, expected (first month eligible, first month potentially eligible)): the
# month (j) at which each is newly so; 6 is eligible at the start, None never
CASES = {
    "always": (patient("always", sle("always"), *normal_hb("always")), (6, 6)),
    # the diagnosis is first recorded on 2025-02-10: eligible from the 02-28 month end
    "dx_appears": (patient("dx_appears", sle("dx_appears", "2025-02-10"), *normal_hb("dx_appears")), (4, 4)),
    # a record dated on a month end counts at that month end, and one on the index date at it
    "dx_on_month_end": (
        patient("dx_on_month_end", sle("dx_on_month_end", "2025-02-28"), *normal_hb("dx_on_month_end")),
        (4, 4),
    ),
    "dx_on_index": (
        patient("dx_on_index", sle("dx_on_index", "2025-06-30"), *normal_hb("dx_on_index")),
        (0, 0),
    ),
    # haemoglobin 50 g/L from 2024-10-15 until a normal result on 2025-04-10: eligible from
    # 04-30; potentially eligible before the first result too (2024-09-30 and earlier), so
    # within a year of 04-30 and not newly potentially eligible then
    "lab_normalises": (
        patient(
            "lab_normalises",
            sle("lab_normalises"),
            hb("lab_normalises", "2024-10-15", 50),
            hb("lab_normalises", "2025-01-15", 50),
            hb("lab_normalises", "2025-04-10", 90),
        ),
        (2, None),
    ),
    # no haemoglobin until 2025-05-20: potentially eligible throughout, confirmed from 05-30
    "lab_done_late": (
        patient("lab_done_late", sle("lab_done_late"), hb("lab_done_late", "2025-05-20", 120)),
        (1, 6),
    ),
    # born 2007-03-15: 18 on 2025-03-15, so adult at the 03-30 month end, not at 02-28
    "ages_in": (
        patient("ages_in", sle("ages_in"), *normal_hb("ages_in"), birth_year=2007, birth_date="2007-03-15"),
        (3, 3),
    ),
    # birth year 2007 only: 17 or 18 during 2025 (undecided), 16 or 17 at 2024-12-30
    "ages_in_year_only": (
        patient(
            "ages_in_year_only", sle("ages_in_year_only"), *normal_hb("ages_in_year_only"), birth_year=2007
        ),
        (None, 5),
    ),
    # SLE never recorded
    "never": (patient("never", *normal_hb("never")), (None, None)),
    # eligible at the start, lapses at 02-28 and 03-30 (no haemoglobin within 90 days) and
    # returns at 04-30: within a year of being eligible, so not newly eligible again
    "lapses_and_returns": (
        patient(
            "lapses_and_returns",
            sle("lapses_and_returns"),
            hb("lapses_and_returns", "2024-11-15", 120),
            hb("lapses_and_returns", "2025-04-15", 120),
        ),
        (6, 6),
    ),
    # eligible at 2024-01-30 and 02-29 (j = 17, 16), then not until 05-30: more than a year
    # without, so newly eligible again at j = 1
    "returns_after_a_year": (
        patient(
            "returns_after_a_year",
            sle("returns_after_a_year"),
            hb("returns_after_a_year", "2023-12-15", 120),
            hb("returns_after_a_year", "2025-05-20", 120),
        ),
        (1, 6),
    ),
}


def _new_at(incidence, new: tuple[int, ...], at_start: int) -> int | None:
    """The one month a single patient is newly counted at (the start: MONTHS), or None."""
    months = [j for j, n in zip(incidence.months_back, new, strict=True) for _ in range(n)]
    months += [MONTHS] * at_start
    assert len(months) <= 1
    return months[0] if months else None


@pytest.fixture(scope="module")
def status():
    trials, library = load_trials([TRIAL])
    rows = [r for case_rows, _ in CASES.values() for r in case_rows]
    options = RunOptions(as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "x.parquet")
        engine = Engine(connect(options), trials, library, options)
        result = engine.evaluate(str(extract))
        return engine.monthly(result, MONTHS)


@pytest.mark.parametrize("pid", list(CASES))
def test_month_newly_eligible(status, pid):
    inc = site_incidence(pid, MONTHS, status.counts["MONTHLY"][pid])
    got = (
        _new_at(inc, inc.new_eligible, inc.eligible_at_start),
        _new_at(inc, inc.new_potential, inc.potential_at_start),
    )
    assert got == CASES[pid][1]


def test_a_patient_is_new_after_a_year_without():
    # month ends ascending, 0 the index date; six months counted (j = 0 .. 5), 6 opens them
    assert new_months((0, 12), 6) == []  # eligible 12 month ends before: within the year
    assert new_months((0, 13), 6) == [0]  # 13 before: a year without, new again
    assert new_months((2, 3, 4), 6) == [4]  # eligible from month 4 on: new there only
    assert new_months((1, 5, 6), 6) == []  # eligible at the start: the pool, not incidence
    assert new_months((7,), 6) == []  # before the period
    assert new_months((), 6) == []


def test_the_year_before_the_period_is_read(status):
    # eligible at 2024-01-30 and 02-29, 17 and 16 months back: only the look-back reads them
    assert dict(status.counts["MONTHLY"]["returns_after_a_year"]) == {
        ((0, 1, 16, 17), tuple(range(MONTHS + NEW_AFTER_MONTHS))): 1
    }


def test_incidence_per_month(status):
    everyone = trial_incidence(MONTHS, status.counts["MONTHLY"])[0]
    assert everyone.site == "ALL"
    assert everyone.months_back == (5, 4, 3, 2, 1, 0)
    # eligible: dx_appears and dx_on_month_end in month 4, ages_in in 3, lab_normalises in 2,
    # lab_done_late and returns_after_a_year in 1, dx_on_index in 0
    assert everyone.new_eligible == (0, 2, 1, 1, 2, 1)
    assert everyone.eligible_at_start == 2  # always, lapses_and_returns
    # potentially: ages_in_year_only in month 5; the others as eligible but lab_normalises
    # (potentially eligible before its first result); lab_done_late, lapses_and_returns and
    # returns_after_a_year from the start
    assert everyone.new_potential == (1, 2, 1, 0, 0, 1)
    assert everyone.potential_at_start == 4


def test_a_month_counts_the_same_whatever_the_period():
    """A month's newly eligible patients do not depend on how many months the report
    covers: the look-back before each month is the same year. (Counting a patient's first
    month within the period instead would count lapses_and_returns as new at month 2 in a
    three-month period.)"""
    trials, library = load_trials([TRIAL])
    rows = [r for case_rows, _ in CASES.values() for r in case_rows]
    options = RunOptions(as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "x.parquet")
        engine = Engine(connect(options), trials, library, options)
        result = engine.evaluate(str(extract))
        short, long = (
            trial_incidence(m, engine.monthly(result, m).counts["MONTHLY"])[0] for m in (3, MONTHS)
        )
    assert short.months_back == long.months_back[-3:]
    assert short.new_eligible == long.new_eligible[-3:]
    assert short.new_potential == long.new_potential[-3:]
    assert short.new_eligible == (1, 2, 1)


def test_patient_index_dates_shift_the_month_ends():
    """With an index_date column, each patient's month ends follow their own index date."""
    trials, library = load_trials([TRIAL])
    rows = patient(
        "shifted",
        sle("shifted", "2022-11-15"),
        hb("shifted", "2022-12-01", 120),
        index_date="2023-01-31",
    ) + patient("plain", sle("plain", "2025-05-01"), hb("plain", "2025-05-02", 120), index_date="2025-06-30")
    options = RunOptions()
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "x.parquet")
        engine = Engine(connect(options), trials, library, options)
        counts = engine.monthly(engine.evaluate(str(extract)), MONTHS).counts["MONTHLY"]
    # 2023-01-31 minus 1 month is 2022-12-31 (eligible), minus 2 is 2022-11-30 (no hb yet,
    # potentially), minus 3 is 2022-10-31 (no SLE yet)
    assert dict(counts["shifted"]) == {((0, 1), (0, 1, 2)): 1}
    assert dict(counts["plain"]) == {((0, 1), (0, 1)): 1}


def test_in_care_step():
    trials, library = load_trials([TRIAL])
    trial = with_in_care_step(trials[0], Duration(24, "month"))
    assert trial.criteria[0].id == IN_CARE_ID
    rows = (
        patient("recent", event("recent", "diagnosis", "ICD10CM", "J45.0", "2024-01-01"))
        + patient("lapsed", sle("lapsed", "2023-06-29"))  # one day before the window
        + patient("edge", event("edge", "lab", "LOINC", "9999-9", "2023-06-30"))  # first day of it
        + patient("on_index", event("on_index", "lab", "LOINC", "9999-9", "2025-06-30"))  # its last day
        + patient("future_only", sle("future_only", "2025-07-01"))  # after the index date
        + patient("no_dates")
    )
    options = RunOptions(as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "x.parquet")
        engine = Engine(connect(options), [trial], library, options)
        engine.evaluate(str(extract))
        values = {pid: v[IN_CARE_ID] for pid, v in engine.rule_values(trial).items()}
    assert values == {
        "recent": True,
        "lapsed": False,
        "edge": True,
        "on_index": True,
        "future_only": False,
        "no_dates": False,
    }


def test_run_publishes_protected_monthly_counts_and_a_forecast(tmp_path):
    sample = REPO / "sample_data/extract.parquet"
    proc = feasibility(
        "run",
        str(sample),
        "--out",
        str(tmp_path / "r"),
        "--monthly",
        "12",
        "--target",
        "30",
        "-q",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["provenance"]["options"]["monthly"] == 12
    for trial in report["trials"]:
        assert trial["sites"][0]["waterfall"][1]["criterion_id"] == IN_CARE_ID
        enrollment = trial["enrollment"]
        for inc in enrollment["incidence"]:
            assert len(inc["new_eligible"]) == 12
            for n in inc["new_eligible"] + inc["new_potentially_eligible"]:
                assert n is None or (n == 0 or (n >= 11 and n % 5 == 0))  # min-cell 11, rounded to 5
        forecast = enrollment["forecast"]
        assert forecast["time_to_target"]["target"] == 30
        for site in forecast["sites"]:
            n = site["eligible_observed"]
            assert n is None or n == 0 or (n >= 11 and n % 5 == 0)
        # a plausible forecast for every seed trial: recruiting, and 30 patients within the horizon
        assert forecast["total_rate_mean"] > 0
        t = forecast["time_to_target"]
        assert t["status"] == "within_horizon" and 0 < t["low95"] <= t["median"] <= t["high95"]
    # the terminal's half-period rates: a total left unknown by a suppressed month reads
    # `withheld` (it may be large), never as a small count
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, color_system=None))
    lines = out.getvalue().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("  newly potentially eligible per month")]
    shown = []
    for start in starts:
        for line in lines[start + 1 :]:
            if line.startswith("└"):
                break
            cells = [c.strip() for c in line.split("│")[1:-1]]
            if cells and cells[0] and not cells[0].startswith("site"):
                shown.append(cells[:3])

    def rate(total, months):
        return "withheld" if total is None else f"{total / months:.1f}"

    expected = [
        [
            inc["site_id"],
            rate(inc["trend_potentially_eligible"]["first_half_total"], 6),
            rate(inc["trend_potentially_eligible"]["second_half_total"], 6),
        ]
        for trial in report["trials"]
        for inc in trial["enrollment"]["incidence"]
    ]
    assert shown == expected
    assert any("withheld" in row for row in shown)


def test_one_month_has_no_first_half(tmp_path):
    # --monthly 1: the first half holds no month, so it has no rate (it printed 0.0)
    report = run_feasibility(str(REPO / "sample_data/extract.parquet"), [], out=tmp_path / "r", monthly=1)
    out = io.StringIO()
    print_report(report, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "per month over 1 month; expected enrollment" in text
    rows = [line.split("│")[1:-1] for line in text.splitlines() if line.startswith("│ SITE-A")]
    assert rows and all(cells[1].strip() == "—" for cells in rows)
    html = (tmp_path / "r" / "report.html").read_text()
    assert "incidence over 1 month)" in html and "patients over the 1 month." in html


def test_the_forecast_terms_are_said_once_under_every_trial(tmp_path):
    # the conversions each site's expected enrollment used, and the caution of a short period,
    # are the same for every trial: said once in the terminal, and in each trial's HTML note
    conversions = tmp_path / "conversion.yaml"
    conversions.write_text("SITE-B: 0.45\n")
    report = run_feasibility(
        str(REPO / "sample_data/extract.parquet"),
        [],
        out=tmp_path / "r",
        monthly=6,
        forecast=ForecastSettings(
            conversion=0.3, conversion_by_site={"SITE-B": 0.45}, conversion_file=conversions
        ),
    )
    out = io.StringIO()
    print_report(report, Console(file=out, width=300, color_system=None))
    text = out.getvalue()
    terms = "conversion (the share of potentially eligible patients who enroll): SITE-A 0.3, SITE-B 0.45, SITE-C 0.3"
    assert text.count(terms) == 1
    assert text.count("fitted on 6 months of incidence, less than a year") == 1
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count("Fitted on 6 months of incidence, less than a year") == len(report["trials"])


def test_a_trials_own_caution_is_said_under_that_trial(tmp_path):
    # sites at the stand-in for a suppressed total: a caution of one trial's counts, said
    # under that trial each time, not among the terms every trial shares
    report = run_feasibility(str(REPO / "sample_data/extract.parquet"), [], out=tmp_path / "r", monthly=3)
    out = io.StringIO()
    print_report(report, Console(file=out, width=300, color_system=None))
    text = out.getvalue()
    own = [c for t in report["trials"] for c in t["enrollment"]["forecast"]["cautions"] if "stand-in" in c]
    assert own, "the sample's small sites have suppressed totals over 3 months"
    assert any("stand-in" not in " ".join(t["enrollment"]["forecast"]["cautions"]) for t in report["trials"])
    for caution in set(own):
        assert text.count(f"model: {caution}") == own.count(caution)
    terms = text[text.index("Forecast: conversion") :]
    assert "stand-in" not in terms and "fitted on 3 months of incidence" in terms

    # a year of incidence and one conversion for all: one share, no caution
    report = run_feasibility(str(REPO / "sample_data/extract.parquet"), [], out=tmp_path / "y", monthly=12)
    out = io.StringIO()
    print_report(report, Console(file=out, width=300, color_system=None))
    text = out.getvalue()
    assert "who enroll): 0.3 at every site" in text
    assert "less than a year" not in text
    assert all(t["enrollment"]["forecast"]["cautions"] == [] for t in report["trials"])


def test_a_forecast_option_without_monthly_names_itself_once(tmp_path):
    sample = REPO / "sample_data/extract.parquet"
    proc = feasibility("run", str(sample), "--out", str(tmp_path / "r"), "--target", "10", cwd=tmp_path)
    line = assert_one_line_error(proc)
    assert line == (
        "error: --target: is used by the enrollment forecast, which only --monthly makes — "
        "fix: add --monthly MONTHS (e.g. --monthly 24)"
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--target", "10"), ("--target", "--monthly")),
        (("--conversion", "0.5"), ("--conversion", "--monthly")),
        (
            ("--active-within", "soon"),
            ("--active-within", "cannot read the window", "`none` to turn the check off"),
        ),
        (
            ("--active-within", "0 days"),
            ("--active-within", "the window `0 days` is empty: it must be at least one day"),
        ),
        (("--monthly", "6", "--conversion-file", "missing.yaml"), ("missing.yaml",)),
        (("--engine", "spark", "--monthly", "3"), ("--monthly", "DuckDB engine only")),
    ],
)
def test_enrollment_options_errors(tmp_path, args, fragments):
    sample = REPO / "sample_data/extract.parquet"
    proc = feasibility("run", str(sample), "--out", str(tmp_path / "r"), *args, cwd=tmp_path)
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "r").exists()

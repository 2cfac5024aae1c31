"""Small-cell protection: no count of 1..K-1 is shown, or recoverable by differencing."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from feasibility.criteria.load import load_trials
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.evaluate.results import MonthlyStatus
from feasibility.protect import Protection
from feasibility.reports.breakdown import _get
from feasibility.reports.build import build_report
from feasibility.reports.enrollment import ForecastSettings, enrollment_block
from tests.support import REPO, event, person, write_extract

K = 11
SHOWN_FROM = 13  # 11 and 12 round to 10, which a count of 8 could too
DERIVED = {"failed", "false", "loo_gain", "loo_gain_potential"}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    rng = random.Random(7)
    rows = []
    # three sites of very different size, so many cells are small
    for site, n in (("S1", 7), ("S2", 26), ("S3", 83)):
        for i in range(n):
            pid = f"{site}-{i}"
            rows += person(pid, sex="F", birth_year=rng.randint(1940, 2010), site_id=site)
            if rng.random() < 0.8:
                rows.append(event(pid, "diagnosis", "ICD10CM", "M32.14", "2023-01-01"))
            if rng.random() < 0.85:
                rows.append(
                    event(
                        pid,
                        "lab",
                        "LOINC",
                        "1742-6",
                        "2025-01-20",
                        value_num=rng.uniform(5, 200),
                        unit="U/L",
                        ref_high=40,
                    )
                )
            if rng.random() < 0.1:
                rows.append(event(pid, "diagnosis", "ICD10CM", "I63.9", "2024-12-01"))
    extract = write_extract(rows, tmp_path_factory.mktemp("protect") / "x.parquet")
    trials, library = load_trials([REPO / "tests/fixtures/trials/small.yaml"])
    options = RunOptions()
    engine = Engine(connect(options), trials, library, options)
    return engine.evaluate(str(extract))


def leaves(published, exact, path=()):
    """Parallel walk of the protected and exact reports: (path, published, exact)."""
    if isinstance(exact, dict):
        for key in exact:
            yield from leaves(published[key], exact[key], (*path, key))
    elif isinstance(exact, list):
        for i, (p, e) in enumerate(zip(published, exact, strict=True)):
            yield from leaves(p, e, (*path, i))
    elif (
        isinstance(exact, int | float) and not isinstance(exact, bool) and "computability" not in path
    ):  # computability counts criteria, not patients
        yield path, published, exact


def numbers(report_p, report_e):
    out = []
    for section in ("trials", "data_quality"):
        for path, p, e in leaves(report_p[section], report_e[section]):
            key = next((k for k in reversed(path) if isinstance(k, str)), "")
            if key in ("step",):
                continue
            out.append((path, key, p, e))
    return out


def candidates(value, derived: bool) -> tuple[float, float]:
    """What an attacker who knows the policy can infer about the exact value."""
    if value is None:
        return 1, SHOWN_FROM - 1
    if value == 0:
        return 0, 0  # a derived 0 too is shown only for an exact 0
    return (max(0, value - 8), value + 8) if derived else (max(SHOWN_FROM, value - 2), value + 2)


def test_no_small_count_is_published(result):
    protected = build_report(result, protect=Protection(K))
    exact = build_report(result, protect=Protection(0))
    nums = numbers(protected, exact)
    assert len(nums) > 200
    hidden_zeros = 0
    for path, key, p, e in nums:
        assert p is None or p == 0 or p >= K, (path, p)
        if e == 0 and p is None:
            # a site's 0 is suppressed only where its ALL count is (breakdown.py)
            assert path[1] == "sites" and path[2] > 0, path
            assert _get(protected["trials"], (*path[:2], 0, *path[3:])) is None, path
            hidden_zeros += 1
            continue
        if key in DERIVED:
            # published numbers that cancel must not show a small count as 0
            assert (p == 0) == (e == 0), (path, p, e)
            continue
        if key.startswith("impact"):
            continue
        if e == 0:
            assert p == 0, path
        elif e < SHOWN_FROM:
            assert p is None, path
        else:
            assert p % 5 == 0 and abs(p - e) <= 2, (path, p, e)  # the nearest multiple of 5
    assert hidden_zeros > 0  # the fixture has small sites under suppressed totals


def test_no_small_count_is_recoverable_by_differencing(result):
    protected = build_report(result, protect=Protection(K))
    exact = build_report(result, protect=Protection(0))
    for t_p, t_e in zip(protected["trials"], exact["trials"], strict=True):
        nums = [
            (path, path[-1], p, e)
            for path, p, e in leaves(t_p, t_e)
            if path[-1] != "step" and not str(path[-1]).startswith("impact")
        ]
        checked = 0
        for (pa, ka, a, ea), (pb, kb, b, eb) in itertools.permutations(nums, 2):
            if not 1 <= ea - eb <= K - 1:
                continue
            lo_a, hi_a = candidates(a, ka in DERIVED)
            lo_b, hi_b = candidates(b, kb in DERIVED)
            # the exact difference is pinned only if a single value fits both
            assert (hi_a - lo_b) - (lo_a - hi_b) >= 1, (pa, pb)
            checked += 1
        assert checked > 100


def test_exact_reports_say_they_must_not_be_shared(result):
    exact = build_report(result, protect=Protection(0))
    assert exact["protection"]["shareable"] is False
    assert "must not be shared" in exact["protection"]["policy"]
    protected = build_report(result, protect=Protection(K))
    assert protected["protection"]["shareable"] is True
    assert "suppressed" in protected["protection"]["policy"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, 0), (1, None), (10, None), (11, None), (12, None), (13, 15), (17, 15), (18, 20), (102, 100)],
)
def test_count_policy(value, shown):
    assert Protection(11).count(value) == shown


def test_reports_made_with_other_thresholds_reveal_no_more_than_the_lowest():
    # With a threshold on the count itself, the largest K at which a count is still shown
    # would be the count. Shown or not, and as what, depends on the rounded value only: a
    # count is never shown as another value at another K, and every count sharing its
    # rounded value is shown or suppressed with it.
    for value in range(0, 60):
        shown = [Protection(k).count(value) for k in range(1, 40)]
        assert len({s for s in shown if s is not None}) <= 1, value
        twins = [v for v in range(60) if Protection(1).count(v) == Protection(1).count(value)]
        for k in range(1, 40):
            assert len({Protection(k).count(v) is None for v in twins}) == 1, (value, k)
            # and nothing below K is ever shown
            assert value >= k or Protection(k).count(value) in (None, 0), (value, k)


@pytest.mark.parametrize(
    ("min_cell", "shown_from"), [(1, 1), (2, 8), (8, 8), (9, 13), (11, 13), (13, 13), (14, 18)]
)
def test_the_smallest_count_shown(min_cell, shown_from):
    p = Protection(min_cell)
    assert p.shown_from() == shown_from
    assert p.count(shown_from) is not None and (shown_from == 1 or p.count(shown_from - 1) is None)
    assert p.show(None) == f"<{shown_from}"


def test_differences_come_from_published_values():
    p = Protection(11)
    assert p.difference(100, 85, exact=17) == 15
    assert p.difference(100, 95, exact=3) is None  # 5 would be a small count
    assert p.difference(100, None, exact=90) is None
    # published numbers that cancel (or cross) hide a small count: not shown as 0
    assert p.difference(100, 100, exact=3) is None
    assert p.difference(20, 25, exact=1) is None
    assert p.difference(100, 100, exact=0) == 0  # a true 0 is shown, like a primary 0
    assert Protection(0).difference(98, 95, exact=3) == 3


def test_models_see_published_counts():
    p = Protection(11)
    # a suppressed count (1 to 12) is taken as the middle of them
    assert [p.for_models(v) for v in (0, 1, 10, 11, 13, 18)] == [0, 6, 6, 6, 15, 20]
    assert Protection(2).for_models(1) == 4  # 1 to 7 are suppressed
    assert Protection(0).for_models(7) == 7


@pytest.mark.parametrize(
    ("min_cell", "says"),
    [
        (
            11,
            "counts from 1 to 12 are suppressed (shown as <13: they round to a value that a count "
            "below 11 could have); other counts are rounded to a multiple of 5",
        ),
        (2, "counts from 1 to 7 are suppressed (shown as <8"),
        (1, "no count is suppressed (--min-cell 1); counts are rounded to a multiple of 5"),
    ],
)
def test_policy_text_says_what_the_counts_went_through(min_cell, says):
    # the text is printed on every shared report: "from 1 to 0" would be nonsense
    policy = Protection(min_cell).describe()["policy"]
    assert policy.startswith(says)
    assert Protection(1).count(1) == 5 and Protection(1).count(0) == 0
    # a zero is suppressed beside a suppressed ALL count only, which --min-cell 1 never has
    assert ("a 0 is suppressed too" in policy) == (min_cell > 1)
    # a weaker protection than the default is said to be so on the report it protects
    assert ("weaker than the default --min-cell 11" in policy) == (min_cell < 11)


def _monthly_status(trial_id: str, new_per_site: dict[str, list[int]]) -> MonthlyStatus:
    """Patients newly potentially eligible per site and month (oldest month first), as the
    monthly evaluation counts them; one eligible-at-start patient per site."""
    months = len(next(iter(new_per_site.values())))
    counts: dict[str, Counter] = {}
    for site, per_month in new_per_site.items():
        c: Counter = Counter({((months,), (months,)): 1})
        for i, n in enumerate(per_month):
            back = months - 1 - i
            if n:
                c[((), (back,))] += n
        counts[site] = c
    return MonthlyStatus(months, {trial_id: counts})


def test_the_forecast_reveals_no_more_than_the_published_counts():
    # Its posterior shapes are prior shape + the count fitted, so fitted to exact counts it
    # would give back every suppressed site total. Two networks whose site totals differ only
    # below K (3 against 9 new patients) must publish the same forecast.
    trials, _ = load_trials([REPO / "tests/fixtures/trials/small.yaml"])
    trial = trials[0]
    shares = ForecastSettings().site_shares(["A", "B", "C"])
    blocks = [
        enrollment_block(
            trial,
            _monthly_status(trial.id, {"A": [a, 0, 0, 0, 0, 1], "B": [0, 2, 0, 0, 0, 0], "C": [9] * 6}),
            shares,
            20,
            Protection(K),
            None,
        )["forecast"]
        for a in (2, 8)
    ]
    assert blocks[0] == blocks[1]
    fc = blocks[0]
    shape = {s["site"]: s["eligible_rate"]["shape"] for s in fc["sites"]}
    prior = fc["prior"]["shape"]
    # suppressed totals enter as the middle of the suppressed counts (6), the published 54 as 55
    assert [round(shape[s] - prior) for s in "ABC"] == [6, 6, 55]  # shapes have 4 digits
    assert [s["eligible_observed"] for s in fc["sites"]] == [None, None, 55]
    exact = enrollment_block(
        trial,
        _monthly_status(trial.id, {"A": [2, 0, 0, 0, 0, 1], "B": [0, 2, 0, 0, 0, 0], "C": [9] * 6}),
        shares,
        20,
        Protection(0),
        None,
    )["forecast"]
    assert [round(s["eligible_rate"]["shape"] - exact["prior"]["shape"]) for s in exact["sites"]] == [
        3,
        2,
        54,
    ]


def test_trend_totals_are_sums_of_the_published_months():
    # A half's total rounded on its own, beside its rounded months and over a window that
    # moves with --monthly, pinned suppressed months in a review: it is their published sum.
    trials, _ = load_trials([REPO / "tests/fixtures/trials/small.yaml"])
    trial = trials[0]
    status = _monthly_status(trial.id, {"A": [21, 19, 22, 20, 14, 18], "B": [21, 19, 22, 2, 14, 18]})
    block = enrollment_block(trial, status, {"A": 0.3, "B": 0.3}, None, Protection(K), None)
    trend = {i["site_id"]: i["trend_potentially_eligible"] for i in block["incidence"]}
    # A's months publish as 20, 20, 20 | 20, 15, 20; B's fourth month (2) is suppressed
    assert (trend["A"]["first_half_total"], trend["A"]["second_half_total"]) == (60, 55)
    assert (trend["B"]["first_half_total"], trend["B"]["second_half_total"]) == (60, None)
    exact = enrollment_block(trial, status, {"A": 0.3, "B": 0.3}, None, Protection(0), None)
    assert {
        i["site_id"]: i["trend_potentially_eligible"]["second_half_total"] for i in exact["incidence"]
    } == {
        "ALL": 86,
        "A": 52,
        "B": 34,
    }


def test_a_suppressed_derived_count_reads_withheld_and_no_other_null_hides_a_large_count(result):
    """A derived count (failed, alone FALSE, leave-one-out gains) is suppressed when an
    operand is, whatever its size, or when its rounded operands differ by less than K (it
    may then be a little above K): it reads `withheld`. Every other suppressed count is
    small and reads `<K`."""
    from feasibility.reports.files import criteria_csv, waterfall_csv

    report = build_report(result, protect=Protection(K))
    exact = build_report(result, protect=Protection(0))
    nums = numbers(report, exact)
    derived = [e for _, key, p, e in nums if key in DERIVED and p is None]
    assert any(e >= SHOWN_FROM for e in derived)  # why `<13` would be false for them
    assert all(e < SHOWN_FROM for _, key, p, e in nums if key not in DERIVED and p is None)
    # the files say which is which
    waterfall, criteria = waterfall_csv(report), criteria_csv(report)
    blocks = [x for t in report["trials"] for x in t["sites"]]
    assert waterfall.count("withheld") == sum(s["failed"] is None for x in blocks for s in x["waterfall"])
    assert criteria.count("withheld") == sum(
        (v["alone"]["false"] is None) + (v["loo_gain"] is None) + (v["loo_gain_potential"] is None)
        for x in blocks
        for v in x["criteria"]
    )
    assert f"<{SHOWN_FROM}" in waterfall + criteria


def test_a_difference_of_exactly_k_is_shown():
    assert Protection(10).difference(100, 90, exact=9) == 10
    assert Protection(5).difference(20, 15, exact=4) == 5

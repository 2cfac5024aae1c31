"""Protection across sites: ALL is the sum of the sites, and no suppressed count may be worked
out from that sum (feasibility/reports/breakdown.py).

The attack is the one a reviewer ran on the reports: for each count, the interval every
published value leaves open, and the sum ALL = site 1 + ... + site n. Here it is run by
enumeration, independently of the audit's projection, on six-site extracts at several
thresholds; the intervals themselves are checked against the exact counts."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from feasibility.criteria.in_care import DEFAULT_ACTIVE_WITHIN, with_in_care_step
from feasibility.criteria.load import load_trials
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.protect import Protection
from feasibility.reports.breakdown import _count_paths, _get, _kind, published_range
from feasibility.reports.build import build_report
from feasibility.synth.generate import generate
from tests.support import REPO

SAMPLE = REPO / "sample_data" / "extract.parquet"
THRESHOLDS = (3, 5, 11)


def _result(extract):
    trials, library = load_trials(None)
    trials = [with_in_care_step(t, DEFAULT_ACTIVE_WITHIN) for t in trials]
    options = RunOptions()
    return Engine(connect(options), trials, library, options).evaluate(str(extract))


@pytest.fixture(scope="module")
def six_sites(tmp_path_factory):
    path = tmp_path_factory.mktemp("breakdown") / "six.parquet"
    generate(path, patients=600, sites=6, seed=3, as_of=date(2025, 6, 30))
    result = _result(path)
    return {k: build_report(result, protect=Protection(k)) for k in (0, *THRESHOLDS)}


def _cells(report):
    """(trial, ALL block, site blocks, path) for every count of every trial shown by site."""
    for trial in report["trials"]:
        total, *parts = trial["sites"]
        for path in _count_paths(total):
            yield trial["id"], total, parts, path


def _box(value, path, under_suppressed, protect, at_least_one):
    lo, hi = published_range(value, _kind(path), under_suppressed, protect)
    return (max(lo, 1) if at_least_one else lo), hi


@pytest.mark.parametrize("k", THRESHOLDS)
def test_the_published_ranges_hold_the_exact_counts(six_sites, k):
    # the audit is only as sound as its intervals: each must contain the exact value
    exact = {(t["id"], s["site_id"]): s for t in six_sites[0]["trials"] for s in t["sites"]}
    checked = 0
    for trial_id, total, parts, path in _cells(six_sites[k]):
        for block in (total, *parts):
            under = block is not total and _get(total, path) is None
            lo, hi = published_range(_get(block, path), _kind(path), under, Protection(k))
            true = _get(exact[(trial_id, block["site_id"])], path)
            assert lo <= true <= hi, (trial_id, block["site_id"], path, _get(block, path), true)
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("k", THRESHOLDS)
def test_no_suppressed_count_is_pinned_by_the_sum_over_sites(six_sites, k):
    protect = Protection(k)
    shown_by_site = 0
    for _, total, parts, path in _cells(six_sites[k]):
        if not parts:
            continue
        shown_by_site += 1
        first_row = path[:2] == ("waterfall", 0) or path == ("base",)
        t_box = _box(_get(total, path), path, False, protect, False)
        boxes = [_box(_get(p, path), path, _get(total, path) is None, protect, first_row) for p in parts]
        for j, part in enumerate(parts):
            if _get(part, path) is not None:
                continue
            lo, hi = boxes[j]
            others_lo = sum(b[0] for i, b in enumerate(boxes) if i != j)
            others_hi = sum(b[1] for i, b in enumerate(boxes) if i != j)
            # the values of this site's count that some values of the others make add up
            fitting = [
                v
                for v in range(int(lo), int(min(hi, t_box[1], lo + 1000)) + 1)
                if others_lo + v <= t_box[1] and others_hi + v >= t_box[0]
            ]
            assert len(fitting) >= 2, (path, _get(total, path), [_get(p, path) for p in parts])
    assert shown_by_site > 1000  # most trials keep their sites: the audit is not withholding all


def test_a_suppressed_total_the_published_sites_would_pin_withholds_them():
    """The audit's check of the total itself, which the per-site check cannot make when
    every site's count is published: a `<13` total whose sites add up to no value it may
    take (the sites show 15 and 20, at least 13 and 18) gives them away: they are withheld."""
    from feasibility.reports.breakdown import protect_breakdown

    protect = Protection(11)
    assert protect_breakdown({"n": None}, [{"n": 15}, {"n": 20}], protect) is False
    # with the total shown, or the sites' counts suppressed, nothing is pinned
    assert protect_breakdown({"n": 35}, [{"n": 15}, {"n": 20}], protect) is True
    assert protect_breakdown({"n": None}, [{"n": None}, {"n": None}], protect) is True


def test_a_site_zero_under_a_suppressed_total_is_suppressed(six_sites):
    hidden = 0
    for _, total, parts, path in _cells(six_sites[11]):
        for part in parts:
            if _get(total, path) is not None:
                continue
            assert _get(part, path) != 0, path
            hidden += 1
    assert hidden > 0


def test_sites_that_would_pin_their_counts_are_withheld(tmp_path):
    # twelve sites of one patient each: under a total of <13, twelve counts of <13 are all 1
    twelve = tmp_path / "twelve.parquet"
    duckdb.sql(
        f"""COPY (
            WITH chosen AS (
                SELECT patient_id, row_number() OVER (ORDER BY patient_id) AS n
                FROM (SELECT DISTINCT patient_id FROM '{SAMPLE}') ORDER BY patient_id LIMIT 12
            )
            SELECT e.* REPLACE ('SITE-' || c.n AS site_id)
            FROM '{SAMPLE}' e JOIN chosen c USING (patient_id)
        ) TO '{twelve}'"""
    )
    report = build_report(_result(twelve), protect=Protection(11))
    for trial in report["trials"]:
        assert [s["site_id"] for s in trial["sites"]] == ["ALL"]
        assert "not shown" in trial["sites_withheld"]
    exact = build_report(_result(twelve), protect=Protection(0))
    assert all(len(t["sites"]) == 13 and t["sites_withheld"] is None for t in exact["trials"])


def test_the_sample_keeps_its_sites():
    report = build_report(_result(SAMPLE), protect=Protection(11))
    assert all(len(t["sites"]) == 4 and t["sites_withheld"] is None for t in report["trials"])

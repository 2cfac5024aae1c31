"""Attrition views from a histogram, checked against counts worked out by hand."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from feasibility.analytics.histogram import WORD_BITS, CriteriaMatrix, MaskHistogram
from feasibility.analytics.waterfall import (
    all_sites,
    check_order,
    criterion_views,
    most_restrictive_order,
    resolve_order,
    waterfall,
)
from feasibility.criteria.model import Criterion
from feasibility.errors import FeasibilityError


def matrix(hist: Counter, n: int) -> CriteriaMatrix:
    """A hand-written histogram of Python-int masks, unpacked as the report unpacks the engine's."""
    return CriteriaMatrix.of(MaskHistogram.from_counter(hist, -(-n // WORD_BITS)), n)


# Three criteria. (passed mask, unknown mask) -> patients:
#   A passes all (10); B passes 0,1 and criterion 2 is UNKNOWN (5);
#   C passes 0,2 and fails 1 (4); D is UNKNOWN on 0 and fails 1 and 2 (2).
HIST = Counter({(0b111, 0): 10, (0b011, 0b100): 5, (0b101, 0): 4, (0b000, 0b001): 2})
M = matrix(HIST, 3)
CRITERIA = [Criterion(f"c{k}", "inclusion", f"criterion {k}") for k in range(3)]


def test_protocol_waterfall():
    steps = waterfall(M, [0, 1, 2])
    got = [(s.passed, s.failed, s.unknown, s.eligible, s.potentially_eligible) for s in steps]
    assert got == [
        (21, 0, 0, 21, 21),  # base
        (19, 0, 2, 19, 21),  # D unknown on 0: not confirmed, still potential
        (15, 4, 0, 15, 15),  # C fails 1; D fails 1 too (D left the confirmed count at step 1)
        (10, 0, 5, 10, 15),  # B unknown on 2
    ]


def test_waterfall_in_another_order():
    steps = waterfall(M, [2, 0, 1])
    got = [(s.index, s.passed, s.failed, s.unknown, s.potentially_eligible) for s in steps[1:]]
    assert got == [(2, 14, 2, 5, 19), (0, 14, 0, 0, 19), (1, 10, 4, 0, 15)]


def test_most_restrictive_order_is_greedy():
    # alone, criterion 2 leaves 14, criterion 1 leaves 15, criterion 0 leaves 19;
    # after 2, adding 1 leaves 10 and adding 0 leaves 14
    assert most_restrictive_order([M], 3) == [2, 1, 0]
    assert resolve_order("most-restrictive", CRITERIA, [M]) == [2, 1, 0]


def test_order_by_ids():
    assert resolve_order("c2", CRITERIA, [M]) == [2, 0, 1]
    assert resolve_order(None, CRITERIA, [M]) == [0, 1, 2]
    # ids apply per trial: another trial's id leaves this trial's order alone
    assert resolve_order("c9,c1", CRITERIA, [M]) == [1, 0, 2]
    other = [Criterion("c9", "inclusion", "other trial")]
    check_order("c9,c1", [CRITERIA, other])
    with pytest.raises(FeasibilityError, match="unknown criterion id `c8` in the order"):
        check_order("c8,c1", [CRITERIA, other])
    # an id named twice is a slip (perhaps for one left out), refused even when both are known
    with pytest.raises(FeasibilityError, match="criterion id `c1` is named twice in the order"):
        check_order("c1,c9,c1", [CRITERIA, other])
    check_order("protocol", [CRITERIA, other])


def test_alone_leave_one_out_and_impact():
    views = criterion_views(M)
    assert [(v.alone_true, v.alone_false, v.alone_unknown) for v in views] == [
        (19, 0, 2),
        (15, 6, 0),
        (14, 2, 5),
    ]
    assert [v.loo_gain for v in views] == [0, 4, 5]
    assert [v.loo_gain_potential for v in views] == [0, 4, 0]
    # B's exclusion is all criterion 2's, C's criterion 1's, D's split three ways
    assert [v.impact for v in views] == [Fraction(2, 3), Fraction(14, 3), Fraction(17, 3)]
    assert [v.impact_potential for v in views] == [0, 5, 1]


def test_impacts_sum_to_the_ineligible_counts():
    views = criterion_views(M)
    assert sum(v.impact for v in views) == 21 - 10
    assert sum(v.impact_potential for v in views) == 21 - 15


def test_all_sites_sum_the_sites():
    # HIST split over two sites, the masks of A and C at both
    site_a = Counter({(0b111, 0): 6, (0b101, 0): 1, (0b000, 0b001): 2})
    site_b = Counter({(0b111, 0): 4, (0b011, 0b100): 5, (0b101, 0): 3})
    sites = [matrix(site_a, 3), matrix(site_b, 3)]
    none = CriteriaMatrix.empty(3)
    for order in ([0, 1, 2], [2, 0, 1]):
        per_site = [waterfall(m, order) for m in sites]
        assert all_sites(per_site, waterfall(none, order)) == waterfall(M, order)
    views = all_sites([criterion_views(m) for m in sites], criterion_views(none))
    assert views == criterion_views(M)
    # site A alone puts criterion 1 first (6 left, against 7); together they order as HIST does
    assert most_restrictive_order(sites[:1], 3) == [1, 0, 2]
    assert most_restrictive_order(sites, 3) == [2, 1, 0]


def test_no_patients():
    none = CriteriaMatrix.empty(3)
    assert all_sites([], waterfall(none, [0, 1, 2]))[-1].eligible == 0
    assert [v.impact for v in criterion_views(none)] == [0, 0, 0]
    assert most_restrictive_order([], 3) == [0, 1, 2]


def test_more_than_64_criteria():
    n = 130
    full = (1 << n) - 1
    # patient groups failing exactly criterion 0, 63, 64, 100 or 129; the rest pass all
    hist = Counter({full: 50})
    for k, count in ((0, 1), (63, 2), (64, 3), (100, 4), (129, 5)):
        hist[full & ~(1 << k)] += count
    m = matrix(Counter({(p, 0): c for p, c in hist.items()}), n)
    steps = waterfall(m, list(range(n)))
    removed = {s.index: s.failed for s in steps[1:] if s.failed}
    assert removed == {0: 1, 63: 2, 64: 3, 100: 4, 129: 5}
    assert steps[-1].eligible == 50
    views = criterion_views(m)
    assert views[129].loo_gain == 5 and views[129].impact == 5
    assert sum(v.impact for v in views) == 15


def test_most_restrictive_picks_each_step_among_the_patients_left():
    """Greedy, not the order of the criteria alone: alone c1 leaves 50, c2 55 and c0 60, but
    after c1, c0 leaves 10 and c2 45."""
    hist = Counter({(0b011, 0): 5, (0b111, 0): 5, (0b110, 0): 40, (0b001, 0): 50, (0b100, 0): 10})
    m = matrix(hist, 3)
    assert most_restrictive_order([m], 3) == [1, 0, 2]
    assert [s.eligible for s in waterfall(m, [1, 0, 2])] == [110, 50, 10, 5]


def test_an_id_given_twice_in_the_order_is_one_step():
    assert resolve_order("c1,c1", CRITERIA, [M]) == [1, 0, 2]
    assert resolve_order("c2, c0 ,c2", CRITERIA, [M]) == [2, 0, 1]

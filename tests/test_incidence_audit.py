"""Protection of the monthly incidence as one table (feasibility/reports/incidence_audit.py):
the sites' months add up to ALL's months and to each site's total, which the forecast
publishes. The audit is checked here against the attack itself, every integer table the
published numbers allow enumerated on small tables, and on the cases a review found."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feasibility.criteria.load import load_trials
from feasibility.protect import Protection
from feasibility.reports.breakdown import SITES_WITHHELD, protect_breakdown, published_range
from feasibility.reports.enrollment import MONTHS_WITHHELD, SITE_MONTHS_WITHHELD, enrollment_block
from feasibility.reports.incidence_audit import pins_a_count
from tests.support import REPO
from tests.test_protect import _monthly_status

K = 11


@pytest.fixture(scope="module")
def trial():
    trials, _ = load_trials([REPO / "tests/fixtures/trials/small.yaml"])
    return trials[0]


def _block(trial, new_per_site: dict[str, list[int]], min_cell: int = K) -> dict:
    status = _monthly_status(trial.id, new_per_site)
    return enrollment_block(trial, status, dict.fromkeys(new_per_site, 0.3), None, Protection(min_cell), None)


def test_seventeen_months_of_one_patient_are_not_pinned_by_the_sites_total(trial):
    # 17 months of <13 and a total of 15 (13 to 17): 17 months of at least one patient add up
    # to at most 17 only if each holds exactly one. The months go; the forecast stays.
    block = _block(trial, {"A": [1] * 17})
    assert block["months_withheld"] == MONTHS_WITHHELD
    assert [i["new_potentially_eligible"] for i in block["incidence"]] == [None]
    assert block["forecast"]["sites"][0]["eligible_observed"] == 15
    assert block["incidence"][0]["trend_potentially_eligible"]["first_half_total"] is None
    # the months of newly eligible patients have no published total: they stay
    assert block["incidence"][0]["new_eligible"] == [0] * 17
    exact = _block(trial, {"A": [1] * 17}, min_cell=0)
    assert exact["months_withheld"] is None
    assert exact["incidence"][0]["new_potentially_eligible"] == [1] * 17


def test_twelve_months_of_one_under_a_suppressed_total_are_not_pinned(trial):
    block = _block(trial, {"A": [1] * 12})
    assert block["forecast"]["sites"][0]["eligible_observed"] is None  # 12: <13
    assert block["months_withheld"] == MONTHS_WITHHELD
    # with a zero month, the twelve suppressed ones could hold 0 to 12 each: nothing pinned
    spread = _block(trial, {"A": [1] * 11 + [0]})
    assert spread["months_withheld"] is None
    assert spread["incidence"][0]["new_potentially_eligible"] == [None] * 11 + [0]


def test_a_site_whose_months_its_total_would_pin_withholds_the_sites_months_only(trial):
    # A is pinned by its total; with its months withheld, ALL's months (A's plus B's, 20 and
    # more) no longer bound A's: the sites' months go, ALL's stay
    block = _block(trial, {"A": [1] * 17, "B": [20] * 17})
    assert block["sites_withheld"] == SITE_MONTHS_WITHHELD
    assert block["months_withheld"] is None
    assert [i["site_id"] for i in block["incidence"]] == ["ALL"]
    assert block["incidence"][0]["new_potentially_eligible"] == [20] * 17
    assert [s["eligible_observed"] for s in block["forecast"]["sites"]] == [15, 340]


def test_ordinary_small_counts_keep_every_month(trial):
    block = _block(trial, {"A": [0, 3, 0, 14, 2, 0], "B": [9, 0, 0, 21, 1, 4]})
    assert block["sites_withheld"] is None and block["months_withheld"] is None
    assert [i["site_id"] for i in block["incidence"]] == ["ALL", "A", "B"]


def _allowed_values(
    all_months: list, site_months: list | None, totals: list, protect: Protection
) -> dict[tuple, set[int]]:
    """The attack: every integer table the published numbers allow, and the values each
    suppressed number takes in them."""
    n_sites, n_months = len(totals), len(all_months)

    def box(value, may_be_zero):
        lo, hi = published_range(value, "count", may_be_zero, protect)
        return math.ceil(lo), (math.floor(hi) if math.isfinite(hi) else None)

    month_boxes = [box(v, False) for v in all_months]
    total_boxes = [box(v, False) for v in totals]
    ranges = []
    for s in range(n_sites):
        for j in range(n_months):
            if site_months is None:
                lo, hi = 0, min(month_boxes[j][1], total_boxes[s][1])
            else:
                lo, hi = box(site_months[s][j], all_months[j] is None)
            ranges.append(range(lo, hi + 1))
    values: dict[tuple, set[int]] = {}
    for cells in itertools.product(*ranges):
        table = np.array(cells).reshape(n_sites, n_months)
        months, rows = table.sum(axis=0), table.sum(axis=1)
        if any(not lo <= m <= hi for m, (lo, hi) in zip(months, month_boxes, strict=True)):
            continue
        if any(not lo <= r <= hi for r, (lo, hi) in zip(rows, total_boxes, strict=True)):
            continue
        for j, v in enumerate(all_months):
            if v is None:
                values.setdefault(("month", j), set()).add(int(months[j]))
        for s, v in enumerate(totals):
            if v is None:
                values.setdefault(("total", s), set()).add(int(rows[s]))
        for s, j in itertools.product(range(n_sites), range(n_months)):
            if site_months is not None and site_months[s][j] is None:
                values.setdefault(("cell", s, j), set()).add(int(table[s, j]))
    return values


small_counts = st.sampled_from([0, 0, 1, 2, 3, 6, 9, 12, 13, 14, 16, 18, 22])


@given(
    exact=st.one_of(
        st.lists(st.lists(small_counts, min_size=3, max_size=3), min_size=1, max_size=1),
        st.lists(st.lists(small_counts, min_size=2, max_size=2), min_size=2, max_size=2),
    ),
    min_cell=st.sampled_from([3, 5, 11]),
    sites_shown=st.booleans(),
)
# tables the attack pins (a random draw seldom is one): a site's total of 0 pins the zeros
# hidden under ALL's suppressed months, and a total a site's one suppressed month; three months
# of one under a total of <13 are not pinned
@example(exact=[[2, 6], [0, 0]], min_cell=11, sites_shown=True)
@example(exact=[[16, 1], [12, 22]], min_cell=11, sites_shown=True)
@example(exact=[[18, 13, 1]], min_cell=5, sites_shown=False)
@example(exact=[[1, 1, 1]], min_cell=11, sites_shown=True)
def test_the_audit_pins_exactly_what_the_attack_pins(exact, min_cell, sites_shown):
    protect = Protection(min_cell)
    n_months = len(exact[0])
    total = {"m": [protect.count(sum(site[j] for site in exact)) for j in range(n_months)]}
    parts = [{"m": [protect.count(v) for v in site]} for site in exact]
    protect_breakdown(total, parts, protect)  # hides the sites' zeros under a suppressed month
    site_months = [p["m"] for p in parts] if sites_shown else None
    totals = [protect.count(sum(site)) for site in exact]
    values = _allowed_values(total["m"], site_months, totals, protect)
    assert all(values.values())  # the exact table is always allowed
    attack_pins = any(len(v) == 1 for v in values.values())
    assert pins_a_count(total["m"], site_months, totals, exact, protect) == attack_pins


def test_an_exact_report_is_never_audited():
    assert not pins_a_count([1] * 17, [[1] * 17], [17], [[1] * 17], Protection(0))


def test_a_report_whose_months_are_withheld_says_so(trial):
    from rich.console import Console

    from feasibility.reports.html import incidence_chart
    from feasibility.reports.terminal import _print_enrollment

    block = _block(trial, {"A": [1] * 17})
    console = Console(record=True, width=120)
    _print_enrollment(block, console)
    assert "months — the months of newly potentially eligible patients are not shown" in console.export_text()
    assert "the months are withheld" in incidence_chart(block, "c", 13)
    assert SITES_WITHHELD != SITE_MONTHS_WITHHELD  # a reader can tell the two audits apart


def test_a_forecast_resting_on_suppressed_totals_says_so(trial):
    # a suppressed total enters the model at 6: the figures are the stand-in's, not the site's
    cautions = {
        n: _block(trial, sites)["forecast"]["cautions"]
        for n, sites in {
            0: {"A": [20] * 12, "B": [14] * 12},
            1: {"A": [20] * 12, "B": [1, 2] + [0] * 10},
            3: {"A": [1] + [0] * 11, "B": [2] + [0] * 11, "C": [0, 3] + [0] * 10},
        }.items()
    }
    assert cautions[0] == []
    assert cautions[1] == [
        "one site's total is suppressed (<13) and entered the model as 6, the middle of the "
        "suppressed counts: that site's figures show what that stand-in gives, not their data"
    ]
    (every,) = cautions[3]
    assert every.startswith("every site's total is suppressed (<13)")
    assert _block(trial, {"A": [1] * 12}, min_cell=0)["forecast"]["cautions"] == []

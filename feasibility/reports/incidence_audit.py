"""Small-cell protection of the monthly incidence as one table.

A trial's newly potentially eligible patients per site and month form a table: its columns
add up to ALL's months, and its rows to each site's total over the months, which the
forecast publishes (it is fitted to that total: see `enrollment.py`). `breakdown.py` audits
each column on its own; the rows and columns together can pin what no single sum does. A
site with one new patient in each of 17 months publishes 17 months of `<13` and a total of
15 (13 to 17): 17 months of at least one patient add up to at most 17 only if every month
holds exactly one.

The audit reads every published number as the values it leaves open (`published_range`)
and bounds each suppressed one (a cell, a column of ALL, a site's total) by linear
programming over the whole table. Its constraints are a table's row and column sums within
integer bounds, a totally unimodular system, so the programme's bounds are those of the
integer tables: the audit is exact, not a heuristic. A suppressed number left with one
value is pinned; `enrollment.py` then withholds the sites' months, and if ALL's months and
the sites' totals still pin one, ALL's months too (a site's total alone pins nothing)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from feasibility.protect import Protection
from feasibility.reports.breakdown import published_range

Counts = Sequence[int | None]


def _box(value: int | None, may_be_zero: bool, protect: Protection) -> tuple[int, float]:
    """The integers a published count leaves open, as (lowest, highest)."""
    lo, hi = published_range(value, "count", may_be_zero, protect)
    return math.ceil(lo), math.floor(hi) if math.isfinite(hi) else math.inf


def pins_a_count(
    all_months: Counts,
    site_months: Sequence[Counts] | None,
    site_totals: Counts,
    exact: Sequence[Sequence[int]],
    protect: Protection,
) -> bool:
    """Whether the published numbers of the table leave any suppressed one a single value.

    `all_months`: ALL's months as published; `site_months`: each site's months as published,
    or None when they are not published; `site_totals`: each site's published total over
    the months; `exact`: each site's exact months, all in the same order. A site's suppressed
    month under a suppressed ALL month may be 0 (`breakdown.protect_breakdown` hides such
    zeros).

    The exact table is one the published numbers allow, so a suppressed number is shown
    unpinned by moving it by one in a second allowed table; most are, by moving one, two or
    four cells (`_Table`), and linear programming bounds the rest."""
    if protect.exact:
        return False
    table = _Table.of(all_months, site_months, site_totals, exact, protect)
    doubtful = [target for target in table.targets if not table.can_move(target)]
    return any(table.pinned(target) for target in doubtful)


Target = tuple[str, int, int]  # ("cell", site, month), ("month", -1, month) or ("total", site, -1)


@dataclass(frozen=True)
class _Table:
    """The values the published numbers allow: each cell's, each month's (ALL) and each
    site's total's bounds, with the exact cells."""

    x: np.ndarray  # exact cells, sites by months
    lo: np.ndarray
    hi: np.ndarray  # inf where a cell is not published
    month_lo: np.ndarray
    month_hi: np.ndarray
    total_lo: np.ndarray
    total_hi: np.ndarray
    targets: tuple[Target, ...]  # the suppressed numbers

    @classmethod
    def of(
        cls,
        all_months: Counts,
        site_months: Sequence[Counts] | None,
        site_totals: Counts,
        exact: Sequence[Sequence[int]],
        protect: Protection,
    ) -> _Table:
        def boxes(values: Counts, may_be_zero: Sequence[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
            zero = may_be_zero or [False] * len(values)
            pairs = [_box(v, z, protect) for v, z in zip(values, zero, strict=True)]
            return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)

        n_sites, n_months = len(site_totals), len(all_months)
        if site_months is None:
            lo, hi = np.zeros((n_sites, n_months)), np.full((n_sites, n_months), math.inf)
        else:
            cell_boxes = [boxes(m, [a is None for a in all_months]) for m in site_months]
            lo = np.array([b[0] for b in cell_boxes]).reshape(n_sites, n_months)
            hi = np.array([b[1] for b in cell_boxes]).reshape(n_sites, n_months)
        targets = [
            *(("month", -1, j) for j, v in enumerate(all_months) if v is None),
            *(("total", s, -1) for s, v in enumerate(site_totals) if v is None),
            *(
                ("cell", s, j)
                for s, months in enumerate(site_months or [])
                for j, v in enumerate(months)
                if v is None
            ),
        ]
        return cls(
            np.array(exact, float).reshape(n_sites, n_months),
            lo,
            hi,
            *boxes(all_months),
            *boxes(site_totals),
            tuple(targets),
        )

    @cached_property
    def _room(self) -> dict[str, np.ndarray]:
        """Where the exact table has room to move by one, the same for every target: each
        cell up or down within its bounds, each month (ALL) and each site's total."""
        rows, months = self.x.sum(axis=1), self.x.sum(axis=0)
        return {
            "up": self.hi - self.x >= 1,
            "down": self.x - self.lo >= 1,
            "month_up": self.month_hi - months >= 1,
            "month_down": months - self.month_lo >= 1,
            "total_up": self.total_hi - rows >= 1,
            "total_down": rows - self.total_lo >= 1,
        }

    def can_move(self, target: Target) -> bool:
        """Whether a second allowed table differs from the exact one at `target`: one cell
        moved by one (within its row's and column's bounds), two cells of a row or column
        moved in opposite directions (the sum between them kept), or four at the corners of
        a rectangle (every sum kept)."""
        room = self._room
        up, down = room["up"], room["down"]
        month_up, month_down = room["month_up"], room["month_down"]
        total_up, total_down = room["total_up"], room["total_down"]
        # a cell moved alone, up or down, with room in its row's total and its month
        alone_up = up & total_up[:, None] & month_up[None, :]
        alone_down = down & total_down[:, None] & month_down[None, :]
        kind, s, j = target
        if kind == "month":
            return bool(alone_up[:, j].any() or alone_down[:, j].any())
        if kind == "total":
            return bool(alone_up[s].any() or alone_down[s].any())
        if alone_up[s, j] or alone_down[s, j]:
            return True
        others_j = np.arange(self.x.shape[1]) != j
        others_s = np.arange(self.x.shape[0]) != s
        for a, b in ((up, down), (down, up)):  # the target moves with a, its partners with b
            in_row = a[s, j] and bool((b[s] & others_j & (month_down if a is up else month_up)).any())
            month_ok = month_up[j] if a is up else month_down[j]
            in_column = a[s, j] and bool((b[:, j] & others_s & (total_down if a is up else total_up)).any())
            total_ok = total_up[s] if a is up else total_down[s]
            corners = b[s][None, :] & b[:, j][:, None] & a & others_s[:, None] & others_j[None, :]
            if (in_row and month_ok) or (in_column and total_ok) or (a[s, j] and corners.any()):
                return True
        return False

    def _indicator(self, members: np.ndarray) -> np.ndarray:
        """1 at the cells `members` (flat indices), 0 elsewhere."""
        vector = np.zeros(self.x.size)
        vector[members] = 1
        return vector

    @cached_property
    def _programme(self) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float | None]]]:
        """The constraints every allowed table meets, the same for every target: each month's
        and each site total's sum within its bounds (A_ub x <= b_ub), each cell within its own."""
        cell = np.arange(self.x.size).reshape(self.x.shape)
        sums = [
            *(
                (self._indicator(cell[:, j]), self.month_lo[j], self.month_hi[j])
                for j in range(self.x.shape[1])
            ),
            *(
                (self._indicator(cell[s, :]), self.total_lo[s], self.total_hi[s])
                for s in range(self.x.shape[0])
            ),
        ]
        a_ub = np.array([v for vector, _, _ in sums for v in (vector, -vector)])
        b_ub = np.array([b for _, lo, hi in sums for b in (hi, -lo)])
        finite = np.isfinite(b_ub)
        highs = [None if math.isinf(hi) else hi for hi in self.hi.ravel()]
        return a_ub[finite], b_ub[finite], list(zip(self.lo.ravel(), highs, strict=True))

    def pinned(self, target: Target) -> bool:
        """Whether `target` has one value in every allowed table: its least and greatest
        values by linear programming (exact, the system being totally unimodular)."""
        from scipy.optimize import linprog  # only for the few numbers no move frees

        a_ub, b_ub, bounds = self._programme
        cell = np.arange(self.x.size).reshape(self.x.shape)
        kind, s, j = target
        objective = self._indicator({"month": cell[:, j], "total": cell[s, :], "cell": cell[s, j]}[kind])
        extremes = []
        for sign in (1, -1):
            result = linprog(sign * objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
            if result.status != 0:  # never for published numbers (they hold the exact counts)
                return True
            extremes.append(sign * result.fun)
        return round(extremes[0]) == round(extremes[1])

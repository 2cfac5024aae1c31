"""Attrition views derived from one site's histogram of (passed, unknown) masks, no re-scan.

A patient's masks say, per criterion (bit k = k-th criterion in protocol order), whether
they pass it (TRUE for an inclusion, FALSE for an exclusion) or it is UNKNOWN; the rest fail.
Confirmed eligible: passes all. Potentially eligible: fails none (some may be UNKNOWN).
Every count is a sum over patients, so the `ALL` site's are the sums of the sites'.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from functools import reduce
from itertools import pairwise
from typing import TypeVar

import numpy as np

from feasibility.analytics.histogram import CriteriaMatrix
from feasibility.criteria.model import Criterion
from feasibility.errors import FeasibilityError

ALL_SITES = "ALL"  # the site name of every site's counts together

V = TypeVar("V", "Step", "CriterionView")


@dataclass(frozen=True)
class Step:
    """One row of a waterfall: criterion `index` applied after the previous steps."""

    index: int | None  # None for the base step
    passed: int
    failed: int
    unknown: int
    eligible: int
    potentially_eligible: int

    def __add__(self, other: Step) -> Step:
        """The same step over both steps' patients (e.g. two sites')."""
        return _sum_counts(self, other)


def _sum_counts(a: V, b: V) -> V:
    """`a` with each count the sum of `a`'s and `b`'s: every field but the criterion's index
    is a count of patients (or a share of one)."""
    sums = {f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a) if f.name != "index"}
    return replace(a, **sums)


def waterfall(m: CriteriaMatrix, order: Sequence[int]) -> list[Step]:
    """The sequential waterfall: step k counts, among patients still confirmed eligible after
    steps 1..k-1, those who pass, fail or are UNKNOWN for the k-th criterion of `order`;
    `potentially_eligible` counts those who fail none of the first k criteria."""
    base = m.total()
    steps = [Step(None, base, 0, 0, base, base)]
    # the rows still confirmed eligible, and those with no FALSE so far: both only shrink,
    # so each step reads fewer rows than the last
    still = np.arange(len(m.counts))
    clean = still
    for k in order:
        passes = m.passed[k, still]
        passed = m.total(still[passes])
        unknown = m.total(still[m.unknown[k, still]])
        still = still[passes]
        clean = clean[~m.failed[k, clean]]
        remaining = steps[-1].eligible
        steps.append(Step(k, passed, remaining - passed - unknown, unknown, passed, m.total(clean)))
    return steps


def most_restrictive_order(sites: Sequence[CriteriaMatrix], n: int) -> list[int]:
    """Greedy order over the sites' patients together: each step takes the criterion that
    leaves the fewest patients confirmed eligible; ties keep protocol order."""
    still = [(m.passed, m.counts) for m in sites]  # per site, the rows still confirmed eligible
    remaining = list(range(n))
    order: list[int] = []
    while remaining:
        left = sum((_weighted(passed, counts) for passed, counts in still), np.zeros(n, dtype=np.int64))
        best = remaining[int(np.argmin(left[remaining]))]  # the first (protocol order) on ties
        order.append(best)
        remaining.remove(best)
        still = [
            (np.compress(passed[best], passed, axis=1), counts[passed[best]]) for passed, counts in still
        ]
    return order


def all_sites(per_site: Sequence[Sequence[V]], none: Sequence[V]) -> list[V]:
    """The `ALL` site's steps or criterion views: every count is a sum over patients, so the
    sum of the sites' (`none`: the same computed on no patients)."""
    return [
        reduce(operator.add, site_values, start) for start, *site_values in zip(none, *per_site, strict=True)
    ]


ORDERS = ("protocol", "most-restrictive")


def _order_ids(spec: str | None) -> list[str]:
    if spec in (None, "", *ORDERS):
        return []
    assert spec is not None
    return [s.strip() for s in spec.split(",") if s.strip()]


def check_order(spec: str | None, trials: Sequence[Sequence[Criterion]]) -> None:
    """Before the run: every id of an `--order` list names a criterion of some trial, and
    none is named twice. Ids apply per trial (each trial puts the ones it has first), so the
    default four trials can be ordered by ids of one of them."""
    ids = _order_ids(spec)
    # a repeated id moves nothing further: it is a slip, perhaps for an id left out
    repeated = [w for k, w in enumerate(ids) if w in ids[:k]]
    if repeated:
        raise FeasibilityError(
            f"criterion id `{repeated[0]}` is named twice in the order",
            where="--order",
            fix=f"name each criterion once: `{','.join(dict.fromkeys(ids))}`",
        )
    known = {c.id for criteria in trials for c in criteria}
    unknown = [w for w in ids if w not in known]
    if unknown:
        examples = [c.id for c in trials[0]][:3] if trials else []
        raise FeasibilityError(
            f"unknown criterion id `{unknown[0]}` in the order (no trial has it)",
            where="--order",
            fix=f"use {' or '.join(ORDERS)}, or ids such as " + ",".join(examples),
        )


def resolve_order(
    spec: str | None, criteria: Sequence[Criterion], sites: Sequence[CriteriaMatrix]
) -> list[int]:
    """`protocol` (default), `most-restrictive` (over all `sites` together), or comma-separated
    criterion ids: those this trial has first, the rest after them in protocol order (see
    `check_order` for ids no trial has)."""
    n = len(criteria)
    if spec == "most-restrictive":
        return most_restrictive_order(sites, n)
    ids = [c.id for c in criteria]
    first = [ids.index(w) for w in dict.fromkeys(_order_ids(spec)) if w in ids]
    return first + [k for k in range(n) if k not in first]


@dataclass(frozen=True)
class CriterionView:
    """One criterion seen on the whole base population and against the others."""

    index: int
    alone_true: int  # passes it
    alone_false: int
    alone_unknown: int
    loo_gain: int  # more confirmed eligible if only this criterion were dropped
    loo_gain_potential: int  # more potentially eligible if only this one were dropped
    impact: Fraction  # Shapley share of the confirmed-ineligible count
    impact_potential: Fraction  # Shapley share of the not-potentially-eligible count

    def __add__(self, other: CriterionView) -> CriterionView:
        """The same criterion over both views' patients (e.g. two sites')."""
        return _sum_counts(self, other)


def criterion_views(m: CriteriaMatrix) -> list[CriterionView]:
    """Alone, leave-one-out and impact for every criterion.

    Impact is the exact Shapley attribution of the ineligible count: for a patient who fails
    the set A of criteria, the game "is this patient excluded by criteria S" is 1 exactly when
    S meets A, and its Shapley value gives each criterion of A the share 1/|A|. In the
    confirmed view A is every criterion not passed (FALSE or UNKNOWN); in the potential view
    only the FALSE ones. The impacts therefore sum to the ineligible count.
    """
    total = m.total()
    confirmed = _exclusions(~m.passed, m.counts)
    potential = _exclusions(m.failed, m.counts)
    return [
        CriterionView(
            index=k,
            alone_true=total - confirmed.excluded[k],
            alone_false=potential.excluded[k],
            alone_unknown=confirmed.excluded[k] - potential.excluded[k],  # not passed, not failed
            loo_gain=confirmed.gain[k],
            loo_gain_potential=potential.gain[k],
            impact=confirmed.impact[k],
            impact_potential=potential.impact[k],
        )
        for k in range(m.n)
    ]


@dataclass(frozen=True)
class _Exclusions:
    """Per criterion, in one view: the patients it excludes, those it alone excludes, and its
    share of the excluded patients."""

    excluded: list[int]
    gain: list[int]
    impact: list[Fraction]


def _exclusions(excluded: np.ndarray, counts: np.ndarray) -> _Exclusions:
    """The view whose (criteria, rows) `excluded` matrix says which criteria exclude each row.

    Rows are sorted by the size of their excluded set, so that each size is one slice and one
    weighted sum gives, per criterion, the patients whose excluded set has that size."""
    n = excluded.shape[0]
    size = np.count_nonzero(excluded, axis=0).astype(np.int16)  # int16: numpy radix-sorts it
    by_size = np.argsort(size, kind="stable")
    size = size[by_size]
    # np.take copies whole columns at a time: far faster than fancy indexing here
    excluded, counts = np.take(excluded, by_size, axis=1), counts[by_size]
    sizes, starts = np.unique(size, return_index=True)
    bounds = [*starts.tolist(), len(size)]
    per_size = {
        s: _weighted(excluded[:, a:b], counts[a:b]).tolist()
        for s, (a, b) in zip(sizes.tolist(), pairwise(bounds), strict=True)
        if s > 0
    }
    # impact of k = sum over sizes s of per_size[s][k] / s, exactly: over one common denominator
    common = math.lcm(*per_size)
    return _Exclusions(
        excluded=[sum(per_k[k] for per_k in per_size.values()) for k in range(n)],
        gain=per_size.get(1, [0] * n),
        impact=[
            Fraction(sum(per_k[k] * (common // s) for s, per_k in per_size.items()), common) for k in range(n)
        ],
    )


def _weighted(matrix: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per criterion (row of the boolean `matrix`), the counts of the rows where it is set.
    einsum sums without first casting the whole matrix to int64, as `@` would."""
    return np.einsum("kr,r->k", matrix, counts)

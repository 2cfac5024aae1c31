"""Attrition views derived from one histogram of (passed, unknown) masks, no re-scan.

A patient's masks say, per criterion (bit k = k-th criterion in protocol order), whether
they pass it (TRUE for an inclusion, FALSE for an exclusion) or it is UNKNOWN; the rest fail.
Confirmed eligible: passes all. Potentially eligible: fails none (some may be UNKNOWN).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from feasibility.criteria.model import Criterion

Masks = tuple[int, int]
Histogram = Mapping[Masks, int]


ALL_SITES = "ALL"  # the site name of every site's counts together


def merge(histograms: Iterable[Histogram]) -> Counter[Masks]:
    """Sum of several sites' histograms (the `ALL` site)."""
    total: Counter[Masks] = Counter()
    for h in histograms:
        total.update(h)
    return total


@dataclass(frozen=True)
class Step:
    """One row of a waterfall: criterion `index` applied after the previous steps."""

    index: int | None  # None for the base step
    passed: int
    failed: int
    unknown: int
    eligible: int
    potentially_eligible: int


def _unpack(values: list[int], n: int) -> np.ndarray:
    """Python-int bit masks as an (entries x n) boolean matrix, 62 bits at a time."""
    out = np.zeros((len(values), n), dtype=bool)
    for lo in range(0, n, 62):
        width = min(62, n - lo)
        word = np.fromiter(
            ((v >> lo) & ((1 << width) - 1) for v in values), dtype=np.int64, count=len(values)
        )
        out[:, lo : lo + width] = ((word[:, None] >> np.arange(width)) & 1).astype(bool)
    return out


@dataclass(frozen=True)
class _Matrix:
    """A histogram as arrays: counts, and per criterion passed / UNKNOWN / FALSE."""

    counts: np.ndarray
    passed: np.ndarray
    unknown: np.ndarray
    failed: np.ndarray

    @classmethod
    def of(cls, hist: Histogram, n: int) -> _Matrix:
        keys = list(hist)
        passed = _unpack([p for p, _ in keys], n)
        unknown = _unpack([u for _, u in keys], n) & ~passed
        counts = np.fromiter((hist[k] for k in keys), dtype=np.int64, count=len(keys))
        return cls(counts, passed, unknown, ~passed & ~unknown)


def waterfall(hist: Histogram, n: int, order: Sequence[int]) -> list[Step]:
    """The sequential waterfall: step k counts, among patients still confirmed eligible after
    steps 1..k-1, those who pass, fail or are UNKNOWN for the k-th criterion of `order`;
    `potentially_eligible` counts those who fail none of the first k criteria."""
    m = _Matrix.of(hist, n)
    base = int(m.counts.sum())
    steps = [Step(None, base, 0, 0, base, base)]
    still = np.ones(len(m.counts), dtype=bool)  # confirmed eligible so far
    clean = np.ones(len(m.counts), dtype=bool)  # no FALSE so far
    for k in order:
        remaining = int(m.counts[still].sum())
        passed = int(m.counts[still & m.passed[:, k]].sum())
        unknown = int(m.counts[still & m.unknown[:, k]].sum())
        clean &= ~m.failed[:, k]
        still &= m.passed[:, k]
        steps.append(
            Step(k, passed, remaining - passed - unknown, unknown, passed, int(m.counts[clean].sum()))
        )
    return steps


def most_restrictive_order(hist: Histogram, n: int) -> list[int]:
    """Greedy order: each step takes the criterion that leaves the fewest patients confirmed
    eligible; ties keep protocol order."""
    m = _Matrix.of(hist, n)
    still = np.ones(len(m.counts), dtype=bool)
    remaining = list(range(n))
    order: list[int] = []
    while remaining:
        left = m.counts[still] @ m.passed[still][:, remaining].astype(np.int64)
        best = remaining[int(np.argmin(left))]  # argmin keeps the first (protocol order) on ties
        order.append(best)
        remaining.remove(best)
        still &= m.passed[:, best]
    return order


def resolve_order(spec: str | None, criteria: Sequence[Criterion], hist: Histogram) -> list[int]:
    """`protocol` (default), `most-restrictive`, or comma-separated criterion ids (listed ones
    first, the rest after them in protocol order)."""
    n = len(criteria)
    if spec in (None, "", "protocol"):
        return list(range(n))
    if spec == "most-restrictive":
        return most_restrictive_order(hist, n)
    ids = [c.id for c in criteria]
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in ids]
    if unknown:
        from feasibility.errors import FeasibilityError

        raise FeasibilityError(
            f"unknown criterion id `{unknown[0]}` in the order",
            where="--order",
            fix="use protocol, most-restrictive, or ids such as " + ",".join(ids[:3]),
        )
    first = [ids.index(w) for w in dict.fromkeys(wanted)]
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


def criterion_views(hist: Histogram, n: int) -> list[CriterionView]:
    """Alone, leave-one-out and impact for every criterion.

    Impact is the exact Shapley attribution of the ineligible count: for a patient who fails
    the set A of criteria, the game "is this patient excluded by criteria S" is 1 exactly when
    S meets A, and its Shapley value gives each criterion of A the share 1/|A|. In the
    confirmed view A is every criterion not passed (FALSE or UNKNOWN); in the potential view
    only the FALSE ones. The impacts therefore sum to the ineligible count.
    """
    m = _Matrix.of(hist, n)
    total = int(m.counts.sum())
    true = m.counts @ m.passed.astype(np.int64)
    unknown = m.counts @ m.unknown.astype(np.int64)
    views = {}
    for name, excluded in (("confirmed", ~m.passed), ("potential", m.failed)):
        size = excluded.sum(axis=1)
        single = size == 1
        gain = m.counts[single] @ excluded[single].astype(np.int64)
        impact = [Fraction(0)] * n
        # shares grouped by the size of the excluded set: exact Fractions, one per size
        for s in np.unique(size[size > 0]):
            rows = size == s
            per_k = m.counts[rows] @ excluded[rows].astype(np.int64)
            for k in np.nonzero(per_k)[0]:
                impact[k] += Fraction(int(per_k[k]), int(s))
        views[name] = (gain, impact)
    return [
        CriterionView(
            index=k,
            alone_true=int(true[k]),
            alone_false=total - int(true[k]) - int(unknown[k]),
            alone_unknown=int(unknown[k]),
            loo_gain=int(views["confirmed"][0][k]),
            loo_gain_potential=int(views["potential"][0][k]),
            impact=views["confirmed"][1][k],
            impact_potential=views["potential"][1][k],
        )
        for k in range(n)
    ]

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

from feasibility.criteria.model import Criterion

Masks = tuple[int, int]
Histogram = Mapping[Masks, int]


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


def _failed(passed: int, unknown: int, full: int) -> int:
    return full & ~(passed | unknown)


def waterfall(hist: Histogram, n: int, order: Sequence[int]) -> list[Step]:
    """The sequential waterfall: step k counts, among patients still confirmed eligible after
    steps 1..k-1, those who pass, fail or are UNKNOWN for the k-th criterion of `order`;
    `potentially_eligible` counts those who fail none of the first k criteria."""
    full = (1 << n) - 1
    base = sum(hist.values())
    steps = [Step(None, base, 0, 0, base, base)]
    required = 0
    for k in order:
        bit = 1 << k
        passed = failed = unknown = potential = 0
        seen = required | bit
        for (p, u), count in hist.items():
            f = _failed(p, u, full)
            if f & seen == 0:
                potential += count
            if p & required != required:
                continue
            if p & bit:
                passed += count
            elif u & bit:
                unknown += count
            else:
                failed += count
        required |= bit
        steps.append(Step(k, passed, failed, unknown, passed, potential))
    return steps


def _confirmed(hist: Histogram, required: int) -> int:
    return sum(c for (p, _), c in hist.items() if p & required == required)


def most_restrictive_order(hist: Histogram, n: int) -> list[int]:
    """Greedy order: each step takes the criterion that leaves the fewest patients confirmed
    eligible; ties keep protocol order."""
    remaining = list(range(n))
    order: list[int] = []
    required = 0
    while remaining:
        best = min(remaining, key=lambda k: (_confirmed(hist, required | (1 << k)), k))
        order.append(best)
        remaining.remove(best)
        required |= 1 << best
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
    full = (1 << n) - 1
    total = sum(hist.values())
    eligible = potential = 0
    true = [0] * n
    unknown = [0] * n
    # patients who pass every criterion but k (confirmed / potential view)
    only_k = [0] * n
    only_k_pot = [0] * n
    # shares grouped by the size of the failed set, so Fractions are summed once per size
    share = [dict() for _ in range(n)]
    share_pot = [dict() for _ in range(n)]
    for (p, u), count in hist.items():
        not_passed = full & ~p
        f = _failed(p, u, full)
        if not_passed == 0:
            eligible += count
        if f == 0:
            potential += count
        for k in _bits(p):
            true[k] += count
        for k in _bits(u & ~p):
            unknown[k] += count
        if not_passed and not_passed & (not_passed - 1) == 0:
            only_k[not_passed.bit_length() - 1] += count
        if f and f & (f - 1) == 0:
            only_k_pot[f.bit_length() - 1] += count
        for mask, shares in ((not_passed, share), (f, share_pot)):
            if mask:
                size = mask.bit_count()
                for k in _bits(mask):
                    shares[k][size] = shares[k].get(size, 0) + count
    return [
        CriterionView(
            index=k,
            alone_true=true[k],
            alone_false=total - true[k] - unknown[k],
            alone_unknown=unknown[k],
            loo_gain=only_k[k],
            loo_gain_potential=only_k_pot[k],
            impact=sum((Fraction(c, size) for size, c in share[k].items()), Fraction(0)),
            impact_potential=sum((Fraction(c, size) for size, c in share_pot[k].items()), Fraction(0)),
        )
        for k in range(n)
    ]


def _bits(mask: int) -> Iterable[int]:
    k = 0
    while mask:
        if mask & 1:
            yield k
        mask >>= 1
        k += 1

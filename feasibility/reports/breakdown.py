"""Small-cell protection across a report's sites.

Each count of the `ALL` block is the sum of the same count at every site, so the sites'
published counts constrain a suppressed total, and the reverse. With 0 published exactly and
a suppressed count known to lie in 1..12 (`<13`, at K = 11), twelve sites each showing `<13`
under a total of `<13` would pin every one of them to 1. Two steps prevent it:

1. At a site, a 0 whose `ALL` count is suppressed is shown suppressed too, so a suppressed
   site count there may be 0 and the sum no longer bounds it from below.
2. An audit then projects, for every count, the sum `ALL = site 1 + site 2 + ...` onto the
   interval each published value leaves open (the exact projection for one linear equation
   over boxes). If a suppressed count would still be pinned to one value, the sites' counts
   are withheld and only `ALL` is published.

The intervals are what an attacker who knows `protect.py` can infer: 0 is exact; a
suppressed primary lies below `Protection.shown_from` (from 0 after step 1); a rounded one
within 2 of its value (from `shown_from` when it is the smallest value shown); an impact, a
sum of fractions of patients, anywhere below `shown_from` when suppressed; a derived count
within 6 of its value, since it is a difference of up to three published numbers (and,
suppressed, of any size: an operand may be suppressed).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from feasibility.protect import DERIVED_KEYS, ROUND_TO, Protection

# numbers in the blocks that are not counts of patients (the monthly trends, sums of
# published months, are added after the audit)
NOT_COUNTS = frozenset({"step", "months_back", "month_end"})
# a site's base population has at least one patient: the site would not be listed otherwise
AT_LEAST_ONE = frozenset(
    {("base",), *((("waterfall", 0, k)) for k in ("passed", "eligible", "potentially_eligible"))}
)

SITES_WITHHELD = (
    "the sites' counts are not shown: with ALL they would let a suppressed count be worked out "
    "(see docs/report-schema.md)"
)

CellPath = tuple[Any, ...]


def _count_paths(block: Any, path: CellPath = ()) -> Iterator[CellPath]:
    """Paths of the count cells in a site block (or an incidence block)."""
    if isinstance(block, dict):
        for key, value in block.items():
            if key not in NOT_COUNTS:
                yield from _count_paths(value, (*path, key))
    elif isinstance(block, list):
        for i, value in enumerate(block):
            yield from _count_paths(value, (*path, i))
    elif block is None or (isinstance(block, int | float) and not isinstance(block, bool)):
        yield path


def _get(block: Any, path: CellPath) -> Any:
    for key in path:
        block = block[key]
    return block


def _set(block: Any, path: CellPath, value: Any) -> None:
    for key in path[:-1]:
        block = block[key]
    block[path[-1]] = value


def _kind(path: CellPath) -> str:
    key = str(path[-1])
    return "derived" if key in DERIVED_KEYS else "share" if key.startswith("impact") else "count"


def published_range(
    value: float | None, kind: str, may_be_zero: bool, protect: Protection
) -> tuple[float, float]:
    """The values a published `value` leaves open (see the module docstring)."""
    k = protect.shown_from()  # the smallest count published
    if value is None:
        if kind == "share":
            return 0, k  # a sum of fractions of patients: anywhere below the smallest shown
        # a derived count is also suppressed when one of its operands is, whatever its size
        return (0 if may_be_zero else 1), (math.inf if kind == "derived" else k - 1)
    if value == 0:
        return 0, 0
    if kind == "derived":
        return max(1, value - 6), value + 6
    half = ROUND_TO / 2
    if value > protect.smallest_shown():
        return value - half, value + half
    # the smallest value shown also stands for the smallest counts shown (ROUND_TO for 1 up)
    if kind == "share":
        return (0 if value == ROUND_TO else value - half), value + half
    return k, value + half


def protect_breakdown(total: dict, parts: list[dict], protect: Protection) -> bool:
    """Hide the parts' zeros under suppressed totals (step 1), in place; return whether the
    parts may be published (step 2: no suppressed count is pinned by the sum)."""
    if protect.exact or not parts:
        return True
    for path in _count_paths(total):
        if _get(total, path) is not None:
            continue
        for part in parts:
            if _get(part, path) == 0:
                _set(part, path, None)
    return all(_unpinned(path, total, parts, protect) for path in _count_paths(total))


def _unpinned(path: CellPath, total: dict, parts: list[dict], protect: Protection) -> bool:
    kind = _kind(path)
    shown_total = _get(total, path)
    lo_t, hi_t = published_range(shown_total, kind, False, protect)
    boxes = []
    for part in parts:
        lo, hi = published_range(_get(part, path), kind, shown_total is None, protect)
        boxes.append((max(lo, 1) if path in AT_LEAST_ONE else lo, hi))
    sum_lo, sum_hi = sum(lo for lo, _ in boxes), sum(hi for _, hi in boxes)
    if shown_total is None and max(lo_t, sum_lo) >= min(hi_t, sum_hi):
        return False
    for part, (lo, hi) in zip(parts, boxes, strict=True):
        if _get(part, path) is None:
            # the part's own range once the others take any values their ranges allow
            low = max(lo, lo_t - (sum_hi - hi))
            high = min(hi, hi_t - (sum_lo - lo))
            if low >= high:
                return False
    return True

"""Patients counted by their (passed, unknown) criterion masks, held as numpy arrays.

The histogram query gives, per trial and site, one row per distinct pair of masks with the
number of patients who have it; each mask comes as BIGINT words of WORD_BITS bits (bit j of
word i is criterion i * WORD_BITS + j). The rows stay arrays from the query to the attrition
views: at a million patients there are about a million rows, and a Python int and a Counter
entry per row cost seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

# criterion bits per signed BIGINT word: with the sign bit clear a word is the same
# non-negative number in every engine and in numpy's int64
WORD_BITS = 62

Masks = tuple[int, int]  # (passed, unknown) as Python ints, bit k = criterion k


def join_words(words: Iterable[int]) -> int:
    """One mask as a Python int from its words, lowest first."""
    value = 0
    for i, w in enumerate(words):
        value |= int(w) << (i * WORD_BITS)
    return value


def split_words(mask: int, n_words: int) -> list[int]:
    """A Python-int mask as `n_words` words, lowest first."""
    low = (1 << WORD_BITS) - 1
    return [(mask >> (i * WORD_BITS)) & low for i in range(n_words)]


@dataclass(frozen=True, eq=False)
class MaskHistogram:
    """One trial at one site: `counts[i]` patients have the masks of row i."""

    counts: np.ndarray  # (rows,) int64
    passed: np.ndarray  # (rows, words) int64
    unknown: np.ndarray  # (rows, words) int64

    @classmethod
    def from_counter(cls, counter: Mapping[Masks, int], n_words: int) -> MaskHistogram:
        """From masks as Python ints (the reference evaluator's form, and hand-written tests)."""
        keys = list(counter)
        return cls(
            counts=np.array([counter[k] for k in keys], dtype=np.int64),
            passed=np.array([split_words(p, n_words) for p, _ in keys], dtype=np.int64).reshape(-1, n_words),
            unknown=np.array([split_words(u, n_words) for _, u in keys], dtype=np.int64).reshape(-1, n_words),
        )

    def as_counter(self) -> Counter[Masks]:
        """Patients by masks as Python ints: to compare with the reference evaluator or across
        engines, whose rows may come in any order."""
        out: Counter[Masks] = Counter()
        for n, p, u in zip(self.counts.tolist(), self.passed.tolist(), self.unknown.tolist(), strict=True):
            out[(join_words(p), join_words(u))] += n
        return out


@dataclass(frozen=True, eq=False)
class CriteriaMatrix:
    """A histogram unpacked for the attrition views: per criterion k and row i whether the
    row's patients pass criterion k, are UNKNOWN for it, or fail it (exactly one holds).
    Criteria are the first axis, so one criterion's values over all rows are contiguous."""

    counts: np.ndarray  # (rows,) int64
    passed: np.ndarray  # (criteria, rows) bool
    unknown: np.ndarray  # (criteria, rows) bool
    failed: np.ndarray  # (criteria, rows) bool

    @classmethod
    def of(cls, hist: MaskHistogram, n: int) -> CriteriaMatrix:
        """The first `n` bits of the histogram's masks."""
        passed = _unpack(hist.passed, n)
        unknown = _unpack(hist.unknown, n) & ~passed
        return cls(hist.counts, passed, unknown, ~(passed | unknown))

    @classmethod
    def empty(cls, n: int) -> CriteriaMatrix:
        """No patients."""
        none = np.zeros((n, 0), dtype=bool)
        return cls(np.zeros(0, dtype=np.int64), none, none, none)

    @property
    def n(self) -> int:
        """The number of criteria."""
        return self.passed.shape[0]

    def total(self, rows: np.ndarray | None = None) -> int:
        """Patients in all rows, or in the rows at the indices `rows`."""
        return int(self.counts.sum() if rows is None else self.counts[rows].sum())


def _unpack(words: np.ndarray, n: int) -> np.ndarray:
    """(rows, words) int64 masks as an (n, rows) boolean matrix."""
    by_word = np.ascontiguousarray(words.T)
    out = np.empty((n, words.shape[0]), dtype=bool)
    for k in range(n):
        word, bit = divmod(k, WORD_BITS)
        np.not_equal(by_word[word] & np.int64(1 << bit), 0, out=out[k])
    return out

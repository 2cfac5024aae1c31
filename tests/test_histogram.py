"""The histogram query's result as arrays: split per trial and site, the same from DuckDB's
numpy columns and from Python rows (Spark's `collect()`), masks of several words kept whole."""

from __future__ import annotations

from collections import Counter

import numpy as np

from feasibility.analytics.histogram import WORD_BITS, CriteriaMatrix, MaskHistogram
from feasibility.criteria.model import Criterion, Trial
from feasibility.evaluate.driver import histogram_columns, histogram_counts
from tests.support import mask_counters

# two words per mask: 70 criteria; trial B has one site only, trial C none
TRIALS = [
    Trial(t, t, tuple(Criterion(f"c{k}", "inclusion", f"criterion {k}") for k in range(70)))
    for t in ("A", "B", "C")
]
HIGH = 1 << 69  # criterion 69, in the second word
# trial_id, site_id, p0, p1, u0, u1, n
ROWS = [
    ("A", "S2", 3, 1, 0, 0, 7),
    ("B", "S1", 0, 0, 1, 0, 2),
    ("A", "S1", 3, 1, 0, 0, 4),
    ("A", "S1", 0, 0, 0, 1, 1),
    ("A", "S2", 1, 0, 0, 0, 5),
]


def test_rows_split_per_trial_and_site():
    got = histogram_counts(TRIALS, histogram_columns(TRIALS, ROWS))
    assert mask_counters(got) == {
        "A": {
            "S1": Counter({(3 | (1 << WORD_BITS), 0): 4, (0, 1 << WORD_BITS): 1}),
            "S2": Counter({(3 | (1 << WORD_BITS), 0): 7, (1, 0): 5}),
        },
        "B": {"S1": Counter({(0, 1): 2})},
        "C": {},
    }


def test_numpy_columns_as_duckdb_fetches_them():
    columns = histogram_columns(TRIALS, ROWS)
    as_numpy = [np.array(c, dtype=object) for c in columns[:2]] + [np.array(c) for c in columns[2:]]
    assert mask_counters(histogram_counts(TRIALS, as_numpy)) == mask_counters(
        histogram_counts(TRIALS, columns)
    )


def test_no_rows():
    assert histogram_counts(TRIALS, histogram_columns(TRIALS, [])) == {"A": {}, "B": {}, "C": {}}


def test_masks_round_trip_and_unpack():
    counter = Counter({(HIGH | 1, 2): 3, (0, HIGH): 1})
    hist = MaskHistogram.from_counter(counter, 2)
    assert hist.as_counter() == counter
    m = CriteriaMatrix.of(hist, 70)
    assert m.n == 70 and m.total() == 4
    first = list(counter).index((HIGH | 1, 2))
    assert np.flatnonzero(m.passed[:, first]).tolist() == [0, 69]
    assert np.flatnonzero(m.unknown[:, first]).tolist() == [1]
    assert m.failed[:, first].sum() == 67
    # a bit both passed and UNKNOWN counts as passed
    both = CriteriaMatrix.of(MaskHistogram.from_counter(Counter({(1, 1): 1}), 1), 1)
    assert both.passed.tolist() == [[True]] and not both.unknown.any() and not both.failed.any()

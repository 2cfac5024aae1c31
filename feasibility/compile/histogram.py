"""Per trial and site, patients counted by their (passed, unknown) criterion bit masks.

Every attrition view (waterfall in any order, each criterion alone, leave-one-out, impact)
follows from this histogram without another scan. Masks are split into 62-bit words so a
trial may have any number of criteria.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from feasibility.analytics.histogram import WORD_BITS
from feasibility.compile.predicates import Pair, PredicateCompiler
from feasibility.compile.sqlexpr import case, col, lit, paren, union_all
from feasibility.compile.tables import RUN
from feasibility.criteria.model import Trial


def words_needed(trials: Sequence[Trial]) -> int:
    """Mask words per patient for the trial with the most criteria (one bit per criterion)."""
    return max(1, *(-(-len(t.criteria) // WORD_BITS) for t in trials))


def masks_query(verdicts: Sequence[Pair], n_words: int, table: str, columns: Sequence[str]) -> exp.Select:
    """Per row of `table`: `columns`, then the BIGINT words of the passed mask p0.. and of
    the unknown mask u0.. (bit k = criterion k), from each criterion's (passes, fails).

    Each criterion's two sides are evaluated once, into the passed and the failed words;
    a criterion neither passed nor failed is unknown, so the unknown word is the word's
    criteria bits minus the other two (the sides never hold together)."""
    passed: list[exp.Expr] = []
    failed: list[exp.Expr] = []
    unknown: list[exp.Expr] = []
    for w in range(n_words):
        p_word: exp.Expr = _bigint(lit(0))
        f_word: exp.Expr = _bigint(lit(0))
        in_word = range(w * WORD_BITS, min(len(verdicts), (w + 1) * WORD_BITS))
        for k in in_word:
            bit = lit(1 << (k - w * WORD_BITS))
            passes, fails = verdicts[k]
            # a CASE per side costs about a third less than multiplying the side read as 0 or 1
            p_word = exp.Add(this=p_word, expression=case([(passes, bit)], lit(0)))
            f_word = exp.Add(this=f_word, expression=case([(fails, bit.copy())], lit(0)))
        passed.append(p_word.as_(f"p{w}", copy=False))
        failed.append(f_word.as_(f"f{w}", copy=False))
        every = _bigint(lit((1 << len(in_word)) - 1))
        unknown.append(
            exp.Sub(this=exp.Sub(this=every, expression=col(f"p{w}")), expression=col(f"f{w}")).as_(
                f"u{w}", copy=False
            )
        )
    sides = exp.select(*[col(c) for c in columns], *passed, *failed).from_(table, copy=False)
    return exp.select(*[col(c) for c in columns], *[col(f"p{w}") for w in range(n_words)], *unknown).from_(
        sides.subquery("sides", copy=False), copy=False
    )


def _bigint(value: exp.Expr) -> exp.Expr:
    return exp.cast(paren(value), "BIGINT", copy=False)


def patient_masks_table(position: int) -> str:
    """The table of each patient's masks for the trial at `position` in the run, kept for
    the patient list."""
    return f"patient_masks_{position}"


def trial_masks_query(
    trial: Trial, compiler: PredicateCompiler, n_words: int, table: str, columns: Sequence[str]
) -> exp.Select:
    """Per row of `table`: `columns` and the trial's mask words (see `masks_query`)."""
    return masks_query([compiler.verdict(c) for c in trial.criteria], n_words, table, columns)


def histogram_query(
    trials: Sequence[Trial],
    compiler: PredicateCompiler,
    table: str = RUN.patients,
    kept_masks: bool = False,
) -> exp.Expr:
    """One UNION ALL of per-trial GROUP BYs: trial_id, site_id, p0.., u0.., n. The masks
    are made in a subquery and grouped by name: Spark analyses a GROUP BY over large
    expressions very slowly. With `kept_masks` each trial's masks are read from its
    `patient_masks_table` instead, so a run that lists patients evaluates them once."""
    n_words = words_needed(trials)
    words = [f"{side}{i}" for side in "pu" for i in range(n_words)]
    branches = []
    for position, trial in enumerate(trials):
        masks: exp.Expr
        if kept_masks:
            masks = exp.to_table(patient_masks_table(position))
        else:
            masks = trial_masks_query(trial, compiler, n_words, table, ["site_id"]).subquery(
                "masks", copy=False
            )
        branches.append(
            exp.select(
                lit(trial.id).as_("trial_id", copy=False),
                col("site_id"),
                *[col(w) for w in words],
                exp.Count(this=exp.Star()).as_("n", copy=False),
            )
            .from_(masks, copy=False)
            .group_by(col("site_id"), *[col(w) for w in words], copy=False)
        )
    return union_all(branches)

"""Per trial and site, patients counted by their (passed, unknown) criterion bit masks.

Every attrition view (waterfall in any order, each criterion alone, leave-one-out, impact)
follows from this histogram without another scan. Masks are split into 62-bit words so a
trial may have any number of criteria.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from feasibility.compile.predicates import Pair, PredicateCompiler
from feasibility.compile.sqlexpr import col, lit, or_, paren, union_all
from feasibility.criteria.model import Trial

WORD_BITS = 62


def words_needed(trials: Sequence[Trial]) -> int:
    return max(1, *(-(-len(t.criteria) // WORD_BITS) for t in trials))


def mask_words(verdicts: Sequence[Pair], n_words: int) -> tuple[list, list]:
    """BIGINT words of the passed and unknown masks (bit k = criterion k), from each
    criterion's (passes, fails)."""
    passed: list[exp.Expression] = []
    unknown: list[exp.Expression] = []
    for w in range(n_words):
        p_word: exp.Expression = exp.cast(lit(0), "BIGINT", copy=False)
        u_word: exp.Expression = exp.cast(lit(0), "BIGINT", copy=False)
        for k in range(w * WORD_BITS, min(len(verdicts), (w + 1) * WORD_BITS)):
            bit = lit(1 << (k - w * WORD_BITS))
            passes, fails = verdicts[k]
            neither = exp.Not(this=paren(or_(passes.copy(), fails)))
            p_word = exp.Add(this=p_word, expression=exp.Mul(this=_bigint(passes), expression=bit))
            u_word = exp.Add(this=u_word, expression=exp.Mul(this=_bigint(neither), expression=bit.copy()))
        passed.append(p_word)
        unknown.append(u_word)
    return passed, unknown


def _bigint(value: exp.Expression) -> exp.Expression:
    return exp.cast(paren(value), "BIGINT", copy=False)


def histogram_query(
    trials: Sequence[Trial], compiler: PredicateCompiler, table: str = "patients", group_outside: bool = False
) -> exp.Expression:
    """One UNION ALL of per-trial GROUP BYs: trial_id, site_id, p0.., u0.., n.

    With `group_outside` (for Spark, which analyses a GROUP BY over large expressions very
    slowly) each criterion is evaluated once in a subquery, the words in the next one, and
    they are grouped by name outside; the counts are the same."""
    n_words = words_needed(trials)
    branches = []
    for trial in trials:
        verdicts = [compiler.verdict(c) for c in trial.criteria]
        source: exp.Expression | str = table
        if group_outside:
            values = [
                e.as_(f"c{k}{side}", copy=False)
                for k, v in enumerate(verdicts)
                for e, side in zip(v, "pf", strict=True)
            ]
            source = exp.select(col("site_id"), *values).from_(table, copy=False).subquery("criteria")
            verdicts = [(col(f"c{k}p"), col(f"c{k}f")) for k in range(len(verdicts))]
        passed, unknown = mask_words(verdicts, n_words)
        select = [lit(trial.id).as_("trial_id", copy=False), col("site_id")]
        words = [w.as_(f"p{i}", copy=False) for i, w in enumerate(passed)]
        words += [w.as_(f"u{i}", copy=False) for i, w in enumerate(unknown)]
        if group_outside:
            masks = exp.select(col("site_id"), *words).from_(source, copy=False).subquery("masks")
            select += [col(w.alias) for w in words]
            select.append(exp.Count(this=exp.Star()).as_("n", copy=False))
            group = [col("site_id"), *[col(w.alias) for w in words]]
            branches.append(exp.select(*select).from_(masks, copy=False).group_by(*group, copy=False))
            continue
        select += words
        select.append(exp.Count(this=exp.Star()).as_("n", copy=False))
        group = [col("site_id"), *[exp.Literal.number(i + 3) for i in range(2 * n_words)]]
        branches.append(exp.select(*select).from_(table, copy=False).group_by(*group, copy=False))
    return union_all(branches)

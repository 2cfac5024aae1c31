"""Per trial and site, patients counted by their (passed, unknown) criterion bit masks.

Every attrition view (waterfall in any order, each criterion alone, leave-one-out, impact)
follows from this histogram without another scan. Masks are split into 62-bit words so a
trial may have any number of criteria.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from feasibility.compile.predicates import PredicateCompiler
from feasibility.compile.sqlexpr import case, col, lit, union_all
from feasibility.criteria.model import Trial

WORD_BITS = 62


def words_needed(trials: Sequence[Trial]) -> int:
    return max(1, *(-(-len(t.criteria) // WORD_BITS) for t in trials))


def mask_words(passes: Sequence[exp.Expression], n_words: int) -> tuple[list, list]:
    """BIGINT words of the passed and unknown masks (bit k = criterion k)."""
    passed: list[exp.Expression] = []
    unknown: list[exp.Expression] = []
    for w in range(n_words):
        p_word: exp.Expression = exp.cast(lit(0), "BIGINT", copy=False)
        u_word: exp.Expression = exp.cast(lit(0), "BIGINT", copy=False)
        for k in range(w * WORD_BITS, min(len(passes), (w + 1) * WORD_BITS)):
            bit = lit(1 << (k - w * WORD_BITS))
            pred = passes[k]
            p_word = exp.Add(this=p_word, expression=case([(exp.Paren(this=pred), bit)], lit(0)))
            u_word = exp.Add(
                this=u_word,
                expression=case([(exp.Is(this=exp.Paren(this=pred), expression=exp.null()), bit)], lit(0)),
            )
        passed.append(p_word)
        unknown.append(u_word)
    return passed, unknown


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
        passes = [compiler.passes(c) for c in trial.criteria]
        source: exp.Expression | str = table
        if group_outside:
            values = [p.as_(f"c{k}", copy=False) for k, p in enumerate(passes)]
            source = exp.select(col("site_id"), *values).from_(table, copy=False).subquery("criteria")
            passes = [col(f"c{k}") for k in range(len(passes))]
        passed, unknown = mask_words(passes, n_words)
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

"""Rules -> SQL predicates over the per-patient feature table.

A rule compiles to a pair of two-valued booleans, (is TRUE, is FALSE); neither means
UNKNOWN. Kleene's three-valued logic becomes plain Boolean algebra on the pair (AND: TRUE
if all are TRUE, FALSE if any is FALSE; NOT swaps the two), which a vectorised engine
evaluates without the CASE branches a NULL-valued predicate needs at every step. `rule`
gives the familiar three-valued form (NULL for UNKNOWN) where one value is wanted.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from feasibility.compile.atoms import in_window, truth_pair
from feasibility.compile.derived import latest, range_columns
from feasibility.compile.plan import ConceptAtom, Plan
from feasibility.compile.sqlexpr import (
    and_,
    case,
    col,
    compare,
    field,
    func,
    lit,
    not_,
    or_,
    paren,
)
from feasibility.criteria.model import (
    Age,
    All,
    AnyOf,
    AtLeast,
    Comparison,
    Criterion,
    Derived,
    Duration,
    History,
    InCare,
    Measurement,
    Medication,
    Not,
    Rule,
    Sex,
)

Pair = tuple[exp.Expr, exp.Expr]  # (is TRUE, is FALSE), never NULL


def _is(value: exp.Expr) -> exp.Expr:
    """A three-valued boolean as a two-valued one: TRUE only when it is TRUE."""
    return func("coalesce", paren(value), exp.false())


def from_three_valued(value: exp.Expr) -> Pair:
    """A three-valued boolean as its (is TRUE, is FALSE) pair of two-valued ones."""
    return _is(value), _is(not_(value.copy()))


def to_three_valued(pair: Pair) -> exp.Expr:
    """An (is TRUE, is FALSE) pair as one three-valued boolean: neither is UNKNOWN (NULL)."""
    is_true, is_false = pair
    return case([(is_true, exp.true()), (is_false, exp.false())])


def _count(values: list[exp.Expr]) -> exp.Expr:
    total: exp.Expr = lit(0)
    for value in values:
        total = exp.Add(this=total, expression=exp.cast(paren(value), "INT"))
    return total


def _interval(low: exp.Expr, high: exp.Expr, cmp: Comparison) -> Pair:
    """A comparison on a value known only to lie in [low, high]: TRUE if it holds at both
    ends, FALSE if at neither, otherwise UNKNOWN (as for NULL bounds). Exact for the
    monotone bounds we use (an age range, a measure over it)."""
    at_low, at_high = compare(low, cmp), compare(high, cmp)
    return _is(and_(at_low, at_high)), _is(and_(not_(at_low.copy()), not_(at_high.copy())))


def _atom_leaf(rule: Rule) -> tuple[ConceptAtom, bool] | None:
    """A concept atom under any number of NOTs, as (atom, negated); else None."""
    negated = False
    while isinstance(rule, Not):
        rule, negated = rule.part, not negated
    if isinstance(rule, History | Measurement | Medication):
        return rule, negated
    return None


class PredicateCompiler:
    """Compiles rules against one feature plan."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.index = col("idx")

    def rule(self, rule: Rule) -> exp.Expr:
        """The rule's value per patient: TRUE, FALSE or NULL for UNKNOWN."""
        return to_three_valued(self.pair(rule))

    def pair(self, rule: Rule) -> Pair:
        """The rule's value per patient as (is TRUE, is FALSE)."""
        if isinstance(rule, History | Measurement | Medication):
            return self._joined([rule], every=True)
        if isinstance(rule, All):
            return self._joined(rule.parts, every=True)
        if isinstance(rule, AnyOf):
            return self._joined(rule.parts, every=False)
        if isinstance(rule, Age):
            return _interval(col("age_lo"), col("age_hi"), rule.compare)
        if isinstance(rule, Derived):
            return self._derived(rule)
        if isinstance(rule, Not):
            is_true, is_false = self.pair(rule.part)
            return is_false, is_true
        if isinstance(rule, AtLeast):
            parts = [self.pair(p) for p in rule.parts]
            # TRUE with n TRUE parts; FALSE when fewer than n could still be TRUE
            true_count = _count([t for t, _ in parts])
            possible = _count([not_(f) for _, f in parts])
            return (
                exp.GTE(this=true_count, expression=lit(rule.n)),
                exp.LT(this=possible, expression=lit(rule.n)),
            )
        method = getattr(self, f"_{type(rule).__name__.lower()}")
        return from_three_valued(method(rule))

    def _joined(self, parts: Sequence[Rule], every: bool) -> Pair:
        """`parts` joined by AND (`every`) or OR. The concept atoms among them, and their
        negations, are tested a mask word at a time (see `truth_pair`): a criterion listing
        ten diagnoses costs one test, not ten."""
        masks: dict[tuple[int, bool], int] = {}  # (word, negated) -> the atoms' bits
        pairs: list[Pair] = []
        for part in parts:
            leaf = _atom_leaf(part)
            if leaf is None:
                pairs.append(self.pair(part))
                continue
            atom, negated = leaf
            w, low = self.plan.atom_bit(atom)
            masks[w, negated] = masks.get((w, negated), 0) | low
        tested: list[Pair] = []
        for (w, negated), mask in masks.items():
            # NOT swaps TRUE and FALSE, and AND of negations is the negation of OR
            is_true, is_false = truth_pair(w, mask, every != negated)
            tested.append((is_false, is_true) if negated else (is_true, is_false))
        pairs = tested + pairs
        if every:
            return and_(*(t for t, _ in pairs)), or_(*(f for _, f in pairs))
        return or_(*(t for t, _ in pairs)), and_(*(f for _, f in pairs))

    # ------------------------------------------------------------ patient-level atoms

    def _incare(self, rule: InCare) -> exp.Expr:
        # a record in the window, and not dead by the index date (`patients_query`)
        seen = func("coalesce", in_window(col("last_seen"), self.index, rule.within), exp.false())
        return and_(seen, not_(col("dead_by_index")))

    def _sex(self, rule: Sex) -> exp.Expr:
        sex = col("sex")
        known = exp.In(this=sex, expressions=[lit("F"), lit("M")])
        return case([(known, exp.In(this=sex, expressions=[lit(v) for v in rule.values]))])

    def _present(self, concept: str, within: Duration | None) -> exp.Expr:
        return in_window(field(latest(self.plan, concept), "d"), self.index, within)

    def _derived(self, rule: Derived) -> Pair:
        present = and_(*[self._present(concept, rule.within) for concept in rule.inputs])
        lowest, highest = range_columns(rule.measure)
        is_true, is_false = _interval(col(lowest), col(highest), rule.threshold)
        # with no input in the window, the rule's if_missing
        present = _is(present)
        is_true, is_false = and_(present, is_true), and_(present.copy(), is_false)
        missing = rule.if_missing.as_bool()
        if missing is True:
            is_true = or_(is_true, not_(present.copy()))
        elif missing is False:
            is_false = or_(is_false, not_(present.copy()))
        return is_true, is_false

    # ------------------------------------------------------------ criteria

    def verdict(self, criterion: Criterion) -> Pair:
        """(passes, fails) the criterion: an inclusion's rule, an exclusion's negation; a
        criterion passed by neither is UNKNOWN. Not assessable criteria pass everyone."""
        if criterion.rule is None:
            return exp.true(), exp.false()
        is_true, is_false = self.pair(criterion.rule)
        return (is_true, is_false) if criterion.kind == "inclusion" else (is_false, is_true)

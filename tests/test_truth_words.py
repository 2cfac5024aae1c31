"""The atoms' truth words and the criteria tests on them, against Kleene logic worked out
in Python for every state of the atoms involved (no row, FALSE, UNKNOWN, TRUE)."""

from __future__ import annotations

import itertools

import duckdb
import pytest
from sqlglot import exp

from feasibility.compile.atoms import truth_words
from feasibility.compile.plan import Plan
from feasibility.compile.predicates import PredicateCompiler
from feasibility.compile.sqlexpr import col
from feasibility.criteria.model import All, AnyOf, History, Not, Rule, Truth, walk

# 34 atoms fill word 0 and spill into word 1, so a criterion can join atoms of two words
ATOMS = tuple(History(f"c{i}", if_missing=list(Truth)[i % 3]) for i in range(34))
PLAN = Plan(concepts=(), counts=(), atoms=ATOMS)
A, B, C = ATOMS[0], ATOMS[1], ATOMS[2]  # if_missing TRUE, FALSE, UNKNOWN, in word 0
D, E = ATOMS[31], ATOMS[32]  # if_missing TRUE, FALSE, in word 1
STATES = {0b00: "no row", 0b01: False, 0b10: None, 0b11: True}


def value(rule: Rule, states: dict[History, int]) -> bool | None:
    """Kleene's three-valued logic, written out."""
    if isinstance(rule, History):
        state = STATES[states[rule]]
        return rule.if_missing.as_bool() if state == "no row" else state
    if isinstance(rule, Not):
        inner = value(rule.part, states)
        return None if inner is None else not inner
    values = [value(p, states) for p in rule.parts]
    if isinstance(rule, All):
        return False if False in values else None if None in values else True
    assert isinstance(rule, AnyOf)
    return True if True in values else None if None in values else False


RULES = [
    A,
    Not(B),
    AnyOf((A, B, C)),
    All((A, B, C)),
    AnyOf((A, Not(B), C, D)),
    All((Not(A), B, Not(Not(C)), Not(E))),
    AnyOf((All((A, D)), Not(AnyOf((B, E))), C)),
    All((A, A, Not(A))),  # an atom both plain and negated in one join
]


@pytest.mark.parametrize("rule", RULES, ids=range(len(RULES)))
def test_criteria_on_truth_words_follow_kleene_logic(rule):
    atoms = sorted({a for a in (A, B, C, D, E) if a in walk(rule)}, key=PLAN.atom_index)
    rows = []
    for combo in itertools.product(STATES, repeat=len(atoms)):
        words = [0] * PLAN.atom_words
        for atom, state in zip(atoms, combo, strict=True):
            w, low = PLAN.atom_bit(atom)
            words[w] |= state * low
        rows.append((combo, words))
    con = duckdb.connect()
    con.execute(f"CREATE TABLE masks (k INT, {', '.join(f'a{w} BIGINT' for w in range(PLAN.atom_words))})")
    con.executemany("INSERT INTO masks VALUES (?, ?, ?)", [(k, *words) for k, (_, words) in enumerate(rows)])
    patients = exp.select(col("k"), *truth_words(PLAN, lambda w: col(f"a{w}"))).from_("masks")
    verdict = PredicateCompiler(PLAN).rule(rule)
    query = exp.select(col("k"), verdict).from_(patients.subquery("p")).order_by(col("k"))
    got = [v for _, v in con.execute(query.sql("duckdb")).fetchall()]
    expected = [value(rule, dict(zip(atoms, combo, strict=True))) for combo, _ in rows]
    assert got == expected


def test_truth_words_hold_one_bit_per_atom_and_value():
    # every atom of word 0 in each state at once: no row, FALSE, UNKNOWN, TRUE in turn
    states = [i % 4 for i in range(31)]
    word = sum(s << (2 * i) for i, s in enumerate(states))
    con = duckdb.connect()
    true_word, false_word = con.execute(
        exp.select(
            *truth_words(PLAN, lambda w: exp.cast(exp.Literal.number(word if w == 0 else 0), "BIGINT"))
        ).sql("duckdb")
    ).fetchone()[:2]
    for i, state in enumerate(states):
        atom = ATOMS[i]
        truth = STATES[state]
        truth = atom.if_missing.as_bool() if truth == "no row" else truth
        assert (true_word >> (2 * i) & 1, false_word >> (2 * i) & 1) == (truth is True, truth is False)
    assert true_word & false_word == 0
    assert (true_word | false_word) & ~sum(1 << (2 * i) for i in range(31)) == 0  # only low bits

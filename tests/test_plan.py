"""The feature plan: which pass holds each atom, and where its bits sit in the masks."""

from __future__ import annotations

from feasibility.compile.plan import FAMILIES, plan_features
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import History, Measurement, Medication

TRIALS, LIBRARY = load_trials(None)  # the seed trials: every family has atoms
PLAN = plan_features(TRIALS, LIBRARY)


def test_each_atom_is_read_by_the_pass_of_its_kind():
    for atom in PLAN.atoms:
        family = PLAN.family(atom)
        if isinstance(atom, History):
            assert family == "records"
        elif isinstance(atom, Measurement):
            assert family == "results"
        else:
            assert isinstance(atom, Medication)
            counts_days = atom.min_days > 1 or atom.dose is not None
            assert family == ("coverage" if counts_days else "exposures")
    assert {PLAN.family(a) for a in PLAN.atoms} == set(FAMILIES)


def test_a_familys_atoms_take_consecutive_bits_in_family_order():
    # each pass writes only the mask words its atoms occupy (atoms.with_atom_words)
    ranks = [FAMILIES.index(PLAN.family(a)) for a in PLAN.atoms]
    assert ranks == sorted(ranks)
    for family in FAMILIES:
        words = {PLAN.atom_bit(a)[0] for a in PLAN.family_atoms(family)}
        assert words == set(PLAN.family_words(family))


def test_a_concepts_atoms_sit_together():
    for family in FAMILIES:
        concepts = [PLAN.concept_id(a.concept) for a in PLAN.family_atoms(family)]
        assert concepts == sorted(concepts)


def test_no_atoms_no_words():
    plan = plan_features([], LIBRARY)
    assert all(plan.family_words(f) == range(0) for f in FAMILIES)
    assert plan.atom_words == 1  # the masks keep their shape

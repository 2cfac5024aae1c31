"""The feature plan: which pass holds each atom, and where its bits sit in the masks."""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from feasibility.compile import pipeline
from feasibility.compile.pipeline import sorts_by_concept
from feasibility.compile.plan import FAMILIES, plan_features
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import History, Measurement, Medication
from feasibility.evaluate.driver import summarise_dictionary
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from tests.support import REPO, mask_counters

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


def test_sorting_rows_by_concept_changes_no_answer(monkeypatch):
    # the sort only changes the order the atoms meet the rows in (pipeline.sorts_by_concept)
    options = RunOptions(as_of=date(2025, 6, 30))

    def run() -> tuple[dict, dict]:
        engine = Engine(connect(options), TRIALS, LIBRARY, options)
        result = engine.evaluate(str(REPO / "sample_data" / "extract.parquet"))
        return mask_counters(result.histograms), result.data_quality

    monkeypatch.setattr(pipeline, "SORT_AT_ATOMS_PER_CONCEPT", 10**6)
    assert not any(sorts_by_concept(PLAN, f) for f in FAMILIES)
    unsorted = run()
    monkeypatch.setattr(pipeline, "SORT_AT_ATOMS_PER_CONCEPT", 0)
    # coverage rows are sorted by their own query, before the sweeps
    assert all(sorts_by_concept(PLAN, f) for f in FAMILIES if f != "coverage")
    assert not sorts_by_concept(PLAN, "coverage")
    sorted_ = run()
    assert sorted_ == unsorted
    assert sum(n for sites in unsorted[0].values() for c in sites.values() for n in c.values()) > 0


def test_duckdb_sweeps_coverage_rows_in_concept_order():
    # DuckDB evaluates the sweeps a chunk of rows at a time (aggregate.coverage_query);
    # Spark's rows are not sorted, a sort there being a shuffle across the cluster
    def orders(dialect: str) -> list[str]:
        statements = pipeline.statements(TRIALS, PLAN, date(2025, 6, 30), False, dialect)
        (coverage,) = [s for s in statements if s.name == "patient_coverage"]
        return [key.name for order in coverage.expression.find_all(exp.Order) for key in order.expressions]

    assert orders("duckdb") == ["concept_id"]
    assert orders("spark") == []


def test_the_monthly_passes_read_only_the_codes_the_run_found():
    """Once the code map is known, the monthly passes filter the events by its codes as
    literals, which the parquet reader checks per row group, as the run's passes do; the
    subquery over the code map is for `feasibility sql`, which sees no data."""
    codes = {cid: [f"X{cid}"] for cid in range(len(PLAN.concepts))}

    def code_filters(statements: list[pipeline.Statement]) -> tuple[int, int]:
        passes = [s.expression for s in statements if s.name.startswith("patient_")]
        ins = [
            i
            for e in passes
            for i in e.find_all(exp.In)
            if isinstance(i.this, exp.Column) and i.this.name == "code"
        ]
        return sum(i.args.get("query") is not None for i in ins), sum(bool(i.expressions) for i in ins)

    subqueries, literals = code_filters(
        pipeline.monthly_statements(TRIALS, PLAN, date(2025, 6, 30), False, 3, codes)
    )
    assert (subqueries, literals > 0) == (0, True)
    subqueries, literals = code_filters(
        pipeline.monthly_statements(TRIALS, PLAN, date(2025, 6, 30), False, 3)
    )
    assert (subqueries > 0, literals) == (True, 0)


def _bound_packs(plan) -> list[str]:
    statements = pipeline.statements(TRIALS, plan, date(2025, 6, 30), False)
    (results,) = [s for s in statements if s.name == "patient_results"]
    aliases = {a.alias for a in results.expression.find_all(exp.Alias)}
    return sorted(a for a in aliases if a.startswith("latest_") and a.endswith("_bound"))


def test_bounds_are_packed_only_for_the_concepts_whose_rows_may_hold_them():
    """A number written as a bound (`<20`) packs apart from the values, which costs a pass
    an aggregate per figure: only for the concepts whose rows the code dictionary found a
    number or a titre written as a bound on. `feasibility sql`, which sees no data, packs
    every figure an atom compares with a threshold."""
    assert _bound_packs(PLAN) == [f"latest_{f}_bound" for f in ("excess", "lln", "number", "uln")]
    assert _bound_packs(PLAN.reading(frozenset())) == []
    hbv = PLAN.concept_id("hbv_dna")
    assert _bound_packs(PLAN.reading(frozenset({hbv}))) == ["latest_uln_bound"]
    assert PLAN.reading(frozenset({hbv})).bound_concepts("uln") == (hbv,)


def test_the_code_dictionary_names_the_concepts_whose_rows_may_hold_bounds():
    # (code system, code, unit, rows, rows with a number, rows of a number written as a
    # bound, rows of any bound)
    dictionary = [
        ("LOINC", "29615-2", "IU/mL", 10, 7, 3, 3),  # HBV DNA, three rows written `<20`
        ("LOINC", "1742-6", "U/L", 10, 10, 0, 0),  # ALT, numbers only
        ("LOINC", "5048-4", "", 4, 0, 0, 2),  # ANA, two titres written `<1:40`
    ]
    summary = summarise_dictionary(PLAN, dictionary)
    assert summary.written_bounds == {PLAN.concept_id("hbv_dna"), PLAN.concept_id("ana")}


def test_the_sample_packs_the_bounds_of_its_viral_loads_alone():
    # SITE-A writes viral loads below the assay's limit as `<limit` (see synth.models)
    options = RunOptions(as_of=date(2025, 6, 30))
    result = Engine(connect(options), TRIALS, LIBRARY, options).evaluate(
        str(REPO / "sample_data" / "extract.parquet")
    )
    names = {PLAN.concepts[cid].name for cid in result.written_bounds}
    assert names == {"hbv_dna", "hcv_rna", "cmv_dna", "ebv_dna"}

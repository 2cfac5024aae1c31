"""The code map's index of code patterns: a code finds exactly the concepts whose patterns
match it (`CodePattern.matches`) and whose exclusions do not, however the patterns nest."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feasibility.compile.code_map import CodeIndex, build_code_map
from feasibility.compile.plan import plan_features
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import CodePattern, Concept
from feasibility.resources import trials_dir

# a small alphabet and short codes, so that patterns often nest and codes often meet them
codes = st.text(alphabet="AB1.", min_size=0, max_size=4).map(lambda c: c.replace(".", ""))
patterns = st.builds(
    CodePattern, system=st.sampled_from(["ICD10CM", "LOINC"]), code=codes, prefix=st.booleans()
)
concepts = st.lists(
    st.builds(
        lambda i, inc, exc: Concept(name=f"c{i}", kind="condition", codes=tuple(inc), exclude=tuple(exc)),
        st.integers(0, 10**6),
        st.lists(patterns, max_size=4),
        st.lists(patterns, max_size=2),
    ),
    max_size=5,
)


def _by_testing_each_pattern(concept_list: list[Concept], system: str, code: str) -> list[int]:
    return [
        cid
        for cid, c in enumerate(concept_list)
        if any(p.matches(system, code) for p in c.codes)
        and not any(p.matches(system, code) for p in c.exclude)
    ]


@given(concepts, st.sampled_from(["ICD10CM", "LOINC", "RXNORM"]), codes)
def test_the_index_finds_what_testing_every_pattern_finds(concept_list, system, code):
    assert CodeIndex(concept_list).concepts_of(system, code) == _by_testing_each_pattern(
        concept_list, system, code
    )


def test_a_prefix_matches_below_itself_and_an_exclusion_removes_its_codes_only():
    lupus = Concept(
        name="lupus",
        kind="condition",
        codes=(CodePattern("ICD10CM", "M32", prefix=True), CodePattern("ICD10CM", "L930")),
        exclude=(CodePattern("ICD10CM", "M321", prefix=True),),
    )
    nephritis = Concept(name="nephritis", kind="condition", codes=(CodePattern("ICD10CM", "M3214"),))
    index = CodeIndex([lupus, nephritis])
    assert index.concepts_of("ICD10CM", "M32") == [0]
    assert index.concepts_of("ICD10CM", "M3210") == []
    assert index.concepts_of("ICD10CM", "M3214") == [1]  # lupus's exclusion is lupus's own
    assert index.concepts_of("ICD10CM", "M329") == [0]
    assert index.concepts_of("ICD10CM", "L930") == [0]
    assert index.concepts_of("ICD10CM", "L9300") == []  # a whole code is not a prefix
    assert index.concepts_of("ICD10CM", "M3") == []
    assert index.concepts_of("SNOMED", "M32") == []


def test_the_seed_trials_code_map_is_the_same_as_testing_every_pattern():
    """The shipped library and trials, on a dictionary of every pattern's code, a code below
    it, its parent and another system's spelling: the rows the map keeps are those that
    testing each pattern keeps."""
    trials, library = load_trials([trials_dir()])
    plan = plan_features(trials, library)
    seen = [p for c in plan.concepts for p in (*c.codes, *c.exclude)]
    dictionary = [
        (system, code, None, 1)
        for p in seen
        for system in (p.system, p.system.lower())
        for code in (p.code, p.code + "1", p.code[:-1])
    ]
    rows, _ = build_code_map(plan, dictionary)
    expected = [
        (system, code, cid)
        for system, code, _, _ in dictionary
        for cid in _by_testing_each_pattern(list(plan.concepts), system.upper(), code)
    ]
    assert [(r.code_system, r.code, r.concept_id) for r in rows] == expected
    assert len(rows) > len(seen)  # the codes below prefixes are mapped too

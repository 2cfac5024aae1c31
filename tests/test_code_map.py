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
from feasibility.units import TITRE
from tests.support import REPO

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
        (system, code, None, 1, 1)
        for p in seen
        for system in (p.system, p.system.lower())
        for code in (p.code, p.code + "1", p.code[:-1])
    ]
    rows, _ = build_code_map(plan, dictionary)
    # after the extract's own triples come those a text titre joins by (tested below)
    rows = [r for r in rows if r.unit != TITRE]
    expected = [
        (system, code, cid)
        for system, code, _, _, _ in dictionary
        for cid in _by_testing_each_pattern(list(plan.concepts), system.upper(), code)
    ]
    assert [(r.code_system, r.code, r.concept_id) for r in rows] == expected
    assert len(rows) > len(seen)  # the codes below prefixes are mapped too


def test_a_text_titre_finds_a_row_of_its_own_for_every_code_the_results_read():
    """The spec library's ANA reads titres (`{titer}`, positive from 80), anti-dsDNA reads
    them for positivity alone (from 1:10), haemoglobin does not, SLE is a condition. Every
    (system, code) of a concept the results pass reads gets a row of the unit TITRE, unless
    the extract spells that unit itself; the rows say which concepts take a titre as their
    number, and where and how the cut-off can be read."""
    trials, library = load_trials([REPO / "tests/fixtures/trials/spec.yaml"])
    plan = plan_features(trials, library)
    dictionary = [
        ("LOINC", "8061-4", None, 10, 0),  # text results only: no unit problem
        ("LOINC", "8061-4", "U/mL", 4, 4),  # an immunoassay's numbers
        ("LOINC", "718-7", "g/L", 7, 7),
        ("LOINC", "718-7", "{titer}", 1, 1),  # spelled by the extract: no second row
        ("ICD10CM", "M32.14", None, 3, 0),
        ("LOINC", "6457-6", None, 6, 0),  # CLIFT: words and titres
        ("LOINC", "5130-0", "[IU]/mL", 3, 3),
    ]
    rows, unknown = build_code_map(plan, dictionary)
    by_key = {(r.code, r.unit): r for r in rows}
    assert len(rows) == len(by_key) == 10

    def read(row):
        return row.factor, row.positive_from, row.positive_factor, row.titre_reader

    assert read(by_key[("8061-4", TITRE)]) == (1.0, 80.0, 1.0, 1.0)
    assert read(by_key[("8061-4", "U/mL")]) == (None, None, None, 1.0)
    assert read(by_key[("718-7", TITRE)]) == (None, None, None, None)
    # anti-dsDNA's values are no titres (factor None), its titres are positive from 10
    assert read(by_key[("6457-6", TITRE)]) == (None, 10.0, 1.0, 1.0)
    assert read(by_key[("5130-0", TITRE)]) == (None, 10.0, 1.0, 1.0)
    assert read(by_key[("5130-0", "[IU]/mL")]) == (None, None, None, 1.0)
    assert ("M32.14", TITRE) not in by_key  # no result of a condition is read
    # rows with a number in a unit the concept does not know; ANA's text rows are not
    assert unknown == {"ana": {"U/mL": 4}, "hemoglobin": {"{titer}": 1}}


def test_a_titre_read_for_positivity_alone_is_in_no_unit_the_concept_misses(tmp_path):
    """A concept in IU/mL whose titres are read for positivity (`titre_positive_from`): a
    number in titres decides its positivity, so the data quality does not list the titre
    unit among those the concept does not know; another unit it does not know, it does."""
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "x.yaml").write_text(
        "concepts:\n  dsdna_iu:\n    kind: measurement\n    codes: {LOINC: [5130-0]}\n"
        '    unit: "[IU]/mL"\n    titre_positive_from: 10\n'
    )
    (tmp_path / "t.yaml").write_text(
        "id: T\ntitle: t\ncriteria:\n  - id: A\n    kind: inclusion\n    text: a\n"
        "    rule: {lab: {concept: dsdna_iu, result: positive}}\n"
    )
    trials, library = load_trials([tmp_path / "t.yaml"])
    plan = plan_features(trials, library)
    dictionary = [("LOINC", "5130-0", "titer", 2, 2), ("LOINC", "5130-0", "U/mL", 3, 3)]
    rows, unknown = build_code_map(plan, dictionary)
    titre = next(r for r in rows if r.unit == "titer")
    assert (titre.factor, titre.positive_from, titre.positive_factor) == (None, 10.0, 1.0)
    assert unknown == {"dsdna_iu": {"U/mL": 3}}


def test_a_run_whose_concepts_read_no_titre_has_no_titre_rows():
    trials, library = load_trials([REPO / "tests/fixtures/trials/small.yaml"])
    plan = plan_features(trials, library)
    assert not plan.reads_titres
    rows, _ = build_code_map(plan, [(p.system, p.code, None, 1, 1) for c in plan.concepts for p in c.codes])
    assert rows and all(r.unit != TITRE for r in rows)

"""The concept library's fingerprint, by which `feasibility compare` tells whether two sites
counted with the same code lists: it follows what the concepts match and how their values
are read, not where the files lie or how the concepts are described."""

from __future__ import annotations

import shutil

import pytest

from feasibility.criteria.concepts import load_library
from feasibility.criteria.load import load_trials
from feasibility.errors import TrialError
from tests.support import REPO

SHIPPED = load_trials(None)[1].sha256


def _fingerprint_of_a_copy(tmp_path, file: str | None = None, old: str = "", new: str = "") -> str:
    """The fingerprint of the shipped trials and library copied to another folder, with `old`
    replaced by `new` once in the concept file `file`."""
    folder = tmp_path / "trials"
    shutil.copytree(REPO / "trials", folder)
    if file is not None:
        path = folder / "concepts" / file
        text = path.read_text()
        assert old in text, f"{file} no longer holds the line this test edits: {old}"
        path.write_text(text.replace(old, new, 1))
    return load_trials([folder])[1].sha256


def test_the_same_definitions_from_another_folder_give_the_same_fingerprint(tmp_path):
    # the copy's concepts/ override the shipped ones with identical definitions
    assert _fingerprint_of_a_copy(tmp_path) == SHIPPED


def test_a_label_changes_nothing(tmp_path):
    edit = ("conditions.yaml", "label: Systemic lupus erythematosus", "label: SLE")
    assert _fingerprint_of_a_copy(tmp_path, *edit) == SHIPPED


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("conditions.yaml", "ICD10CM: [M32*]", "ICD10CM: [M32.1*]"),  # a code list
        ("labs.yaml", '"umol/L": 0.0113122', '"umol/L": 0.0113'),  # creatinine's unit factor
        ("labs.yaml", "default_uln: 40", "default_uln: 45"),  # a default ULN
        ("labs.yaml", "positive_from: 80", "positive_from: 160"),  # ANA's positive cut-off
        ("labs.yaml", "titre_positive_from: 10", "titre_positive_from: 20"),  # anti-dsDNA's
        ("medications.yaml", "plausible: [0, 30000]", "plausible: [0, 3000]"),  # glucocorticoid doses
    ],
)
def test_what_changes_a_count_changes_the_fingerprint(tmp_path, file, old, new):
    assert _fingerprint_of_a_copy(tmp_path, file, old, new) != SHIPPED


# -- a definition of the wrong shape is a one-line error at its line, never a traceback

CREATININE = (
    "concepts:\n  creatinine:\n    kind: measurement\n    codes: {LOINC: [2160-0]}\n    unit: mg/dL\n"
)
STEROIDS = "concepts:\n  glucocorticoids:\n    kind: medication\n    codes: {ATC: [H02AB*]}\n    unit: mg/d\n"


def _load(tmp_path, text: str):
    folder = tmp_path / "concepts"
    folder.mkdir()
    (folder / "x.yaml").write_text(text)
    return load_library(folder)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            CREATININE + "    units: [mg/dL]\n",
            ["x.yaml:6: `units` of concept `creatinine` must be a mapping"],
        ),
        (CREATININE + "    units: mg/dL\n", ["x.yaml:6: `units`", "not a text", "fix: give each its factor"]),
        (
            CREATININE + "    units:\n      mg/dL: 1\n      umol/L: -1\n",
            ["x.yaml:8:", "`umol/L`", "positive"],
        ),
        (
            STEROIDS + "    dose_factors: [H02AB01]\n",
            ["x.yaml:6: `dose_factors` of concept `glucocorticoids`"],
        ),
        (CREATININE + "    default_uln: 0\n", ["x.yaml:6: `default_uln`", "positive number"]),
        (CREATININE + "    positive_from: 0\n", ["x.yaml:6: `positive_from`", "positive number"]),
        (
            CREATININE + "    plausible: [0, 30]\n    positive_from: 50\n",
            [
                "x.yaml:7: `positive_from: 50` of concept `creatinine` is outside its plausible range (0..30 mg/dL)"
            ],
        ),
        (
            "concepts:\n  ana:\n    kind: measurement\n    codes: {LOINC: [8061-4]}\n    positive_from: 80\n",
            [
                "x.yaml:5: `positive_from` of concept `ana` is a cut-off in the concept's unit, and it has none"
            ],
        ),
        (
            "concepts:\n  sle:\n    kind: condition\n    codes: {ICD10CM: [M32*]}\n    positive_from: 1\n",
            ["x.yaml:5:", "it has none: it is a condition", "fix: give the measurement its `unit:`"],
        ),
        (
            "concepts:\n  sle:\n    kind: condition\n    codes: {ICD10CM: [M32*]}\n    titre_positive_from: 10\n",
            [
                "x.yaml:5: `titre_positive_from` of concept `sle` is a cut-off for titres, and it is a condition"
            ],
        ),
        (
            'concepts:\n  ana:\n    kind: measurement\n    codes: {LOINC: [8061-4]}\n    unit: "{titer}"\n'
            "    titre_positive_from: 80\n",
            [
                "x.yaml:6:",
                "whose values are not titres, and its unit is {titer}",
                "fix: write the cut-off as",
            ],
        ),
        (
            CREATININE + "    titre_positive_from: 0\n",
            ["x.yaml:6: `titre_positive_from`", "positive number", "fix: give the titre's denominator"],
        ),
        (
            "concepts:\n  sle:\n    kind: condition\n    codes: {ICD10CM: [M32*]}\n    plausible: [0, 1]\n",
            [
                "x.yaml:5: `plausible` is for measurements and medications' doses; concept `sle` is a condition"
            ],
        ),
        (CREATININE + "    label: [a, b]\n", ["x.yaml:6: `label` of concept `creatinine` must be text"]),
        (CREATININE + "    units: {umol/L: .nan}\n", ["x.yaml:6: `.nan` is not a finite number"]),
        (CREATININE + "    default_uln: -.inf\n", ["x.yaml:6: `-.inf` is not a finite number"]),
        ("concepts:\n  creatinine:\n", ["x.yaml:2: concept `creatinine` must be a mapping, not a null"]),
        ("concepts:\n  creatinine: 5\n", ["x.yaml:2:", "not a number", "fix: give it `kind:`"]),
        ("concepts:\n  creatinine: [a]\n", ["x.yaml:2:", "not a list"]),
        ("concepts: [creatinine]\n", ["x.yaml:1: `concepts:` must be a mapping of names, not a list"]),
        # left empty it is empty, not "a mapping of names, not a mapping"
        ("concepts:\n", ["x.yaml:1: `concepts:` is empty"]),
        ("concepts: []\n", ["x.yaml:1: `concepts:` is empty"]),
        ("concepts: {}\n", ["x.yaml:1: `concepts:` is empty"]),
        (
            "concepts:\n  x:\n    kind: condition\n    codes: {ICD10CM: [{M32: 1}]}\n",
            ["x.yaml:4:", "is a mapping"],
        ),
    ],
)
def test_a_definition_of_the_wrong_shape_names_its_line(tmp_path, text, fragments):
    with pytest.raises(TrialError) as raised:
        _load(tmp_path, text)
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert "fix: " in str(raised.value)


def test_doses_have_a_plausible_range(tmp_path):
    # a medication's daily doses are non-negative unless it says otherwise, as results are
    for text, plausible in (
        (STEROIDS, (0.0, None)),
        (STEROIDS + "    plausible: [null, 500]\n", (None, 500.0)),
    ):
        (folder := tmp_path / str(len(text))).mkdir()
        assert _load(folder, text)["glucocorticoids"].plausible == plausible


def test_codes_written_as_numbers_keep_their_digits(tmp_path):
    # unquoted, YAML reads 250.10 as the float 250.1 and 042 as the octal 34
    library = _load(tmp_path, "concepts:\n  dm:\n    kind: condition\n    codes: {ICD9CM: [250.10, 042]}\n")
    assert [p.code for p in library["dm"].codes] == ["25010", "042"]


@pytest.mark.parametrize("name", ["x.yml", "x.YAML"])
def test_a_concept_file_may_be_named_like_a_trial_file(tmp_path, name):
    folder = tmp_path / "concepts"
    folder.mkdir()
    (folder / name).write_text(STEROIDS)
    assert "glucocorticoids" in load_library(folder)


# -- a trial reads the shipped concepts and the `concepts/` beside its own file, never another
# trial's: what it counts does not depend on which trials run with it

MYC = "concepts:\n  myc:\n    label: %s\n    kind: condition\n    codes: {ICD10CM: [%s]}\n"
USES = "id: %s\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: %s}\n"


def _trial(folder, trial_id: str, rule: str = "{diagnosis: myc}", concepts: str | None = None):
    """`folder/<trial_id>.yaml` using `rule`, with `concepts` as `folder/concepts/c.yaml`."""
    folder.mkdir(exist_ok=True)
    if concepts is not None:
        (folder / "concepts").mkdir()
        (folder / "concepts" / "c.yaml").write_text(concepts)
    path = folder / f"{trial_id}.yaml"
    path.write_text(USES % (trial_id, rule))
    return path


def test_two_folders_defining_a_concept_differently_are_refused(tmp_path):
    ta = _trial(tmp_path / "ta", "Ta", concepts=MYC % ("one", "M32*"))
    tb = _trial(tmp_path / "tb", "Tb", concepts=MYC % ("one", "E11*"))
    assert [p.code for p in load_trials([ta])[1]["myc"].codes] == ["M32"]
    # together, Ta used to be counted with tb's E11 silently
    for order in ([ta, tb], [tb, ta]):
        with pytest.raises(TrialError) as raised:
            load_trials(order)
        message = str(raised.value)
        assert "concept `myc` is defined differently" in message
        assert all(f"{folder}/concepts/c.yaml:2" in message for folder in ("ta", "tb"))
        assert "fix: rename one of the two" in message


def test_the_same_definition_in_two_folders_is_one_concept(tmp_path):
    ta = _trial(tmp_path / "ta", "Ta", concepts=MYC % ("one", "M32*"))
    tb = _trial(tmp_path / "tb", "Tb", concepts=MYC % ("another label", "m32*"))
    trials, library = load_trials([ta, tb])
    assert [t.id for t in trials] == ["Ta", "Tb"]
    assert library["myc"].label == "one"  # the first folder's
    assert library.sha256 == load_trials([ta])[1].sha256 == load_trials([tb])[1].sha256


@pytest.mark.parametrize(
    "rule",
    [
        "{diagnosis: sle}",
        # a derived measure reads creatinine without naming it
        "{derived: {measure: egfr_ckd_epi_2021, min: 30}}",
    ],
)
def test_redefining_a_shipped_concept_another_trial_of_the_run_uses_is_refused(tmp_path, rule):
    concept = "sle" if "sle" in rule else "creatinine"
    redefined = {
        "sle": "concepts:\n  sle:\n    kind: condition\n    codes: {ICD10CM: [M32.1*]}\n",
        "creatinine": "concepts:\n  creatinine:\n    kind: measurement\n    codes: {LOINC: [2160-0]}\n"
        "    unit: mg/dL\n",  # no umol/L factor: creatinine in umol/L would read as unknown
    }[concept]
    site = _trial(tmp_path / "site", "SITE", rule, concepts=redefined)
    other = _trial(tmp_path / "other", "OTHER", rule)
    load_trials([site])  # alone, the site's trial is counted with its own definition
    with pytest.raises(TrialError) as raised:
        load_trials([site, other])
    message = str(raised.value)
    assert message.startswith(f"{tmp_path}/site/concepts/c.yaml:2: concept `{concept}` is redefined here")
    assert "trial `OTHER`" in message and "trials/concepts/" in message
    assert "fix: give the redefinition its own name" in message


def test_a_redefinition_no_other_trial_uses_is_accepted(tmp_path):
    site = _trial(
        tmp_path / "site", "SITE", "{diagnosis: sle}", concepts=MYC.replace("myc", "sle") % ("x", "M32.1*")
    )
    other = _trial(tmp_path / "other", "OTHER", "{sex: F}")
    trials, library = load_trials([other, site])
    assert [t.id for t in trials] == ["OTHER", "SITE"]
    assert [p.code for p in library["sle"].codes] == ["M321"]


def test_a_concept_beside_another_trial_is_unknown(tmp_path):
    ta = _trial(tmp_path / "ta", "Ta", concepts=MYC % ("one", "M32*"))
    elsewhere = _trial(tmp_path / "elsewhere", "E")
    with pytest.raises(TrialError, match=r"E\.yaml:3: unknown concept `myc`.*beside the trial file"):
        load_trials([ta, elsewhere])

"""Codes and code systems, where a slip would otherwise match nothing and remove patients
silently. A code that cannot be one of its system's is refused when the concept library is
read (valid codes here are real ones; each invalid one is one typing slip away). A system is
recognised however an extract spells it, and rows of a system no concept uses are counted."""

from __future__ import annotations

import pytest

from feasibility.criteria.code_systems import code_problem, normalise_system
from feasibility.criteria.concepts import load_library, normalise_code
from feasibility.criteria.load import load_trials
from feasibility.errors import TrialError
from tests.support import evaluate, event, load_engine, person

VALID = [
    ("LOINC", "1742-6", False),  # ALT
    ("LOINC", "2160-0", False),  # creatinine
    ("SNOMED", "450886002", False),  # posterior reversible encephalopathy syndrome
    ("SNOMED", "22298006", False),  # myocardial infarction
    ("ICD10CM", "M32.14", False),
    ("ICD10CM", "C", True),  # every C code
    ("ICD10CM", "Z85.828", False),
    ("ICD10", "M32.1", False),
    ("ICD9CM", "710.0", False),
    ("ICD10PCS", "XW033C3", False),
    ("ICD10PCS", "3023", True),
    ("ATC", "L04AA06", False),
    ("ATC", "L01XL", True),
    ("ATC", "H02AB", False),  # a level of its own
    ("CVX", "141", False),
    ("LOCAL", "SLEDAI_2K", False),  # not checked
    ("MYSITE", "anything at all", False),  # not checked
]

INVALID = [
    ("LOINC", "1742-5", "check digit"),  # the last digit mistyped
    ("LOINC", "1724-6", "check digit"),  # two digits swapped
    ("LOINC", "17426", "not a LOINC code"),  # the dash dropped
    ("SNOMED", "22298007", "check digit"),
    ("SNOMED", "2229", "not a SNOMED CT identifier"),
    ("ICD10CM", "3214", "not a valid ICD10CM code"),  # the letter dropped
    ("ICD10CM", "M32.14567", "not a valid ICD10CM code"),  # too long
    ("ICD10PCS", "XW033C", "not a valid ICD10PCS code"),  # 6 characters
    ("ICD10PCS", "XWO33C3", "not a valid ICD10PCS code"),  # letter O for zero
    ("ATC", "L04AA6", "not a valid ATC code"),
    ("ATC", "L4AA06", "not a valid ATC code"),
    ("CVX", "1411", "not a valid CVX code"),
]


@pytest.mark.parametrize(("system", "code", "prefix"), VALID)
def test_real_codes_pass(system, code, prefix):
    assert code_problem(system, normalise_code(code), prefix) is None


@pytest.mark.parametrize(("system", "code", "problem"), INVALID)
def test_mistyped_codes_are_named(system, code, problem):
    found = code_problem(system, normalise_code(code), False)
    assert found is not None and problem in found[0]
    assert found[1]  # and what such a code looks like


def test_a_prefix_may_stop_at_any_level_but_loinc_and_snomed_are_listed_whole():
    assert code_problem("ICD10CM", "M3", True) is None
    assert code_problem("ICD10CM", "M3", False) is not None
    assert code_problem("LOINC", "1742-6", True) is not None


def test_every_code_of_the_shipped_library_passes():
    _, library = load_trials(None)
    patterns = [
        (p.system, p.code, p.prefix) for c in library.concepts.values() for p in (*c.codes, *c.exclude)
    ]
    assert len(patterns) > 800
    assert [p for p in patterns if code_problem(*p)] == []


def test_a_concept_file_with_a_mistyped_code_is_refused_with_its_line(tmp_path):
    (tmp_path / "labs.yaml").write_text(
        "concepts:\n"
        "  alt:\n"
        "    label: ALT\n"
        "    kind: measurement\n"
        "    codes:\n"
        "      LOINC: [1742-6, 1743-5]\n"
        "    unit: U/L\n"
    )
    with pytest.raises(TrialError, match="code `1743-5` of concept `alt` has a check digit") as e:
        load_library(tmp_path)
    assert e.value.where == f"{tmp_path / 'labs.yaml'}:6"
    assert "loinc.org" in e.value.fix


# --------------------------------------------------------------------------- system names


@pytest.mark.parametrize(
    ("spelled", "system"),
    [
        ("ICD10CM", "ICD10CM"),
        ("ICD-10-CM", "ICD10CM"),
        ("icd10cm", "ICD10CM"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "ICD10CM"),
        ("ICD-10", "ICD10"),
        ("ICD-9-CM", "ICD9CM"),
        ("ICD-10-PCS", "ICD10PCS"),
        ("http://www.cms.gov/Medicare/Coding/ICD10", "ICD10PCS"),
        ("LN", "LOINC"),
        ("http://loinc.org", "LOINC"),
        ("https://loinc.org", "LOINC"),
        ("SNOMED CT", "SNOMED"),
        ("http://snomed.info/sct", "SNOMED"),
        ("http://www.whocc.no/atc", "ATC"),
        ("RxNorm", "RXNORM"),
        ("http://hl7.org/fhir/sid/cvx", "CVX"),
        ("local", "LOCAL"),  # not known: kept, upper-cased
        ("MIMIC_LABITEM", "MIMIC_LABITEM"),
    ],
)
def test_system_spellings_are_recognised(spelled, system):
    assert normalise_system(spelled) == system


def test_an_extract_spelling_its_systems_otherwise_is_read_the_same(tmp_path):
    # one patient with SLE and a recent ALT result, once with the library's system names and
    # once as a FHIR-derived extract names them
    def rows(icd: str, loinc: str) -> list[dict]:
        return [
            *person("p1", birth_year=1980),
            event("p1", "diagnosis", icd, "M32.14", "2024-06-01"),
            event("p1", "lab", loinc, "1742-6", "2025-01-20", value_num=30.0, unit="U/L", ref_high=40.0),
        ]

    canonical = evaluate("tests/fixtures/trials/small.yaml", rows("ICD10CM", "LOINC"), as_of="2025-02-01")
    spelled = evaluate(
        "tests/fixtures/trials/small.yaml",
        rows("http://hl7.org/fhir/sid/icd-10-cm", "LN"),
        as_of="2025-02-01",
    )
    assert canonical["p1"]["sle"] is True and canonical["p1"]["alt"] is True
    assert spelled == canonical


def test_rows_of_systems_no_concept_uses_are_counted_per_system(tmp_path):
    rows = [
        *person("p1"),
        event("p1", "diagnosis", "ICD10-US", "M32.14", "2024-06-01"),  # a spelling not known
        event("p1", "diagnosis", "ICD10-US", "I10", "2024-06-02"),
        event("p1", "medication", "NDC", "00093-7180", "2024-06-03"),
        event("p1", "diagnosis", "ICD-10-CM", "M32.14", "2024-06-04"),  # known: read
    ]
    _, result = load_engine("tests/fixtures/trials/small.yaml", rows, as_of="2025-02-01")
    assert result.data_quality.unread_code_system_rows == {"ICD10-US": 2, "NDC": 1}

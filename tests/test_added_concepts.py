"""Spec tests of the concepts added to the shipped library in 2026-12 for trials of other
designs (rheumatoid arthritis biologics, lupus nephritis, diabetes-adjacent): each concept reads
a hand-built patient's result, in each unit spelling it knows, and leaves out the codes and units
its `note` says it leaves out.

The trial is written here, one criterion per concept, and reads only the shipped library; the
index date is 2025-02-01 for everyone. The expected value is the criterion's rule: True, False
or None (UNKNOWN).
"""

from __future__ import annotations

import pytest

from feasibility.criteria.load import load_trials
from tests.support import evaluate, event, person

AS_OF = "2025-02-01"
DAY = "2025-01-10"  # inside every window below

TRIAL = """\
id: ADDED-CONCEPTS
title: One criterion per concept added in 2026-12
criteria:
  - {id: crp, kind: inclusion, text: CRP <= 10 mg/L, rule: {lab: {concept: crp, max: 10, unit: mg/L, within: 90 days}}}
  - {id: crp_uln, kind: inclusion, text: CRP >= 1.5 x ULN, rule: {lab: {concept: crp, min: 1.5, unit: ULN, within: 90 days}}}
  - {id: hs_crp, kind: inclusion, text: hs-CRP <= 3 mg/L, rule: {lab: {concept: hs_crp, max: 3, unit: mg/L, within: 90 days}}}
  - {id: esr, kind: inclusion, text: ESR >= 28 mm/h, rule: {lab: {concept: esr, min: 28, unit: mm/h, within: 90 days}}}
  - {id: hba1c, kind: inclusion, text: HbA1c <= 8 %, rule: {lab: {concept: hba1c, max: 8, unit: "%", within: 90 days}}}
  - {id: igg, kind: inclusion, text: IgG >= 500 mg/dL, rule: {lab: {concept: igg, min: 500, unit: mg/dL, within: 90 days}}}
  - {id: c3_low, kind: inclusion, text: C3 <= 0.9 g/L, rule: {lab: {concept: c3, max: 0.9, unit: g/L, within: 90 days}}}
  - {id: c4_low, kind: inclusion, text: C4 <= 10 mg/dL, rule: {lab: {concept: c4, max: 10, unit: mg/dL, within: 90 days}}}
  - {id: igra, kind: exclusion, text: Positive IGRA, rule: {lab: {concept: igra, result: positive, within: 1 year}}}
  - {id: rf, kind: inclusion, text: RF positive, rule: {lab: {concept: rheumatoid_factor, result: positive, within: ever}}}
  - {id: ccp_high, kind: inclusion, text: Anti-CCP > 3 x ULN, rule: {lab: {concept: anti_ccp, above: 3, unit: ULN, within: ever}}}
  - {id: ra, kind: inclusion, text: Rheumatoid arthritis, rule: {diagnosis: rheumatoid_arthritis}}
  - {id: tb, kind: exclusion, text: Tuberculosis, rule: {diagnosis: tuberculosis}}
  - {id: ltbi, kind: exclusion, text: Latent tuberculosis, rule: {diagnosis: latent_tuberculosis}}
  - {id: tnf, kind: exclusion, text: Prior TNF inhibitor, rule: {medication: tnf_inhibitors}}
  - {id: jak, kind: exclusion, text: Prior JAK inhibitor, rule: {medication: jak_inhibitors}}
  - {id: il6, kind: exclusion, text: Prior IL-6 inhibitor, rule: {medication: il6_inhibitors}}
"""

ADDED = [
    "crp",
    "hs_crp",
    "esr",
    "hba1c",
    "igg",
    "c3",
    "c4",
    "igra",
    "rheumatoid_factor",
    "anti_ccp",
    "rheumatoid_arthritis",
    "tuberculosis",
    "latent_tuberculosis",
    "tnf_inhibitors",
    "jak_inhibitors",
    "il6_inhibitors",
]

CRP, HS_CRP, ESR, ESR_WINTROBE = "1988-5", "30522-7", "4537-7", "4538-5"
HBA1C, HBA1C_HPLC, HBA1C_IFCC = "4548-4", "17856-6", "59261-8"
IGG, C3, C4, IGRA = "2465-3", "4485-9", "4498-2", "71773-6"
RF, CCP, CCP_SERUM = "11572-5", "32218-0", "33935-8"


def lab(code, value, unit, ref_high=None):
    return ("lab", code, {"value_num": value, "unit": unit, "ref_high": ref_high})


def text(code, result):
    return ("lab", code, {"value_text": result})


def dx(code, system="ICD10CM"):
    return ("diagnosis", code, {"system": system})


def med(code):
    return ("medication", code, {"end_date": DAY, "value_num": 1.0, "unit": "mg/d"})


# (patient, criterion, expected, events)
CASES: list[tuple[str, str, bool | None, list]] = [
    # CRP: mg/L canonical, mg/dL x 10, ug/mL = mg/L; a molar unit is not read
    ("crp_mg_l", "crp", True, [lab(CRP, 8, "mg/L")]),
    ("crp_mg_dl_over", "crp", False, [lab(CRP, 1.2, "mg/dL")]),
    ("crp_mg_dl_under", "crp", True, [lab(CRP, 0.8, "MG/DL")]),
    ("crp_ug_ml", "crp", False, [lab(CRP, 11, "µg/mL")]),
    ("crp_nmol", "crp", None, [lab(CRP, 50, "nmol/L")]),
    ("crp_only_hs", "crp", None, [lab(HS_CRP, 2, "mg/L")]),  # hs-CRP is its own concept
    ("crp_implausible", "crp", None, [lab(CRP, 5000, "mg/L")]),
    # CRP against the default ULN of 5 mg/L, or the result's own limit
    ("crp_uln_default", "crp_uln", True, [lab(CRP, 1.0, "mg/dL")]),  # 10 mg/L = 2 x 5
    ("crp_uln_default_low", "crp_uln", False, [lab(CRP, 6, "mg/L")]),
    ("crp_uln_own", "crp_uln", False, [lab(CRP, 12, "mg/L", 10)]),  # 1.2 x its own 10
    # hs-CRP
    ("hscrp_mg_dl", "hs_crp", True, [lab(HS_CRP, 0.2, "mg/dL")]),
    ("hscrp_over", "hs_crp", False, [lab(HS_CRP, 4.5, "mg/L")]),
    # ESR: mm/h and mm/hr; Wintrobe is left out
    ("esr_mm_h", "esr", True, [lab(ESR, 30, "mm/h")]),
    ("esr_mm_hr", "esr", False, [lab(ESR, 20, "mm/hr")]),
    ("esr_no_method", "esr", True, [lab("30341-2", 45, "mm/h")]),
    ("esr_wintrobe", "esr", None, [lab(ESR_WINTROBE, 30, "mm/h")]),
    # HbA1c: % only; mmol/mol (a linear formula, no factor) is UNKNOWN, and the IFCC code left out
    ("hba1c_pct", "hba1c", True, [lab(HBA1C, 7.5, "%")]),
    ("hba1c_over", "hba1c", False, [lab(HBA1C_HPLC, 8.5, "%")]),
    ("hba1c_mmol_mol", "hba1c", None, [lab(HBA1C, 58, "mmol/mol")]),
    ("hba1c_no_unit", "hba1c", True, [lab(HBA1C, 7.0, None)]),
    ("hba1c_mmol_lost_unit", "hba1c", None, [lab(HBA1C, 53, None)]),  # implausible as %
    ("hba1c_ifcc_code", "hba1c", None, [lab(HBA1C_IFCC, 48, "mmol/mol")]),
    # IgG: g/L x 100 = mg/dL; `G/L` is g/L, not a cell count, for IgG
    ("igg_g_l", "igg", True, [lab(IGG, 6.5, "g/L")]),
    ("igg_upper_g_l", "igg", False, [lab(IGG, 4.0, "G/L")]),
    ("igg_mg_dl", "igg", True, [lab(IGG, 900, "mg/dL")]),
    # C3, C4: low complement as a lower limit, in either unit
    ("c3_low_mg_dl", "c3_low", True, [lab(C3, 70, "mg/dL")]),
    ("c3_normal_g_l", "c3_low", False, [lab(C3, 1.2, "g/L")]),
    ("c4_low_g_l", "c4_low", True, [lab(C4, 0.08, "g/L")]),
    ("c4_normal_mg_l", "c4_low", False, [lab(C4, 200, "mg/L")]),
    # IGRA: qualitative; indeterminate is UNKNOWN
    ("igra_pos", "igra", True, [text(IGRA, "Positive")]),
    ("igra_neg", "igra", False, [text(IGRA, "negative")]),
    ("igra_indeterminate", "igra", None, [text(IGRA, "Indeterminate")]),
    # rheumatoid factor and anti-CCP: each result against its own upper limit, whatever its unit
    ("rf_pos", "rf", True, [lab(RF, 48, "[IU]/mL", 14)]),
    ("rf_neg", "rf", False, [lab(RF, 9, "IU/mL", 14)]),
    ("rf_text", "rf", True, [text(RF, "Positive")]),
    ("rf_no_limit", "rf", None, [lab(RF, 48, "IU/mL")]),  # no ref_high, no default: not told
    ("ccp_high", "ccp_high", True, [lab(CCP, 250, "U/mL", 20)]),
    ("ccp_low_positive", "ccp_high", False, [lab(CCP_SERUM, 45, "[arb'U]/mL", 20)]),  # 2.25 x ULN
    # rheumatoid arthritis: M05/M06 without adult-onset Still's (M06.1) and M06.4; WHO too
    ("ra_seropositive", "ra", True, [dx("M05.79")]),
    ("ra_unspecified", "ra", True, [dx("M06.9")]),
    ("ra_still_adult", "ra", False, [dx("M06.1")]),
    ("ra_polyarthropathy", "ra", False, [dx("M06.4")]),
    ("ra_juvenile", "ra", False, [dx("M08.00")]),
    ("ra_who", "ra", True, [dx("M06.0", "ICD10")]),
    # tuberculosis, active: A15-A19 (WHO A16 too); sequelae B90 are not active disease
    ("tb_lung", "tb", True, [dx("A15.0")]),
    ("tb_miliary", "tb", True, [dx("A19.9")]),
    ("tb_who_a16", "tb", True, [dx("A16.2", "ICD10")]),
    ("tb_sequelae", "tb", False, [dx("B90.9")]),
    ("tb_latent_only", "tb", False, [dx("Z22.7")]),
    # latent tuberculosis: Z22.7, R76.11, R76.12; WHO R76.1
    ("ltbi_z227", "ltbi", True, [dx("Z22.7")]),
    ("ltbi_skin_test", "ltbi", True, [dx("R76.11")]),
    ("ltbi_igra", "ltbi", True, [dx("R76.12")]),
    ("ltbi_who", "ltbi", True, [dx("R76.1", "ICD10")]),
    ("ltbi_active", "ltbi", False, [dx("A15.0")]),
    # TNF inhibitors: the L04AB group
    ("tnf_adalimumab", "tnf", True, [med("L04AB04")]),
    ("tnf_etanercept", "tnf", True, [med("L04AB01")]),
    ("tnf_tocilizumab", "tnf", False, [med("L04AC07")]),
    # JAK inhibitors: L04AF and the pre-2024 L04AA codes; not ruxolitinib (L01EJ01)
    ("jak_upadacitinib", "jak", True, [med("L04AF03")]),
    ("jak_tofacitinib_old", "jak", True, [med("L04AA29")]),
    ("jak_baricitinib_old", "jak", True, [med("L04AA37")]),
    ("jak_ruxolitinib", "jak", False, [med("L01EJ01")]),
    ("jak_mycophenolate", "jak", False, [med("L04AA06")]),
    # IL-6 inhibitors: tocilizumab, sarilumab, siltuximab, satralizumab; not other interleukins
    ("il6_sarilumab", "il6", True, [med("L04AC14")]),
    ("il6_tocilizumab", "il6", True, [med("L04AC07")]),
    ("il6_satralizumab", "il6", True, [med("L04AC19")]),
    ("il6_secukinumab", "il6", False, [med("L04AC10")]),
]


def _rows() -> list[dict]:
    rows: list[dict] = []
    for pid, _, _, events in CASES:
        rows += person(pid)
        for domain, code, values in events:
            values = dict(values)
            if domain == "lab":
                rows.append(event(pid, "lab", "LOINC", code, DAY, **values))
            elif domain == "diagnosis":
                rows.append(event(pid, "diagnosis", values.pop("system"), code, "2020-05-01"))
            else:
                rows.append(event(pid, "medication", "ATC", code, "2024-06-01", **values))
    return rows


@pytest.fixture(scope="module")
def trial_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("added") / "ADDED-CONCEPTS.yaml"
    path.write_text(TRIAL, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def results(trial_file) -> dict[str, dict[str, bool | None]]:
    return evaluate(trial_file, _rows(), as_of=AS_OF)


def test_every_case_id_is_unique_and_every_criterion_is_probed():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    criteria = {c[1] for c in CASES}
    assert criteria == {line.split("id: ")[1].split(",")[0] for line in TRIAL.splitlines() if "{id: " in line}


def test_the_trial_reads_every_added_concept_from_the_shipped_library(trial_file):
    trials, library = load_trials([trial_file])
    assert all(name in library for name in ADDED)
    # nothing beside the trial: each concept is the shipped one
    assert all(
        library[name].source.endswith(("labs.yaml", "conditions.yaml", "medications.yaml")) for name in ADDED
    )
    assert [t.id for t in trials] == ["ADDED-CONCEPTS"]


@pytest.mark.parametrize(
    ("pid", "criterion", "expected"), [(pid, c, e) for pid, c, e, _ in CASES], ids=[c[0] for c in CASES]
)
def test_rule_value(results, pid, criterion, expected):
    assert results[pid][criterion] is expected

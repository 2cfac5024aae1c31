"""What the synthetic events look like: one value model (`Slot`) per concept, and each
site's unit habits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feasibility.criteria.model import Concept

Share = float | dict[str, float]  # a probability, or one per patient profile ("*" for the others)


@dataclass(frozen=True)
class Slot:
    """A kind of event a patient may have, with how often, how many, when and what value.

    Probabilities `p`, `p_workup`, `p_refr` and `pos` are a number or a dict by profile
    ("*" = default). A patient with the `abn` trait has the slot with probability `p_abn` and
    an abnormal value (tail multiplier) or a positive result.
    """

    p: Share = 0.02
    p_workup: Share | None = None  # for patients with a recent work-up
    p_refr: Share | None = None  # for refractory patients
    abn: str | None = None  # trait that forces the slot and an abnormal value
    p_abn: float = 0.95
    sex: str | None = None  # only patients of this sex (F, M) have it
    n: tuple[int, int] = (1, 1)  # records per patient (uniform, inclusive)
    date: str = "history"  # lab | history | course | once | pulse
    horizon: int = 3650  # oldest record, days before as_of
    span: int = 240  # lab: latest result within span days (skewed recent)
    recent: float | None = None  # history/once: share of patients dated inside the window
    dist: str = "none"  # none | lognormal | normal | qual | dose
    center: float = 0.0  # lognormal median or normal mean (canonical unit)
    spread: float = 0.0  # lognormal sigma or normal sd
    lo: float = 0.0
    hi: float = 1e9
    digits: int = 1
    refr_shift: float = 0.0  # added to the centre for refractory patients
    tail_p: float = 0.0  # share of patients in the abnormal tail
    tail: tuple[float, float] = (1.0, 1.0)  # tail multiplier range
    tail_abn: tuple[float, float] | None = None  # multiplier with the `abn` trait (default: tail)
    pos: Share = 0.0  # qualitative: probability positive
    uln: float | None = None  # ULN in the canonical unit (default: the concept's)
    lln: float | None = None  # LLN in the canonical unit, written as ref_low (default: none)
    # a result below the ULN is below the assay's limit of quantification, which the sites
    # whose habit says so write as a bound, `<20`, with no number
    censored: bool = False
    ongoing: Share = 0.0  # course: latest course runs through as_of
    ongoing_refr: float | None = None
    dur: tuple[int, int] = (7, 400)  # course length in days
    codes: tuple[str, ...] = ()  # override the codes taken from the concept
    domain: str | None = None  # default: from the concept's kind


def _lab(
    median: float, sigma: float, tail_p: float = 0.03, tail: tuple[float, float] = (1.0, 1.0), **kw: Any
) -> Slot:
    """A routine numeric lab, lognormal with a tail, 1-2 results: nearly every patient with a
    recent work-up has it, 12% of the others."""
    base: dict[str, Any] = dict(
        p=0.12,
        p_workup=0.99,
        n=(1, 2),
        date="lab",
        horizon=730,
        dist="lognormal",
        center=median,
        spread=sigma,
        digits=2,
        tail_p=tail_p,
        tail=tail,
    )
    base.update(kw)
    return Slot(**base)


def _special(
    median: float, sigma: float, tail_p: float = 0.03, tail: tuple[float, float] = (1.0, 1.0), **kw: Any
) -> Slot:
    """A less routine lab: 3% of patients, nearly all of those with a work-up."""
    return _lab(median, sigma, tail_p, tail, **{"p": 0.03, "p_workup": 0.985, "n": (1, 1), **kw})


def _qual(p: Share, pos: Share, p_workup: Share | None = 0.98, **kw: Any) -> Slot:
    """A qualitative test read as positive / negative."""
    base: dict[str, Any] = dict(
        p=p, p_workup=p_workup, pos=pos, n=(1, 1), date="lab", horizon=730, dist="qual"
    )
    base.update(kw)
    return Slot(**base)


def _viral(uln: float, tail_p: float, abn: str | None = None, **kw: Any) -> Slot:
    """A viral load: numbers below the assay limit (ref_high) unless viraemic."""
    return _special(
        0.3 * uln,
        0.4,
        tail_p,
        (10.0, 3000.0),
        uln=uln,
        abn=abn,
        lo=0.0,
        digits=0,
        censored=True,
        **{"p": 0.03, "p_workup": 0.98, **kw},
    )


def _score(mean: float, sd: float, lo: float, hi: float, p: Share, **kw: Any) -> Slot:
    """A clinical score or vital sign, normally distributed, clipped and rounded."""
    base: dict[str, Any] = dict(
        p=p,
        p_workup=0.985,
        n=(1, 1),
        date="lab",
        horizon=730,
        dist="normal",
        center=mean,
        spread=sd,
        lo=lo,
        hi=hi,
        digits=0,
        domain="observation",
    )
    base.update(kw)
    return Slot(**base)


def _drug(
    p: Share,
    p_refr: Share | None = None,
    ongoing: Share = 0.6,
    ongoing_refr: float = 0.9,
    center: float = 0.0,
    spread: float = 0.3,
    lo: float = 0.0,
    hi: float = 1e9,
    dist: str = "dose",
    **kw: Any,
) -> Slot:
    """Medication courses with a daily dose (mg/d)."""
    base: dict[str, Any] = dict(
        p=p,
        p_refr=p_refr,
        n=(1, 3),
        date="course",
        horizon=2500,
        dist=dist,
        center=center,
        spread=spread,
        lo=lo,
        hi=hi,
        digits=1,
        ongoing=ongoing,
        ongoing_refr=ongoing_refr,
    )
    base.update(kw)
    return Slot(**base)


def _dx(p: Share, abn: str | None = None, **kw: Any) -> Slot:
    """A diagnosis or procedure history (one record unless `n` says more), some of it recent."""
    return Slot(**{"p": p, "abn": abn, "n": (1, 1), "date": "history", **kw})


SLE_ONLY = {"SLE": 1.0, "*": 0.0}

# Per-concept models, in canonical units. A concept the trials use but not listed here gets a
# default by kind (`default_slot`); a list gives several slots for one concept.
MODELS: dict[str, Slot | list[Slot]] = {
    # --- trial diseases: every patient of the profile, coded repeatedly over the years
    # M32.19 has a model of its own (`sle_other_organ_involvement`): a trial leaves it to the
    # investigator, so it is not one of every SLE patient's codes
    "sle": _dx(SLE_ONLY, n=(2, 3), recent=0.7, codes=("M32.9", "M32.10", "M32.8")),
    "sjogren": _dx({"SJO": 1.0, "SLE": 0.05, "*": 0.0}, n=(2, 3), recent=0.7),
    "systemic_sclerosis": _dx({"SSC": 1.0, "*": 0.0}, n=(2, 3), recent=0.7),
    "dermatomyositis": _dx({"DM": 1.0, "*": 0.0}, n=(2, 3), recent=0.7),
    "anca_vasculitis": _dx({"AAV": 1.0, "*": 0.0}, n=(2, 3), recent=0.7),
    "gpa": _dx({"AAV": 0.5, "*": 0.0}, n=(2, 3)),
    "mpa": _dx({"AAV": 0.3, "*": 0.0}, n=(2, 3)),
    "egpa": _dx({"AAV": 0.2, "*": 0.0}, n=(2, 3)),
    # --- organ involvement tied to traits
    "lupus_nephritis": [
        _dx(0.0, abn="renal", p_abn=0.9),  # SLE renal trait
        _dx(0.0, abn="pulse", p_abn=1.0, recent=1.0),
    ],  # flare < 2 months
    "ild": _dx(0.0, abn="ild", p_abn=0.9),
    "sle_other_organ_involvement": _dx({"SLE": 0.08, "*": 0.0}, recent=0.3),
    "heart_failure": _dx(0.0, abn="cardiac"),
    "gilbert_syndrome": _dx(0.0, abn="gilbert", p_abn=0.9),
    "bone_or_liver_metastasis": _dx(0.0, abn="liver_mets", p_abn=1.0),
    "pregnancy": _dx(0.0, abn="pregnant", sex="F", recent=1.0, horizon=270),
    "breastfeeding": _dx({"*": 0.02}, sex="F", recent=0.8, horizon=400),
    "other_autoimmune": _dx({"GEN": 0.5, "SLE": 0.05, "*": 0.05}, p_refr=0.08, recent=0.5),
    "hypertension": _dx({"*": 0.15}, n=(1, 4)),
    # --- comorbidities the trials exclude: more common in refractory disease (long
    #     immunosuppression, lupus itself) and mostly recent, so that the trials' windows see
    #     them; the rates keep every exclusion at work on the 3,000-patient sample
    "severe_infection_iv": _dx({"*": 0.08}, p_refr=0.2, recent=0.6),
    "malignancy": _dx({"*": 0.025}, p_refr=0.08),
    "malignancy_current": _dx({"*": 0.02}, p_refr=0.05),
    "malignancy_current_but_bcc": _dx({"*": 0.02}, p_refr=0.06, recent=0.7),
    "prostate_cancer": _dx({"*": 0.01}, sex="M", recent=0.5),
    "prostate_cancer_history": _dx({"*": 0.01}, sex="M"),
    "cns_disease": _dx({"*": 0.005}),
    "stroke": _dx({"SLE": 0.01, "*": 0.005}, p_refr=0.025, recent=0.8),
    "seizure": _dx({"SLE": 0.01, "*": 0.005}, p_refr=0.025, recent=0.8),
    "cerebrovascular_disease": _dx({"*": 0.003}, p_refr=0.005),
    "cns_lupus": _dx({"SLE": 0.01, "*": 0.0}, p_refr=0.035, recent=0.8),
    "severe_mental_disorder": _dx({"*": 0.01}, p_refr=0.02),
    "psychotic_mood_disorder": _dx({"*": 0.003}, p_refr=0.01),
    "solid_organ_transplant": _dx({"*": 0.005}, p_refr=0.03),
    "hsct": _dx({"*": 0.003}, p_refr=0.03),
    "dvt_pe": _dx({"SLE": 0.02, "*": 0.01}, p_refr=0.11, recent=0.85),
    "heart_valve_disease": _dx({"*": 0.01}, p_refr=0.1, recent=0.85),
    "ventricular_arrhythmia": _dx({"*": 0.01}, p_refr=0.15, recent=0.85),
    "lbbb": _dx({"*": 0.005}, p_refr=0.07, recent=0.85),
    "av_block_2_3": _dx({"*": 0.005}, p_refr=0.07, recent=0.85),
    "myocardial_infarction": _dx({"*": 0.005}, p_refr=0.03, recent=0.85),
    "cabg_or_stent": _dx({"*": 0.005}, p_refr=0.02, recent=0.85),
    "unstable_angina": _dx({"*": 0.005}, p_refr=0.02, recent=0.85),
    "pericardial_disease": _dx({"SLE": 0.01, "*": 0.005}, p_refr=0.04, recent=0.85),
    "copd": _dx({"*": 0.01}, p_refr=0.03, recent=0.85),
    "severe_asthma": _dx({"*": 0.01}, p_refr=0.03, recent=0.85),
    "pulmonary_hypertension": _dx({"SSC": 0.05, "*": 0.005}, p_refr=0.03, recent=0.85),
    "alcohol_drug_abuse": _dx({"*": 0.01}, p_refr=0.12, recent=0.9),
    "renal_replacement_therapy": _dx({"SLE": 0.02, "*": 0.01}, p_refr=0.04, recent=0.8),  # incl. AKI
    # --- labs (canonical units; ULN from the concept unless `uln` is given)
    "alt": _lab(22, 0.4, 0.03, (3.0, 10.0), abn="liver_mets", p_abn=0.99),
    "ast": _lab(24, 0.35, 0.025, (3.0, 9.0), abn="liver_mets", p_abn=0.99),
    "alp": _lab(75, 0.3, 0.045, (2.5, 6.0), abn="liver_mets", p_abn=0.99),
    "bilirubin_total": _lab(0.6, 0.35, 0.015, (2.5, 6.0), abn="gilbert", p_abn=0.99),
    "bilirubin_direct": _special(0.15, 0.35, 0.03, (3.0, 8.0)),
    "creatinine": _lab(0.75, 0.22, 0.02, (2.5, 5.0), abn="renal", p_abn=0.99, tail_abn=(1.2, 4.0)),
    "egfr": _special(
        95, 0.2, 0.03, (0.15, 0.35), abn="renal", p_abn=0.99, tail_abn=(0.15, 0.9), lo=5, hi=150, digits=0
    ),
    "creatinine_clearance_measured": _special(100, 0.25, 0.03, (0.2, 0.5), digits=0),
    "proteinuria_24h": _special(0.12, 0.6, 0.01, (10.0, 60.0), abn="renal", p_abn=0.9, tail_abn=(3.0, 60.0)),
    "upcr": _special(0.1, 0.6, 0.01, (10.0, 50.0), abn="renal", p_abn=0.9),
    "hemoglobin": _lab(
        126, 0.11, 0.015, (0.4, 0.55), dist="normal", spread=14, lo=35, hi=185, digits=0, uln=160
    ),
    "platelets": _lab(240, 0.3, 0.015, (0.06, 0.2), lo=2, digits=0, uln=400),
    "neutrophils": _lab(3.8, 0.4, 0.015, (0.12, 0.3), uln=7.5),
    "lymphocytes": _lab(1.4, 0.45, 0.02, (0.15, 0.35), uln=4.0),
    "inr": _special(1.0, 0.08, 0.02, (1.7, 3.0), dist="normal", lo=0.8, hi=8),
    "pt": _special(12.0, 0.8, 0.02, (1.4, 2.0), dist="normal", lo=9, hi=60),
    "aptt": _special(30.0, 3.0, 0.03, (1.6, 2.3), dist="normal", lo=20, hi=150),
    "fibrinogen": _special(3.2, 0.7, 0.02, (0.15, 0.3), dist="normal", lo=0.2, hi=9, uln=4.0),
    "lipase": _special(30, 0.35, 0.03, (2.5, 6.0)),
    "amylase": _special(60, 0.3, 0.03, (2.5, 5.0)),
    "ck": _special(90, 0.5, 0.02, (3.0, 10.0), p={"DM": 0.6, "*": 0.05}, digits=0),
    "ldh": _special(190, 0.25, 0.03, (2.0, 4.0), digits=0),
    "aldolase": _special(4.5, 0.3, 0.03, (2.0, 6.0), p={"DM": 0.4, "*": 0.02}),
    "iga": _special(230, 0.35, 0.06, (0.01, 0.04), digits=0, uln=400),
    # complement, low in active lupus (a lower limit of normal, no upper one written)
    "c3": _special(115, 0.2, 0.03, (0.5, 0.8), p={"SLE": 0.6, "*": 0.03}, refr_shift=-30, digits=0, lln=90),
    "c4": _special(24, 0.3, 0.03, (0.3, 0.6), p={"SLE": 0.6, "*": 0.03}, refr_shift=-8, digits=0, lln=10),
    # --- qualitative tests
    "ana": _qual({"SLE": 0.2, "*": 0.08}, {"SLE": 0.88, "SJO": 0.8, "SSC": 0.85, "DM": 0.6, "*": 0.15}),
    "anti_dsdna": _qual({"SLE": 0.2, "*": 0.04}, {"SLE": 0.6, "*": 0.03}),
    "anti_sm": _qual({"SLE": 0.15, "*": 0.03}, {"SLE": 0.25, "*": 0.01}, p_workup={"SLE": 0.5, "*": 0.1}),
    "myositis_antibodies": _qual(
        {"DM": 0.5, "SSC": 0.1, "SJO": 0.1, "*": 0.02},
        {"DM": 0.65, "*": 0.03},
        p_workup={"DM": 0.9, "SSC": 0.3, "SJO": 0.3, "*": 0.05},
    ),
    "hbsag": _qual(0.06, 0.0, abn="hep_b", p_abn=0.98),
    "anti_hbc": _qual(0.05, 0.05, abn="hep_b", p_abn=0.98),
    "hcv_ab": _qual(0.06, 0.004, abn="hep_c", p_abn=0.98),
    "hiv": _qual(0.05, 0.02),
    "hiv_infection": _dx({"*": 0.003}),
    "syphilis": _qual(0.03, 0.03),
    "hcg": _qual(0.05, 0.0, p_workup=0.7, abn="pregnant", p_abn=0.95, sex="F", n=(1, 1), span=60),
    "cd19_expression": _qual(
        {"SLE": 0.02, "*": 0.01}, 0.95, p_workup={"SLE": 0.9, "GEN": 0.0, "*": 0.6}, n=(1, 1)
    ),
    # B cells by flow cytometry: a tail of patients depleted to (near) zero, e.g. by rituximab
    "cd19_b_cells_percent": _special(
        11.0,
        0.45,
        0.08,
        (0.0, 0.03),
        p={"SLE": 0.02, "*": 0.01},
        p_workup={"SLE": 0.4, "*": 0.2},
        hi=100,
        digits=1,
    ),
    "cd19_b_cells_count": _special(
        200, 0.5, 0.08, (0.0, 0.03), p={"SLE": 0.02, "*": 0.01}, p_workup={"SLE": 0.3, "*": 0.15}, digits=0
    ),
    # --- viral loads (numbers with the assay's limit as ref_high)
    "hbv_dna": _viral(20, 0.0, abn="hep_b", p_workup=0.5),
    "hcv_rna": _viral(15, 0.0, abn="hep_c", p_workup=0.5),
    "cmv_dna": _viral(35, 0.03),
    "ebv_dna": _viral(100, 0.04),
    # --- observations: disease activity, performance, vitals, heart and lung function
    "sledai_2k": _score(8, 4, 0, 30, {"SLE": 0.25, "*": 0.0}, p_workup={"SLE": 0.98, "*": 0.0}, refr_shift=5),
    "selena_sledai": _score(
        8, 4, 0, 30, {"SLE": 0.1, "*": 0.0}, p_workup={"SLE": 0.95, "*": 0.0}, refr_shift=5
    ),
    "essdai": _score(8, 6, 0, 40, {"SJO": 0.35, "*": 0.0}, p_workup={"SJO": 0.97, "*": 0.0}, refr_shift=6),
    "mrss": _score(
        14,
        8,
        0,
        51,
        {"SSC": 0.35, "*": 0.0},
        p_workup={"SSC": 0.97, "*": 0.0},
        tail_p=0.05,
        tail=(2.2, 3.0),
        refr_shift=3,
    ),
    "bvas": _score(12, 7, 0, 40, {"AAV": 0.35, "*": 0.0}, p_workup={"AAV": 0.97, "*": 0.0}, refr_shift=5),
    "mmt8": _score(132, 14, 30, 150, {"DM": 0.35, "*": 0.0}, p_workup={"DM": 0.97, "*": 0.0}, refr_shift=-12),
    "dm_skin_vas": _score(
        4, 2.5, 0, 10, {"DM": 0.35, "*": 0.0}, p_workup={"DM": 0.97, "*": 0.0}, digits=1, refr_shift=1
    ),
    # the other IMACS core set measures, scored at the same myositis visits
    "myositis_patient_global_vas": _score(
        3.5, 2.2, 0, 10, {"DM": 0.35, "*": 0.0}, p_workup={"DM": 0.95, "*": 0.0}, digits=1, refr_shift=1.5
    ),
    "myositis_physician_global_vas": _score(
        3, 2, 0, 10, {"DM": 0.35, "*": 0.0}, p_workup={"DM": 0.95, "*": 0.0}, digits=1, refr_shift=1.5
    ),
    "myositis_extramuscular_vas": _score(
        1.2, 1.3, 0, 10, {"DM": 0.3, "*": 0.0}, p_workup={"DM": 0.9, "*": 0.0}, digits=1, refr_shift=1
    ),
    "haq_di": _score(
        0.7, 0.6, 0, 3, {"DM": 0.3, "*": 0.0}, p_workup={"DM": 0.9, "*": 0.0}, digits=3, refr_shift=0.3
    ),
    "ecog": _score(0.7, 0.8, 0, 4, 0.1, tail_p=0.04, tail=(3.0, 4.0)),
    "nyha_class": _score(1.3, 0.4, 1, 4, 0.02, p_workup=0.2, abn="cardiac", p_abn=0.9, tail=(2.4, 3.2)),
    # heart failure patients have echocardiograms, about half of them with a reduced ejection
    # fraction (the other half preserved)
    "lvef": _score(
        62,
        5,
        38,
        75,
        0.08,
        p_workup=0.98,
        span=400,
        tail_p=0.02,
        tail=(0.6, 0.8),
        abn="cardiac",
        p_abn=0.9,
        tail_abn=(0.55, 1.0),
    ),
    "qtc": _score(420, 20, 340, 560, 0.1, tail_p=0.02, tail=(1.15, 1.25), span=300),
    "systolic_bp": _score(124, 14, 85, 220, 0.12, tail_p=0.02, tail=(1.3, 1.5)),
    "diastolic_bp": _score(77, 9, 45, 130, 0.12, tail_p=0.02, tail=(1.2, 1.35)),
    "weight": _score(68, 0.2, 38, 160, 0.12, dist="lognormal", digits=1),
    "spo2": _score(97.5, 1.2, 78, 100, 0.1, tail_p=0.03, tail=(0.88, 0.94)),
    "dlco_pct_predicted": _score(
        78,
        14,
        15,
        130,
        {"SSC": 0.3, "DM": 0.25, "*": 0.03},
        span=400,
        p_workup=0.95,
        tail_p=0.03,
        tail=(0.4, 0.55),
        abn="ild",
        p_abn=0.9,
        tail_abn=(0.45, 0.75),
    ),
    "fvc_pct_predicted": _score(
        90,
        13,
        20,
        140,
        {"SSC": 0.3, "DM": 0.25, "*": 0.03},
        span=400,
        p_workup=0.95,
        tail_p=0.02,
        tail=(0.45, 0.55),
        abn="ild",
        p_abn=0.9,
        tail_abn=(0.55, 0.85),
    ),
    # --- medications (dose in mg/d; glucocorticoids as prednisone equivalent, divided by the
    #     code's dose factor so that methylprednisolone and dexamethasone rows differ)
    "glucocorticoids": [
        _drug(
            {"SLE": 0.75, "GEN": 0.35, "*": 0.6},
            p_refr=1.0,
            ongoing=0.6,
            ongoing_refr=0.97,
            center=10,
            spread=0.55,
            lo=2.5,
            hi=80,
            tail_p=0.03,
            tail=(4.0, 8.0),
            n=(1, 4),
            dur=(7, 400),
            horizon=300,  # steroid courses recur, the earlier ones close together
            codes=("H02AB07", "H02AB07", "H02AB06", "H02AB04", "H02AB02", "H02AB09"),
        ),
        # an induction course at about 1 mg/kg/d (the "sufficient" dose a protocol asks a
        # refractory patient to have had), years before
        _drug(
            0.0,
            p_refr=0.9,
            ongoing=0.0,
            ongoing_refr=0.0,
            center=70,
            spread=0.2,
            lo=30,
            hi=100,
            n=(1, 2),
            dur=(21, 56),
            codes=("H02AB07", "H02AB06"),
        ),
        # IV methylprednisolone pulses in a recent nephritis flare
        _drug(
            0.0,
            abn="pulse",
            p_abn=1.0,
            date="pulse",
            n=(1, 1),
            center=250,
            spread=0.5,
            lo=100,
            hi=1000,
            dur=(14, 21),
            codes=("H02AB04",),
        ),
    ],
    "hydroxychloroquine": _drug(
        {"SLE": 0.85, "SJO": 0.5, "*": 0.12},
        p_refr=1.0,
        ongoing=0.75,
        center=300,
        spread=0.2,
        lo=100,
        hi=400,
        digits=0,
    ),
    "antimalarials": _drug({"*": 0.02}, center=250, spread=0.2, digits=0),
    "cyclophosphamide": _drug(
        {"SLE": 0.1, "AAV": 0.35, "SSC": 0.15, "*": 0.02},
        p_refr=0.4,
        ongoing=0.1,
        ongoing_refr=0.2,
        center=50,
        spread=0.4,
        dur=(90, 200),
    ),
    "mycophenolate": _drug(
        {"SLE": 0.35, "SSC": 0.4, "*": 0.08},
        p_refr=0.8,
        ongoing=0.7,
        ongoing_refr=0.85,
        center=2000,
        spread=0.25,
        digits=0,
        dur=(120, 900),
    ),
    "azathioprine": _drug(
        {"SLE": 0.2, "AAV": 0.3, "*": 0.06},
        p_refr=0.6,
        ongoing=0.5,
        center=100,
        spread=0.3,
        digits=0,
        dur=(120, 900),
    ),
    "methotrexate": _drug(
        {"GEN": 0.4, "DM": 0.4, "SLE": 0.1, "*": 0.15},
        p_refr=0.3,
        ongoing=0.6,
        center=2.5,
        spread=0.3,
        dur=(120, 900),
    ),
    "ciclosporin": _drug({"*": 0.03}, p_refr=0.1, center=150, spread=0.3, digits=0),
    "tacrolimus": _drug({"SLE": 0.08, "*": 0.03}, p_refr=0.3, center=4, spread=0.4),
    "sirolimus": _drug({"*": 0.01}, p_refr=0.05, center=2, spread=0.3),
    "leflunomide": _drug({"GEN": 0.15, "*": 0.03}, p_refr=0.1, center=20, spread=0.1),
    "voclosporin": _drug({"SLE": 0.01, "*": 0.0}, p_refr=0.05, center=47, spread=0.05),
    "belimumab": _drug({"SLE": 0.12, "*": 0.0}, p_refr=0.85, ongoing=0.6, dist="none", dur=(90, 800)),
    "telitacicept": _drug({"SLE": 0.01, "*": 0.0}, p_refr=0.1, dist="none", dur=(90, 600)),
    "rituximab": _drug(
        {"AAV": 0.4, "SLE": 0.04, "*": 0.05}, p_refr=0.3, ongoing=0.4, dist="none", dur=(14, 180)
    ),
    "biologics": _drug(
        {"GEN": 0.2, "AAV": 0.4, "SLE": 0.05, "*": 0.08}, p_refr=0.5, ongoing=0.5, dist="none", dur=(60, 800)
    ),
    "anticoagulants": _drug({"*": 0.04}, ongoing=0.7, ongoing_refr=0.7, dist="none", dur=(60, 900)),
    "fludarabine": _drug({"*": 0.004}, ongoing=0.0, ongoing_refr=0.0, dist="none", dur=(3, 5)),
    "car_t_or_gene_modified_cell_therapy": Slot(
        p={"*": 0.005}, p_refr=0.04, date="once", horizon=1500, n=(1, 1)
    ),
    "live_vaccines": Slot(p={"*": 0.04}, p_refr=0.08, date="once", horizon=1500, n=(1, 1), recent=0.8),
}


# Site unit habits: spellings tried in order; the first the concept knows is used, else the
# canonical unit (so a cell count's spelling comes before g/L, which the cell counts know as
# G/L: spellings are compared in lower case). `uln_scale` varies the reference ranges;
# `ref_missing` is the share of lab rows without ref_high; `text` spells qualitative results,
# and `titre` those of a concept whose values are titres (ANA), where a site writes them as one;
# `bounds`: the site writes a viral load below its assay's limit as a bound, `<20`.
SITE_HABITS: tuple[dict, ...] = (
    {
        "units": ("g/dL", "mg/dL", "10*9/L", "U/L", "IU/mL", "lb", "mm[Hg]", "{score}"),
        "uln_scale": 1.0,
        "ref_missing": 0.0,
        "text": ("positive", "negative"),
        "bounds": True,
    },
    {
        "units": ("umol/L", "K/uL", "g/L", "U/L", "[IU]/mL", "kg", "mmHg", "{score}"),
        "uln_scale": 1.05,
        "ref_missing": 0.0,
        "text": ("Positive", "Negative"),
        "titre": ("1:320", "1:40"),
    },
    {
        "units": ("µmol/L", "g/dL", "10^9/L", "IU/L", "IU/mL", "kg", "mmHg", "points"),
        "uln_scale": 0.95,
        "ref_missing": 0.3,
        "text": ("detected", "not detected"),
    },
)
ODD_UNITS = ("mmol/L", "mg/mL", "ng/mL")  # a unit the concept does not know (first unknown)
ODD_UNIT_SHARE = 0.005


def default_slot(concept: Concept) -> Slot:
    """A model for a concept `MODELS` does not list, by its kind."""
    if concept.kind in ("condition", "procedure", "other"):
        # refractory patients, long on immunosuppression, carry more comorbidity
        return _dx({"*": 0.005}, p_refr=0.06, recent=0.7)
    if concept.kind == "medication":
        return _drug({"*": 0.03}, dist="none")
    if concept.unit is None:
        return _qual(0.3, 0.03)
    uln = concept.default_uln
    return _special(0.5 * uln if uln else 1.0, 0.3, 0.03, (2.5, 5.0))

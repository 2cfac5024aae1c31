"""Deterministic synthetic extracts (contract v1), generated inside DuckDB.

Python builds a handful of small tables from the concept library and the shipped trials:

* `slots`: one row per kind of event ("a patient's ALT results", "a course of mycophenolate",
  "a stroke diagnosis"), with its value model, record count and date model;
* `slot_profile`: per slot and patient profile, the probability of having it (and of a
  qualitative result being positive);
* `slot_codes` / `slot_units`: the codes a slot may use and each site's unit habit for it;
* `traits`: latent patient traits (refractory disease, a recent screening work-up, hepatitis B,
  heart failure, ...) that tie related events together so that combined criteria
  (`all(diagnosis heart_failure; NYHA >= 3)`) are met by some patients;
* `noise`: common codes no trial uses, each drawn as often as its weight says.

DuckDB cross-joins these with `range(patients)` (the fixed SQL of `sql/synth_patients.sql`
and `sql/synth_rows.sql`) and draws every random number from
`hash(seed, patient, slot, record, salt)`, so the result depends only on the seed and the
arguments, never on the thread count or on Python. Normal deviates come from Box-Muller.
"""

from __future__ import annotations

import tempfile
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from feasibility.criteria.model import CodePattern, Concept, Derived, Trial, walk
from feasibility.resources import sql_text
from feasibility.units import normalise_unit

# ---------------------------------------------------------------- population

PROFILES: tuple[tuple[str, float, float, float], ...] = (
    # profile, share of patients, share female, mean age
    ("SLE", 0.45, 0.90, 40.0),  # systemic lupus erythematosus
    ("SJO", 0.08, 0.93, 52.0),  # Sjogren's syndrome
    ("SSC", 0.08, 0.85, 52.0),  # systemic sclerosis
    ("DM", 0.08, 0.70, 50.0),  # dermatomyositis
    ("AAV", 0.08, 0.50, 58.0),  # ANCA vasculitis (GPA / MPA / EGPA)
    ("GEN", 0.23, 0.65, 55.0),  # general rheumatology (RA, PsA, gout, OA, ...)
)

# Latent traits, probability by profile ("*" = any other profile; "if_refractory" = for
# refractory patients, drawn first). Bit order is fixed: the SQL refers to `refractory` as bit 1
# and `workup` as bit 2.
TRAITS: dict[str, dict[str, float]] = {
    # long, multi-drug treatment history with a current biologic: the CAR-T trial population
    "refractory": {"SLE": 0.4, "SJO": 0.06, "SSC": 0.06, "DM": 0.06, "AAV": 0.06, "*": 0.0},
    # full screening work-up in the last weeks: every lab, echo, lung function, serologies;
    # it is what trial candidates get, so rare without refractory disease
    "workup": {
        "SLE": 0.015,
        "SJO": 0.015,
        "SSC": 0.015,
        "DM": 0.015,
        "AAV": 0.015,
        "*": 0.005,
        "if_refractory": 0.92,
    },
    "renal": {"SLE": 0.15, "AAV": 0.2, "*": 0.02},  # nephritis: proteinuria, creatinine up
    "pulse": {"SLE": 0.03, "*": 0.0},  # recent nephritis flare, IV pulse steroids
    # heart failure, NYHA >= 3, low LVEF; lupus carditis makes it commoner in refractory disease
    "cardiac": {"*": 0.03, "if_refractory": 0.09},
    "ild": {"SSC": 0.45, "DM": 0.3, "*": 0.02},  # interstitial lung disease, low DLCO/FVC
    "hep_b": {"*": 0.03},  # HBsAg / anti-HBc positive, viraemic
    "hep_c": {"*": 0.025},  # anti-HCV positive, viraemic
    "gilbert": {"*": 0.03},  # Gilbert syndrome, raised bilirubin
    "pregnant": {"*": 0.05},  # pregnancy code and positive hCG (F only)
    "liver_mets": {"*": 0.005},  # liver/bone metastases, raised enzymes
}
REFRACTORY_BIT, WORKUP_BIT = 1, 2

# ---------------------------------------------------------------- value models


@dataclass(frozen=True)
class Slot:
    """A kind of event a patient may have, with how often, how many, when and what value.

    Probabilities `p`, `p_workup`, `p_refr` and `pos` are a number or a dict by profile
    ("*" = default). A patient with the `abn` trait has the slot with probability `p_abn` and
    an abnormal value (tail multiplier) or a positive result.
    """

    p: float | dict[str, float] = 0.02
    p_workup: float | dict[str, float] | None = None  # for patients with a recent work-up
    p_refr: float | dict[str, float] | None = None  # for refractory patients
    abn: str | None = None  # trait that forces the slot and an abnormal value
    p_abn: float = 0.95
    female_only: bool = False
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
    pos: float | dict[str, float] = 0.0  # qualitative: probability positive
    uln: float | None = None  # ULN in the canonical unit (default: the concept's)
    ongoing: float | dict[str, float] = 0.0  # course: latest course runs through as_of
    ongoing_refr: float | None = None
    dur: tuple[int, int] = (7, 400)  # course length in days
    codes: tuple[str, ...] = ()  # override the codes taken from the concept
    domain: str | None = None  # default: from the concept's kind


def _lab(median: float, sigma: float, tail_p: float = 0.03, tail=(1.0, 1.0), **kw) -> Slot:
    """A routine numeric lab, lognormal with a tail, 1-2 results: nearly every patient with a
    recent work-up has it, 12% of the others."""
    base = dict(
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


def _special(median: float, sigma: float, tail_p: float = 0.03, tail=(1.0, 1.0), **kw) -> Slot:
    """A less routine lab: 3% of patients, nearly all of those with a work-up."""
    return _lab(median, sigma, tail_p, tail, **{"p": 0.03, "p_workup": 0.985, "n": (1, 1), **kw})


def _qual(p: float | dict, pos: float | dict, p_workup: float | None = 0.98, **kw) -> Slot:
    """A qualitative test read as positive / negative."""
    base = dict(p=p, p_workup=p_workup, pos=pos, n=(1, 1), date="lab", horizon=730, dist="qual")
    base.update(kw)
    return Slot(**base)


def _viral(uln: float, tail_p: float, abn: str | None = None, **kw) -> Slot:
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
        **{"p": 0.03, "p_workup": 0.98, **kw},
    )


def _score(mean: float, sd: float, lo: float, hi: float, p, **kw) -> Slot:
    """A clinical score or vital sign, normally distributed, clipped and rounded."""
    base = dict(
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
    p, p_refr=None, ongoing=0.6, ongoing_refr=0.9, center=0.0, spread=0.3, lo=0.0, hi=1e9, dist="dose", **kw
) -> Slot:
    """Medication courses with a daily dose (mg/d)."""
    base = dict(
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


def _dx(p, abn: str | None = None, **kw) -> Slot:
    """A diagnosis or procedure history (one record unless `n` says more), some of it recent."""
    return Slot(**{"p": p, "abn": abn, "n": (1, 1), "date": "history", **kw})


SLE_ONLY = {"SLE": 1.0, "*": 0.0}

# Per-concept models, in canonical units. A concept the trials use but not listed here gets a
# default by kind (`_default_slot`); a list gives several slots for one concept.
MODELS: dict[str, Slot | list[Slot]] = {
    # --- trial diseases: every patient of the profile, coded repeatedly over the years
    "sle": _dx(SLE_ONLY, n=(2, 3), recent=0.7, codes=("M32.9", "M32.10", "M32.19", "M32.8")),
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
    "heart_failure": _dx(0.0, abn="cardiac"),
    "gilbert_syndrome": _dx(0.0, abn="gilbert", p_abn=0.9),
    "bone_or_liver_metastasis": _dx(0.0, abn="liver_mets", p_abn=1.0),
    "pregnancy": _dx(0.0, abn="pregnant", female_only=True, recent=1.0, horizon=270),
    "breastfeeding": _dx({"*": 0.02}, female_only=True, recent=0.8, horizon=400),
    "other_autoimmune": _dx({"GEN": 0.5, "SLE": 0.05, "*": 0.05}, p_refr=0.08, recent=0.5),
    "hypertension": _dx({"*": 0.15}, n=(1, 4)),
    # --- comorbidities the trials exclude: more common in refractory disease (long
    #     immunosuppression, lupus itself) and mostly recent, so that the trials' windows see
    #     them; the rates keep every exclusion at work on the 3,000-patient sample
    "severe_infection_iv": _dx({"*": 0.08}, p_refr=0.2, recent=0.6),
    "malignancy": _dx({"*": 0.025}, p_refr=0.08),
    "malignancy_current": _dx({"*": 0.02}, p_refr=0.05),
    "cns_disease": _dx({"*": 0.005}),
    "stroke": _dx({"SLE": 0.01, "*": 0.005}, p_refr=0.025, recent=0.8),
    "seizure": _dx({"SLE": 0.01, "*": 0.005}, p_refr=0.025, recent=0.8),
    "cerebrovascular_disease": _dx({"*": 0.003}, p_refr=0.005),
    "cns_lupus": _dx({"SLE": 0.01, "*": 0.0}, p_refr=0.035, recent=0.8),
    "severe_mental_disorder": _dx({"*": 0.01}, p_refr=0.02),
    "solid_organ_transplant": _dx({"*": 0.005}, p_refr=0.03),
    "hsct": _dx({"*": 0.003}, p_refr=0.03),
    "dvt_pe": _dx({"SLE": 0.02, "*": 0.01}, p_refr=0.11, recent=0.85),
    "heart_valve_disease": _dx({"*": 0.01}, p_refr=0.1, recent=0.85),
    "ventricular_arrhythmia": _dx({"*": 0.01}, p_refr=0.08, recent=0.85),
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
    "syphilis": _qual(0.03, 0.03),
    "hcg": _qual(0.05, 0.0, p_workup=0.7, abn="pregnant", p_abn=0.95, female_only=True, n=(1, 1), span=60),
    "cd19_expression": _qual(
        {"SLE": 0.02, "*": 0.01}, 0.95, p_workup={"SLE": 0.9, "GEN": 0.0, "*": 0.6}, n=(1, 1)
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

# Children of prefix patterns: the codes emitted for `C*`, `M32*`, ... (first = most common).
KNOWN_CHILDREN: dict[str, tuple[str, ...]] = {
    "M32": ("M32.9", "M32.10", "M32.19", "M32.8"),
    "M350": ("M35.00", "M35.01", "M35.09"),
    "M34": ("M34.0", "M34.1", "M34.9"),
    "M330": ("M33.00", "M33.09"),
    "M331": ("M33.10", "M33.19"),
    "M339": ("M33.90",),
    "M313": ("M31.30", "M31.31"),
    "C": ("C50.911", "C18.9", "C34.90", "C61", "C73", "C85.90", "C43.9"),
    "Z85": ("Z85.3", "Z85.038", "Z85.43", "Z85.71"),
    "C44": ("C44.91", "C44.319"),
    "O": ("O09.90", "O26.891", "O99.89"),
    "Z34": ("Z34.90",),
    "Z3A": ("Z3A.20",),
    "H02AB": ("H02AB07", "H02AB06", "H02AB04", "H02AB02"),
    "B01AA": ("B01AA03",),
    "B01AB": ("B01AB05", "B01AB01"),
    "B01AE": ("B01AE07",),
    "B01AF": ("B01AF01", "B01AF02"),
    "L01XL": ("L01XL03", "L01XL04"),
    "I63": ("I63.9", "I63.512"),
    "I61": ("I61.9",),
    "I60": ("I60.9",),
    "I62": ("I62.9",),
    "G40": ("G40.909", "G40.309"),
    "R56": ("R56.9",),
    "I21": ("I21.4", "I21.9"),
    "I22": ("I22.9",),
    "I50": ("I50.9", "I50.22", "I50.32"),
    "I26": ("I26.99",),
    "I82.4": ("I82.401",),
    "I824": ("I82.401", "I82.409"),
    "I80.2": ("I80.209",),
    "I802": ("I80.209",),
    "I74": ("I74.3", "I74.9"),
    "J84": ("J84.10", "J84.9"),
    "J44": ("J44.9", "J44.1"),
    "J43": ("J43.9",),
    "J455": ("J45.50", "J45.51"),
    "F20": ("F20.9",),
    "F31": ("F31.9",),
    "F10": ("F10.20",),
    "F11": ("F11.20",),
    "F12": ("F12.20",),
    "A41": ("A41.9",),
    "J18": ("J18.9",),
    "J15": ("J15.9",),
    "G35": ("G35",),
    "M05": ("M05.79",),
    "M06": ("M06.9",),
    "L40": ("L40.50", "L40.0"),
    "K50": ("K50.90",),
    "K51": ("K51.90",),
    "E10": ("E10.9",),
    "M45": ("M45.9",),
    "I42": ("I42.0", "I42.9"),
    "I472": ("I47.20",),
    "I490": ("I49.01",),
    "I30": ("I30.9",),
    "I31": ("I31.39", "I31.9"),
    "I34": ("I34.0",),
    "I35": ("I35.0",),
    "D59": ("D59.10", "D59.19"),
    "D55": ("D55.9",),
    "D70": ("D70.1", "D70.9"),
    "D06": ("D06.9",),
    "D8981": ("D89.810",),
    "T860": ("T86.09",),
    "Z49": ("Z49.31",),
    "R18": ("R18.8",),
    "J91": ("J91.8",),
    "I313": ("I31.39",),
    "I27.2": ("I27.20",),
    "I272": ("I27.20", "I27.21"),
}

# Preferred code systems, first available wins.
SYSTEMS = ("ICD10CM", "LOINC", "ATC", "CVX", "ICD10PCS", "ICD10", "SNOMED", "LOCAL", "ICD9CM", "RXNORM")

# Site unit habits: spellings tried in order; the first the concept knows is used, else the
# canonical unit. `uln_scale` varies the reference ranges; `ref_missing` is the share of lab
# rows without ref_high; `text` spells qualitative results.
SITE_HABITS: tuple[dict, ...] = (
    {
        "units": ("g/dL", "mg/dL", "10*9/L", "U/L", "IU/mL", "lb", "mm[Hg]", "{score}"),
        "uln_scale": 1.0,
        "ref_missing": 0.0,
        "text": ("positive", "negative"),
    },
    {
        "units": ("umol/L", "g/L", "K/uL", "U/L", "[IU]/mL", "kg", "mmHg", "{score}"),
        "uln_scale": 1.05,
        "ref_missing": 0.0,
        "text": ("Positive", "Negative"),
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


class NoiseCode(NamedTuple):
    """A common code no trial uses; `weight` is how often it is drawn relative to the others."""

    domain: str
    code_system: str
    code: str
    weight: float
    unit: str | None = None
    median: float | None = None  # lognormal value model, in `unit`
    sigma: float | None = None
    ref_high: float | None = None
    digits: int = 0


def _noise_dx(code: str, weight: float) -> NoiseCode:
    return NoiseCode("diagnosis", "ICD10CM", code, weight)


def _noise_value(
    domain: str,
    code: str,
    weight: float,
    unit: str,
    median: float,
    sigma: float,
    ref_high: float | None = None,
    digits: int = 0,
) -> NoiseCode:
    system = "ATC" if domain == "medication" else "LOINC"
    return NoiseCode(domain, system, code, weight, unit, median, sigma, ref_high, digits)


def _noise_vaccine(code: str, weight: float) -> NoiseCode:
    return NoiseCode("medication", "CVX", code, weight)


# The background of a rheumatology clinic's records: comorbidity follow-ups, the analytes of
# the blood counts and chemistry panels that the trials do not read, vitals, co-medication and
# inactivated vaccines. Weights are relative frequencies.
NOISE: tuple[NoiseCode, ...] = (
    _noise_dx("I10", 3.0),  # essential hypertension, coded at every follow-up
    _noise_dx("Z79.899", 2.0),  # long-term drug therapy
    _noise_dx("E78.5", 1.5),  # hyperlipidaemia
    _noise_dx("M25.50", 1.5),  # joint pain
    _noise_dx("R53.83", 1.2),  # fatigue
    _noise_dx("E11.9", 1.0),  # type 2 diabetes
    _noise_dx("K21.9", 1.0),  # reflux
    _noise_dx("J06.9", 1.0),  # upper respiratory infection
    _noise_dx("M54.50", 1.0),  # low back pain
    _noise_dx("M81.0", 1.0),  # osteoporosis
    _noise_dx("E03.9", 1.0),  # hypothyroidism
    _noise_dx("E55.9", 1.0),  # vitamin D deficiency
    _noise_dx("Z79.52", 1.0),  # long-term systemic steroids
    _noise_dx("N39.0", 0.8),  # urinary tract infection
    _noise_dx("D64.9", 0.8),  # anaemia
    _noise_dx("Z23", 0.8),  # encounter for immunisation
    _noise_dx("Z00.00", 0.8),  # general examination
    _noise_dx("M19.90", 0.8),  # osteoarthritis
    _noise_dx("F41.1", 0.6),  # anxiety
    _noise_dx("F32.A", 0.6),  # depression
    _noise_dx("M79.7", 0.6),  # fibromyalgia
    _noise_dx("M79.10", 0.6),  # myalgia
    _noise_dx("I73.00", 0.6),  # Raynaud's syndrome
    _noise_dx("E66.9", 0.5),  # obesity
    _noise_dx("M10.9", 0.4),  # gout
    _noise_dx("R73.03", 0.4),  # prediabetes
    _noise_dx("R51.9", 0.4),  # headache
    _noise_dx("G47.00", 0.4),  # insomnia
    _noise_dx("J30.9", 0.4),  # allergic rhinitis
    _noise_dx("H04.123", 0.4),  # dry eye
    _noise_dx("R76.8", 0.4),  # abnormal immunological finding (a positive ANA)
    _noise_dx("R10.9", 0.4),  # abdominal pain
    _noise_dx("L93.0", 0.3),  # discoid lupus
    _noise_dx("L65.9", 0.3),  # non-scarring hair loss
    _noise_dx("K59.00", 0.3),  # constipation
    # blood count analytes besides haemoglobin, platelets, neutrophils and lymphocytes
    _noise_value("lab", "6690-2", 2.0, "10*9/L", 6.5, 0.3, 11.0, 1),  # leukocytes
    _noise_value("lab", "789-8", 1.5, "10*12/L", 4.5, 0.1, 5.5, 2),  # erythrocytes
    _noise_value("lab", "4544-3", 1.5, "%", 39.0, 0.1, 46.0, 1),  # haematocrit
    _noise_value("lab", "787-2", 1.5, "fL", 89.0, 0.06, 100.0, 0),  # MCV
    _noise_value("lab", "785-6", 1.2, "pg", 30.0, 0.06, 34.0, 1),  # MCH
    _noise_value("lab", "786-4", 1.2, "g/dL", 33.5, 0.03, 36.0, 1),  # MCHC
    _noise_value("lab", "788-0", 1.2, "%", 13.5, 0.08, 15.0, 1),  # RDW
    _noise_value("lab", "742-7", 1.0, "10*9/L", 0.5, 0.35, 1.0, 2),  # monocytes
    _noise_value("lab", "711-2", 1.0, "10*9/L", 0.15, 0.6, 0.5, 2),  # eosinophils
    _noise_value("lab", "704-7", 0.6, "10*9/L", 0.03, 0.5, 0.1, 2),  # basophils
    # chemistry analytes besides creatinine and the liver enzymes
    _noise_value("lab", "2951-2", 2.0, "mmol/L", 139.0, 0.02, 145.0, 0),  # sodium
    _noise_value("lab", "2823-3", 2.0, "mmol/L", 4.2, 0.08, 5.1, 1),  # potassium
    _noise_value("lab", "2345-7", 2.0, "mg/dL", 95.0, 0.15, 99.0, 0),  # glucose
    _noise_value("lab", "2075-0", 1.5, "mmol/L", 103.0, 0.02, 107.0, 0),  # chloride
    _noise_value("lab", "2028-9", 1.5, "mmol/L", 25.0, 0.08, 29.0, 0),  # bicarbonate
    _noise_value("lab", "3094-0", 1.5, "mg/dL", 14.0, 0.3, 20.0, 0),  # urea nitrogen
    _noise_value("lab", "17861-6", 1.2, "mg/dL", 9.4, 0.05, 10.3, 1),  # calcium
    _noise_value("lab", "1751-7", 1.0, "g/dL", 4.1, 0.1, 5.0, 1),  # albumin
    _noise_value("lab", "2885-2", 0.8, "g/dL", 7.0, 0.08, 8.3, 1),  # total protein
    _noise_value("lab", "2324-2", 0.6, "U/L", 25.0, 0.6, 55.0, 0),  # GGT
    _noise_value("lab", "3084-1", 0.5, "mg/dL", 5.2, 0.3, 7.0, 1),  # urate
    _noise_value("lab", "19123-9", 0.4, "mg/dL", 2.0, 0.08, 2.6, 1),  # magnesium
    _noise_value("lab", "2777-1", 0.4, "mg/dL", 3.5, 0.15, 4.5, 1),  # phosphate
    # inflammation, complement and metabolic follow-up
    _noise_value("lab", "1988-5", 2.0, "mg/L", 3.0, 1.0, 5.0, 1),  # CRP
    _noise_value("lab", "4537-7", 1.5, "mm/h", 18.0, 0.6, 20.0, 0),  # ESR
    _noise_value("lab", "4485-9", 0.8, "mg/dL", 95.0, 0.3, 180.0, 0),  # complement C3
    _noise_value("lab", "4498-2", 0.8, "mg/dL", 20.0, 0.35, 40.0, 0),  # complement C4
    _noise_value("lab", "3016-3", 0.6, "mIU/L", 1.8, 0.5, 4.5, 2),  # TSH
    _noise_value("lab", "2093-3", 0.6, "mg/dL", 190.0, 0.18, 200.0, 0),  # cholesterol
    _noise_value("lab", "2085-9", 0.5, "mg/dL", 55.0, 0.25),  # HDL cholesterol
    _noise_value("lab", "13457-7", 0.5, "mg/dL", 110.0, 0.3, 130.0, 0),  # LDL cholesterol
    _noise_value("lab", "2571-8", 0.5, "mg/dL", 120.0, 0.45, 150.0, 0),  # triglycerides
    _noise_value("lab", "4548-4", 0.5, "%", 5.5, 0.1, 5.7, 1),  # HbA1c
    _noise_value("lab", "1989-3", 0.5, "ng/mL", 25.0, 0.45, 100.0, 0),  # 25-OH vitamin D
    _noise_value("lab", "2276-4", 0.4, "ng/mL", 90.0, 0.8, 300.0, 0),  # ferritin
    # vitals besides blood pressure, weight and oxygen saturation
    _noise_value("observation", "8867-4", 2.0, "/min", 74.0, 0.12),  # heart rate
    _noise_value("observation", "8310-5", 1.0, "Cel", 36.8, 0.01, digits=1),  # body temperature
    _noise_value("observation", "39156-5", 1.0, "kg/m2", 25.0, 0.18, digits=1),  # BMI
    _noise_value("observation", "9279-1", 0.8, "/min", 16.0, 0.12),  # respiratory rate
    _noise_value("observation", "8302-2", 0.5, "cm", 166.0, 0.05),  # height
    # co-medication (daily doses)
    _noise_value("medication", "N02BE01", 1.0, "mg/d", 2000.0, 0.3),  # paracetamol
    _noise_value("medication", "A02BC01", 1.0, "mg/d", 20.0, 0.3),  # omeprazole
    _noise_value("medication", "A11CC05", 1.0, "mg/d", 0.025, 0.3, digits=3),  # colecalciferol
    _noise_value("medication", "A12AX", 0.8, "mg/d", 1000.0, 0.1),  # calcium + vitamin D
    _noise_value("medication", "B03BB01", 0.8, "mg/d", 5.0, 0.3, digits=1),  # folic acid
    _noise_value("medication", "C09AA05", 0.8, "mg/d", 5.0, 0.5, digits=1),  # ramipril
    _noise_value("medication", "C08CA01", 0.6, "mg/d", 5.0, 0.3, digits=1),  # amlodipine
    _noise_value("medication", "C10AA05", 0.6, "mg/d", 20.0, 0.4),  # atorvastatin
    _noise_value("medication", "M01AE01", 0.6, "mg/d", 1200.0, 0.3),  # ibuprofen
    _noise_value("medication", "A02BC02", 0.6, "mg/d", 40.0, 0.3),  # pantoprazole
    _noise_value("medication", "H03AA01", 0.6, "mg/d", 0.075, 0.35, digits=3),  # levothyroxine
    _noise_value("medication", "M05BA04", 0.4, "mg/d", 10.0, 0.1),  # alendronic acid
    _noise_value("medication", "A10BA02", 0.4, "mg/d", 1000.0, 0.4),  # metformin
    _noise_value("medication", "J01EE01", 0.3, "mg/d", 480.0, 0.2),  # co-trimoxazole prophylaxis
    _noise_value("medication", "N06AB06", 0.3, "mg/d", 50.0, 0.4),  # sertraline
    _noise_value("medication", "R06AE07", 0.3, "mg/d", 10.0, 0.1),  # cetirizine
    # inactivated vaccines (live ones are a trial concept)
    _noise_vaccine("141", 0.8),  # influenza
    _noise_vaccine("150", 0.6),  # influenza, quadrivalent
    _noise_vaccine("208", 0.5),  # COVID-19 mRNA
    _noise_vaccine("33", 0.3),  # pneumococcal polysaccharide
    _noise_vaccine("216", 0.3),  # pneumococcal conjugate
    _noise_vaccine("187", 0.3),  # zoster, recombinant
    _noise_vaccine("115", 0.2),  # Tdap
    _noise_vaccine("43", 0.2),  # hepatitis B
)
NOISE_PER_PATIENT = 33  # mean noise rows per patient (uniform 0 .. 2x)
NOISE_BUCKETS = 1000  # a noise row draws one bucket; each code holds buckets by its weight
CHUNK_PATIENTS = 200_000
ROW_GROUP_SIZE = 1_000_000  # rows per parquet row group


# ---------------------------------------------------------------- building the tables


def _by_profile(value: float | dict[str, float] | None, profile: str) -> float | None:
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    return float(value.get(profile, value.get("*", 0.0)))


def _matches(code: str, patterns: Iterable[CodePattern], system: str) -> bool:
    norm = code.upper().replace(".", "")
    return any(
        p.system == system and (norm == p.code or (p.prefix and norm.startswith(p.code))) for p in patterns
    )


def _format(system: str, code: str) -> str:
    """Print a normalised ICD code with its dot after the third character."""
    if system.startswith("ICD") and system != "ICD10PCS" and len(code) > 3 and "." not in code:
        return f"{code[:3]}.{code[3:]}"
    return code


def concept_codes(concept: Concept) -> list[tuple[str, str]]:
    """(system, code) pairs to emit for a concept: its preferred system's exact codes, and
    for prefix patterns a known child or the pattern code itself; never an excluded code."""
    systems = {p.system for p in concept.codes}
    for system in sorted(systems, key=lambda s: SYSTEMS.index(s) if s in SYSTEMS else 99):
        out: list[tuple[str, str]] = []
        for p in concept.codes:
            if p.system != system:
                continue
            candidates = KNOWN_CHILDREN.get(p.code) if p.prefix else None
            for code in candidates or (_format(system, p.code),):
                if _matches(code, [p], system) and not _matches(code, concept.exclude, system):
                    out.append((system, code))
        if out:
            return out
    return []


def trial_windows(trials: Sequence[Trial]) -> tuple[set[str], dict[str, float]]:
    """Concepts the trials use (plus the inputs of derived measures) and, per concept, the
    longest finite look-back window in days (recent events are dated skewed towards as_of
    inside it, so shorter windows catch a good share too)."""
    used: set[str] = set()
    windows: dict[str, float] = {}
    for t in trials:
        for c in t.criteria:
            if c.rule is None:
                continue
            for node in walk(c.rule):
                name = getattr(node, "concept", None)
                if isinstance(node, Derived):
                    used.update(
                        {"creatinine"} | ({"weight"} if node.measure == "creatinine_clearance" else set())
                    )
                if not name:
                    continue
                used.add(name)
                within = getattr(node, "within", None)
                if within is not None:
                    days = within.approx_days()
                    windows[name] = max(windows.get(name, days), days)
    return used, windows


def _default_slot(concept: Concept) -> Slot:
    """A model for a concept the table above does not know."""
    if concept.kind in ("condition", "procedure", "other"):
        # refractory patients, long on immunosuppression, carry more comorbidity
        return _dx({"*": 0.005}, p_refr=0.06, recent=0.7)
    if concept.kind == "medication":
        return _drug({"*": 0.03}, dist="none")
    if concept.unit is None:
        return _qual(0.3, 0.03)
    uln = concept.default_uln
    return _special(0.5 * uln if uln else 1.0, 0.3, 0.03, (2.5, 5.0))


def _covered(concept: Concept, others: Iterable[Concept]) -> bool:
    """Whether every code of a union concept (immunosuppressants = the drugs) is emitted by
    other concepts, so it needs no events of its own."""
    mine = {(p.system, p.code, p.prefix) for p in concept.codes}
    theirs = {(p.system, p.code, p.prefix) for o in others for p in o.codes}
    return bool(mine) and mine <= theirs


@dataclass
class Tables:
    """The small driving tables, as column lists ready for pyarrow."""

    slots: dict[str, list] = field(default_factory=dict)
    slot_profile: dict[str, list] = field(default_factory=dict)
    slot_codes: dict[str, list] = field(default_factory=dict)
    slot_units: dict[str, list] = field(default_factory=dict)

    def add(self, table: str, **row) -> None:
        cols = getattr(self, table)
        for k, v in row.items():
            cols.setdefault(k, []).append(v)


def _site_unit(concept: Concept, habit: dict) -> tuple[str, float] | None:
    """The unit spelling a site uses for a concept and its factor to the canonical unit."""
    if concept.unit is None:
        return None
    for spelling in habit["units"]:
        factor = concept.unit_factor(normalise_unit(spelling))
        if factor is not None:
            return spelling, factor
    return concept.unit, 1.0


def _odd_unit(concept: Concept) -> str | None:
    for spelling in ODD_UNITS:
        if concept.unit is not None and concept.unit_factor(normalise_unit(spelling)) is None:
            return spelling
    return None


def build_tables(trials: Sequence[Trial], library, sites: int) -> Tables:
    """The slot tables for the concepts the trials use."""
    used, windows = trial_windows(trials)
    concepts = {name: library[name] for name in sorted(used) if name in library}
    bits = {name: 1 << i for i, name in enumerate(TRAITS)}
    t = Tables()
    slot_id = 0
    for name, concept in concepts.items():
        model = MODELS.get(name)
        if model is None:
            if _covered(concept, [c for n, c in concepts.items() if n != name]):
                continue
            model = _default_slot(concept)
        codes_all = concept_codes(concept)
        if not codes_all:
            continue
        domain = {
            "condition": "diagnosis",
            "procedure": "procedure",
            "medication": "medication",
            "measurement": "lab",
            "other": "diagnosis",
        }[concept.kind]
        window = windows.get(name)
        for slot in model if isinstance(model, list) else [model]:
            slot_id += 1
            codes = [(codes_all[0][0], c) for c in slot.codes] if slot.codes else codes_all
            factors = dict(concept.dose_factors)
            for i, (system, code) in enumerate(codes):
                t.add(
                    "slot_codes",
                    slot_id=slot_id,
                    idx=i,
                    code_system=system,
                    code=code,
                    dose_factor=factors.get(code.upper().replace(".", ""), 1.0),
                )
            recent = slot.recent if slot.recent is not None else (0.7 if window else 0.0)
            recent_days = max(1, int(window if window else 180) - 1)
            uln = slot.uln if slot.uln is not None else concept.default_uln
            t.add(
                "slots",
                slot_id=slot_id,
                concept=name,
                domain=slot.domain or domain,
                dist=slot.dist,
                n_codes=len(codes),
                n_lo=slot.n[0],
                n_hi=slot.n[1],
                date_model=slot.date,
                horizon=slot.horizon,
                span=slot.span,
                recent=recent,
                recent_days=recent_days,
                center=float(slot.center),
                spread=float(slot.spread),
                lo=float(slot.lo),
                hi=float(slot.hi),
                digits=slot.digits,
                refr_shift=float(slot.refr_shift),
                tail_p=float(slot.tail_p),
                tail_lo=float(slot.tail[0]),
                tail_hi=float(slot.tail[1]),
                abn_lo=float((slot.tail_abn or slot.tail)[0]),
                abn_hi=float((slot.tail_abn or slot.tail)[1]),
                abn_bit=bits.get(slot.abn, 0) if slot.abn else 0,
                p_abn=float(slot.p_abn),
                female_only=slot.female_only,
                uln=None if uln is None else float(uln),
                dur_lo=slot.dur[0],
                dur_hi=slot.dur[1],
                ongoing_refr=float(
                    slot.ongoing_refr
                    if slot.ongoing_refr is not None
                    else _by_profile(slot.ongoing, "SLE") or 0.0
                ),
                dose_unit="mg/d" if slot.dist == "dose" else None,
            )
            for profile, *_ in PROFILES:
                t.add(
                    "slot_profile",
                    slot_id=slot_id,
                    profile=profile,
                    p=_by_profile(slot.p, profile),
                    p_workup=_by_profile(slot.p_workup, profile),
                    p_refr=_by_profile(slot.p_refr, profile),
                    pos=_by_profile(slot.pos, profile) or 0.0,
                    ongoing=_by_profile(slot.ongoing, profile) or 0.0,
                )
            for s in range(sites):
                habit = SITE_HABITS[s % len(SITE_HABITS)]
                unit = _site_unit(concept, habit) if slot.dist not in ("dose", "none") else None
                t.add(
                    "slot_units",
                    slot_id=slot_id,
                    site_idx=s,
                    unit=unit[0] if unit else ("mg/d" if slot.dist == "dose" else None),
                    factor=unit[1] if unit else 1.0,
                    odd_unit=_odd_unit(concept)
                    if slot.dist in ("lognormal", "normal") and (slot.domain or domain) == "lab"
                    else None,
                    uln_scale=habit["uln_scale"] * (1 + 0.02 * (s // len(SITE_HABITS))),
                    ref_missing=habit["ref_missing"] if concept.default_uln else 0.0,
                    pos_text=habit["text"][0],
                    neg_text=habit["text"][1],
                )
    return t


def _noise_buckets(codes: Sequence[NoiseCode]) -> pa.Table:
    """The noise codes spread over NOISE_BUCKETS rows in proportion to their weights, so that
    SQL draws a weighted code with one hash and an equi-join."""
    total = sum(c.weight for c in codes)
    bounds = list(accumulate(c.weight / total for c in codes))
    picked = [codes[bisect_right(bounds, (b + 0.5) / NOISE_BUCKETS)] for b in range(NOISE_BUCKETS)]
    columns = [name for name in NoiseCode._fields if name != "weight"]
    return pa.table(
        {"idx": list(range(NOISE_BUCKETS)), **{name: [getattr(c, name) for c in picked] for name in columns}}
    )


# ---------------------------------------------------------------- generation (sql/synth_*.sql)

# A share of patients left the site's care years ago (moved, changed hospital, died without
# a record of it): every record of theirs is moved back by more than two years, so the
# still-in-care step (--active-within) has someone to remove. A patient with a recent work-up
# is in care, so never lapsed.
LAPSED_SHARE = 0.07


def _arrow(columns: dict[str, list]) -> pa.Table:
    return pa.table(columns)


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Expose an Arrow table to SQL under `name`. (Arrow scans, rather than DuckDB temp
    tables, also sidestep a DuckDB 2.0 internal error on dictionary-compressed join inputs.)"""
    con.register(name, table)


def site_ids(sites: int) -> list[str]:
    """SITE-A, SITE-B, ..., then SITE-27, SITE-28, ... beyond 26 sites."""
    return [f"SITE-{chr(65 + i)}" if i < 26 else f"SITE-{i + 1}" for i in range(sites)]


def generate(
    out: Path,
    *,
    patients: int,
    sites: int,
    seed: int,
    as_of: date,
    sort_rows: bool = True,
    trials_paths: Sequence[Path] | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Write a synthetic extract (contract v1) for `patients` patients at `sites` sites to the
    parquet file `out`; return its row count. Same arguments, same rows. Unsorted rows are
    in random order within each block of `CHUNK_PATIENTS` patients. `progress` hears of each
    block (millions of patients take minutes)."""
    from feasibility.criteria.load import load_trials

    if patients < 1 or sites < 1:
        raise ValueError("patients and sites must be at least 1")
    trials, library = load_trials(list(trials_paths) if trials_paths else None)
    tables = build_tables(trials, library, sites)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        if threads:
            con.execute("SET threads = ?", [int(threads)])
        con.execute("SET enable_progress_bar = false")
        _register(
            con,
            "cfg",
            pa.table(
                {
                    "seed": pa.array([int(seed)], pa.int64()),
                    "patients": [int(patients)],
                    "sites": [int(sites)],
                    "as_of": pa.array([as_of], pa.date32()),
                    "year": [as_of.year],
                    "noise": [NOISE_PER_PATIENT],
                    "odd_share": [ODD_UNIT_SHARE],
                    "lapsed_share": [LAPSED_SHARE],
                    "sort_rows": [bool(sort_rows)],
                }
            ),
        )
        cum = 0.0
        prof: dict[str, list] = {
            "profile": [],
            "lo": [],
            "hi": [],
            "female": [],
            "mean_age": [],
            "refractory": [],
        }
        for i, (name, share, female, age) in enumerate(PROFILES):
            prof["profile"].append(name)
            prof["lo"].append(cum)
            cum = 1.0 if i == len(PROFILES) - 1 else cum + share
            prof["hi"].append(cum + (1e-9 if i == len(PROFILES) - 1 else 0.0))
            prof["female"].append(female)
            prof["mean_age"].append(age)
            prof["refractory"].append(_by_profile(TRAITS["refractory"], name))
        _register(con, "profiles", _arrow(prof))
        traits: dict[str, list] = {"bit": [], "profile": [], "p": [], "p_refr": []}
        for i, (_, probs) in enumerate(TRAITS.items()):
            for name, *_ in PROFILES:
                p = _by_profile(probs, name)
                traits["bit"].append(1 << i)
                traits["profile"].append(name)
                traits["p"].append(p)
                traits["p_refr"].append(float(probs.get("if_refractory", p)))
        _register(con, "trait_probs", _arrow(traits))
        _register(con, "sites", _arrow({"site_idx": list(range(sites)), "site_id": site_ids(sites)}))
        used_codes = [(c, library[c]) for c in trial_windows(trials)[0] if c in library]
        noise = [
            item
            for item in NOISE
            if not any(_matches(item.code, concept.codes, item.code_system) for _, concept in used_codes)
        ]
        _register(con, "noise", _noise_buckets(noise))
        for name in ("slots", "slot_profile", "slot_codes", "slot_units"):
            _register(con, name, _arrow(getattr(tables, name)))
        con.execute(sql_text("synth_patients.sql"))
        everyone = con.table("synth_patients").to_arrow_table()
        _register(con, "pat", everyone.slice(0, CHUNK_PATIENTS))
        con.execute(sql_text("synth_rows.sql"))  # views over `pat`, which each block replaces
        # Patients are generated in chunks, each written to a part file that is then copied
        # into the one extract in order: bounded memory, and DuckDB 2.0 hits an internal
        # error ("dict-surviving cache") when one query writes millions of patients at once.
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".synth-") as scratch:
            parts = []
            for start in range(0, patients, CHUNK_PATIENTS):
                if progress:
                    end = min(start + CHUNK_PATIENTS, patients)
                    progress(f"generating patients {start + 1:,} to {end:,} of {patients:,}")
                _register(con, "pat", everyone.slice(start, CHUNK_PATIENTS))
                part = Path(scratch) / f"part-{len(parts):05d}.parquet"
                con.table("synth_rows").write_parquet(
                    str(part), compression="zstd", row_group_size=ROW_GROUP_SIZE
                )
                parts.append(str(part))
            if len(parts) == 1:
                Path(parts[0]).replace(out)
            else:
                if progress:
                    progress(f"writing {out.name}")
                con.execute("SET preserve_insertion_order = true")
                con.sql("SELECT * FROM read_parquet(?)", params=[parts]).write_parquet(
                    str(out), compression="zstd", row_group_size=ROW_GROUP_SIZE
                )
        rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()[0]
    finally:
        con.close()
    return int(rows)

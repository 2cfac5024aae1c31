"""Who the synthetic patients are: disease profiles and the latent traits that tie a
patient's related events together."""

from __future__ import annotations

from typing import overload

import pyarrow as pa

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

# A share of patients left the site's care years ago (moved, changed hospital, died without
# a record of it): every record of theirs is moved back by more than two years, so the
# still-in-care step (--active-within) has someone to remove. A patient with a recent work-up
# is in care, so never lapsed.
LAPSED_SHARE = 0.07


@overload
def by_profile(value: float | dict[str, float], profile: str) -> float: ...
@overload
def by_profile(value: None, profile: str) -> None: ...
@overload
def by_profile(value: float | dict[str, float] | None, profile: str) -> float | None: ...
def by_profile(value: float | dict[str, float] | None, profile: str) -> float | None:
    """A probability given as a number, or per profile with "*" for the others."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    return float(value.get(profile, value.get("*", 0.0)))


def profile_table() -> pa.Table:
    """Per profile: its slice [lo, hi) of the unit interval a patient's draw falls in, its
    share of women, mean age and probability of refractory disease."""
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
        prof["refractory"].append(by_profile(TRAITS["refractory"], name))
    return pa.table(prof)


def trait_table() -> pa.Table:
    """Per trait (as its bit) and profile: the probability of the trait, and for refractory
    patients."""
    traits: dict[str, list] = {"bit": [], "profile": [], "p": [], "p_refr": []}
    for i, probs in enumerate(TRAITS.values()):
        for name, *_ in PROFILES:
            p = by_profile(probs, name)
            traits["bit"].append(1 << i)
            traits["profile"].append(name)
            traits["p"].append(p)
            traits["p_refr"].append(float(probs.get("if_refractory", p)))
    return pa.table(traits)

"""The codes no trial reads: the background of a rheumatology clinic's records."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import NamedTuple

import pyarrow as pa

from feasibility.criteria.model import Concept
from feasibility.synth.codes import matches


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
NOISE_PER_PATIENT = 32  # mean noise rows per patient (uniform 0 .. 2x)
NOISE_BUCKETS = 1000  # a noise row draws one bucket; each code holds buckets by its weight


def noise_buckets(codes: Sequence[NoiseCode]) -> pa.Table:
    """The noise codes spread over NOISE_BUCKETS rows in proportion to their weights, so that
    SQL draws a weighted code with one hash and an equi-join."""
    total = sum(c.weight for c in codes)
    bounds = list(accumulate(c.weight / total for c in codes))
    picked = [codes[bisect_right(bounds, (b + 0.5) / NOISE_BUCKETS)] for b in range(NOISE_BUCKETS)]
    columns = [name for name in NoiseCode._fields if name != "weight"]
    return pa.table(
        {"idx": list(range(NOISE_BUCKETS)), **{name: [getattr(c, name) for c in picked] for name in columns}}
    )


def noise_codes(used: Iterable[Concept]) -> list[NoiseCode]:
    """The noise codes that none of the concepts the trials use holds: a noise row must not
    meet a criterion."""
    used = list(used)
    return [item for item in NOISE if not any(matches(item.code, c.codes, item.code_system) for c in used)]

"""Which codes a synthetic concept's events carry."""

from __future__ import annotations

from collections.abc import Iterable

from feasibility.criteria.concepts import normalise_code
from feasibility.criteria.model import CodePattern, Concept

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


def matches(code: str, patterns: Iterable[CodePattern], system: str) -> bool:
    """Whether the code, as printed, is one the patterns hold in that code system."""
    norm = normalise_code(code)
    return any(p.matches(system, norm) for p in patterns)


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
                if matches(code, [p], system) and not matches(code, concept.exclude, system):
                    out.append((system, code))
        if out:
            return out
    return []

"""What a code of each well-known code system looks like.

A mistyped code in a concept file matches nothing and fails silently: the criterion just
finds fewer patients. So the concept library refuses, when it is read, a code that cannot
be one of its system's: a LOINC code whose check digit does not match, an ATC code of the
wrong shape, and so on. A prefix pattern (`M32*`) may stop at any level of the code. Systems
not listed here (LOCAL, a site's own) are not checked.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

# Other names sites give the systems: spellings with dashes and spaces, and the FHIR canonical
# URIs of HL7 Terminology (an extract made from FHIR resources carries those). Compared
# upper-cased, with https read as http, and every character but letters and digits removed.
_ALIASES: dict[str, tuple[str, ...]] = {
    "ICD10CM": ("ICD10CM", "HTTP://HL7.ORG/FHIR/SID/ICD-10-CM"),
    "ICD10": ("ICD10", "ICD10WHO", "HTTP://HL7.ORG/FHIR/SID/ICD-10"),
    "ICD9CM": ("ICD9CM", "HTTP://HL7.ORG/FHIR/SID/ICD-9-CM"),
    "ICD10PCS": ("ICD10PCS", "HTTP://WWW.CMS.GOV/MEDICARE/CODING/ICD10"),
    "LOINC": ("LOINC", "LN", "HTTP://LOINC.ORG"),
    "SNOMED": ("SNOMED", "SNOMEDCT", "SNOMEDCTUS", "SCT", "HTTP://SNOMED.INFO/SCT"),
    "ATC": ("ATC", "WHOATC", "HTTP://WWW.WHOCC.NO/ATC"),
    "RXNORM": ("RXNORM", "HTTP://WWW.NLM.NIH.GOV/RESEARCH/UMLS/RXNORM"),
    "CVX": ("CVX", "HTTP://HL7.ORG/FHIR/SID/CVX"),
    "NDC": ("NDC", "HTTP://HL7.ORG/FHIR/SID/NDC"),
}


def _squeezed(name: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", re.sub(r"^HTTPS://", "HTTP://", name.strip().upper()))


_CANONICAL = {_squeezed(alias): system for system, aliases in _ALIASES.items() for alias in aliases}


# An extract spells its few systems on every row of its code dictionary, tens of thousands
# at a large site, and two regular expressions per spelling cost as much as mapping the codes
@lru_cache(maxsize=1024)
def normalise_system(name: str) -> str:
    """The system's name as the concept library writes it: `ICD-10-CM`, `icd10cm` and
    `http://hl7.org/fhir/sid/icd-10-cm` are all ICD10CM. A name not known here is kept,
    upper-cased (`LOCAL`, a site's own)."""
    return _CANONICAL.get(_squeezed(name), name.strip().upper())


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether `a` and `b` differ by one letter added, removed, changed, or two neighbours
    swapped (`LONIC`, `ACT`, `ICD10C`)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
        return len(diff) == 1 or swapped
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


# Real systems one letter from a known one: ICD-11, and ICD-10's national modifications
# (ICD-10-GM, -CA, -AM, ...), which are not misspellings of ICD-10-CM
_NEIGHBOURS = re.compile(r"ICD11|ICD10[A-Z]{2}")


def misspelled_system(name: str) -> str | None:
    """The known system a code system name is one typing slip from (`LONIC` is LOINC), or
    None: the name is known, or far from every known one (`LOCAL`, a site's own). A concept
    listing codes under a misspelled system matches no row of any extract, silently."""
    squeezed = _squeezed(name)
    if squeezed in _CANONICAL:
        return None
    for system in _ALIASES:
        # a letter changed in ICD10CM may be another country's ICD-10; one missing is a slip
        neighbour = _NEIGHBOURS.fullmatch(squeezed) and len(squeezed) == len(system)
        if _one_edit_apart(squeezed, system) and not neighbour:
            return system
    return None


class Shape(NamedTuple):
    """A system's codes, normalised (upper case, no dots): whole codes, the beginnings a
    prefix pattern may stop at (None: the same as whole codes), and how to say it."""

    whole: re.Pattern[str]
    prefix: re.Pattern[str] | None
    described: str


# WHO ICD-10 and its national modifications (ICD-10-CM among them) share one shape
_ICD10_CODE = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")
_ICD10_BEGINNING = re.compile(r"[A-Z]([0-9][0-9A-Z]{0,5})?")
_ICD10_DESCRIBED = "a letter, a digit, then 1 to 5 letters or digits, e.g. "

SHAPES: dict[str, Shape] = {
    "ICD10CM": Shape(_ICD10_CODE, _ICD10_BEGINNING, _ICD10_DESCRIBED + "M32.14"),
    "ICD10": Shape(_ICD10_CODE, _ICD10_BEGINNING, _ICD10_DESCRIBED + "M32.1"),
    "ICD9CM": Shape(
        re.compile(r"[0-9]{3}[0-9]{0,2}|V[0-9]{2}[0-9]{0,2}|E[0-9]{3}[0-9]?"),
        re.compile(r"[0-9]{1,5}|V[0-9]{0,4}|E[0-9]{0,4}"),
        "3 to 5 digits, or a V or E code, e.g. 710.0",
    ),
    "ICD10PCS": Shape(
        re.compile(r"[0-9A-HJ-NP-Z]{7}"),
        re.compile(r"[0-9A-HJ-NP-Z]{1,7}"),
        "7 letters or digits, without I or O",
    ),
    "ATC": Shape(
        # anatomical group, therapeutic, pharmacological and chemical subgroups, substance
        re.compile(r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?"),
        None,
        "a letter, 2 digits, 2 letters, 2 digits, or one of its levels, e.g. L04AA06",
    ),
    "CVX": Shape(re.compile(r"[0-9]{1,3}"), None, "1 to 3 digits"),
    "RXNORM": Shape(re.compile(r"[0-9]{1,9}"), None, "digits (an RxNorm concept id)"),
}

# Verhoeff's dihedral-group tables, by which a SNOMED CT identifier's last digit checks the rest
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def _verhoeff_ok(digits: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(digits)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def _mod10_ok(digits: str) -> bool:
    """LOINC's "mod 10" check digit (the Luhn algorithm): from the right, every second digit
    doubled, its digits summed, the total a multiple of 10."""
    total = 0
    for i, digit in enumerate(reversed(digits)):
        d = int(digit) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def code_problem(system: str, code: str, prefix: bool = False) -> tuple[str, str] | None:
    """Why `code` (normalised) cannot be a code of `system` (or begin one, for a prefix
    pattern), and what such a code looks like; None when it can, or when the system is not
    one checked here."""
    if system == "LOINC":
        match = re.fullmatch(r"([0-9]{1,7})-([0-9])", code)
        if match is None:
            return "is not a LOINC code", "a LOINC code is digits, a dash and a check digit, e.g. 1742-6"
        if prefix:
            return "is a prefix pattern", "LOINC codes are listed whole, without *"
        if not _mod10_ok(match.group(1) + match.group(2)):
            return "has a check digit that does not match", "copy the code again from loinc.org"
        return None
    if system == "SNOMED":
        if prefix:
            return "is a prefix pattern", "SNOMED CT codes are listed whole, without *"
        if not re.fullmatch(r"[0-9]{6,18}", code):
            return "is not a SNOMED CT identifier", "an identifier is 6 to 18 digits"
        if not _verhoeff_ok(code):
            return (
                "has a check digit that does not match",
                "copy the identifier again from a SNOMED CT browser",
            )
        return None
    shape = SHAPES.get(system)
    if shape is None:
        return None
    pattern = shape.prefix if prefix and shape.prefix is not None else shape.whole
    if pattern.fullmatch(code):
        return None
    what = "does not begin" if prefix else "is not"
    return f"{what} a valid {system} code", f"write {shape.described}"

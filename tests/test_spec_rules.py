"""Spec tests of every rule construct: hand-built patients, expected TRUE/FALSE/UNKNOWN.

The trial is tests/fixtures/trials/spec.yaml; the index date is 2025-02-01 for everyone.
Each patient probes one criterion; `None` is UNKNOWN. For exclusions the value is the
exclusion's rule (True = the exclusion applies).
"""

from __future__ import annotations

import math
import shutil

import pytest

from feasibility.criteria.describe import describe
from feasibility.criteria.load import load_trials
from feasibility.criteria.model import Duration
from feasibility.criteria.parse import parse_duration
from feasibility.errors import TrialError
from tests.support import (
    EVALUATORS,
    REPO,
    evaluate,
    evaluate_with,
    event,
    load_engine,
    person,
    reference_values,
)

TRIAL = "tests/fixtures/trials/spec.yaml"
AS_OF = "2025-02-01"
ANA, HB = "8061-4", "718-7"
DSDNA_CLIFT, DSDNA_IA = "6457-6", "5130-0"  # anti-dsDNA by CLIFT, by immunoassay


def lab(pid, loinc, day, **values):
    return event(pid, "lab", "LOINC", loinc, day, **values)


def dx(pid, code, day):
    return event(pid, "diagnosis", "ICD10CM", code, day)


def med(pid, atc, start, end, dose, unit="mg/d"):
    return event(pid, "medication", "ATC", atc, start, end_date=end, value_num=dose, unit=unit)


def obs(pid, code, day, value, unit=None, system="LOCAL"):
    return event(pid, "observation", system, code, day, value_num=value, unit=unit)


# (patient, rows after the person row, criterion, expected)
CASES: list[tuple[str, dict, list, str, bool | None]] = []


def case(pid: str, criterion: str, expected: bool | None, *rows, **demographics):
    CASES.append((pid, demographics, list(rows), criterion, expected))


# -- age: min 18, max 70 inclusive; with a birth year only, age is one of two values
case("age_by2006", "age", True, birth_year=2006)  # 18 or 19
case("age_by2007", "age", None, birth_year=2007)  # 17 or 18: undecided
case("age_by2008", "age", False, birth_year=2008)  # 16 or 17
case("age_by1955", "age", True, birth_year=1955)  # 69 or 70: 70 is inclusive
case("age_by1954", "age", None, birth_year=1954)  # 70 or 71
case("age_by1953", "age", False, birth_year=1953)  # 71 or 72
case("age_bd_18_today", "age", True, birth_date="2007-02-01")  # 18th birthday on index
case("age_bd_17", "age", False, birth_date="2007-02-02")  # turns 18 the day after
case("age_bd_over_birth_year", "age", True, birth_year=1900, birth_date="2000-06-15")
# -- age above 18 (strict)
case("agex_by2006", "age_strict", None, birth_year=2006)  # 18 or 19
case("agex_by2005", "age_strict", True, birth_year=2005)  # 19 or 20
case("agex_bd_18", "age_strict", False, birth_date="2007-01-15")  # exactly 18
# -- sex
case("sex_f", "female", True, sex="F")
case("sex_m", "female", False, sex="M")
case("sex_u", "female", None, sex="U")
case("sex_f_lower", "female", True, sex="f")  # lower case reads as upper case
case("sex_other", "female", None, sex="Female")  # outside the contract: U, and counted
# -- history: SLE ever, M32.0 (drug-induced) excluded from the concept
case("sle_dot", "sle", True, ("dx", "M32.14", "2020-05-01"))
case("sle_nodot", "sle", True, ("dx", "M3214", "2020-05-01"))
case("sle_excluded_code", "sle", False, ("dx", "M32.0", "2020-05-01"))
case("sle_none", "sle", False)
case("sle_after_index", "sle", False, ("dx", "M32.14", "2025-02-02"))
case("sle_on_index", "sle", True, ("dx", "M32.14", "2025-02-01"))
# -- at least twice within 1 year (window starts 2024-02-01, inclusive)
case("sle2_yes", "sle_twice", True, ("dx", "M32.14", "2024-03-01"), ("dx", "M32.9", "2024-09-01"))
case("sle2_one_out", "sle_twice", False, ("dx", "M32.14", "2023-03-01"), ("dx", "M32.9", "2024-09-01"))
case("sle2_boundary", "sle_twice", True, ("dx", "M32.14", "2024-02-01"), ("dx", "M32.9", "2024-09-01"))
case("sle2_duplicate_row", "sle_twice", False, ("dx", "M32.14", "2024-09-01"), ("dx", "M32.14", "2024-09-01"))
case(
    "sle2_same_day_two_codes",
    "sle_twice",
    False,
    ("dx", "M32.14", "2024-09-01"),
    ("dx", "M32.9", "2024-09-01"),
)
case("sle2_day_before", "sle_twice", False, ("dx", "M32.14", "2024-01-31"), ("dx", "M32.9", "2024-09-01"))
# -- SLE recorded on or before 2024-02-01 (index - 1 year)
case("sleold_edge", "sle_old", True, ("dx", "M32.14", "2024-02-01"), ("dx", "M32.14", "2025-01-01"))
case("sleold_recent", "sle_old", False, ("dx", "M32.14", "2024-02-02"))
case("sleold_none", "sle_old", False)
# -- stroke within 6 months (window starts 2024-08-01)
case("stroke_in", "stroke_6m", True, ("dx", "I63.9", "2024-08-01"))
case("stroke_out", "stroke_6m", False, ("dx", "I63.9", "2024-07-31"))
# -- ALT <= 3 x ULN within 90 days (window starts 2024-11-03)
case("alt_at_3uln", "alt_uln", True, ("lab", "1742-6", "2025-01-10", 120, "U/L", 40))
case("alt_over", "alt_uln", False, ("lab", "1742-6", "2025-01-10", 121, "U/L", 40))
case("alt_default_uln", "alt_uln", True, ("lab", "1742-6", "2025-01-10", 100, "U/L", None))
case("alt_default_uln_over", "alt_uln", False, ("lab", "1742-6", "2025-01-10", 130, "U/L", None))
case("alt_other_unit", "alt_uln", True, ("lab", "1742-6", "2025-01-10", 2.0, "ukat/L", None))
case("alt_unknown_unit", "alt_uln", None, ("lab", "1742-6", "2025-01-10", 100, "mmol/L", None))
case("alt_unknown_unit_own_uln", "alt_uln", True, ("lab", "1742-6", "2025-01-10", 100, "mmol/L", 40))
case("alt_window_edge", "alt_uln", True, ("lab", "1742-6", "2024-11-03", 100, "U/L", 40))
case("alt_window_out", "alt_uln", None, ("lab", "1742-6", "2024-11-02", 100, "U/L", 40))
case(
    "alt_tie_highest",
    "alt_uln",
    False,
    ("lab", "1742-6", "2025-01-10", 100, "U/L", 40),
    ("lab", "1742-6", "2025-01-10", 130, "U/L", 40),
)
case(
    "alt_latest_wins",
    "alt_uln",
    True,
    ("lab", "1742-6", "2024-12-01", 500, "U/L", 40),
    ("lab", "1742-6", "2025-01-10", 50, "U/L", 40),
)
case(
    "alt_future_ignored",
    "alt_uln",
    True,
    ("lab", "1742-6", "2025-01-10", 50, "U/L", 40),
    ("lab", "1742-6", "2025-03-01", 500, "U/L", 40),
)
case("alt_none", "alt_uln", None)
# the latest result decides even when it carries no value to compare: a text-only report
case(
    "alt_latest_text_only",
    "alt_uln",
    None,
    ("lab", "1742-6", "2024-12-01", 50, "U/L", 40),
    ("text", "1742-6", "2025-01-10", "see comment"),
)
case(
    "alt_text_beside_value",
    "alt_uln",
    True,
    ("text", "1742-6", "2025-01-10", "see comment"),
    ("lab", "1742-6", "2025-01-10", 50, "U/L", 40),
)
# -- creatinine <= 2.0 mg/dL; umol/L converted
case("crea_umol_in", "crea_abs", True, ("lab", "2160-0", "2025-01-10", 176.0, "umol/L", None))
case("crea_umol_out", "crea_abs", False, ("lab", "2160-0", "2025-01-10", 178.0, "umol/L", None))
case("crea_mg_edge", "crea_abs", True, ("lab", "2160-0", "2025-01-10", 2.0, "mg/dL", None))
case("crea_mg_spelling", "crea_abs", False, ("lab", "2160-0", "2025-01-10", 2.01, " MG/DL ", None))
# -- creatinine <= 1.5 x ULN (the row's own limit, else the concept's 1.2 mg/dL)
case("creauln_own", "crea_uln", True, ("lab", "2160-0", "2025-01-10", 1.5, "mg/dL", 1.0))
case("creauln_own_over", "crea_uln", False, ("lab", "2160-0", "2025-01-10", 1.6, "mg/dL", 1.0))
case("creauln_default", "crea_uln", True, ("lab", "2160-0", "2025-01-10", 1.8, "mg/dL", None))
case("creauln_default_over", "crea_uln", False, ("lab", "2160-0", "2025-01-10", 1.9, "mg/dL", None))
# 2.1 / 1.4 is 1.5000000000000002 in binary: exactly 1.5 x ULN as written, so it meets "at most"
case("creauln_binary_rounding", "crea_uln", True, ("lab", "2160-0", "2025-01-10", 2.1, "mg/dL", 1.4))
# -- creatinine at most 0.3 mg/dL above the ULN (the row's own, converted as the value is,
# else the concept's 1.2 mg/dL)
case(
    "creexcess_at", "crea_excess", True, ("lab", "2160-0", "2025-01-10", 0.8, "mg/dL", 0.5)
)  # 0.30000000000000004
case("creexcess_over", "crea_excess", False, ("lab", "2160-0", "2025-01-10", 1.31, "mg/dL", 1.0))
case("creexcess_below_uln", "crea_excess", True, ("lab", "2160-0", "2025-01-10", 0.5, "mg/dL", 1.0))
case("creexcess_default", "crea_excess", True, ("lab", "2160-0", "2025-01-10", 1.5, "mg/dL", None))
case("creexcess_default_over", "crea_excess", False, ("lab", "2160-0", "2025-01-10", 1.51, "mg/dL", None))
# 25 umol/L above its own ULN is 0.283 mg/dL, 30 is 0.339
case("creexcess_umol", "crea_excess", True, ("lab", "2160-0", "2025-01-10", 115, "umol/L", 90))
case("creexcess_umol_over", "crea_excess", False, ("lab", "2160-0", "2025-01-10", 120, "umol/L", 90))
# a multiple needs no unit, a distance does: with the row's own limit in a unit the concept
# does not know, the multiple is known and the distance is not
case("creexcess_unknown_unit", "crea_excess", None, ("lab", "2160-0", "2025-01-10", 1.0, "mmol/L", 0.9))
case("creexcess_not_detected", "crea_excess", True, ("text", "2160-0", "2025-01-10", "not detected"))
case("creexcess_none", "crea_excess", None)
case("creexcess_old", "crea_excess", None, ("lab", "2160-0", "2024-11-02", 1.0, "mg/dL", 1.0))
case(
    "creexcess_latest_day_highest",
    "crea_excess",
    False,
    ("lab", "2160-0", "2025-01-10", 1.0, "mg/dL", 1.0),
    ("lab", "2160-0", "2025-01-10", 1.0, "mg/dL", 0.6),
)
case(
    "creauln_latest_text_only",
    "crea_uln",
    None,
    ("lab", "2160-0", "2024-12-01", 1.0, "mg/dL", 1.0),
    ("text", "2160-0", "2025-01-10", "see comment"),
)
case(
    "creauln_tie_highest",
    "crea_uln",
    False,
    ("lab", "2160-0", "2025-01-10", 1.0, "mg/dL", 1.0),
    ("lab", "2160-0", "2025-01-10", 2.0, "mg/dL", 1.0),
)
# -- hemoglobin above its upper limit (exclusion): needs the row's own limit
case("hbhigh_above", "hb_high", True, ("lab", "718-7", "2025-01-20", 170, "g/L", 160))
case("hbhigh_within", "hb_high", False, ("lab", "718-7", "2025-01-20", 160, "g/L", 160))
case("hbhigh_no_limit", "hb_high", None, ("lab", "718-7", "2025-01-20", 170, "g/L", None))
case(
    "hbhigh_latest_without_limit",
    "hb_high",
    None,
    ("lab", "718-7", "2025-01-10", 170, "g/L", 160),
    ("lab", "718-7", "2025-01-20", 150, "g/L", None),
)
# a number written as a bound, as labs write one beyond an assay's range, decides where it
# lies on one side of the result's own limit, in the row's own unit
case("hbhigh_bound_below", "hb_high", False, ("titre", "718-7", "2025-01-20", "<160", "g/L", 160))
case(
    "hbhigh_bound_below_unit", "hb_high", False, ("titre", "718-7", "2025-01-20", " < 15.5 g/dL", "g/dL", 16)
)
case("hbhigh_bound_below_wide", "hb_high", None, ("titre", "718-7", "2025-01-20", "<200", "g/L", 160))
case("hbhigh_bound_above", "hb_high", True, ("titre", "718-7", "2025-01-20", ">170", "g/L", 160))
case("hbhigh_bound_above_low", "hb_high", None, ("titre", "718-7", "2025-01-20", ">150", "g/L", 160))
case("hbhigh_bound_no_limit", "hb_high", None, ("titre", "718-7", "2025-01-20", "<100", "g/L", None))
# ... with its unit glued to it (a letter, `%` or `µ` next; the row's `unit` is read, not the text's)
case("hbhigh_bound_glued", "hb_high", False, ("titre", "718-7", "2025-01-20", "<150g/L", "g/L", 160))
case("hbhigh_bound_glued_micro", "hb_high", False, ("titre", "718-7", "2025-01-20", "<150µg/L", "g/L", 160))
# ... with a decimal exponent, as analysers print viral loads (the `E` of `<1.5E+02` is no unit
# glued to 1.5), or a unit starting with `E` glued to it
case("hbhigh_bound_exponent", "hb_high", False, ("titre", "718-7", "2025-01-20", "<1.5E+02 g/L", "g/L", 160))
case("hbhigh_bound_exponent_wide", "hb_high", None, ("titre", "718-7", "2025-01-20", "<1.7E+02", "g/L", 160))
case("hbhigh_bound_exponent_over", "hb_high", True, ("titre", "718-7", "2025-01-20", ">1.7e2", "g/L", 160))
case(
    "hbhigh_bound_exponent_minus", "hb_high", False, ("titre", "718-7", "2025-01-20", "<15000e-2", "g/L", 160)
)
case("hbhigh_bound_unit_e", "hb_high", False, ("titre", "718-7", "2025-01-20", "<150EU/mL", "g/L", 160))
# ... ending in a full stop, as some laboratory systems end every result (a number after the
# full stop is a decimal, and glued text no unit)
case("hbhigh_bound_full_stop", "hb_high", False, ("titre", "718-7", "2025-01-20", "<150.", "g/L", 160))
case("hbhigh_bound_full_stop_over", "hb_high", True, ("titre", "718-7", "2025-01-20", " >170. ", "g/L", 160))
case(
    "hbhigh_bound_full_stop_exponent",
    "hb_high",
    True,
    ("titre", "718-7", "2025-01-20", ">1.7E+02.", "g/L", 160),
)
case("hbhigh_bound_decimal", "hb_high", None, ("titre", "718-7", "2025-01-20", "<160.5", "g/L", 160))
case("hbhigh_bound_full_stop_glued", "hb_high", None, ("titre", "718-7", "2025-01-20", "<150.x", "g/L", 160))
# ... with the word of a result after it, as viral-load assays report a level below
# quantification: the word decides (`<150 detected` is positive where `<150` alone is not;
# `<200 not detected` is not detected, 0, where `<200` alone decides nothing), a negative
# word tested first; a word not at the end is no word
for i, (text, expected) in enumerate(
    [
        ("<150 g/L detected", True),
        ("<200 DETECTED", True),
        ("< 150 g/L, Detected.", True),
        ("less than 150 (detected)", True),
        ("<150 g/L (not detected)", False),
        ("<200 Target Not Detected", False),
        ("<200: non reactive", False),
        ("> 170, negative", False),
        ("<150 detected (see comment)", False),
        ("<200 detected (see comment)", None),
        ("<200detected", None),
        # ... or before it
        ("Detected <150 g/L", True),
        ("DETECTED, <200", True),
        ("detected: less than 150 g/L", True),
        ("Not Detected, <200", False),
        ("TND <200 g/L", False),
        ("Detectable <150 g/L", True),
        ("<200 undetectable", False),
        ("not detectable, <200", False),
        ("detected 150", True),  # a number with the word, as a bound
    ]
):
    case(f"hbhigh_bound_worded_{i}", "hb_high", expected, ("titre", "718-7", "2025-01-20", text, "g/L", 160))
# ... written `<=` (`≤`) or `>=` (`≥`), the limit itself among its values: positive is above
# the limit, so `<=160` is negative against 160 and `>=160` may be either
case("hbhigh_bound_or_equal", "hb_high", False, ("titre", "718-7", "2025-01-20", "<=150", "g/L", 160))
case("hbhigh_bound_at_most_limit", "hb_high", False, ("titre", "718-7", "2025-01-20", "<=160", "g/L", 160))
case(
    "hbhigh_bound_at_most_sign", "hb_high", False, ("titre", "718-7", "2025-01-20", " ≤ 150 g/L", "g/L", 160)
)
case("hbhigh_bound_at_least_limit", "hb_high", None, ("titre", "718-7", "2025-01-20", ">=160", "g/L", 160))
case("hbhigh_bound_at_least_over", "hb_high", True, ("titre", "718-7", "2025-01-20", ">=161", "g/L", 160))
case("hbhigh_bound_at_least_sign", "hb_high", True, ("titre", "718-7", "2025-01-20", "≥170", "g/L", 160))
# ... written `=<` or `=>` as `<=` or `>=`
case("hbhigh_bound_equal_first", "hb_high", False, ("titre", "718-7", "2025-01-20", "=<150", "g/L", 160))
case("hbhigh_bound_equal_first_over", "hb_high", True, ("titre", "718-7", "2025-01-20", "=> 170", "g/L", 160))
# ... not after `:` or `/` (no number `<1`), written `=` alone, or beside a number, which comes first
case("hbhigh_bound_colon", "hb_high", None, ("titre", "718-7", "2025-01-20", "<1:150", "g/L", 160))
case("hbhigh_bound_slash", "hb_high", None, ("titre", "718-7", "2025-01-20", "<1/150", "g/L", 160))
case("hbhigh_bound_equal", "hb_high", None, ("titre", "718-7", "2025-01-20", "=150", "g/L", 160))
case("hbhigh_bound_and_number", "hb_high", True, ("titre", "718-7", "2025-01-20", "<150", "g/L", 160, 170))
# -- a number written as a bound against a threshold: every value below (above) it meets or
# fails the threshold where the bound lies at or beyond it, else the result may do either.
# Creatinine at most 2.0 mg/dL:
CREA, WEIGHT = "2160-0", "29463-7"
case("crea_bound_under", "crea_abs", True, ("titre", CREA, "2025-01-10", "<2", "mg/dL", None))
case("crea_bound_under_wide", "crea_abs", None, ("titre", CREA, "2025-01-10", "<3", "mg/dL", None))
case("crea_bound_over", "crea_abs", False, ("titre", CREA, "2025-01-10", ">2", "mg/dL", None))
case("crea_bound_over_low", "crea_abs", None, ("titre", CREA, "2025-01-10", ">1", "mg/dL", None))
case("crea_bound_umol", "crea_abs", True, ("titre", CREA, "2025-01-10", "< 150 umol/L", "umol/L", None))
case("crea_bound_unknown_unit", "crea_abs", None, ("titre", CREA, "2025-01-10", "<2", "mg/kg", None))
# ... with a decimal comma (`<1,5` is under 1.5), but not before three digits, which may be a
# thousands separator (`<1,500` is 1500, or 1.5)
case("crea_bound_comma", "crea_abs", True, ("titre", CREA, "2025-01-10", "<1,5 mg/dL", "mg/dL", None))
case("crea_bound_comma_over", "crea_abs", False, ("titre", CREA, "2025-01-10", ">2,05", "mg/dL", None))
case("crea_bound_comma_wide", "crea_abs", None, ("titre", CREA, "2025-01-10", "<2,5", "mg/dL", None))
case("crea_bound_comma_three", "crea_abs", None, ("titre", CREA, "2025-01-10", "<1,500", "mg/dL", None))
# ... not detected, a bound with a negative word is 0 (`<3` alone decides nothing), detected
# the bound it is written as
case(
    "crea_bound_not_detected",
    "crea_abs",
    True,
    ("titre", CREA, "2025-01-10", "<3 mg/dL not detected", "mg/dL", None),
)
case(
    "crea_bound_detected", "crea_abs", None, ("titre", CREA, "2025-01-10", "<3 mg/dL detected", "mg/dL", None)
)
case(
    "crea_bound_detected_under", "crea_abs", True, ("titre", CREA, "2025-01-10", "<2 detected", "mg/dL", None)
)
# ... with the word first, the bound's number is not read (the word is)
case("crea_word_bound", "crea_abs", None, ("titre", CREA, "2025-01-10", "Detected <2 mg/dL", "mg/dL", None))
case(
    "crea_not_detected_bound",
    "crea_abs",
    True,
    ("titre", CREA, "2025-01-10", "Not detected <3", "mg/dL", None),
)
case(
    "crea_number_over_bound",  # on one day a number known comes before a bound
    "crea_abs",
    True,
    ("titre", CREA, "2025-01-10", ">2", "mg/dL", None),
    ("lab", CREA, "2025-01-10", 1.5, "mg/dL", None),
)
case(
    "crea_bound_over_unknown_number",  # ... and a bound before a number in a unit not known
    "crea_abs",
    True,
    ("titre", CREA, "2025-01-10", "<2", "mg/dL", None),
    ("lab", CREA, "2025-01-10", 1.5, "mg/kg", None),
)
# -- the derived measures from a creatinine written as a bound: both equations fall as the
# creatinine rises, so a bound on it bounds the measure the other way. eGFR at least 30 (a
# woman aged 44 or 45: CKD-EPI 2021 gives 117.8 at 0.5 mg/dL, 32.8 at 1.9, 27.5 at 2.2,
# 18.9 at 3 and 5.8 at 8 mg/dL)
case("egfr_creatinine_bound", "egfr", True, ("titre", CREA, "2025-01-10", "<0.5", "mg/dL", None))
case("egfr_creatinine_bound_wide", "egfr", None, ("titre", CREA, "2025-01-10", "<3", "mg/dL", None))
case("egfr_creatinine_bound_over", "egfr", False, ("titre", CREA, "2025-01-10", ">8", "mg/dL", None))
case("egfr_creatinine_bound_over_wide", "egfr", None, ("titre", CREA, "2025-01-10", ">0.5", "mg/dL", None))
case("egfr_creatinine_bound_at_most", "egfr", True, ("titre", CREA, "2025-01-10", "≤1.9", "mg/dL", None))
case(
    "egfr_creatinine_bound_at_most_wide", "egfr", None, ("titre", CREA, "2025-01-10", "<=2.2", "mg/dL", None)
)
case("egfr_creatinine_bound_at_least", "egfr", False, ("titre", CREA, "2025-01-10", ">=2.2", "mg/dL", None))
case(
    "egfr_creatinine_bound_words", "egfr", True, ("titre", CREA, "2025-01-10", "LESS THAN 0.5", "mg/dL", None)
)
# 44 umol/L is 0.50 mg/dL; a bound in a unit the concept does not know is no creatinine
case("egfr_creatinine_bound_umol", "egfr", True, ("titre", CREA, "2025-01-10", "< 44 umol/L", "umol/L", None))
case("egfr_creatinine_bound_unit", "egfr", None, ("titre", CREA, "2025-01-10", "<0.5", "mg/kg", None))
case(
    "egfr_creatinine_bound_no_sex",
    "egfr",
    None,
    ("titre", CREA, "2025-01-10", "<0.5", "mg/dL", None),
    sex="U",
)
case(
    "egfr_creatinine_number_and_bound",  # on one day the number is read, not the bound
    "egfr",
    False,
    ("titre", CREA, "2025-01-10", "<0.5", "mg/dL", None),
    ("lab", CREA, "2025-01-10", 8.0, "mg/dL", None),
)
case(
    "egfr_creatinine_bound_latest",  # the latest result decides, bound or number
    "egfr",
    True,
    ("lab", CREA, "2025-01-05", 8.0, "mg/dL", None),
    ("titre", CREA, "2025-01-20", "<0.5", "mg/dL", None),
)
# CrCl at least 60 mL/min with 70 kg (Cockcroft-Gault: 157 at 0.5 mg/dL, 41.3 at 1.9, 26.2 at 3)
for pid, written, expected in (
    ("crcl_creatinine_bound", "<0.5", True),
    ("crcl_creatinine_bound_wide", "<1.9", None),
    ("crcl_creatinine_bound_over", ">3", False),
):
    case(
        pid,
        "crcl",
        expected,
        ("titre", CREA, "2025-01-10", written, "mg/dL", None),
        ("obs", WEIGHT, "2025-01-10", 70, "kg", "LOINC"),
    )
case("crcl_creatinine_bound_no_weight", "crcl", None, ("titre", CREA, "2025-01-10", "<0.5", "mg/dL", None))
case(
    "crea_bound_latest",  # a bound is a result: the latest decides
    "crea_abs",
    True,
    ("lab", CREA, "2024-12-01", 3.0, "mg/dL", None),
    ("titre", CREA, "2025-01-10", "<2", "mg/dL", None),
)
case(
    "crea_bound_highest_of_the_day",  # of two bounds below, the higher says the least
    "crea_abs",
    None,
    ("titre", CREA, "2025-01-10", "<1", "mg/dL", None),
    ("titre", CREA, "2025-01-10", "<3", "mg/dL", None),
)
# ... as a multiple of the upper limit, or a distance above it (at most 1.5 x ULN, at most
# 0.3 mg/dL above it); 2.1 / 1.4 is 1.5000000000000002, exactly 1.5 as written
case("creauln_bound_rounding", "crea_uln", True, ("titre", CREA, "2025-01-10", "<2.1", "mg/dL", 1.4))
case("creauln_bound_default", "crea_uln", True, ("titre", CREA, "2025-01-10", "<1.8", "mg/dL", None))
case("creauln_bound_over", "crea_uln", False, ("titre", CREA, "2025-01-10", ">1.5", "mg/dL", 1.0))
case("creexcess_bound_under", "crea_excess", True, ("titre", CREA, "2025-01-10", "<1.0", "mg/dL", 1.0))
case("creexcess_bound_over", "crea_excess", False, ("titre", CREA, "2025-01-10", ">1.5", "mg/dL", 1.0))
case("creexcess_bound_wide", "crea_excess", None, ("titre", CREA, "2025-01-10", "<1.5", "mg/dL", 1.0))
# ... and written `<=` or `>=`: at most 2.0 mg/dL is met by `<=2` and may be by `>=2`
case("crea_bound_at_most", "crea_abs", True, ("titre", CREA, "2025-01-10", "<=2", "mg/dL", None))
case("crea_bound_at_most_sign", "crea_abs", True, ("titre", CREA, "2025-01-10", "≤2.0mg/dL", "mg/dL", None))
case("crea_bound_at_most_equal_first", "crea_abs", True, ("titre", CREA, "2025-01-10", "=<2", "mg/dL", None))
case("crea_bound_at_most_wide", "crea_abs", None, ("titre", CREA, "2025-01-10", "<=2.5", "mg/dL", None))
case("crea_bound_at_least", "crea_abs", None, ("titre", CREA, "2025-01-10", ">=2", "mg/dL", None))
case("crea_bound_at_least_over", "crea_abs", False, ("titre", CREA, "2025-01-10", "≥ 2.5", "mg/dL", None))
# ... and in words, as some laboratory systems print them
case("crea_bound_words", "crea_abs", True, ("titre", CREA, "2025-01-10", "LESS THAN 2 mg/dL", "mg/dL", None))
case(
    "crea_bound_words_over", "crea_abs", False, ("titre", CREA, "2025-01-10", "Greater than 2", "mg/dL", None)
)
case(
    "crea_bound_words_at_most",
    "crea_abs",
    True,
    ("titre", CREA, "2025-01-10", "less than or equal to 2", "mg/dL", None),
)
case(
    "crea_bound_above_over_at_least",  # of two bounds of one number, `>2` is read before `>=2`
    "crea_abs",
    False,
    ("titre", CREA, "2025-01-10", ">=2", "mg/dL", None),
    ("titre", CREA, "2025-01-10", ">2", "mg/dL", None),
)
# haemoglobin at least 60 g/L: below 60 fails it, above 60 meets it
case("hb_bound_below", "hb", False, ("titre", HB, "2025-01-20", "<60", "g/L", None))
case("hb_bound_at_least", "hb", True, ("titre", HB, "2025-01-20", ">=60", "g/L", None))
case("hb_bound_at_least_equal_first", "hb", True, ("titre", HB, "2025-01-20", "=>60", "g/L", None))
case("hb_bound_at_most", "hb", None, ("titre", HB, "2025-01-20", "<=60", "g/L", None))
case("hb_bound_at_most_under", "hb", False, ("titre", HB, "2025-01-20", "<=59", "g/L", None))
case(
    "hb_bound_at_most_over_below",  # `<=60` is read before `<60` of the same day
    "hb",
    None,
    ("titre", HB, "2025-01-20", "<60", "g/L", None),
    ("titre", HB, "2025-01-20", "<=60", "g/L", None),
)
case("hb_bound_above", "hb", True, ("titre", HB, "2025-01-20", ">60", "g/L", None))
case("hb_bound_gdl", "hb", False, ("titre", HB, "2025-01-20", "<5.9 g/dL", "g/dL", None))
case("hb_bound_wide", "hb", None, ("titre", HB, "2025-01-20", "<70", "g/L", None))
# ALT at most 3 x ULN, against its own limit, else the concept's default 40 U/L
case("alt_bound_under", "alt_uln", True, ("titre", "1742-6", "2025-01-10", "<40", "U/L", 40))
case("alt_bound_over", "alt_uln", False, ("titre", "1742-6", "2025-01-10", ">200", "U/L", 40))
case("alt_bound_over_default", "alt_uln", False, ("titre", "1742-6", "2025-01-10", ">200", "U/L", None))
case("alt_bound_wide", "alt_uln", None, ("titre", "1742-6", "2025-01-10", ">100", "U/L", 40))
# -- hemoglobin >= 60 g/L; g/dL converted
case("hb_gdl_edge", "hb", True, ("lab", "718-7", "2025-01-20", 6.0, "g/dL", None))
case("hb_gdl_low", "hb", False, ("lab", "718-7", "2025-01-20", 5.9, "g/dL", None))
case("hb_gl", "hb", True, ("lab", "718-7", "2025-01-20", 60, "g/L", None))
# a result outside the concept's plausible range (20-250 g/L) is a data error and not used
case(
    "hb_implausible_latest",
    "hb",
    True,
    ("lab", "718-7", "2025-01-20", 90, "g/L", None),
    ("lab", "718-7", "2025-01-25", 1200, "g/L", None),
)
case("hb_implausible_only", "hb", None, ("lab", "718-7", "2025-01-25", 12, "g/L", None))  # g/dL sent as g/L
case("hb_negative", "hb", None, ("lab", "718-7", "2025-01-25", -90, "g/L", None))
case("hb_plausible_edge", "hb", False, ("lab", "718-7", "2025-01-25", 20, "g/L", None))
case("hb_window_30d_out", "hb", None, ("lab", "718-7", "2025-01-01", 90, "g/L", None))
case("hb_missing_false", "hb_missing_false", False)
case("hb_missing_false_present", "hb_missing_false", True, ("lab", "718-7", "2025-01-20", 65, "g/L", None))
# -- ANA result positive
case("ana_text_pos", "ana_pos", True, ("text", "8061-4", "2024-06-01", "Positive"))
case("ana_text_detected", "ana_pos", True, ("text", "8061-4", "2024-06-01", "detected"))
case("ana_text_neg", "ana_pos", False, ("text", "8061-4", "2024-06-01", "negative"))
case("ana_text_other", "ana_pos", None, ("text", "8061-4", "2024-06-01", "equivocal"))
# spellings laboratory systems print: full stops and blanks around the word, the case of
# any letter, a weak positive, a viral load's "target not detected"
for i, (text, expected) in enumerate(
    [
        ("Negative.", False),
        (" NEGATIVE. ", False),
        ("\tPositive", True),
        ("Weakly Positive", True),
        ("LOW POSITIVE.", True),
        ("weakly reactive", True),
        ("Repeatedly Reactive", True),
        ("TARGET NOT DETECTED", False),
        ("TND", False),
        ("None detected.", False),
        ("Not reactive", False),
        ("Undetectable", False),
        ("NOT DETECTABLE.", False),
        ("Detectable", True),
        ("positive (see comment)", None),
        ("not  detected", None),
        ("..", None),
    ]
):
    case(f"ana_text_spelt_{i}", "ana_pos", expected, ("text", "8061-4", "2024-06-01", text))
case("ana_num_above_ref", "ana_pos", True, ("lab", "8061-4", "2024-06-01", 1.5, None, 1.0))
case("ana_num_below_ref", "ana_pos", False, ("lab", "8061-4", "2024-06-01", 0.5, None, 1.0))
case("ana_none", "ana_pos", None)
# -- ANA as a titre: a text `1:N` is the number N in {titer}; with no limit of its own a
# result is positive from the concept's cut-off, 1:80
case("ana_titre_text_pos", "ana_pos", True, ("text", ANA, "2024-06-01", "1:160"))
case("ana_titre_text_at_cut_off", "ana_pos", True, ("text", ANA, "2024-06-01", "1:80"))
case("ana_titre_text_neg", "ana_pos", False, ("text", ANA, "2024-06-01", "1:40"))
case("ana_titre_slash", "ana_pos", True, ("text", ANA, "2024-06-01", "1/320"))
case("ana_titre_pattern", "ana_pos", True, ("text", ANA, "2024-06-01", " 1 : 640 speckled"))
# a titre written as a bound decides where it lies on one side of the limit: below 1:80 is
# negative, above 1:1280 positive, below 1:160 either
case("ana_titre_below", "ana_pos", False, ("text", ANA, "2024-06-01", "<1:80"))
case("ana_titre_below_spaced", "ana_pos", False, ("text", ANA, "2024-06-01", " < 1/40 "))
case("ana_titre_below_wide", "ana_pos", None, ("text", ANA, "2024-06-01", "<1:160"))
case("ana_titre_above", "ana_pos", True, ("text", ANA, "2024-06-01", ">1:1280"))
case("ana_titre_above_low", "ana_pos", None, ("text", ANA, "2024-06-01", ">1:40"))
# ... written `<=` or `>=`: positive from 1:80, so `<=1:80` may be either and `>=1:80` is positive
case("ana_titre_at_most_cut_off", "ana_pos", None, ("text", ANA, "2024-06-01", "<=1:80"))
case("ana_titre_at_most", "ana_pos", False, ("text", ANA, "2024-06-01", "≤1:40"))
case("ana_titre_below_words", "ana_pos", False, ("text", ANA, "2024-06-01", "LESS THAN 1:80"))
case("ana_titre_at_least_cut_off", "ana_pos", True, ("text", ANA, "2024-06-01", ">=1:80"))
case("ana_titre_at_least_low", "ana_pos", None, ("text", ANA, "2024-06-01", "≥ 1/40"))
case("ana_number_at_least", "ana_pos", True, ("titre", ANA, "2024-06-01", ">=80", "{titer}", None))
# a number written as a bound is read against the cut-off in the row's unit, if known
case("ana_number_below", "ana_pos", False, ("titre", ANA, "2024-06-01", "<80", "{titer}", None))
case("ana_number_below_unknown_unit", "ana_pos", None, ("titre", ANA, "2024-06-01", "<80", "U/mL", None))
case("ana_number_above", "ana_pos", True, ("titre", ANA, "2024-06-01", "> 640", "titer", None))
# ... against the result's own limit first: below 1:80 says nothing against a limit of 40
case("ana_titre_below_own", "ana_pos", None, ("titre", ANA, "2024-06-01", "<1:80", None, 40.0))
case("ana_titre_below_own_high", "ana_pos", False, ("titre", ANA, "2024-06-01", "<1:80", None, 160.0))
case("ana_titre_above_own", "ana_pos", True, ("titre", ANA, "2024-06-01", ">1:320", None, 160.0))
# a titre glued to other text, or on a second line, is not read
case("ana_titre_glued", "ana_pos", None, ("text", ANA, "2024-06-01", "1:160x"))
case("ana_titre_newline", "ana_pos", None, ("text", ANA, "2024-06-01", "1:160\n"))
# ... one ending in a full stop is read, one with a decimal is not a titre
case("ana_titre_full_stop", "ana_pos", True, ("text", ANA, "2024-06-01", "1:160."))
case("ana_titre_bound_full_stop", "ana_pos", False, ("text", ANA, "2024-06-01", "<1:80. "))
case("ana_titre_decimal", "ana_pos", None, ("text", ANA, "2024-06-01", "1:160.5"))
# the result's own upper limit comes before the concept's cut-off
case("ana_titre_own_limit", "ana_pos", False, ("titre", ANA, "2024-06-01", "1:160", None, 160.0))
case("ana_titre_own_limit_above", "ana_pos", True, ("titre", ANA, "2024-06-01", "1:320", "U/mL", 160.0))
# a number in {titer} (any spelling) is a titre; a bare number may be an immunoassay's index
case("ana_titre_number", "ana_pos", True, ("lab", ANA, "2024-06-01", 160.0, "titer", None))
case("ana_titre_number_low", "ana_pos", False, ("lab", ANA, "2024-06-01", 40.0, "{titre}", None))
case("ana_titre_bare_number", "ana_pos", None, ("lab", ANA, "2024-06-01", 2.5, None, None))
case("ana_titre_other_unit", "ana_pos", None, ("lab", ANA, "2024-06-01", 160.0, "U/mL", None))
# a text titre is read whatever the row's unit says; a number comes before the text
case("ana_titre_text_unit", "ana_pos", True, ("titre", ANA, "2024-06-01", "1:160", "U/mL", None))
case("ana_titre_number_first", "ana_pos", False, ("titre", ANA, "2024-06-01", "1:160", "titer", None, 40.0))
# the titre as a value: at least 1:160
case("anat_text", "ana_titre", True, ("text", ANA, "2024-06-01", "1:160"))
case("anat_text_low", "ana_titre", False, ("text", ANA, "2024-06-01", "1:80"))
case("anat_word", "ana_titre", None, ("text", ANA, "2024-06-01", "Positive"))
case("anat_negative_word", "ana_titre", False, ("text", ANA, "2024-06-01", "negative"))
# a titre with the word of a result, after it or before it: the word decides positivity (a
# laboratory's own cut-off may differ from the concept's 1:80), the titre still decides a
# threshold on it; a bound after a word is not read (`Negative (<1:40)` is not detected, 0)
for i, (text, positive, titre_160) in enumerate(
    [
        ("1:80 negative", False, False),
        ("1:160 (Negative)", False, True),
        ("1:40 positive", True, False),
        ("Positive 1:160", True, True),
        ("Negative, 1:40", False, False),
        ("Negative (<1:40)", False, False),
        ("positive (1:160)", True, True),
        ("POSITIVE, 1:320 speckled", True, True),
        ("Weakly positive: 1/80.", True, False),
        ("NEGATIVE 1:160", False, True),
        ("positive (see comment) 1:160", None, None),  # the word is not one of the words
        ("1:160 speckled", True, True),
    ]
):
    case(f"ana_titre_worded_pos_{i}", "ana_pos", positive, ("text", ANA, "2024-06-01", text))
    case(f"ana_titre_worded_min_{i}", "ana_titre", titre_160, ("text", ANA, "2024-06-01", text))
case(
    "anat_latest_day",
    "ana_titre",
    False,
    ("text", ANA, "2024-03-01", "1:640"),
    ("text", ANA, "2024-06-01", "1:80"),
)
case(
    "anat_highest_of_the_day",
    "ana_titre",
    True,
    ("text", ANA, "2024-06-01", "1:80"),
    ("text", ANA, "2024-06-01", "1:320"),
)
# a titre written as a bound meets or fails the threshold where it lies wholly on one side
case("anat_bound", "ana_titre", False, ("text", ANA, "2024-06-01", "<1:40"))
case("anat_bound_at", "ana_titre", False, ("text", ANA, "2024-06-01", "<1:160"))  # every titre below 1:160
case("anat_bound_wide", "ana_titre", None, ("text", ANA, "2024-06-01", "<1:320"))
case("anat_bound_above", "ana_titre", True, ("text", ANA, "2024-06-01", ">1:160"))
case("anat_bound_above_low", "ana_titre", None, ("text", ANA, "2024-06-01", ">1:80"))
case("anat_none", "ana_titre", None)
# -- anti-dsDNA: an immunoassay in IU/mL against its own limit; a CLIFT titre is positive
# from 1:10 (`titre_positive_from`), and decides positivity only: against a ULN it is no value
case("dsdna_titre_pos", "dsdna_pos", True, ("text", DSDNA_CLIFT, "2024-06-01", "1:20"))
case("dsdna_titre_at_cut_off", "dsdna_pos", True, ("text", DSDNA_CLIFT, "2024-06-01", "1/10"))
case("dsdna_titre_neg", "dsdna_pos", False, ("text", DSDNA_CLIFT, "2024-06-01", "1:5"))
case("dsdna_titre_below", "dsdna_pos", False, ("text", DSDNA_CLIFT, "2024-06-01", "<1:10"))
case("dsdna_titre_below_wide", "dsdna_pos", None, ("text", DSDNA_CLIFT, "2024-06-01", "<1:20"))
case("dsdna_titre_above", "dsdna_pos", True, ("text", DSDNA_CLIFT, "2024-06-01", ">1:80"))
case("dsdna_titre_worded", "dsdna_pos", False, ("text", DSDNA_CLIFT, "2024-06-01", "Negative 1:20"))
case("dsdna_titre_number", "dsdna_pos", True, ("lab", DSDNA_CLIFT, "2024-06-01", 40, "titer", None))
case("dsdna_words", "dsdna_pos", True, ("text", DSDNA_CLIFT, "2024-06-01", "Positive"))
case("dsdna_ia_own_limit", "dsdna_pos", True, ("lab", DSDNA_IA, "2024-06-01", 120, "[IU]/mL", 100))
case("dsdna_ia_under_limit", "dsdna_pos", False, ("lab", DSDNA_IA, "2024-06-01", 80, "[IU]/mL", 100))
case("dsdna_ia_no_limit", "dsdna_pos", None, ("lab", DSDNA_IA, "2024-06-01", 120, "[IU]/mL", None))
case(
    "dsdna_ia_latest_titre",
    "dsdna_pos",
    True,
    ("lab", DSDNA_IA, "2024-06-01", 80, "[IU]/mL", 100),
    ("text", DSDNA_CLIFT, "2024-07-01", "1:40"),
)
case("dsdna_uln_titre", "dsdna_uln", None, ("text", DSDNA_CLIFT, "2024-06-01", "1:40"))
case("dsdna_uln_ia", "dsdna_uln", True, ("lab", DSDNA_IA, "2024-06-01", 120, "[IU]/mL", 100))
# -- SLEDAI >= 7, a score may come without a unit
case("sledai_7", "sledai", True, ("obs", "SLEDAI2K", "2025-01-15", 7, None))
case("sledai_6", "sledai", False, ("obs", "SLEDAI2K", "2025-01-15", 6, None))
case("sledai_points", "sledai", True, ("obs", "SLEDAI2K", "2025-01-15", 8, "points"))
# -- glucocorticoid 7.5-60 mg/d prednisone-equivalent for >= 56 days in 6 months (from 2024-08-01)
case("gc_56", "steroid", True, ("med", "H02AB07", "2024-10-01", "2024-11-25", 10))
case("gc_55", "steroid", False, ("med", "H02AB07", "2024-10-01", "2024-11-24", 10))
case("gc_methylpred_equiv", "steroid", True, ("med", "H02AB04", "2024-10-01", "2024-11-25", 6))
case("gc_methylpred_low", "steroid", False, ("med", "H02AB04", "2024-10-01", "2024-11-25", 4))
case("gc_high_dose", "steroid", False, ("med", "H02AB07", "2024-10-01", "2024-12-25", 80))
case("gc_no_unit", "steroid", None, ("med", "H02AB07", "2024-10-01", "2024-12-25", 10, None))
case("gc_clipped", "steroid", True, ("med", "H02AB07", "2024-07-01", "2024-09-25", 10))  # 56 days from 08-01
case("gc_clipped_short", "steroid", False, ("med", "H02AB07", "2024-07-01", "2024-09-24", 10))
case(
    "gc_two_courses",
    "steroid",
    True,
    ("med", "H02AB07", "2024-09-01", "2024-09-28", 10),
    ("med", "H02AB07", "2024-11-01", "2024-11-28", 20),
)
case("gc_none", "steroid", False)
# a dose outside the plausible range (0 to 30,000 mg/d prednisone-equivalent) is a data error:
# the exposure's days count as those of an unknown dose; at the bound it is read
case("gc_implausible", "steroid", None, ("med", "H02AB04", "2024-10-01", "2024-11-25", 24001))
case("gc_at_plausible_bound", "steroid", False, ("med", "H02AB04", "2024-10-01", "2024-11-25", 24000))
case("gc_negative", "steroid", None, ("med", "H02AB07", "2024-10-01", "2024-11-25", -10))
# a duplicated record adds no day: 28 days twice is still 28 days
case(
    "gc_duplicate",
    "steroid",
    False,
    ("med", "H02AB07", "2024-09-01", "2024-09-28", 10),
    ("med", "H02AB07", "2024-09-01", "2024-09-28", 10),
)
# overlapping courses count each day once: 09-01..10-20 and 10-01..10-26 cover 56 days
case(
    "gc_overlap_56",
    "steroid",
    True,
    ("med", "H02AB07", "2024-09-01", "2024-10-20", 10),
    ("med", "H02AB07", "2024-10-01", "2024-10-26", 10),
)
case(
    "gc_overlap_55",
    "steroid",
    False,
    ("med", "H02AB07", "2024-09-01", "2024-10-20", 10),
    ("med", "H02AB07", "2024-10-01", "2024-10-25", 10),
)
# a qualifying dose and an unknown dose over the same days: known 28, possibly 28 (not 56)
case(
    "gc_overlap_unknown_dose",
    "steroid",
    False,
    ("med", "H02AB07", "2024-09-01", "2024-09-28", 10),
    ("med", "H02AB07", "2024-09-01", "2024-09-28", None),
)
case(
    "gc_unknown_dose_adds",
    "steroid",
    None,
    ("med", "H02AB07", "2024-09-01", "2024-09-28", 10),
    ("med", "H02AB07", "2024-10-01", "2024-10-28", None),
)
# -- combinators, Kleene logic: SLE (T/F) x ANA (T/F/U)
case("any_TF", "any_test", True, ("dx", "M32.14", "2020-01-01"), ("text", "8061-4", "2024-06-01", "negative"))
case("any_FU", "any_test", None)
case("any_FF", "any_test", False, ("text", "8061-4", "2024-06-01", "negative"))
case("all_TU", "all_test", None, ("dx", "M32.14", "2020-01-01"))
case("all_FU", "all_test", False)
case("all_TT", "all_test", True, ("dx", "M32.14", "2020-01-01"), ("text", "8061-4", "2024-06-01", "pos"))
case("not_U", "not_test", None)
case("not_T", "not_test", False, ("text", "8061-4", "2024-06-01", "pos"))
case("not_F", "not_test", True, ("text", "8061-4", "2024-06-01", "neg"))
case(
    "twoof_TTF",
    "two_of",
    True,
    ("dx", "M32.14", "2020-01-01"),
    ("text", "8061-4", "2024-06-01", "pos"),
    ("obs", "SLEDAI2K", "2025-01-15", 2, None),
)
case("twoof_TFU", "two_of", None, ("dx", "M32.14", "2020-01-01"), ("text", "8061-4", "2024-06-01", "neg"))
case(
    "twoof_FFU",
    "two_of",
    False,
    ("text", "8061-4", "2024-06-01", "neg"),
)
case("stroke_unknown_none", "stroke_unknown", None)
case("stroke_unknown_found", "stroke_unknown", True, ("dx", "I63.9", "2010-01-01"))
# -- if_missing: true on a result: no result in the window passes, a bad one fails
case("altm_none", "alt_missing_true", True)
case("altm_out_of_window", "alt_missing_true", True, ("lab", "1742-6", "2024-11-02", 500, "U/L", 40))
case("altm_high", "alt_missing_true", False, ("lab", "1742-6", "2025-01-10", 500, "U/L", 40))
case("altm_ok", "alt_missing_true", True, ("lab", "1742-6", "2025-01-10", 50, "U/L", 40))
# -- a negated atom inside a list: SLE, and no stroke since 2024-08-01
case("nl_sle_only", "sle_no_recent_stroke", True, ("dx", "M32.14", "2020-01-01"))
case(
    "nl_recent_stroke",
    "sle_no_recent_stroke",
    False,
    ("dx", "M32.14", "2020-01-01"),
    ("dx", "I63.9", "2024-12-01"),
)
case(
    "nl_old_stroke",
    "sle_no_recent_stroke",
    True,
    ("dx", "M32.14", "2020-01-01"),
    ("dx", "I63.9", "2024-07-31"),
)
case("nl_stroke_no_sle", "sle_no_recent_stroke", False, ("dx", "I63.9", "2024-07-31"))
case("nl_none", "sle_no_recent_stroke", False)
# -- if_found: unknown: a record in the window is UNKNOWN, none is FALSE (window from 2024-08-01)
case("stroke_found_in", "stroke_found_unknown", None, ("dx", "I63.9", "2024-08-01"))
case("stroke_found_out", "stroke_found_unknown", False, ("dx", "I63.9", "2024-07-31"))
case("stroke_found_none", "stroke_found_unknown", False)
# ... with min_count (fewer records than asked stay FALSE) and with `before`
case(
    "sle2f_twice",
    "sle_twice_found_unknown",
    None,
    ("dx", "M32.14", "2024-03-01"),
    ("dx", "M32.9", "2024-09-01"),
)
case("sle2f_once", "sle_twice_found_unknown", False, ("dx", "M32.14", "2024-09-01"))
case("sle2f_none", "sle_twice_found_unknown", False)
case("sleoldf_edge", "sle_old_found_unknown", None, ("dx", "M32.14", "2024-02-01"))
case("sleoldf_recent", "sle_old_found_unknown", False, ("dx", "M32.14", "2024-02-02"))
# ... and on a medication: 14 days at >= 7.5 mg/d is UNKNOWN; fewer days, or a lower dose,
# FALSE; days without a dose UNKNOWN as ever; none FALSE
case("gc_found_14", "steroid_found_unknown", None, ("med", "H02AB07", "2025-01-10", "2025-01-23", 10))
case("gc_found_13", "steroid_found_unknown", False, ("med", "H02AB07", "2025-01-10", "2025-01-22", 10))
case("gc_found_low", "steroid_found_unknown", False, ("med", "H02AB07", "2025-01-10", "2025-01-23", 5))
case("gc_found_no_dose", "steroid_found_unknown", None, ("med", "H02AB07", "2025-01-10", "2025-01-23", None))
case("gc_found_none", "steroid_found_unknown", False)

# -- a stable dose: 14 of the 15 days of the 2-week window (18 January to 1 February) at the
# current dose, the highest dose of the exposures that started last; doses compare as
# prednisone equivalents, so methylprednisolone 4 mg/d is prednisone 5 mg/d
case("stable_same", "steroid_stable", True, ("med", "H02AB07", "2025-01-01", "2025-02-01", 10))
case(
    "stable_changed",  # raised a week before index: 8 days at the current dose
    "steroid_stable",
    False,
    ("med", "H02AB07", "2025-01-01", "2025-01-24", 10),
    ("med", "H02AB07", "2025-01-25", "2025-02-01", 15),
)
case(
    "stable_equivalent",  # switched to the equivalent dose of another glucocorticoid
    "steroid_stable",
    True,
    ("med", "H02AB07", "2025-01-01", "2025-01-24", 5),
    ("med", "H02AB04", "2025-01-25", "2025-02-01", 4),
)
case(
    "stable_current_unknown",  # the latest record has no dose: the current dose is unknown
    "steroid_stable",
    None,
    ("med", "H02AB07", "2025-01-01", "2025-01-24", 10),
    ("med", "H02AB07", "2025-01-25", "2025-02-01", None),
)
case(
    "stable_earlier_unknown",  # 8 days at the current dose, 7 before it at a dose not known
    "steroid_stable",
    None,
    ("med", "H02AB07", "2025-01-01", "2025-01-24", None),
    ("med", "H02AB07", "2025-01-25", "2025-02-01", 10),
)
case(
    "stable_gap",  # 14 of the 15 days: the days need not be consecutive
    "steroid_stable",
    True,
    ("med", "H02AB07", "2025-01-18", "2025-01-24", 10),
    ("med", "H02AB07", "2025-01-26", "2025-02-01", 10),
)
case(
    "stable_same_day",  # two records started one day: the one lasting longer is current
    "steroid_stable",
    True,
    ("med", "H02AB07", "2025-01-10", "2025-02-01", 10),
    ("med", "H02AB07", "2025-01-10", "2025-01-20", 20),
)
case("stable_short", "steroid_stable", False, ("med", "H02AB07", "2025-01-20", "2025-02-01", 10))
case("stable_none", "steroid_stable", False)
# ... within a dose range: the current dose must be in it
case("stable_low_in", "steroid_stable_low", True, ("med", "H02AB07", "2025-01-01", "2025-02-01", 10))
case("stable_low_above", "steroid_stable_low", False, ("med", "H02AB07", "2025-01-01", "2025-02-01", 30))
case(
    "stable_low_tie",  # two records of the same days: the higher dose is the current one
    "steroid_stable_low",
    False,
    ("med", "H02AB07", "2025-01-01", "2025-02-01", 10),
    ("med", "H02AB07", "2025-01-01", "2025-02-01", 30),
)
case(
    "stable_low_lowered",  # lowered into the range 5 days ago: too few days at the current dose
    "steroid_stable_low",
    False,
    ("med", "H02AB07", "2025-01-01", "2025-01-27", 15),
    ("med", "H02AB07", "2025-01-28", "2025-02-01", 12.5),
)

# -- a dose per kilogram: each daily dose divided by the latest weight before the index date,
# however old (a weight in another unit converted to kg; one after the index date unseen)
case(
    "pkg_equal",  # 60 mg/d at 60 kg: 1 mg/kg/d exactly
    "steroid_per_kg",
    True,
    ("obs", WEIGHT, "2024-06-01", 60, "kg", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_below",
    "steroid_per_kg",
    False,
    ("obs", WEIGHT, "2024-06-01", 70, "kg", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_equivalent",  # methylprednisolone 48 mg/d is prednisone 60 mg/d
    "steroid_per_kg",
    True,
    ("obs", WEIGHT, "2024-06-01", 60, "kg", "LOINC"),
    ("med", "H02AB04", "2024-03-01", "2024-03-10", 48),
)
case(
    "pkg_latest_weight",  # 50 kg in 2020, 80 kg since: 60 mg/d is 0.75 mg/kg/d
    "steroid_per_kg",
    False,
    ("obs", WEIGHT, "2020-01-01", 50, "kg", "LOINC"),
    ("obs", WEIGHT, "2024-12-01", 80, "kg", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_old_weight",  # the only weight is ten years old: still read
    "steroid_per_kg",
    True,
    ("obs", WEIGHT, "2015-01-01", 50, "kg", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_pounds",  # 110 lb is 49.9 kg: 55 mg/d is 1.1 mg/kg/d
    "steroid_per_kg",
    True,
    ("obs", WEIGHT, "2024-06-01", 110, "[lb_av]", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 55),
)
case(
    "pkg_no_weight",  # a dose per kilogram without a weight may qualify
    "steroid_per_kg",
    None,
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_weight_after_index",
    "steroid_per_kg",
    None,
    ("obs", WEIGHT, "2025-02-02", 60, "kg", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_weight_unknown_unit",  # a weight in a unit the concept does not know is no weight
    "steroid_per_kg",
    None,
    ("obs", WEIGHT, "2024-06-01", 9, "stone", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_weight_zero",  # a weight of 0 is no weight: no dose divides by it
    "steroid_per_kg",
    None,
    ("obs", WEIGHT, "2024-06-01", 0, "kg", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", 60),
)
case(
    "pkg_no_dose",
    "steroid_per_kg",
    None,
    ("obs", WEIGHT, "2024-06-01", 60, "kg", "LOINC"),
    ("med", "H02AB07", "2024-03-01", "2024-03-10", None),
)
case("pkg_none", "steroid_per_kg", False, ("obs", WEIGHT, "2024-06-01", 60, "kg", "LOINC"))
# ... at a stable dose, the current dose at most 0.5 mg/kg/d
case(
    "spkg_in",  # 30 mg/d at 60 kg, unchanged for the 2 weeks
    "steroid_stable_per_kg",
    True,
    ("obs", WEIGHT, "2024-06-01", 60, "kg", "LOINC"),
    ("med", "H02AB07", "2025-01-01", "2025-02-01", 30),
)
case(
    "spkg_over",  # 30 mg/d at 50 kg is 0.6 mg/kg/d
    "steroid_stable_per_kg",
    False,
    ("obs", WEIGHT, "2024-06-01", 50, "kg", "LOINC"),
    ("med", "H02AB07", "2025-01-01", "2025-02-01", 30),
)
case(
    "spkg_no_weight",  # stable, but per kilogram unknown
    "steroid_stable_per_kg",
    None,
    ("med", "H02AB07", "2025-01-01", "2025-02-01", 30),
)
case(
    "spkg_no_weight_changed",  # without a weight, a dose changed a week ago is still FALSE
    "steroid_stable_per_kg",
    False,
    ("med", "H02AB07", "2025-01-01", "2025-01-24", 30),
    ("med", "H02AB07", "2025-01-25", "2025-02-01", 20),
)

# -- methotrexate at most 25 mg/week in the last 3 months (from 1 November 2024): a record
# in mg/wk (or mg/week, g/wk) is a seventh of it a day, as is the threshold, so a weekly dose
# compares with a daily one (3 mg/d is 21 mg/week)
MTX = "L04AX03"
for pid, expected, dose, unit in (
    ("mtxw_15", True, 15, "mg/wk"),
    ("mtxw_25", True, 25, "mg/wk"),  # the limit itself, despite the sevenths' rounding
    ("mtxw_26", False, 26, "mg/wk"),
    ("mtxw_spelt", True, 20, "mg/Week"),
    ("mtxw_grams", True, 0.02, "g/wk"),
    ("mtxw_daily_3", True, 3, "mg/d"),
    ("mtxw_daily_4", False, 4, "mg/d"),
    ("mtxw_unknown_unit", None, 15, "mL/wk"),  # no dose known: UNKNOWN, never TRUE
    ("mtxw_no_dose", None, None, "mg/wk"),
    # a single administration recorded in mg reads as a daily dose (the extract contract):
    # 15 mg is 105 mg/week
    ("mtxw_per_administration", False, 15, "mg"),
):
    case(pid, "mtx_weekly", expected, ("med", MTX, "2024-12-01", "2025-01-31", dose, unit))
case("mtxw_before_window", "mtx_weekly", False, ("med", MTX, "2024-06-01", "2024-10-31", 15, "mg/wk"))
# ... and at 0.3 mg/kg/week or more, ever: the weekly dose divided by the latest weight
for pid, expected, weight, dose, unit in (
    ("mtxk_equal", True, 70, 21, "mg/wk"),  # 0.3 mg/kg/week exactly
    ("mtxk_below", False, 70, 20, "mg/wk"),
    ("mtxk_daily", True, 50, 2.5, "mg/d"),  # 17.5 mg/week at 50 kg: 0.35
    ("mtxk_no_weight", None, None, 21, "mg/wk"),
):
    rows = [("med", MTX, "2023-03-01", "2023-06-30", dose, unit)]
    if weight is not None:
        rows.append(("obs", WEIGHT, "2024-06-01", weight, "kg", "LOINC"))
    case(pid, "mtx_weekly_per_kg", expected, *rows)

# -- a total dose in the window (6 months from 1 August 2024): each daily dose times its days
# in the window, every exposure counted; a record without a dose leaves the total a lower bound
GC = "H02AB07"
case("tot_over", "steroid_total_over", True, ("med", GC, "2024-09-01", "2024-12-31", 10))  # 1,220 mg
case("tot_exact", "steroid_total_over", False, ("med", GC, "2024-10-01", "2025-01-08", 10))  # 1,000 mg
case(
    "tot_clipped",  # 31 of its days in the window: 310 mg
    "steroid_total_over",
    False,
    ("med", GC, "2024-01-01", "2024-08-31", 10),
)
case(
    "tot_concurrent",  # two prescriptions of the same days are two doses taken: 1,220 mg
    "steroid_total_over",
    True,
    ("med", GC, "2024-09-01", "2024-12-31", 5),
    ("med", GC, "2024-09-01", "2024-12-31", 5),
)
case(
    "tot_unknown_short",  # 155 mg and a record without a dose: may be over 1 g
    "steroid_total_over",
    None,
    ("med", GC, "2024-10-01", "2024-10-31", 5),
    ("med", GC, "2024-11-01", "2024-12-31", None),
)
case(
    "tot_unknown_over",  # over 1 g already
    "steroid_total_over",
    True,
    ("med", GC, "2024-09-01", "2024-12-31", 10),
    ("med", GC, "2025-01-01", "2025-01-31", None),
)
case("tot_equivalent", "steroid_total_over", True, ("med", "H02AB04", "2024-09-01", "2024-12-31", 8))
case("tot_grams", "steroid_total_over", True, ("med", GC, "2024-09-01", "2024-09-02", 1, "g/d"))  # 2 g
case("tot_after_index", "steroid_total_over", False, ("med", GC, "2025-02-02", "2025-06-30", 10))
case("tot_none", "steroid_total_over", False)
# ... at most 300 mg in 3 months (from 1 November 2024): no exposure is a total of 0
case("totmax_none", "steroid_total_at_most", True)
case("totmax_old", "steroid_total_at_most", True, ("med", GC, "2024-06-01", "2024-06-30", 10))
case("totmax_under", "steroid_total_at_most", True, ("med", GC, "2025-01-01", "2025-01-31", 5))
case("totmax_exact", "steroid_total_at_most", True, ("med", GC, "2025-01-02", "2025-01-31", 10))
case("totmax_over", "steroid_total_at_most", False, ("med", GC, "2025-01-01", "2025-01-31", 10))
# 0.1 + 256.1 + 43.8 mg is 300.00000000000006 in binary: 300 mg as written, so at most 300
case(
    "totmax_exact_in_decimals",
    "steroid_total_at_most",
    True,
    ("med", GC, "2025-01-05", "2025-01-05", 0.1),
    ("med", GC, "2025-01-06", "2025-01-06", 256.1),
    ("med", GC, "2025-01-07", "2025-01-07", 43.8),
)
case(
    "totmax_unknown",  # 155 mg known: the dose not known may take it over
    "steroid_total_at_most",
    None,
    ("med", GC, "2025-01-01", "2025-01-31", 5),
    ("med", GC, "2024-12-01", "2024-12-05", None),
)
case(
    "totmax_unknown_over",  # 310 mg known: over whatever the other dose was
    "steroid_total_at_most",
    False,
    ("med", GC, "2025-01-01", "2025-01-31", 10),
    ("med", GC, "2024-12-01", "2024-12-05", None),
)

# -- two confirming results a time apart: 12 weeks is 84 days; the first and the last day
# that meet count, whatever lies between (the occasions need not be consecutive)
case(
    "apart_84",
    "ana_apart",
    True,
    ("text", ANA, "2024-01-01", "Positive"),
    ("text", ANA, "2024-03-25", "Positive"),
)
case(
    "apart_83",
    "ana_apart",
    None,
    ("text", ANA, "2024-01-01", "Positive"),
    ("text", ANA, "2024-03-24", "Positive"),
)
case(
    "apart_negative_between",
    "ana_apart",
    True,
    ("text", ANA, "2024-01-01", "Positive"),
    ("text", ANA, "2024-02-01", "negative"),
    ("text", ANA, "2024-06-01", "Positive"),
)
case(
    "apart_first_and_last",  # two close together, a third 4 months later
    "ana_apart",
    True,
    ("text", ANA, "2024-01-01", "Positive"),
    ("text", ANA, "2024-01-15", "Positive"),
    ("text", ANA, "2024-05-01", "Positive"),
)
case("apart_once", "ana_apart", None, ("text", ANA, "2024-01-01", "Positive"))
case(
    "apart_negatives",
    "ana_apart",
    False,
    ("text", ANA, "2024-01-01", "negative"),
    ("text", ANA, "2024-06-01", "negative"),
)
case("apart_none", "ana_apart", None)
case(
    "apart_after_index",  # the second is after the index date: unseen
    "ana_apart",
    None,
    ("text", ANA, "2024-12-01", "Positive"),
    ("text", ANA, "2025-03-01", "Positive"),
)
# ... 1 month apart within 6 months (from 1 August 2024): the later day minus 1 month is on or
# after the earlier, as a window of 1 month before the later day would read it
case(
    "hbm_month",
    "anaemia_apart_months",
    True,
    ("lab", HB, "2024-09-30", 8.5, "g/dL", None),
    ("lab", HB, "2024-10-30", 8.0, "g/dL", None),
)
case(
    "hbm_short",
    "anaemia_apart_months",
    None,
    ("lab", HB, "2024-09-30", 8.5, "g/dL", None),
    ("lab", HB, "2024-10-29", 8.0, "g/dL", None),
)
case(
    "hbm_month_end",
    "anaemia_apart_months",
    True,
    ("lab", HB, "2024-11-30", 8.5, "g/dL", None),
    ("lab", HB, "2024-12-31", 8.0, "g/dL", None),
)
case(
    "hbm_first_outside",  # the first is before the window
    "anaemia_apart_months",
    None,
    ("lab", HB, "2024-07-01", 8.5, "g/dL", None),
    ("lab", HB, "2024-09-01", 8.0, "g/dL", None),
)
case(
    "hbm_normal",
    "anaemia_apart_months",
    False,
    ("lab", HB, "2024-09-01", 12, "g/dL", None),
    ("lab", HB, "2024-11-01", 12, "g/dL", None),
)

# -- results confirmed on two occasions (distinct days) in the window: fewer than two, but
# one at least that meets (or may: a unit the concept does not know), is UNKNOWN, awaiting
# the confirmation; none that meets is FALSE; no result at all takes `if_missing` (UNKNOWN)
case(
    "hb2_twice",
    "anaemia_confirmed",
    True,
    ("lab", HB, "2024-10-01", 85, "g/L", None),
    ("lab", HB, "2025-01-10", 8.5, "g/dL", None),
)
case("hb2_once", "anaemia_confirmed", None, ("lab", HB, "2025-01-10", 8.5, "g/dL", None))
case(
    "hb2_once_then_normal",  # the later result is normal: still only one of two
    "anaemia_confirmed",
    None,
    ("lab", HB, "2024-12-01", 8.5, "g/dL", None),
    ("lab", HB, "2025-01-10", 12.0, "g/dL", None),
)
case(
    "hb2_same_day",  # two results of one day are one occasion
    "anaemia_confirmed",
    None,
    ("lab", HB, "2025-01-10", 8.5, "g/dL", None),
    ("lab", HB, "2025-01-10", 8.0, "g/dL", None),
)
case(
    "hb2_one_too_old",  # 1 August 2024 is the window's first day; 31 July is before it
    "anaemia_confirmed",
    None,
    ("lab", HB, "2024-07-31", 8.5, "g/dL", None),
    ("lab", HB, "2025-01-10", 8.5, "g/dL", None),
)
case(
    "hb2_window_edge",
    "anaemia_confirmed",
    True,
    ("lab", HB, "2024-08-01", 8.5, "g/dL", None),
    ("lab", HB, "2025-01-10", 8.5, "g/dL", None),
)
case(
    "hb2_never",
    "anaemia_confirmed",
    False,
    ("lab", HB, "2024-12-01", 12.0, "g/dL", None),
    ("lab", HB, "2025-01-10", 13.0, "g/dL", None),
)
case(
    "hb2_unknown_unit",  # one meets, one in a unit the concept does not know: may be two
    "anaemia_confirmed",
    None,
    ("lab", HB, "2024-12-01", 8.5, "g/dL", None),
    ("lab", HB, "2025-01-10", 5.0, "mmol/L", None),
)
case("hb2_none", "anaemia_confirmed", None)
# a number written as a bound counts where it lies wholly below 9 g/dL, and may count where
# it lies on neither side
case(
    "hb2_bounds",
    "anaemia_confirmed",
    True,
    ("titre", HB, "2024-10-01", "<80", "g/L", None),
    ("titre", HB, "2025-01-10", "< 8.5 g/dL", "g/dL", None),
)
case(
    "hb2_bound_wide",
    "anaemia_confirmed",
    None,
    ("lab", HB, "2024-10-01", 85, "g/L", None),
    ("titre", HB, "2025-01-10", "<100", "g/L", None),
)
case(
    "hb2_bounds_at_most",  # at most 9 g/dL may be 9, which is not below it
    "anaemia_confirmed",
    None,
    ("titre", HB, "2024-10-01", "<=90", "g/L", None),
    ("titre", HB, "2025-01-10", "<=8.5 g/dL", "g/dL", None),
)
case(
    "hb2_bounds_above",
    "anaemia_confirmed",
    False,
    ("titre", HB, "2024-10-01", ">90", "g/L", None),
    ("titre", HB, "2025-01-10", ">100", "g/L", None),
)
case(
    "hb2_implausible",  # an implausible result is not read
    "anaemia_confirmed",
    None,
    ("lab", HB, "2024-12-01", 8.5, "g/dL", None),
    ("lab", HB, "2025-01-10", 0.5, "g/dL", None),
)
# ... a positive result on two days, ever; a text read as positive, or a value above its own
# upper limit
ANA_CODE = "8061-4"
case(
    "ana2_twice",
    "ana_twice",
    True,
    ("text", ANA_CODE, "2019-01-01", "Positive"),
    ("lab", ANA_CODE, "2024-06-01", 3.0, None, 1.0),
)
case(
    "ana2_once",
    "ana_twice",
    None,
    ("text", ANA_CODE, "2024-06-01", "positive"),
    ("text", ANA_CODE, "2024-09-01", "negative"),
)
case(
    "ana2_negative",
    "ana_twice",
    False,
    ("text", ANA_CODE, "2024-06-01", "negative"),
    ("lab", ANA_CODE, "2024-09-01", 0.5, None, 1.0),
)
# ... ALT above 3 x its upper limit on two days within 90 days (an exclusion: TRUE excludes)
ALT_CODE = "1742-6"
case(
    "alt2_twice",
    "alt_twice_high",
    True,
    ("lab", ALT_CODE, "2024-12-01", 130, "U/L", 40),
    ("lab", ALT_CODE, "2025-01-20", 130, "U/L", None),  # 130 / the concept's default 40
)
case(
    "alt2_bounds",  # above 200 U/L is above 3 x 40
    "alt_twice_high",
    True,
    ("titre", ALT_CODE, "2024-12-01", ">200", "U/L", 40),
    ("titre", ALT_CODE, "2025-01-20", "> 200 U/L", "U/L", None),
)
case(
    "alt2_bounds_at_three_times",  # 120 U/L and over may be 3 x 40, which is not above it
    "alt_twice_high",
    None,
    ("titre", ALT_CODE, "2024-12-01", ">=120", "U/L", 40),
    ("titre", ALT_CODE, "2025-01-20", "≥ 120 U/L", "U/L", 40),
)
case(
    "alt2_bounds_over_three_times",
    "alt_twice_high",
    True,
    ("titre", ALT_CODE, "2024-12-01", ">120", "U/L", 40),
    ("titre", ALT_CODE, "2025-01-20", ">=121", "U/L", 40),
)
case(
    "alt2_three_times_is_not_above",
    "alt_twice_high",
    None,
    ("lab", ALT_CODE, "2024-12-01", 120, "U/L", 40),
    ("lab", ALT_CODE, "2025-01-20", 130, "U/L", 40),
)

# -- multiples of the result's own lower limit of normal (`ref_low`); no default LLN: a
# result without a usable one is UNKNOWN, whatever its unit
C3 = "4485-9"
case("c3_low", "low_complement", True, ("low", C3, "2025-01-10", 70, "mg/dL", 90))
case("c3_at_lln", "low_complement", False, ("low", C3, "2025-01-10", 90, "mg/dL", 90))
case("c3_no_lln", "low_complement", None, ("low", C3, "2025-01-10", 70, "mg/dL", None))
case("c3_nan_lln", "low_complement", None, ("low", C3, "2025-01-10", 70, "mg/dL", math.nan))
case("c3_zero_lln", "low_complement", None, ("low", C3, "2025-01-10", 70, "mg/dL", 0.0))
case("c3_other_unit", "low_complement", True, ("low", C3, "2025-01-10", 0.7, "mmol/L", 0.9))  # units cancel
case(
    "c3_latest_normal",  # the latest result decides
    "low_complement",
    False,
    ("low", C3, "2024-12-01", 70, "mg/dL", 90),
    ("low", C3, "2025-01-10", 95, "mg/dL", 90),
)
case("c3_too_old", "low_complement", None, ("low", C3, "2024-11-01", 70, "mg/dL", 90))
case("c3_none", "low_complement", None)
case("c3_not_detected", "low_complement", True, ("text", C3, "2025-01-10", "not detected"))
case("c3_bound_low", "low_complement", True, ("low", C3, "2025-01-10", "<50", "mg/dL", 90))
case("c3_bound_high", "low_complement", False, ("low", C3, "2025-01-10", ">100", "mg/dL", 90))
case("c3_bound_wide", "low_complement", None, ("low", C3, "2025-01-10", "<100", "mg/dL", 90))
case("c3_bound_at_most_lln", "low_complement", None, ("low", C3, "2025-01-10", "<=90", "mg/dL", 90))
case("c3_bound_at_most_low", "low_complement", True, ("low", C3, "2025-01-10", "<=80", "mg/dL", 90))
case("c3_bound_at_least_lln", "low_complement", False, ("low", C3, "2025-01-10", ">=90", "mg/dL", 90))
case("hb_lln_090", "hb_not_far_below_lln", True, ("low", HB, "2025-01-10", 108, "g/L", 120))
case("hb_lln_089", "hb_not_far_below_lln", False, ("low", HB, "2025-01-10", 106.8, "g/L", 120))
case(
    "c3_low_twice",
    "low_complement_twice",
    True,
    ("low", C3, "2023-05-01", 70, "mg/dL", 90),
    ("low", C3, "2025-01-10", 0.8, "g/L", 0.9),
)
case("c3_low_once", "low_complement_twice", None, ("low", C3, "2025-01-10", 70, "mg/dL", 90))
case(
    "c3_low_once_without_lln",  # the other result has no lower limit: it may be low too
    "low_complement_twice",
    None,
    ("low", C3, "2024-05-01", 70, "mg/dL", None),
    ("low", C3, "2025-01-10", 70, "mg/dL", 90),
)


def _rows(pid: str, demographics: dict, specs: list) -> list[dict]:
    rows = person(pid, **demographics)
    for spec in specs:
        kind, code, day, *rest = spec
        if kind == "dx":
            rows.append(dx(pid, code, day))
        elif kind == "lab":
            value, unit, ref_high = rest
            rows.append(lab(pid, code, day, value_num=value, unit=unit, ref_high=ref_high))
        elif kind == "text":
            rows.append(lab(pid, code, day, value_text=rest[0]))
        elif kind == "titre":  # a text with a unit and a limit, and maybe a number
            text, unit, ref_high, *number = rest
            values = dict(value_text=text, unit=unit, ref_high=ref_high, value_num=(number or [None])[0])
            rows.append(lab(pid, code, day, **values))
        elif kind == "low":  # a result (a number, or a text) with its own lower limit of normal
            value, unit, ref_low = rest
            written = {"value_text" if isinstance(value, str) else "value_num": value}
            rows.append(lab(pid, code, day, unit=unit, ref_low=ref_low, **written))
        elif kind == "obs":
            rows.append(obs(pid, code, day, *rest))
        elif kind == "med":
            end, dose, *unit = rest
            rows.append(med(pid, code, day, end, dose, *(unit or ["mg/d"])))
    return rows


@pytest.fixture(scope="module", params=EVALUATORS)
def results(request) -> dict[str, dict[str, bool | None]]:
    """Every case's values from DuckDB, and from the plain-Python reference: the Hypothesis
    tests compare the two on random data, where some of these cases are rarely drawn."""
    rows = []
    for pid, demographics, specs, _, _ in CASES:
        rows += _rows(pid, demographics, specs)
    return evaluate_with(request.param, TRIAL, rows, as_of=AS_OF)


@pytest.mark.parametrize(
    ("pid", "criterion", "expected"), [(pid, c, e) for pid, _, _, c, e in CASES], ids=[c[0] for c in CASES]
)
def test_rule_value(results, pid, criterion, expected):
    assert results[pid][criterion] is expected


def _crcl(age, weight, scr, female):
    return (140 - age) * weight / (72 * scr) * (0.85 if female else 1.0)


def _egfr(age, scr, female):
    k, a = (0.7, -0.241) if female else (0.9, -0.302)
    return 142 * min(scr / k, 1) ** a * max(scr / k, 1) ** -1.2 * 0.9938**age * (1.012 if female else 1.0)


@pytest.mark.parametrize(
    ("sex", "birth_year", "weight", "scr", "measure"),
    [
        ("F", 1980, 70, 1.0, "crcl"),  # ages 44/45: clearly above 60
        ("M", 1950, 60, 1.5, "crcl"),  # clearly below
        ("F", 1957, 70, 1.0, "crcl"),  # ages 67/68 straddle 60 mL/min
        ("F", 1980, 70, 1.0, "egfr"),
        ("M", 1950, 60, 3.0, "egfr"),
        ("M", 1961, 60, 2.23, "egfr"),  # ages 63/64 near 30
    ],
)
def test_derived_matches_the_published_equations(sex, birth_year, weight, scr, measure):
    rows = person("d", sex=sex, birth_year=birth_year) + [
        lab("d", "2160-0", "2025-01-10", value_num=scr, unit="mg/dL"),
        obs("d", "29463-7", "2025-01-10", weight, "kg", system="LOINC"),
    ]
    got = evaluate(TRIAL, rows, as_of=AS_OF)["d"][measure]
    ages = (2025 - birth_year - 1, 2025 - birth_year)
    if measure == "crcl":
        values = [_crcl(a, weight, scr, sex == "F") >= 60 for a in ages]
    else:
        values = [_egfr(a, scr, sex == "F") >= 30 for a in ages]
    expected = values[0] if values[0] == values[1] else None
    assert got is expected


def test_derived_needs_every_input():
    rows = person("w", sex="F", birth_year=1980) + [
        lab("w", "2160-0", "2025-01-10", value_num=1.0, unit="mg/dL"),
    ]
    got = evaluate(TRIAL, rows, as_of=AS_OF)["w"]
    assert got["crcl"] is None  # no weight: Cockcroft-Gault cannot be computed
    assert got["egfr"] is True  # CKD-EPI needs no weight


def test_derived_unknown_for_unknown_sex():
    rows = person("u", sex="U", birth_year=1980) + [
        lab("u", "2160-0", "2025-01-10", value_num=1.0, unit="mg/dL"),
    ]
    assert evaluate(TRIAL, rows, as_of=AS_OF)["u"]["egfr"] is None


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_a_trial_reading_creatinine_only_through_a_measure_reads_its_bounds(tmp_path, evaluator):
    """No atom compares the creatinine's number, yet the measures read it written as a bound:
    the number packs its bounds for them alone."""
    trial = tmp_path / "measures.yaml"
    trial.write_text(
        "id: MEASURES\ntitle: derived measures only\ncriteria:\n"
        "  - {id: egfr, kind: inclusion, text: eGFR >= 30, rule: {derived: "
        "{measure: egfr_ckd_epi_2021, min: 30, within: 90 days}}}\n"
        "  - {id: crcl, kind: inclusion, text: CrCl >= 60, rule: {derived: "
        "{measure: creatinine_clearance, min: 60, within: 90 days}}}\n"
    )
    rows = []
    for pid, written in (("under", "<0.5"), ("over", ">8"), ("wide", "<3")):
        rows += person(pid, sex="F", birth_year=1980) + [
            lab(pid, CREA, "2025-01-10", value_text=written, unit="mg/dL"),
            obs(pid, WEIGHT, "2025-01-10", 70, unit="kg", system="LOINC"),
        ]
    got = evaluate_with(evaluator, trial, rows, AS_OF)
    assert got == {
        "under": {"egfr": True, "crcl": True},
        "over": {"egfr": False, "crcl": False},
        "wide": {"egfr": None, "crcl": None},
    }


def test_derived_if_missing_applies_only_without_inputs_in_the_window(tmp_path):
    trial = tmp_path / "missing.yaml"
    trial.write_text(
        "id: MISSING\ntitle: derived measures with if_missing\ncriteria:\n"
        "  - {id: egfr_or_false, kind: inclusion, text: eGFR >= 30, rule: {derived: "
        "{measure: egfr_ckd_epi_2021, min: 30, within: 90 days, if_missing: false}}}\n"
        "  - {id: crcl_or_true, kind: inclusion, text: CrCl >= 60, rule: {derived: "
        "{measure: creatinine_clearance, min: 60, within: 90 days, if_missing: true}}}\n"
    )
    rows = (
        person("none", sex="F", birth_year=1980)
        + person("old", sex="F", birth_year=1980)
        + [lab("old", "2160-0", "2024-06-01", value_num=1.0, unit="mg/dL")]
        + person("recent", sex="F", birth_year=1980)
        + [
            lab("recent", "2160-0", "2025-01-10", value_num=4.0, unit="mg/dL"),
            obs("recent", "29463-7", "2025-01-10", 70, unit="kg", system="LOINC"),
        ]
        + person("no_sex", sex="U", birth_year=1980)
        + [
            lab("no_sex", "2160-0", "2025-01-10", value_num=1.0, unit="mg/dL"),
            obs("no_sex", "29463-7", "2025-01-10", 70, unit="kg", system="LOINC"),
        ]
    )
    got = evaluate(trial, rows, as_of=AS_OF)
    # no creatinine, or none in the window: the rule's if_missing
    assert got["none"] == {"egfr_or_false": False, "crcl_or_true": True}
    assert got["old"] == {"egfr_or_false": False, "crcl_or_true": True}
    # a creatinine of 4 mg/dL: eGFR about 13, CrCl about 19
    assert got["recent"] == {"egfr_or_false": False, "crcl_or_true": False}
    # inputs in the window that cannot be computed (unknown sex) are UNKNOWN, not missing
    assert got["no_sex"] == {"egfr_or_false": None, "crcl_or_true": None}
    # what `show` and the reports print of the rules says what a missing measure counts as
    (parsed,), _ = load_trials([trial])
    assert [describe(c.rule) for c in parsed.criteria] == [
        "egfr_ckd_epi_2021 ≥ 30 within 90 days (missing: false)",
        "creatinine_clearance ≥ 60 within 90 days (missing: true)",
    ]


def test_rule_text_reads_as_words():
    # a score's UCUM annotation is no unit to print, and one day is a day
    trials, _ = load_trials(None)
    texts = {(t.id, c.id): describe(c.rule) for t in trials for c in t.criteria if c.rule is not None}
    assert not [text for text in texts.values() if "{" in text or " 1 days" in text]
    assert "latest observation sledai_2k ≥ 8 within 90 days" in texts[("CQPB-CD19-AID", "IN3")]
    assert "medication hydroxychloroquine ≥ 1 day;" in texts[("MC-1-50-SLE", "IN3.2")]
    assert texts[("NCT06886919", "IN2.1")] == (
        "medication glucocorticoids ≥ 14 days within 2 weeks, dose ≤ 60 mg/d, at the current dose"
    )


def test_birth_year_age_is_exact_on_31_december():
    rows = person("y", birth_year=2006)
    # on 31 December everyone born in 2006 has turned 18 (never 17)
    assert evaluate(TRIAL, rows, as_of="2024-12-31")["y"]["age"] is True
    assert evaluate(TRIAL, rows, as_of="2024-12-30")["y"]["age"] is None


def test_equations_reference_values():
    # sanity of the test's own formulas against published worked examples
    assert math.isclose(_egfr(50, 1.0, False), 91.7, abs_tol=0.2)
    assert math.isclose(_crcl(40, 72, 1.0, False), 100.0)


def test_default_uln_patients_counts_latest_results_without_own_limit():
    """Data quality counts, per concept read as ULN multiples, the patients whose latest
    result used the concept's default limit: ALT reads only multiples, creatinine reads
    them beside its value."""
    specs = {
        "alt_default": [("lab", "1742-6", "2025-01-10", 100, "U/L", None)],
        "alt_own_latest": [
            ("lab", "1742-6", "2024-12-01", 100, "U/L", None),
            ("lab", "1742-6", "2025-01-10", 100, "U/L", 40),
        ],
        "crea_default": [("lab", "2160-0", "2025-01-10", 1.8, "mg/dL", None)],
        "crea_default_too": [("lab", "2160-0", "2025-01-10", 1.0, "mg/dL", None)],
        "crea_own": [("lab", "2160-0", "2025-01-10", 1.8, "mg/dL", 1.0)],
        # the default-limit result is not the latest: the text-only report is
        "crea_text_latest": [
            ("lab", "2160-0", "2024-12-01", 1.8, "mg/dL", None),
            ("text", "2160-0", "2025-01-10", "see comment"),
        ],
    }
    rows = [r for pid, s in specs.items() for r in _rows(pid, {}, s)]
    _, result = load_engine(TRIAL, rows, as_of=AS_OF)
    assert result.data_quality.default_uln_patients == {"alt": 1, "creatinine": 2}


def test_default_uln_patients_counts_positivity_read_against_the_cut_off():
    """A titre read as positive or negative by the concept's cut-off, for want of a limit of
    its own, is counted like a default ULN: the site sees how much rests on the library's
    1:80. A text, an own limit, or a number in a unit with no cut-off is not counted."""
    specs = {
        "titre_pos": [("text", ANA, "2024-06-01", "1:160")],
        "titre_neg": [("titre", ANA, "2024-06-01", "1:40", "U/mL", None)],
        "titre_number": [("lab", ANA, "2024-06-01", 160.0, "titer", None)],
        "titre_own_limit": [("titre", ANA, "2024-06-01", "1:160", None, 80.0)],
        "word": [("text", ANA, "2024-06-01", "Positive")],
        "immunoassay": [("lab", ANA, "2024-06-01", 2.5, "U/mL", None)],
        # the cut-off's result is not the latest: the word is
        "word_latest": [("text", ANA, "2024-03-01", "1:160"), ("text", ANA, "2024-06-01", "negative")],
        "bound": [("text", ANA, "2024-06-01", "<1:40")],
        "bound_own_limit": [("titre", ANA, "2024-06-01", "<1:40", None, 80.0)],
        # the latest day's titre, on either side of 1:80, decides nothing, and the day
        # before does not stand in for it: UNKNOWN, and no positivity read by the cut-off
        "undecided_latest": [("text", ANA, "2024-03-01", "1:320"), ("text", ANA, "2024-06-01", "<1:160")],
    }
    rows = [r for pid, s in specs.items() for r in _rows(pid, {}, s)]
    engine, result = load_engine(TRIAL, rows, as_of=AS_OF)
    assert result.data_quality.default_uln_patients == {"ana": 4}
    values = engine.rule_values(engine.trials[0])
    assert values["undecided_latest"]["ana_pos"] is None and values["titre_pos"]["ana_pos"] is True


def test_default_uln_patients_counts_results_read_above_the_limit(tmp_path):
    """A concept read only as a distance above its ULN is counted too, and a concept read
    both ways once per patient."""
    shutil.copytree(REPO / "tests/fixtures/trials/concepts", tmp_path / "concepts")
    trial = tmp_path / "above.yaml"
    trial.write_text(
        "id: ABOVE\ntitle: Distances above the ULN\ncriteria:\n"
        "  - {id: alt, kind: inclusion, text: ALT at most 20 U/L above ULN,"
        " rule: {lab: {concept: alt, max: 20, unit: U/L above ULN}}}\n"
        "  - {id: crea, kind: inclusion, text: creatinine, rule: {all: ["
        "{lab: {concept: creatinine, max: 0.3, unit: mg/dL above ULN}},"
        " {lab: {concept: creatinine, max: 2, unit: ULN}}]}}\n",
        encoding="utf-8",
    )
    specs = {
        "alt_default": [("lab", "1742-6", "2025-01-10", 55, "U/L", None)],
        "alt_own": [("lab", "1742-6", "2025-01-10", 100, "U/L", 40)],
        "crea_default": [("lab", "2160-0", "2025-01-10", 1.4, "mg/dL", None)],
        "crea_own": [("lab", "2160-0", "2025-01-10", 1.8, "mg/dL", 1.0)],
    }
    rows = [r for pid, s in specs.items() for r in _rows(pid, {}, s)]
    engine, result = load_engine(trial, rows, as_of=AS_OF)
    assert result.data_quality.default_uln_patients == {"alt": 1, "creatinine": 1}
    values = engine.rule_values(engine.trials[0])
    # 55 - 40 (the default limit) is 15 U/L above it; 100 - 40 (its own) is 60
    assert values["alt_default"]["alt"] is True and values["alt_own"]["alt"] is False
    # 1.4 - 1.2 (the default) is 0.2 mg/dL, 1.17 x ULN; 1.8 - 1.0 is 0.8 mg/dL
    assert values["crea_default"]["crea"] is True and values["crea_own"]["crea"] is False


def test_texts_read_as_nothing_are_counted():
    """A result with no number whose text is no known word, titre or bound is UNKNOWN
    against every threshold, and data quality counts its rows per concept, as it counts
    rows in an unknown unit. A titre is read only by a concept that reads titres, and a
    text beside a number, or dated after the index date, is not counted."""
    CREA = "2160-0"
    specs = {
        "haemolysed": [("text", CREA, "2025-01-10", "haemolysed")],
        "comment": [("text", ANA, "2024-06-01", "see comment")],
        "crea_titre": [("text", CREA, "2025-01-10", "1:160")],
        "crea_spelling": [("text", CREA, "2025-01-10", "< =20")],
        "crea_blank": [("text", CREA, "2025-01-10", "  ")],
        "word": [("text", CREA, "2025-01-10", "Negative")],
        "ana_titre": [("text", ANA, "2024-06-01", "1:160")],
        "ana_bound": [("text", ANA, "2024-06-01", "<1:40")],
        "crea_bound": [("text", CREA, "2025-01-10", "<= 0.5")],
        "with_number": [("titre", CREA, "2025-01-10", "haemolysed", "mg/dL", None, 1.0)],
        "after_index": [("text", CREA, "2025-03-01", "haemolysed")],
    }
    rows = [r for pid, s in specs.items() for r in _rows(pid, {}, s)]
    engine, result = load_engine(TRIAL, rows, as_of=AS_OF)
    assert result.data_quality.unread_text_rows == {"ana": 1, "creatinine": 4}
    values = engine.rule_values(engine.trials[0])
    assert values["haemolysed"]["crea_abs"] is None and values["word"]["crea_abs"] is True


def test_implausible_doses_are_counted():
    """A daily dose outside its concept's plausible range is counted in data quality with
    the implausible results, per concept; one in a unit the concept does not know is
    judged only when negative, and one dated after the index date is not read."""
    specs = {
        "above": [("med", "H02AB04", "2024-10-01", "2024-11-25", 24001)],
        "negative": [("med", "H02AB07", "2024-10-01", "2024-11-25", -10)],
        "at_bound": [("med", "H02AB04", "2024-10-01", "2024-11-25", 24000)],
        "odd_unit": [("med", "H02AB07", "2024-10-01", "2024-11-25", 90000, "furlongs")],
        "odd_unit_negative": [("med", "H02AB07", "2024-10-01", "2024-11-25", -1, "furlongs")],
        "after_index": [("med", "H02AB07", "2025-03-01", "2025-03-25", -10)],
    }
    rows = [r for pid, s in specs.items() for r in _rows(pid, {}, s)]
    _, result = load_engine(TRIAL, rows, as_of=AS_OF)
    assert result.data_quality.implausible_value_rows == {"steroids": 3}


def test_a_bound_in_a_unit_its_concept_does_not_know_is_counted_as_a_number_would_be():
    """`<0.5` in furlongs is a number in furlongs: UNKNOWN against a threshold in mg/dL, and
    counted among the rows in a unit the concept does not know, by that unit. A titre's bound
    is read in the unit of titres whatever its row says, and a text that is no bound is
    counted as read as nothing, not as a unit problem."""
    CREA = "2160-0"
    specs = {
        "bound_odd": [("titre", CREA, "2025-01-10", "<0.5", "furlong", None)],
        "number_odd": [("lab", CREA, "2025-01-10", 0.5, "furlong", None)],
        "bound_known": [("titre", CREA, "2025-01-10", "<0.5", "mg/dL", None)],
        "bound_umol": [("titre", CREA, "2025-01-10", "< 40", "umol/L", None)],
        "not_a_bound": [("titre", CREA, "2025-01-10", "<see note", "furlong", None)],
        "ana_titre_bound": [("titre", ANA, "2024-06-01", "<1:40", "furlong", None)],
        "ana_number_bound": [("titre", ANA, "2024-06-01", "<40", "furlong", None)],
    }
    rows = [r for pid, s in specs.items() for r in _rows(pid, {}, s)]
    engine, result = load_engine(TRIAL, rows, as_of=AS_OF)
    assert result.data_quality.unknown_units == {"creatinine": {"furlong": 2}, "ana": {"furlong": 1}}
    assert result.data_quality.unread_text_rows == {"creatinine": 1}
    values = engine.rule_values(engine.trials[0])
    crea = {pid: values[pid]["crea_abs"] for pid in ("bound_odd", "number_odd", "bound_known", "bound_umol")}
    # 40 umol/L is 0.45 mg/dL: below it is at most 2
    assert crea == {"bound_odd": None, "number_odd": None, "bound_known": True, "bound_umol": True}


def test_a_bound_is_not_counted_as_read_as_nothing_where_no_criterion_compares_it(tmp_path):
    """A run whose only reader of creatinine is a derived measure compares no creatinine
    figure with a threshold, so no bound of creatinine decides anything in it; its `<0.5`
    is still no text read as nothing."""
    shutil.copytree(REPO / "tests/fixtures/trials/concepts", tmp_path / "concepts")
    trial = tmp_path / "derived.yaml"
    trial.write_text(
        "id: DERIVED\ntitle: A derived measure alone\ncriteria:\n"
        "  - {id: crcl, kind: inclusion, text: CrCl at least 60 mL/min, rule: {derived: "
        "{measure: creatinine_clearance, min: 60, unit: mL/min, within: 90 days}}}\n",
        encoding="utf-8",
    )
    specs = {
        "bound": [("text", "2160-0", "2025-01-10", "<0.5")],
        "haemolysed": [("text", "2160-0", "2025-01-10", "haemolysed")],
    }
    rows = [r for pid, s in specs.items() for r in _rows(pid, {}, s)]
    _, result = load_engine(trial, rows, as_of=AS_OF)
    assert result.data_quality.unread_text_rows == {"creatinine": 1}


# -- windows are at most 200 years long: longer ones are refused when the file is read


@pytest.mark.parametrize(
    ("window", "amount", "unit"),
    [
        ("200 years", 200, "year"),
        ("2400 months", 2400, "month"),
        ("10435 weeks", 10435, "week"),
        ("73050 days", 73050, "day"),
    ],
)
def test_a_window_of_200_years_is_read(window, amount, unit):
    assert parse_duration(window, "t.yaml:3") == Duration(amount, unit)


@pytest.mark.parametrize(
    "window",
    [
        "201 years",
        "2401 months",
        "10436 weeks",
        "73051 days",
        "99999999999999999999 days",
        "9" * 5000 + " days",
    ],
)
def test_a_longer_window_is_refused(window):
    with pytest.raises(TrialError, match=r"^t\.yaml:3: the window `.{1,40}` is longer than 200 years"):
        parse_duration(window, "t.yaml:3")


def test_a_200_year_window_is_evaluated(tmp_path):
    trial = tmp_path / "long.yaml"
    trial.write_text(
        "id: LONG\ntitle: the longest window\ncriteria:\n"
        "  - {id: old_sle, kind: inclusion, text: SLE, rule: {diagnosis: {concept: sle, within: 200 years}}}\n"
        "  - {id: recent_sle, kind: inclusion, text: SLE, rule: {diagnosis: {concept: sle, within: 100 years}}}\n"
    )
    rows = person("old", birth_year=1880) + [dx("old", "M32.14", "1900-06-01")]
    assert evaluate(trial, rows, as_of=AS_OF)["old"] == {"old_sle": True, "recent_sle": False}


# -- a ref_high that is NaN, infinite, zero or negative is no upper limit: it reads exactly as
# a missing one, the concept's default ULN where it has one (ALT 40 U/L, creatinine 1.2 mg/dL)
# and UNKNOWN otherwise. A NaN passes `> 0` in DuckDB (NaN sorts above every number), so it was
# taken as the row's own limit and value / NaN compared false whatever the threshold.

NAN, INF = math.nan, math.inf
# (patient, criterion, expected, rows)
BAD_LIMIT_CASES: list[tuple[str, str, bool | None, list]] = [
    ("alt_nan_ref", "alt_uln", True, [("lab", "1742-6", "2025-01-10", 30, "U/L", NAN)]),  # 0.75 x 40
    ("alt_nan_ref_over", "alt_uln", False, [("lab", "1742-6", "2025-01-10", 130, "U/L", NAN)]),  # 3.25 x 40
    ("alt_inf_ref", "alt_uln", True, [("lab", "1742-6", "2025-01-10", 30, "U/L", INF)]),
    # 130 / inf would be 0 x ULN: the default limit makes it 3.25
    ("alt_inf_ref_over", "alt_uln", False, [("lab", "1742-6", "2025-01-10", 130, "U/L", INF)]),
    ("alt_minus_inf_ref_over", "alt_uln", False, [("lab", "1742-6", "2025-01-10", 130, "U/L", -INF)]),
    ("alt_negative_ref", "alt_uln", True, [("lab", "1742-6", "2025-01-10", 30, "U/L", -40.0)]),
    ("alt_negative_ref_over", "alt_uln", False, [("lab", "1742-6", "2025-01-10", 130, "U/L", -40.0)]),
    # no default limit for a unit the concept does not know: UNKNOWN, never value / NaN
    ("alt_nan_ref_unknown_unit", "alt_uln", None, [("lab", "1742-6", "2025-01-10", 100, "mmol/L", NAN)]),
    ("alt_inf_ref_unknown_unit", "alt_uln", None, [("lab", "1742-6", "2025-01-10", 100, "mmol/L", INF)]),
    ("alt_neg_ref_unknown_unit", "alt_uln", None, [("lab", "1742-6", "2025-01-10", 100, "mmol/L", -40.0)]),
    # on one day the highest multiple decides: 0.75 x the default beside 2.5 x its own limit;
    # a NaN multiple would have ranked above every number
    (
        "alt_nan_ref_beside_own",
        "alt_uln",
        True,
        [("lab", "1742-6", "2025-01-10", 30, "U/L", NAN), ("lab", "1742-6", "2025-01-10", 100, "U/L", 40)],
    ),
    ("crea_nan_ref", "crea_uln", True, [("lab", "2160-0", "2025-01-10", 1.8, "mg/dL", NAN)]),  # 1.5 x 1.2
    ("crea_inf_ref_over", "crea_uln", False, [("lab", "2160-0", "2025-01-10", 1.9, "mg/dL", INF)]),
    ("crea_negative_ref_over", "crea_uln", False, [("lab", "2160-0", "2025-01-10", 1.9, "mg/dL", -1.0)]),
    # `result: positive` read from a value needs the row's own limit: none usable, UNKNOWN
    ("hbhigh_nan_ref", "hb_high", None, [("lab", "718-7", "2025-01-20", 170, "g/L", NAN)]),
    ("hbhigh_inf_ref", "hb_high", None, [("lab", "718-7", "2025-01-20", 170, "g/L", INF)]),
    ("hbhigh_negative_ref", "hb_high", None, [("lab", "718-7", "2025-01-20", 170, "g/L", -160.0)]),
    ("ana_nan_ref", "ana_pos", None, [("lab", "8061-4", "2024-06-01", 1.5, None, NAN)]),
    ("ana_inf_ref", "ana_pos", None, [("lab", "8061-4", "2024-06-01", 1.5, None, INF)]),
    ("ana_negative_ref", "ana_pos", None, [("lab", "8061-4", "2024-06-01", 1.5, None, -1.0)]),
]


@pytest.fixture(scope="module")
def bad_limit_results() -> dict[str, dict[str, dict[str, bool | None]]]:
    """The cases' rule values from the engine and from the reference evaluator, each run once."""
    rows = [r for pid, _, _, specs in BAD_LIMIT_CASES for r in _rows(pid, {}, specs)]
    return {evaluator: evaluate_with(evaluator, TRIAL, rows, as_of=AS_OF) for evaluator in EVALUATORS}


@pytest.mark.parametrize("evaluator", EVALUATORS)
@pytest.mark.parametrize(
    ("pid", "criterion", "expected"),
    [(pid, c, e) for pid, c, e, _ in BAD_LIMIT_CASES],
    ids=[c[0] for c in BAD_LIMIT_CASES],
)
def test_an_unusable_ref_high_reads_as_missing(bad_limit_results, evaluator, pid, criterion, expected):
    assert bad_limit_results[evaluator][pid][criterion] is expected


def test_default_uln_patients_counts_results_with_an_unusable_own_limit():
    """A NaN, infinite, zero or negative ref_high is counted as missing: the concept's
    default ULN was used."""
    limits = {"nan": NAN, "inf": INF, "minus_inf": -INF, "zero": 0.0, "negative": -40.0, "own": 40.0}
    rows = [
        r
        for name, limit in limits.items()
        for r in _rows(f"alt_{name}", {}, [("lab", "1742-6", "2025-01-10", 30, "U/L", limit)])
    ]
    _, result = load_engine(TRIAL, rows, as_of=AS_OF)
    assert result.data_quality.default_uln_patients == {"alt": 5}


# -- combinators nest at most 20 deep: the deepest rule is counted, a deeper one refused at
# its line (building, compiling and evaluating a rule all recurse once per level)

DEEP = "id: DEEP\ntitle: deep\ncriteria:\n  - id: sle\n    kind: inclusion\n    text: SLE\n    rule: {rule}\n"


def _nested(kind: str, depth: int) -> str:
    """`diagnosis: sle` inside `depth` combinators of `kind`, each keeping its value: an even
    number of `not`s, `any` and `at_least: {n: 1}` beside a rule that is FALSE (male sex)."""
    rule = "{diagnosis: sle}"
    for _ in range(depth):
        rule = {
            "not": "{not: %s}",
            "any": "{any: [%s, {sex: M}]}",
            "all": "{all: [%s, {sex: F}]}",
            "at_least": "{at_least: {n: 1, of: [{sex: M}, %s]}}",
        }[kind] % rule
    return DEEP.replace("{rule}", rule)


@pytest.mark.parametrize("kind", ["not", "any", "all", "at_least"])
def test_the_deepest_rule_is_counted_by_both_evaluators(tmp_path, kind):
    trial = tmp_path / "deep.yaml"
    trial.write_text(_nested(kind, 20))
    rows = person("has", sex="F", birth_year=1980) + [dx("has", "M32.14", "2020-01-01")]
    rows += person("hasnt", sex="F", birth_year=1980)
    expected = {"has": {"sle": True}, "hasnt": {"sle": False}}
    for evaluator in EVALUATORS:
        assert evaluate_with(evaluator, trial, rows, as_of=AS_OF) == expected


@pytest.mark.parametrize("kind", ["not", "any", "all", "at_least"])
def test_a_rule_one_level_deeper_is_refused_at_its_line(tmp_path, kind):
    trial = tmp_path / "deep.yaml"
    trial.write_text(_nested(kind, 21))
    with pytest.raises(TrialError, match=r"^\S*deep\.yaml:7: the rule nests .* more than 20 levels deep"):
        load_trials([trial])


@pytest.mark.parametrize(("kind", "depth"), [("not", 500), ("not", 5000), ("any", 450), ("at_least", 400)])
def test_a_far_deeper_rule_is_refused_before_it_is_built(tmp_path, kind, depth):
    # the YAML itself is too deep to build: a RecursionError before the rule parser saw it
    trial = tmp_path / "deep.yaml"
    trial.write_text(_nested(kind, depth))
    with pytest.raises(TrialError, match=r"^\S*deep\.yaml:7: mappings and lists nest more than 70 levels"):
        load_trials([trial])


def test_yaml_at_the_depth_limit_is_built(tmp_path):
    # lists cost the most stack per level; 70 of them still load, as a wrong-shape error
    trial = tmp_path / "deep.yaml"
    trial.write_text("id: DEEP\ncriteria: " + "[" * 69 + "]" * 69 + "\n")
    with pytest.raises(TrialError, match="each criterion must be a mapping"):
        load_trials([trial])


def test_a_nan_ref_high_reads_as_missing_when_every_finite_limit_is_positive():
    """Parquet min/max statistics leave NaN out: in a file whose finite limits are all
    positive they say every ref_high is positive and finite, and DuckDB folds a comparison
    with a constant that its statistics decide. A NaN limit still reads as missing."""
    specs = {
        "alt_nan": ("alt_uln", True, [("lab", "1742-6", "2025-01-10", 30, "U/L", NAN)]),
        "alt_nan_beside_own": (
            "alt_uln",
            True,
            [
                ("lab", "1742-6", "2025-01-10", 30, "U/L", NAN),
                ("lab", "1742-6", "2025-01-10", 100, "U/L", 40),
            ],
        ),
        "alt_nan_unknown_unit": ("alt_uln", None, [("lab", "1742-6", "2025-01-10", 100, "mmol/L", NAN)]),
        "hbhigh_nan": ("hb_high", None, [("lab", "718-7", "2025-01-20", 170, "g/L", NAN)]),
        "hbhigh_own": ("hb_high", False, [("lab", "718-7", "2025-01-20", 150, "g/L", 160)]),
    }
    rows = [r for pid, (_, _, s) in specs.items() for r in _rows(pid, {}, s)]
    engine, result = load_engine(TRIAL, rows, as_of=AS_OF)
    got = engine.rule_values(engine.trials[0])
    assert {pid: got[pid][c] for pid, (c, _, _) in specs.items()} == {
        pid: e for pid, (_, e, _) in specs.items()
    }
    assert result.data_quality.default_uln_patients == {"alt": 2}


def test_if_found_is_shown_and_only_unknown_or_true_is_read(tmp_path):
    (parsed,), _ = load_trials([REPO / TRIAL])
    shown = {c.id: describe(c.rule) for c in parsed.criteria if c.rule is not None}
    assert shown["stroke_found_unknown"] == "diagnosis stroke within 6 months (found: unknown)"
    assert shown["steroid_found_unknown"].endswith("dose ≥ 7.5 mg/d (found: unknown)")
    assert "found" not in shown["stroke_6m"]
    trial = tmp_path / "t.yaml"
    for value, error in (
        ("false", r"t\.yaml:3: `if_found: false` would make a record count against itself"),
        ("maybe", r"t\.yaml:3: `if_found` must be true, false or unknown, not `maybe`"),
    ):
        trial.write_text(
            "id: T\ncriteria:\n  - {id: a, kind: exclusion, text: x, rule: {diagnosis: "
            f"{{concept: sle, if_found: {value}}}}}}}\n"
        )
        with pytest.raises(TrialError, match=error):
            load_trials([trial, REPO / "tests/fixtures/trials/concepts"])
    # measurements read a result, not a record's presence: the key is refused there
    trial.write_text(
        "id: T\ncriteria:\n  - {id: a, kind: exclusion, text: x, rule: {lab: "
        "{concept: alt, max: 3, unit: ULN, if_found: unknown}}}\n"
    )
    with pytest.raises(TrialError, match="if_found"):
        load_trials([trial, REPO / "tests/fixtures/trials/concepts"])


def test_exposures_ending_before_they_start_are_counted(tmp_path):
    """An exposure whose end_date lies before its start_date covers no day: it is no
    exposure, and data quality counts it per medication concept (the run said nothing)."""
    (tmp_path / "t.yaml").write_text(
        "id: T\ncriteria:\n  - {id: hcq, kind: exclusion, text: Hydroxychloroquine within 1 year,\n"
        "     rule: {medication: {concept: hydroxychloroquine, within: 1 year}}}\n"
    )
    rows = [
        *person("reversed"),
        event("reversed", "medication", "ATC", "P01BA02", "2024-10-01", end_date="2024-09-01"),
        *person("taking"),
        event("taking", "medication", "ATC", "P01BA02", "2024-10-01", end_date="2024-12-01"),
        event("taking", "medication", "ATC", "P01BA02", "2024-06-01", end_date="2024-05-31"),
    ]
    engine, result = load_engine(tmp_path / "t.yaml", rows, as_of=AS_OF)
    assert engine.rule_values(engine.trials[0]) == {"reversed": {"hcq": False}, "taking": {"hcq": True}}
    assert result.data_quality.reversed_exposure_rows == {"hydroxychloroquine": 2}


def test_every_row_counts_back_from_its_patients_index_date():
    """A patient's index date is the latest `index_date` of their rows, and every row of
    theirs is seen from it, whatever the row's own: a row with no index_date, or an
    earlier one, is neither seen after the patient's index date nor hidden before it
    (each row once counted back from its own, or from the run's date). The rows' dispute
    is still counted."""
    index = {"index_date": "2024-12-18"}
    rows = [
        # dated after the patient's index date, before the run's: not seen
        *person("late_row", **index),
        event("late_row", "diagnosis", "ICD10CM", "M32.14", "2025-01-17", index_date=None),
        # dated after the row's own, earlier index date, before the patient's: seen
        *person("early_row", **index),
        event("early_row", "diagnosis", "ICD10CM", "M32.14", "2024-09-01", index_date="2024-06-01"),
        # the latest hemoglobin seen is the low one of 10 December, in the 30 days
        *person("late_lab", **index),
        lab("late_lab", "718-7", "2024-12-10", value_num=50, unit="g/L"),
        lab("late_lab", "718-7", "2025-01-20", value_num=120, unit="g/L", index_date=None),
        # twice within the year before the patient's index date, each row saying 1 June
        *person("early_twice", **index),
        event("early_twice", "diagnosis", "ICD10CM", "M32.14", "2024-09-01", index_date="2024-06-01"),
        event("early_twice", "diagnosis", "ICD10CM", "M32.9", "2024-10-01", index_date="2024-06-01"),
    ]
    expected = {
        ("late_row", "sle"): False,
        ("early_row", "sle"): True,
        ("late_lab", "hb"): False,
        ("early_twice", "sle_twice"): True,
    }
    engine, result = load_engine(TRIAL, rows, as_of=AS_OF)
    got = engine.rule_values(engine.trials[0])
    for values in (got, reference_values(TRIAL, rows, as_of=AS_OF)):
        assert {(pid, c): values[pid][c] for pid, c in expected} == expected
    assert result.data_quality.counts["patients_with_inconsistent_index_date"] == 4

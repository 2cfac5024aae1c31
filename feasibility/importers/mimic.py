"""MIMIC-IV (hosp module) -> extract.

Reads the hosp tables (`patients`, `admissions`, `diagnoses_icd`, `labevents`,
`prescriptions`, and `procedures_icd`, `omr` and `pharmacy` when present) as CSV, gzipped CSV
or parquet, and the MIT-LCP mimic-code lab map `d_labitems_to_loinc.csv` (lab `itemid` ->
LOINC). This module finds the files and shapes them into views; the mapping is the fixed SQL
of `sql/import_mimic.sql`, with the drug-name tables below given to it as data. Nothing
loops over rows in Python.

Mapping (see docs/importing.md):
- patients: sex from `gender`; birth_year = anchor_year - anchor_age (MIMIC caps ages above
  89 at 91, counted); death_date = `dod` where the export has it. Dates are shifted per
  patient, so each patient's `index_date` is their last discharge (`admissions.dischtime`).
- labevents: LOINC from the map, else code_system MIMIC_LABITEM with the itemid; `valuenum`,
  `valueuom`, `ref_range_lower/upper`; the text `value` when there is no number.
- diagnoses_icd: dated by the admission (`admittime`); ICD-9 -> ICD9CM, ICD-10 -> ICD10CM,
  codes as MIMIC stores them (no dots; matching ignores dots).
- procedures_icd: ICD-9 -> ICD9PCS, ICD-10 -> ICD10PCS, dated by `chartdate`.
- omr: weight, height, BMI and blood pressure -> LOINC observations by OMR_CODES below,
  dated by `chartdate`.
- prescriptions: ATC from the drug name by DRUG_ATC below (systemic use only), plus NDC when
  present; daily dose in mg/d = dose_val_rx x doses_per_24_hrs when the dose is in mg, g or
  mcg and a single number; where doses_per_24_hrs is 0 or none, the schedule of pharmacy's
  `frequency` (`Q48H`, `QOD` a dose in mg/d; `3X/WEEK`, `QMOWEFR` a dose in mg/wk).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl
from sqlglot import exp

from feasibility.errors import FeasibilityError
from feasibility.importers.common import (
    ImportSummary,
    People,
    build_extract,
    connect,
    create_view,
    find_table_file,
    reader,
    refuse_out_in_source,
    require_dir,
    shaped_view,
    temp_view,
)
from feasibility.user_files import check_extract_out

REQUIRED = ("patients", "admissions", "diagnoses_icd", "labevents", "prescriptions")
OPTIONAL = ("procedures_icd", "omr", "pharmacy")
MAP_FILE = "d_labitems_to_loinc.csv"

# MIMIC-IV is licensed under the ODbL, which asks every work produced from it to say so: the
# importer writes this into the extract's notice, and every report built from it repeats it
MIMIC_NOTICE = (
    "MIMIC-IV data: ODbL 1.0 (share alike); cite Johnson A, Bulgarelli L, Pollard T, "
    "Horng S, Celi LA, Mark R. MIMIC-IV, with the version imported, PhysioNet "
    "(e.g. MIMIC-IV Clinical Database Demo (v2.2). PhysioNet (2023))"
)

# Drug name -> ATC for the drugs the concept library knows. A prescription matches when the
# lower-cased `drug` contains the name as a whole word. Codes checked against WHO ATC lists
# (search of ATC tables and drug-code lists, 2026-11); methotrexate takes the non-oncology code
# L04AX03 (the library's methotrexate concept lists L01BA01 as well).
DRUG_ATC: tuple[tuple[str, str], ...] = (
    # glucocorticoids (H02AB)
    ("betamethasone", "H02AB01"),
    ("dexamethasone", "H02AB02"),
    ("methylprednisolone", "H02AB04"),
    ("prednisolone", "H02AB06"),
    ("prednisone", "H02AB07"),
    ("triamcinolone", "H02AB08"),
    ("hydrocortisone", "H02AB09"),
    ("cortisone", "H02AB10"),
    ("deflazacort", "H02AB13"),
    # antimalarials
    ("hydroxychloroquine", "P01BA02"),
    ("chloroquine", "P01BA01"),
    # immunosuppressants and cytotoxics
    ("mycophenolate", "L04AA06"),
    ("mycophenolic acid", "L04AA06"),
    ("azathioprine", "L04AX01"),
    ("methotrexate", "L04AX03"),
    ("cyclophosphamide", "L01AA01"),
    ("tacrolimus", "L04AD02"),
    ("cyclosporine", "L04AD01"),
    ("ciclosporin", "L04AD01"),
    ("voclosporin", "L04AD03"),
    ("sirolimus", "L04AH01"),
    ("leflunomide", "L04AK01"),
    ("fludarabine", "L01BB05"),
    ("rituximab", "L01FA01"),
    ("tocilizumab", "L04AC07"),
    ("belimumab", "L04AG04"),
    # anticoagulants
    ("warfarin", "B01AA03"),
    ("heparin", "B01AB01"),
    ("dalteparin", "B01AB04"),
    ("enoxaparin", "B01AB05"),
    ("argatroban", "B01AE03"),
    ("bivalirudin", "B01AE06"),
    ("dabigatran", "B01AE07"),
    ("rivaroxaban", "B01AF01"),
    ("apixaban", "B01AF02"),
    ("edoxaban", "B01AF03"),
    ("fondaparinux", "B01AX05"),
)

# The outpatient record's (`omr`) measures -> LOINC observations: (result_name, part of the
# value, LOINC, unit). Part 0 is the whole value, 1 and 2 the numbers before and after the
# "/" of a blood pressure ("120/80"). Blood pressure taken sitting is the office reading
# protocols mean, like the plain one; lying and standing readings (an orthostatic work-up)
# are not imported, nor are other names (counted). Codes checked against LOINC listings
# (find_string, FHIR vital-signs mappings), 2026-12: 29463-7 Body weight, 8302-2 Body
# height, 39156-5 Body mass index (BMI) [Ratio], 8480-6 Systolic and 8462-4 Diastolic blood
# pressure.
OMR_CODES: tuple[tuple[str, int, str, str], ...] = (
    ("Weight (Lbs)", 0, "29463-7", "[lb_av]"),
    ("Height (Inches)", 0, "8302-2", "[in_i]"),
    ("BMI (kg/m2)", 0, "39156-5", "kg/m2"),
    *(
        (name, part, code, "mm[Hg]")
        for name in ("Blood Pressure", "Blood Pressure Sitting")
        for part, code in ((1, "8480-6"), (2, "8462-4"))
    ),
)

# Routes of local (non-systemic) use: eye, ear, skin, inhaled, nasal, rectal, vaginal,
# catheter dwell. A named drug given this way gets no ATC row (counted).
LOCAL_ROUTES = (
    "TP",
    "IH",
    "NU",
    "NEB",
    "NAS",
    "BOTH EYES",
    "LEFT EYE",
    "RIGHT EYE",
    "OU",
    "OS",
    "OD",
    "BOTH EARS",
    "LEFT EAR",
    "RIGHT EAR",
    "AU",
    "AS",
    "AD",
    "PR",
    "VG",
    "TD",
    "DWELL",
    "DIALYS",
    "ID",
    "IJ",
    "PERIPHNERVE",
    "BUCCAL",
    "MOUTH/THROAT",
)
# Words (at a word start) of local use or line care in the drug name, whatever the route:
# heparin flushes and locks, circuit priming, creams, drops.
LOCAL_WORDS = (
    "flush",
    "dwell",
    "lock",
    "priming",
    "crrt",
    "ophth",
    "cream",
    "oint",
    "lotion",
    "gel",
    "drop",
    "otic",
    "nasal",
    "inhal",
    "enema",
    "rectal",
    "foam",
    "spray",
    "patch",
    "topical",
)


def default_map_path(given: Path) -> Path | None:
    """DIR/../mimic_code_concept_map or DIR/mimic_code_concept_map, DIR as the user gave it."""
    for folder in (given.parent / "mimic_code_concept_map", given / "mimic_code_concept_map"):
        candidate = folder / MAP_FILE
        if candidate.is_file():
            return candidate
    return None


def hosp_folder(given: Path) -> Path:
    """The hosp folder itself, or a MIMIC-IV root folder holding `hosp/`."""
    if (given / "hosp").is_dir() and find_table_file(given, "patients") is None:
        return given / "hosp"
    return given


def import_mimic(
    hosp: Path,
    out: Path,
    loinc_map: Path | None = None,
    encoding: str | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    notices: Sequence[str] = (),
) -> ImportSummary:
    """Read the MIMIC-IV hosp folder `hosp` (or the MIMIC-IV folder holding `hosp/`; its CSV
    tables in `encoding`, see `common.csv_encoding`), write the extract to `out` with
    MIMIC-IV's citation and `notices` as its notice, return the summary."""
    given = Path(hosp)
    require_dir(given, "MIMIC-IV hosp folder")
    if not given.is_dir():
        raise FeasibilityError(
            "is not a folder",
            where=str(given),
            fix="point at the MIMIC-IV hosp folder (patients.csv.gz, ...)",
        )
    hosp = hosp_folder(given)
    # the tables first: a folder of something else is named as such, not by the lab map
    tables = {name: find_table_file(hosp, name) for name in REQUIRED + OPTIONAL}
    missing = [name for name in REQUIRED if tables[name] is None]
    if missing:
        raise FeasibilityError(
            f"required table `{missing[0]}` is missing"
            + (" (not a MIMIC-IV hosp folder?)" if len(missing) == len(REQUIRED) else ""),
            where=str(hosp),
            fix=f"point at the MIMIC-IV hosp folder, which holds {missing[0]}.csv.gz (or .csv, .parquet)",
        )
    if loinc_map is None:
        loinc_map = default_map_path(given)
        if loinc_map is None:
            raise FeasibilityError(
                f"no {MAP_FILE} in ../mimic_code_concept_map or ./mimic_code_concept_map",
                where=str(hosp),
                fix="pass --loinc-map PATH (mimic-code's d_labitems_to_loinc.csv)",
            )
    else:
        loinc_map = Path(loinc_map)
        if loinc_map.is_dir():
            loinc_map = loinc_map / MAP_FILE
        if not loinc_map.is_file():
            raise FeasibilityError(
                "lab-to-LOINC map not found",
                where=str(loinc_map),
                fix="pass --loinc-map PATH to d_labitems_to_loinc.csv",
            )
    refuse_out_in_source(out, [(given, "MIMIC-IV folder"), (loinc_map, "lab-to-LOINC map")])
    check_extract_out(out)

    con = connect(threads, memory_limit)
    try:
        columns: dict[str, list[str]] = {}
        for name, path in tables.items():
            if path is not None:  # an optional table may be absent
                columns[name] = create_view(
                    con, f"src_{name}", reader(path, encoding), str(path), path, encoding
                )
        _check_columns(columns, hosp)
        for name, needed in _NEEDED.items():
            source = f"src_{name}" if name in columns else None
            read = needed + _READ_WHEN_PRESENT.get(name, ())
            shaped_view(con, f"mimic_{name}", source, columns.get(name, ()), read)
        _lab_map_view(con, loinc_map)
        _register_mapping_tables(con)
        people = People(table="pat", view="mimic_patients", source="patients", id_column="subject_id")
        summary = build_extract(
            con,
            "import_mimic.sql",
            "import_mimic_quality.sql",
            str(hosp),
            "MIMIC-IV hosp",
            out,
            people,
            (MIMIC_NOTICE, *notices),
        )
        summary.notes.insert(0, f"lab codes mapped with {loinc_map.name}")
        return summary
    finally:
        con.close()


_NEEDED = {
    "patients": ("subject_id", "gender", "anchor_age", "anchor_year"),
    "admissions": ("subject_id", "hadm_id", "admittime", "dischtime"),
    "diagnoses_icd": ("subject_id", "hadm_id", "icd_code", "icd_version"),
    "labevents": (
        "subject_id",
        "itemid",
        "charttime",
        "value",
        "valuenum",
        "valueuom",
        "ref_range_lower",
        "ref_range_upper",
    ),
    "prescriptions": (
        "subject_id",
        "starttime",
        "stoptime",
        "drug",
        "ndc",
        "dose_val_rx",
        "dose_unit_rx",
        "doses_per_24_hrs",
        "route",
    ),
    "procedures_icd": ("subject_id", "chartdate", "icd_code", "icd_version"),
    "omr": ("subject_id", "chartdate", "result_name", "result_value"),
    "pharmacy": ("pharmacy_id", "frequency"),
}

# Columns an export may lack: without them the import loses only what they add (a
# prescription without its pharmacy_id has no schedule but doses_per_24_hrs; a patient
# without dod is not known to have died).
_READ_WHEN_PRESENT = {"prescriptions": ("pharmacy_id",), "patients": ("dod",)}


def _check_columns(columns: dict[str, list[str]], hosp: Path) -> None:
    for table, cols in columns.items():
        for needed in _NEEDED[table]:
            if needed not in cols:
                raise FeasibilityError(
                    f"table `{table}` has no column `{needed}`",
                    where=str(hosp),
                    fix="export the MIMIC-IV hosp tables with their original columns",
                )


def _lab_map_view(con: duckdb.DuckDBPyConnection, loinc_map: Path) -> None:
    """The view `mimic_lab_map(itemid, loinc, vocabulary)` over mimic-code's map, whose
    column names differ between its versions (an older one has no vocabulary column: its codes
    are all LOINC)."""
    cols = create_view(con, "lab_map_src", reader(loinc_map), str(loinc_map), loinc_map)
    itemid = next((c for c in cols if c.startswith("itemid")), None)
    if "omop_concept_code" in cols:
        loinc, vocab = "omop_concept_code", ("omop_vocabulary_id" if "omop_vocabulary_id" in cols else None)
    elif "loinc" in cols:
        loinc, vocab = "loinc", None
    else:
        loinc, vocab = None, None
    if itemid is None or loinc is None:
        raise FeasibilityError(
            "not a lab-to-LOINC map (needs an itemid column and omop_concept_code or loinc)",
            where=str(loinc_map),
            fix="pass --loinc-map PATH to mimic-code's d_labitems_to_loinc.csv",
        )
    query = exp.select(
        exp.column(itemid, quoted=True).as_("itemid"),
        exp.column(loinc, quoted=True).as_("loinc"),
        (exp.column(vocab, quoted=True) if vocab else exp.Literal.string("LOINC")).as_("vocabulary"),
    ).from_("lab_map_src")
    temp_view(con, "mimic_lab_map", query)


def _register_mapping_tables(con: duckdb.DuckDBPyConnection) -> None:
    """DRUG_ATC, LOCAL_ROUTES, LOCAL_WORDS and OMR_CODES as the tables import_mimic.sql reads."""
    names, atcs = zip(*DRUG_ATC, strict=True)
    con.register("mimic_drug_atc", pl.DataFrame({"name": names, "atc": atcs}))
    con.register("mimic_local_routes", pl.DataFrame({"route": LOCAL_ROUTES}))
    con.register("mimic_local_words", pl.DataFrame({"word": LOCAL_WORDS}))
    results, parts, codes, units = zip(*OMR_CODES, strict=True)
    con.register(
        "mimic_omr_codes",
        pl.DataFrame({"result_name": results, "part": parts, "loinc": codes, "unit": units}),
    )

"""MIMIC-IV (hosp module) -> extract.

Reads the hosp tables (`patients`, `admissions`, `diagnoses_icd`, `labevents`,
`prescriptions`, and `procedures_icd` when present) as CSV, gzipped CSV or parquet, and the
MIT-LCP mimic-code lab map `d_labitems_to_loinc.csv` (lab `itemid` -> LOINC). Everything is
one DuckDB pass over the raw files; nothing loops over rows in Python.

Mapping (see docs/importing.md):
- patients: sex from `gender`; birth_year = anchor_year - anchor_age (MIMIC caps ages above
  89 at 91, counted). Dates are shifted per patient, so each patient's `index_date` is their
  last discharge (`admissions.dischtime`).
- labevents: LOINC from the map, else code_system MIMIC_LABITEM with the itemid; `valuenum`,
  `valueuom`, `ref_range_lower/upper`; the text `value` when there is no number.
- diagnoses_icd: dated by the admission (`admittime`); ICD-9 -> ICD9CM, ICD-10 -> ICD10CM,
  codes as MIMIC stores them (no dots; matching ignores dots).
- procedures_icd: ICD-9 -> ICD9PCS, ICD-10 -> ICD10PCS, dated by `chartdate`.
- prescriptions: ATC from the drug name by DRUG_ATC below (systemic use only), plus NDC when
  present; daily dose in mg/d = dose_val_rx x doses_per_24_hrs when the dose is in mg, g or
  mcg and a single number.
"""

from __future__ import annotations

from pathlib import Path

from feasibility.errors import FeasibilityError
from feasibility.importers.common import (
    ImportSummary,
    connect,
    create_view,
    fetch_counts,
    find_table_file,
    reader_sql,
    require_dir,
    summarise_written,
    write_extract,
)

REQUIRED = ("patients", "admissions", "diagnoses_icd", "labevents", "prescriptions")
OPTIONAL = ("procedures_icd",)
MAP_FILE = "d_labitems_to_loinc.csv"

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


def _sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _drug_map_values() -> str:
    return ", ".join(f"('{name}', '{atc}')" for name, atc in DRUG_ATC)


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
    threads: int | None = None,
    memory_limit: str | None = None,
) -> ImportSummary:
    """Read the MIMIC-IV hosp folder `hosp` (or the MIMIC-IV folder holding `hosp/`), write
    the extract to `out`, return the summary."""
    given = Path(hosp)
    require_dir(given, "MIMIC-IV hosp folder")
    if not given.is_dir():
        raise FeasibilityError(
            "is not a folder",
            where=str(given),
            fix="point at the MIMIC-IV hosp folder (patients.csv.gz, ...)",
        )
    hosp = hosp_folder(given)
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

    con = connect(threads, memory_limit)
    try:
        columns: dict[str, list[str]] = {}
        for name in REQUIRED + OPTIONAL:
            path = find_table_file(hosp, name)
            if path is None:
                if name in OPTIONAL:
                    continue
                raise FeasibilityError(
                    f"required table `{name}` is missing",
                    where=str(hosp),
                    fix=f"the hosp folder needs {name}.csv.gz (or .csv, .parquet)",
                )
            columns[name] = create_view(con, f"src_{name}", reader_sql(path), str(path))
        _check_columns(columns, hosp)
        itemid_col, loinc_col, vocab_col = _map_columns(con, loinc_map)
        vocab_filter = f"AND upper(trim({vocab_col})) = 'LOINC'" if vocab_col else ""
        con.execute(f"""
            CREATE TEMP TABLE lab_map AS
            SELECT to_id({itemid_col}) AS itemid, min(to_text({loinc_col})) AS loinc
            FROM lab_map_src
            WHERE to_id({itemid_col}) IS NOT NULL AND to_text({loinc_col}) IS NOT NULL {vocab_filter}
            GROUP BY 1
        """)
        _build(con, "procedures_icd" in columns)
        summary = ImportSummary(source=str(hosp), out=out)
        write_extract(con, "SELECT * FROM extract_rows", out)
        summarise_written(con, out, summary)
        summary.counts = fetch_counts(con, _QUALITY_SQL)
        summary.notes.append(f"lab codes mapped with {loinc_map.name}")
        summary.notes.append(
            "MIMIC-IV data: ODbL 1.0; cite Johnson A, Bulgarelli L, Pollard T, "
            "Horng S, Celi LA, Mark R. MIMIC-IV (PhysioNet)"
        )
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
}


def _check_columns(columns: dict[str, list[str]], hosp: Path) -> None:
    for table, cols in columns.items():
        for needed in _NEEDED[table]:
            if needed not in cols:
                raise FeasibilityError(
                    f"table `{table}` has no column `{needed}`",
                    where=str(hosp),
                    fix="export the MIMIC-IV hosp tables with their original columns",
                )


def _map_columns(con, loinc_map: Path) -> tuple[str, str, str | None]:
    cols = create_view(con, "lab_map_src", reader_sql(loinc_map), str(loinc_map))
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
    quote = lambda c: '"' + c.replace('"', '""') + '"'  # noqa: E731
    return quote(itemid), quote(loinc), quote(vocab) if vocab else None


def _build(con, has_procedures: bool) -> None:
    local_words = "regexp_matches(lower(r.drug), '\\b(" + "|".join(LOCAL_WORDS) + ")')"
    con.execute("""
        CREATE TEMP TABLE pat AS
        WITH p AS (
            SELECT to_id(subject_id) AS subject_id, upper(to_text(gender)) AS gender,
                   to_id(anchor_age) AS anchor_age, to_id(anchor_year) AS anchor_year
            FROM src_patients WHERE to_id(subject_id) IS NOT NULL
        ), idx AS (
            SELECT to_id(subject_id) AS subject_id,
                   max(CAST(TRY_CAST(dischtime AS TIMESTAMP) AS DATE)) AS index_date
            FROM src_admissions GROUP BY 1
        )
        SELECT p.subject_id, CAST(p.subject_id AS VARCHAR) AS patient_id,
               CASE WHEN p.gender IN ('F', 'M') THEN p.gender ELSE 'U' END AS sex,
               CAST(p.anchor_year - p.anchor_age AS INTEGER) AS birth_year,
               p.anchor_age, idx.index_date
        FROM p LEFT JOIN idx USING (subject_id)
    """)
    con.execute("""
        CREATE TEMP TABLE adm AS
        SELECT to_id(hadm_id) AS hadm_id, to_id(subject_id) AS subject_id,
               CAST(TRY_CAST(admittime AS TIMESTAMP) AS DATE) AS admit_date
        FROM src_admissions
    """)
    con.execute("""
        CREATE TEMP TABLE labs AS
        SELECT to_id(l.subject_id) AS subject_id, to_id(l.itemid) AS itemid, m.loinc,
               CAST(TRY_CAST(l.charttime AS TIMESTAMP) AS DATE) AS start_date,
               to_num(l.valuenum) AS value_num, to_text(l.value) AS value_raw,
               to_text(l.valueuom) AS unit,
               to_num(l.ref_range_lower) AS ref_low, to_num(l.ref_range_upper) AS ref_high
        FROM src_labevents l LEFT JOIN lab_map m ON m.itemid = to_id(l.itemid)
    """)
    con.execute("""
        CREATE TEMP TABLE rx_raw AS
        SELECT to_id(subject_id) AS subject_id, to_text(drug) AS drug,
               upper(to_text(route)) AS route, to_text(ndc) AS ndc,
               CAST(TRY_CAST(starttime AS TIMESTAMP) AS DATE) AS start_date,
               CAST(TRY_CAST(stoptime AS TIMESTAMP) AS DATE) AS end_date,
               to_num(dose_val_rx) AS dose, lower(to_text(dose_unit_rx)) AS dose_unit,
               to_num(doses_per_24_hrs) AS per_day
        FROM src_prescriptions
    """)
    # names are matched once per distinct drug name, not once per prescription
    con.execute(f"""
        CREATE TEMP TABLE drug_names AS
        SELECT n.drug, max_by(d.atc, length(d.name)) AS atc
        FROM (SELECT DISTINCT drug FROM rx_raw WHERE drug IS NOT NULL) AS n
        JOIN (VALUES {_drug_map_values()}) AS d(name, atc)
          ON regexp_matches(lower(n.drug), '\\b' || d.name || '\\b')
        GROUP BY n.drug
    """)
    con.execute(f"""
        CREATE TEMP TABLE rx AS
        SELECT r.*, n.atc AS named_atc,
               n.atc IS NOT NULL AND (r.route IN ({_sql_list(LOCAL_ROUTES)})
                                      OR {local_words}) AS local_use,
               CASE WHEN r.per_day > 0 AND r.dose >= 0 THEN r.dose * r.per_day * CASE r.dose_unit
                    WHEN 'mg' THEN 1 WHEN 'g' THEN 1000 WHEN 'gm' THEN 1000
                    WHEN 'mcg' THEN 0.001 WHEN 'ug' THEN 0.001 END END AS daily_mg
        FROM rx_raw r LEFT JOIN drug_names n USING (drug)
    """)
    procedures = ""
    if has_procedures:
        procedures = """
            UNION ALL
            SELECT to_id(subject_id), 'procedure',
                   CASE to_id(icd_version) WHEN 9 THEN 'ICD9PCS' WHEN 10 THEN 'ICD10PCS' END,
                   upper(to_text(icd_code)), NULL, NULL, NULL, NULL, NULL,
                   to_date(chartdate), NULL
            FROM src_procedures_icd
            WHERE to_text(icd_code) IS NOT NULL AND to_id(icd_version) IN (9, 10)
        """
    con.execute(f"""
        CREATE TEMP TABLE events AS
        SELECT subject_id, 'lab' AS domain,
               CASE WHEN loinc IS NOT NULL THEN 'LOINC' ELSE 'MIMIC_LABITEM' END AS code_system,
               coalesce(loinc, CAST(itemid AS VARCHAR)) AS code,
               value_num, CASE WHEN value_num IS NULL THEN value_raw END AS value_text,
               unit, ref_low, ref_high, start_date, CAST(NULL AS DATE) AS end_date
        FROM labs WHERE itemid IS NOT NULL AND start_date IS NOT NULL
        UNION ALL
        SELECT to_id(d.subject_id), 'diagnosis',
               CASE to_id(d.icd_version) WHEN 9 THEN 'ICD9CM' WHEN 10 THEN 'ICD10CM' END,
               upper(to_text(d.icd_code)), NULL, NULL, NULL, NULL, NULL, a.admit_date, NULL
        FROM src_diagnoses_icd d JOIN adm a ON a.hadm_id = to_id(d.hadm_id)
        WHERE to_text(d.icd_code) IS NOT NULL AND to_id(d.icd_version) IN (9, 10)
          AND a.admit_date IS NOT NULL
        UNION ALL
        SELECT subject_id, 'medication', 'ATC', named_atc, daily_mg, NULL,
               CASE WHEN daily_mg IS NOT NULL THEN 'mg/d' END, NULL, NULL, start_date, end_date
        FROM rx WHERE named_atc IS NOT NULL AND NOT local_use AND start_date IS NOT NULL
        UNION ALL
        SELECT subject_id, 'medication', 'NDC', ndc, daily_mg, NULL,
               CASE WHEN daily_mg IS NOT NULL THEN 'mg/d' END, NULL, NULL, start_date, end_date
        FROM rx WHERE ndc IS NOT NULL AND ndc NOT IN ('0', '00000000000') AND start_date IS NOT NULL
        {procedures}
    """)
    con.execute("""
        CREATE TEMP VIEW extract_rows AS
        SELECT p.patient_id, p.sex, p.birth_year, NULL AS birth_date, p.index_date,
               'person' AS domain, NULL AS code_system, NULL AS code, NULL AS value_num,
               NULL AS value_text, NULL AS unit, NULL AS ref_low, NULL AS ref_high,
               NULL AS start_date, NULL AS end_date
        FROM pat p
        UNION ALL
        SELECT p.patient_id, p.sex, p.birth_year, NULL, p.index_date, e.domain, e.code_system,
               e.code, e.value_num, e.value_text, e.unit, e.ref_low, e.ref_high, e.start_date,
               e.end_date
        FROM events e JOIN pat p USING (subject_id)
        ORDER BY 1, 6, 14
    """)


# Each column is one count of the data-quality summary. No patient values, only counts.
_QUALITY_SQL = """
WITH lab_units AS (
    SELECT itemid, count(DISTINCT unit) AS n_units, count(*) AS n
    FROM labs WHERE value_num IS NOT NULL AND unit IS NOT NULL GROUP BY itemid
)
SELECT
    (SELECT count(*) FROM pat) AS "patients",
    (SELECT count(*) FROM pat WHERE index_date IS NULL)
        AS "patients without a discharge (no index_date)",
    (SELECT count(*) FROM pat WHERE anchor_age >= 90)
        AS "patients aged over 89 (MIMIC caps anchor_age; birth year approximate)",
    (SELECT count(*) FROM pat WHERE sex = 'U') AS "patients without F/M gender",
    (SELECT count(*) FROM labs) AS "lab rows read",
    (SELECT count(*) FROM labs WHERE loinc IS NULL) AS "lab rows of items not in the LOINC map",
    (SELECT count(DISTINCT itemid) FROM labs WHERE loinc IS NULL)
        AS "lab items not in the LOINC map",
    (SELECT count(*) FROM labs WHERE value_num IS NULL AND value_raw IS NULL)
        AS "lab rows without a value",
    (SELECT count(*) FROM labs WHERE value_num IS NOT NULL AND unit IS NULL)
        AS "lab results without a unit",
    (SELECT count(*) FROM lab_units WHERE n_units > 1) AS "lab items reported in two or more units",
    (SELECT coalesce(sum(n), 0) FROM lab_units WHERE n_units > 1)
        AS "lab results of items reported in two or more units",
    (SELECT count(*) FROM labs WHERE value_num IS NOT NULL AND ref_high IS NULL)
        AS "lab results without an upper reference limit (ULN)",
    (SELECT count(*) FROM labs WHERE value_num IS NOT NULL AND ref_high = 0)
        AS "lab results with a 0 upper reference limit (ULN unusable)",
    (SELECT count(*) FROM src_diagnoses_icd d ANTI JOIN adm a ON a.hadm_id = to_id(d.hadm_id))
        AS "diagnoses without a dated admission (dropped)",
    (SELECT count(*) FROM rx) AS "prescriptions read",
    (SELECT count(*) FROM rx WHERE named_atc IS NULL)
        AS "prescriptions whose drug name has no ATC in the importer's table",
    (SELECT count(*) FROM rx WHERE named_atc IS NOT NULL AND local_use)
        AS "prescriptions of a mapped drug for local use (no ATC row)",
    (SELECT count(*) FROM rx WHERE named_atc IS NOT NULL AND NOT local_use AND daily_mg IS NULL)
        AS "ATC-mapped prescriptions without a daily dose in mg",
    (SELECT count(*) FROM rx WHERE start_date IS NULL) AS "prescriptions without a start (dropped)",
    (SELECT count(*) FROM rx WHERE end_date < start_date) AS "prescriptions ending before they start",
    (SELECT count(*) FROM events WHERE subject_id NOT IN (SELECT subject_id FROM pat))
        AS "rows of subjects not in patients (dropped)",
    (SELECT count(*) FROM events e JOIN pat p USING (subject_id) WHERE e.start_date > p.index_date)
        AS "rows dated after the patient's last discharge (not seen by criteria)"
"""

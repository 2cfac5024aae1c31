-- MIMIC-IV (hosp module) -> extract rows (the view `extract_rows`); the mapping is described
-- in feasibility/importers/mimic.py and docs/importing.md.
--
-- Reads the views `mimic_<table>` (the hosp tables' columns this file uses; no rows for an
-- optional table the folder lacks), `mimic_lab_map(itemid, loinc, vocabulary)` (mimic-code's
-- lab map) and the importer's tables `mimic_drug_atc(name, atc)`, `mimic_local_routes(route)`,
-- `mimic_local_words(word)` and `mimic_omr_codes(result_name, part, loinc, unit)`. Values are read through the macros of import_macros.sql.

CREATE TEMP TABLE lab_map AS
SELECT to_id(itemid) AS itemid, min(to_text(loinc)) AS loinc
FROM mimic_lab_map
WHERE to_id(itemid) IS NOT NULL AND to_text(loinc) IS NOT NULL
  AND upper(trim(vocabulary)) = 'LOINC'
GROUP BY 1;

-- Patients: birth year from anchor_year - anchor_age; dates are shifted per patient, so the
-- index date is the patient's last discharge; `dod`, the date of death (shifted alike).
CREATE TEMP TABLE pat AS
WITH p AS (
    SELECT to_id(subject_id) AS subject_id, upper(to_text(gender)) AS gender,
           to_id(anchor_age) AS anchor_age, to_id(anchor_year) AS anchor_year,
           to_date(dod) AS death_date
    FROM mimic_patients WHERE to_id(subject_id) IS NOT NULL
), idx AS (
    SELECT to_id(subject_id) AS subject_id,
           max(CAST(TRY_CAST(dischtime AS TIMESTAMP) AS DATE)) AS index_date
    FROM mimic_admissions GROUP BY 1
)
SELECT p.subject_id, CAST(p.subject_id AS VARCHAR) AS patient_id,
       CASE WHEN p.gender IN ('F', 'M') THEN p.gender ELSE 'U' END AS sex,
       CAST(p.anchor_year - p.anchor_age AS INTEGER) AS birth_year,
       p.anchor_age, idx.index_date, p.death_date
FROM p LEFT JOIN idx USING (subject_id);

-- `*_given`: the row has the date, readable or not. A row dropped because its date could
-- not be read is counted apart from one without a date (import_mimic_quality.sql).
CREATE TEMP TABLE adm AS
SELECT to_id(hadm_id) AS hadm_id, to_id(subject_id) AS subject_id,
       CAST(TRY_CAST(admittime AS TIMESTAMP) AS DATE) AS admit_date,
       to_text(admittime) IS NOT NULL AS admit_given,
       CAST(TRY_CAST(dischtime AS TIMESTAMP) AS DATE) AS disch_date,
       to_text(dischtime) IS NOT NULL AS disch_given
FROM mimic_admissions;

CREATE TEMP TABLE labs AS
SELECT to_id(l.subject_id) AS subject_id, to_id(l.itemid) AS itemid, m.loinc,
       CAST(TRY_CAST(l.charttime AS TIMESTAMP) AS DATE) AS start_date,
       to_text(l.charttime) IS NOT NULL AS date_given,
       to_num(l.valuenum) AS value_num, to_text(l.value) AS value_raw,
       to_text(l.valueuom) AS unit,
       to_num(l.ref_range_lower) AS ref_low, to_num(l.ref_range_upper) AS ref_high
FROM mimic_labevents l LEFT JOIN lab_map m ON m.itemid = to_id(l.itemid);

CREATE TEMP TABLE rx_raw AS
SELECT to_id(subject_id) AS subject_id, to_text(drug) AS drug,
       upper(to_text(route)) AS route, to_text(ndc) AS ndc,
       CAST(TRY_CAST(starttime AS TIMESTAMP) AS DATE) AS start_date,
       to_text(starttime) IS NOT NULL AS start_given,
       CAST(TRY_CAST(stoptime AS TIMESTAMP) AS DATE) AS end_date,
       to_num(dose_val_rx) AS dose, lower(to_text(dose_unit_rx)) AS dose_unit,
       to_num(doses_per_24_hrs) AS per_day, to_id(pharmacy_id) AS pharmacy_id
FROM mimic_prescriptions;

-- The schedule of a prescription whose doses_per_24_hrs is 0 or none, from pharmacy's
-- `frequency`: doses a day for one every n hours (`Q48H`: 24/48) or every other day (`QOD`),
-- doses a week for a weekly schedule (`3X/WEEK`) or named weekdays (`QTHUR`; `QMOWEFR`, two
-- letters a day, each day once). Anything else (`PRN`, `ASDIR`, `QMONTH`, `QMO`) gives none.
-- A pharmacy_id listed twice with two readings gives none.
CREATE TEMP TABLE rx_schedule AS
WITH given AS (
    SELECT to_id(pharmacy_id) AS pharmacy_id,
           regexp_replace(upper(to_text(frequency)), '\s+', ' ', 'g') AS f
    FROM mimic_pharmacy WHERE to_id(pharmacy_id) IS NOT NULL
), frequencies AS (
    -- read once per distinct text: a hospital's pharmacy table holds millions of rows and a
    -- few hundred frequencies
    SELECT f, regexp_extract_all(f[2:], 'MO|TU|WE|TH|FR|SA|SU') AS pairs
    FROM (SELECT DISTINCT f FROM given WHERE f IS NOT NULL)
), schedules AS (
    SELECT f,
           CASE WHEN regexp_matches(f, '^Q ?[1-9][0-9]{0,2} ?(H|HR|HRS)$')
                     THEN 24 / CAST(regexp_extract(f, '[0-9]+') AS DOUBLE)
                WHEN f IN ('QOD', 'EVERY OTHER DAY') THEN 0.5 END AS per_day,
           CASE WHEN regexp_matches(f, '^[1-7] ?X ?/ ?(WEEK|WK)$') THEN CAST(f[1] AS DOUBLE)
                WHEN regexp_matches(f, '^Q ?(MON|TUES?|WED|THU|THURS?|FRI|SAT|SUN)$') THEN 1
                WHEN regexp_matches(f, '^Q(MO|TU|WE|TH|FR|SA|SU){2,7}$')
                     AND len(list_distinct(pairs)) = len(pairs) THEN len(pairs) END AS per_week
    FROM frequencies
)
SELECT g.pharmacy_id,
       CASE WHEN count(DISTINCT s.per_day) = 1 AND count(s.per_week) = 0
                 AND count(*) = count(s.per_day) THEN min(s.per_day) END AS per_day,
       CASE WHEN count(DISTINCT s.per_week) = 1 AND count(s.per_day) = 0
                 AND count(*) = count(s.per_week) THEN min(s.per_week) END AS per_week
FROM given g LEFT JOIN schedules s USING (f) GROUP BY g.pharmacy_id;

-- Names are matched once per distinct drug name, not once per prescription: the ATC of the
-- longest name the drug contains as a whole word, and whether the name says local use or line
-- care (a word starting with one of mimic_local_words).
CREATE TEMP TABLE drug_names AS
SELECT n.drug, max_by(d.atc, length(d.name)) AS atc,
       EXISTS (SELECT 1 FROM mimic_local_words w WHERE regexp_matches(lower(n.drug), '\b' || w.word))
           AS local_name
FROM (SELECT DISTINCT drug FROM rx_raw WHERE drug IS NOT NULL) AS n
JOIN mimic_drug_atc AS d ON regexp_matches(lower(n.drug), '\b' || d.name || '\b')
GROUP BY n.drug;

-- A named drug given by a local route or named for local use gets no ATC row (counted). A
-- dose in mg, g or mcg times doses_per_24_hrs is a dose in mg/d; where that is 0 or none,
-- times the schedule's doses a day (mg/d) or a week (mg/wk).
CREATE TEMP TABLE rx AS
WITH dosed AS (
    SELECT r.*, n.atc AS named_atc,
           n.atc IS NOT NULL AND (r.route IN (SELECT route FROM mimic_local_routes) OR n.local_name)
               AS local_use,
           CASE WHEN r.dose >= 0 THEN CASE r.dose_unit
                WHEN 'mg' THEN 1 WHEN 'g' THEN 1000 WHEN 'gm' THEN 1000
                WHEN 'mcg' THEN 0.001 WHEN 'ug' THEN 0.001 END END AS mg_factor,
           CASE WHEN r.per_day > 0 THEN r.per_day ELSE s.per_day END AS per_day_read,
           CASE WHEN coalesce(r.per_day > 0, false) THEN NULL ELSE s.per_week END AS per_week_read
    FROM rx_raw r LEFT JOIN drug_names n USING (drug) LEFT JOIN rx_schedule s USING (pharmacy_id)
), rates AS (
    SELECT *, dose * per_day_read * mg_factor AS mg_a_day, dose * per_week_read * mg_factor AS mg_a_week
    FROM dosed
)
SELECT *, coalesce(mg_a_day, mg_a_week) AS dose_num,
       CASE WHEN mg_a_day IS NOT NULL THEN 'mg/d' WHEN mg_a_week IS NOT NULL THEN 'mg/wk' END AS dose_per,
       NOT coalesce(per_day > 0, false) AND coalesce(mg_a_day, mg_a_week) IS NOT NULL AS dosed_by_schedule
FROM rates;

-- The outpatient record's measures: one row per value the code table maps (a blood
-- pressure "120/80" gives a systolic and a diastolic row); other result names join no code.
CREATE TEMP TABLE omr AS
SELECT to_id(o.subject_id) AS subject_id, to_date(o.chartdate) AS start_date,
       to_text(o.chartdate) IS NOT NULL AS date_given, m.loinc, m.unit,
       to_text(o.result_value) AS value_raw,
       to_num(CASE WHEN m.part = 0 THEN to_text(o.result_value)
                   ELSE split_part(to_text(o.result_value), '/', m.part) END) AS value_num
FROM mimic_omr o LEFT JOIN mimic_omr_codes m ON m.result_name = to_text(o.result_name);

-- Labs (LOINC from the map, else the MIMIC item id), diagnoses dated by their admission,
-- prescriptions by ATC and by NDC, procedures by their chart date, the outpatient record's
-- measures by theirs.
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
FROM mimic_diagnoses_icd d JOIN adm a ON a.hadm_id = to_id(d.hadm_id)
WHERE to_text(d.icd_code) IS NOT NULL AND to_id(d.icd_version) IN (9, 10)
  AND a.admit_date IS NOT NULL
UNION ALL
SELECT subject_id, 'medication', 'ATC', named_atc, dose_num, NULL, dose_per, NULL, NULL,
       start_date, end_date
FROM rx WHERE named_atc IS NOT NULL AND NOT local_use AND start_date IS NOT NULL
UNION ALL
SELECT subject_id, 'medication', 'NDC', ndc, dose_num, NULL, dose_per, NULL, NULL,
       start_date, end_date
FROM rx WHERE ndc IS NOT NULL AND ndc NOT IN ('0', '00000000000') AND start_date IS NOT NULL
UNION ALL
SELECT to_id(subject_id), 'procedure',
       CASE to_id(icd_version) WHEN 9 THEN 'ICD9PCS' WHEN 10 THEN 'ICD10PCS' END,
       upper(to_text(icd_code)), NULL, NULL, NULL, NULL, NULL, to_date(chartdate), NULL
FROM mimic_procedures_icd
WHERE to_text(icd_code) IS NOT NULL AND to_id(icd_version) IN (9, 10)
  AND to_date(chartdate) IS NOT NULL
UNION ALL
SELECT subject_id, 'observation', 'LOINC', loinc, value_num, NULL, unit, NULL, NULL,
       start_date, NULL
FROM omr WHERE loinc IS NOT NULL AND value_num IS NOT NULL AND start_date IS NOT NULL;

-- The extract: a person row per patient, then the events, ordered by patient, domain and
-- date, then by every other column, so that the same files give the same extract.
CREATE TEMP VIEW extract_rows AS
SELECT p.patient_id, p.sex, p.birth_year, NULL AS birth_date, p.index_date,
       'person' AS domain, NULL AS code_system, NULL AS code, NULL AS value_num,
       NULL AS value_text, NULL AS unit, NULL AS ref_low, NULL AS ref_high,
       NULL AS start_date, NULL AS end_date, p.death_date
FROM pat p
UNION ALL
SELECT p.patient_id, p.sex, p.birth_year, NULL, p.index_date, e.domain, e.code_system,
       e.code, e.value_num, e.value_text, e.unit, e.ref_low, e.ref_high, e.start_date,
       e.end_date, p.death_date
FROM events e JOIN pat p USING (subject_id)
ORDER BY 1, 6, 14, 7, 8, 9, 10, 11, 12, 13, 15, 2, 3, 4, 5, 16;

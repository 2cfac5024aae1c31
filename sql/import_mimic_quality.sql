-- The MIMIC-IV import's data-quality summary over the tables of import_mimic.sql: one row,
-- each column one count (never a patient-level value). The counts of rows whose date could
-- not be read are left out of the summary where there are none.
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
    (SELECT count(*) FROM pat WHERE death_date IS NOT NULL) AS "patients with a date of death (dod)",
    (SELECT count(*) FROM labs) AS "lab rows read",
    (SELECT count(*) FROM labs WHERE start_date IS NULL AND NOT date_given)
        AS "lab rows without a charttime (dropped)",
    (SELECT count(*) FROM labs WHERE start_date IS NULL AND date_given)
        AS "labevents rows whose charttime could not be read (dropped)",
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
    (SELECT count(*) FROM mimic_diagnoses_icd d WHERE NOT EXISTS (
        SELECT 1 FROM adm a WHERE a.hadm_id = to_id(d.hadm_id) AND (a.admit_date IS NOT NULL OR a.admit_given)))
        AS "diagnoses without a dated admission (dropped)",
    (SELECT count(*) FROM mimic_diagnoses_icd d
     WHERE EXISTS (SELECT 1 FROM adm a WHERE a.hadm_id = to_id(d.hadm_id)
                   AND a.admit_date IS NULL AND a.admit_given)
       AND NOT EXISTS (SELECT 1 FROM adm a WHERE a.hadm_id = to_id(d.hadm_id) AND a.admit_date IS NOT NULL))
        AS "diagnoses_icd rows whose admission's admittime could not be read (dropped)",
    (SELECT count(*) FROM adm WHERE disch_date IS NULL AND disch_given)
        AS "admissions rows whose dischtime could not be read (not used for index_date)",
    (SELECT count(*) FROM rx) AS "prescriptions read",
    (SELECT count(*) FROM rx WHERE named_atc IS NULL)
        AS "prescriptions whose drug name has no ATC in the importer's table",
    (SELECT count(*) FROM rx WHERE named_atc IS NOT NULL AND local_use)
        AS "prescriptions of a mapped drug for local use (no ATC row)",
    (SELECT count(*) FROM rx WHERE named_atc IS NOT NULL AND NOT local_use AND dose_num IS NULL)
        AS "ATC-mapped prescriptions without a dose in mg (a day or a week)",
    (SELECT count(*) FROM rx WHERE dosed_by_schedule)
        AS "prescriptions dosed by pharmacy's frequency (no doses_per_24_hrs)",
    (SELECT count(*) FROM rx WHERE start_date IS NULL AND NOT start_given)
        AS "prescriptions without a start (dropped)",
    (SELECT count(*) FROM rx WHERE start_date IS NULL AND start_given)
        AS "prescriptions rows whose starttime could not be read (dropped)",
    (SELECT count(*) FROM rx WHERE end_date < start_date) AS "prescriptions ending before they start",
    (SELECT count(*) FROM mimic_procedures_icd WHERE to_text(chartdate) IS NULL)
        AS "procedures without a chartdate (dropped)",
    (SELECT count(*) FROM mimic_procedures_icd
     WHERE to_text(chartdate) IS NOT NULL AND to_date(chartdate) IS NULL)
        AS "procedures_icd rows whose chartdate could not be read (dropped)",
    (SELECT count(*) FROM mimic_omr) AS "omr rows read",
    (SELECT count(*) FROM mimic_omr WHERE to_text(result_name) NOT IN (SELECT result_name FROM mimic_omr_codes))
        AS "omr rows not imported (measures other than weight, height, BMI and office blood pressure)",
    (SELECT count(*) FROM omr WHERE loinc IS NOT NULL AND value_num IS NULL AND value_raw IS NOT NULL)
        AS "omr values that are not a number (dropped)",
    (SELECT count(*) FROM mimic_omr WHERE to_text(result_name) IN (SELECT result_name FROM mimic_omr_codes) AND to_text(chartdate) IS NULL)
        AS "omr rows without a chartdate (dropped)",
    (SELECT count(*) FROM mimic_omr
     WHERE to_text(result_name) IN (SELECT result_name FROM mimic_omr_codes) AND to_text(chartdate) IS NOT NULL AND to_date(chartdate) IS NULL)
        AS "omr rows whose chartdate could not be read (dropped)",
    (SELECT count(*) FROM events WHERE subject_id NOT IN (SELECT subject_id FROM pat))
        AS "rows of subjects not in patients (dropped)",
    (SELECT count(*) FROM events e JOIN pat p USING (subject_id) WHERE e.start_date > p.index_date)
        AS "rows dated after the patient's last discharge (not seen by criteria)"

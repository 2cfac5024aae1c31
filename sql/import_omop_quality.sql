-- The OMOP import's data-quality summary over the tables of import_omop.sql: one row, each
-- column one count (never a patient-level value). "<table> rows read" of a table the export
-- lacks is 0, and the importer leaves it out of the summary; so are the counts of rows whose
-- date could not be read where there are none.
WITH coded AS (SELECT DISTINCT ev_id FROM codes WHERE code IS NOT NULL),
meas AS (
    SELECT e.cid, coalesce(u.code, e.unit_src) AS unit, e.value_num, e.ref_high
    FROM ev e LEFT JOIN voc u ON u.id = e.unit_cid AND e.unit_cid <> 0
    WHERE e.domain = 'lab'
),
units AS (SELECT cid, count(DISTINCT unit) AS n_units, count(*) AS n FROM meas
          WHERE value_num IS NOT NULL AND unit IS NOT NULL GROUP BY cid)
SELECT
    (SELECT count(*) FROM pers) AS "persons",
    (SELECT count(*) FROM pers WHERE sex = 'U') AS "persons without F/M gender",
    (SELECT count(*) FROM pers WHERE birth_year IS NULL AND NOT y_given) AS "persons without year of birth",
    (SELECT count(*) FROM pers WHERE birth_year IS NULL AND y_given)
        AS "persons whose year of birth could not be read",
    (SELECT count(*) FROM idx WHERE index_date IS NOT NULL) AS "persons with an index_date",
    (SELECT count(*) FROM deaths d JOIN pers p USING (person_id) WHERE d.death_date IS NOT NULL)
        AS "persons with a date of death (death)",
    (SELECT count(*) FROM omop_condition_occurrence) AS "condition_occurrence rows read",
    (SELECT count(*) FROM omop_measurement) AS "measurement rows read",
    (SELECT count(*) FROM omop_drug_exposure) AS "drug_exposure rows read",
    (SELECT count(*) FROM omop_procedure_occurrence) AS "procedure_occurrence rows read",
    (SELECT count(*) FROM omop_observation) AS "observation rows read",
    (SELECT count(*) FROM ev_raw WHERE start_date IS NULL AND NOT date_given)
        AS "events without a date (dropped)",
    (SELECT count(*) FROM ev_raw WHERE start_date IS NULL AND date_given AND domain = 'diagnosis')
        AS "condition_occurrence rows whose date could not be read (dropped)",
    (SELECT count(*) FROM ev_raw WHERE start_date IS NULL AND date_given AND domain = 'lab')
        AS "measurement rows whose date could not be read (dropped)",
    (SELECT count(*) FROM ev_raw WHERE start_date IS NULL AND date_given AND domain = 'medication')
        AS "drug_exposure rows whose date could not be read (dropped)",
    (SELECT count(*) FROM ev_raw WHERE start_date IS NULL AND date_given AND domain = 'procedure')
        AS "procedure_occurrence rows whose date could not be read (dropped)",
    (SELECT count(*) FROM ev_raw WHERE start_date IS NULL AND date_given AND domain = 'observation')
        AS "observation rows whose date could not be read (dropped)",
    (SELECT count(*) FROM ev_raw WHERE start_date IS NOT NULL
        AND person_id NOT IN (SELECT person_id FROM pers))
        AS "events of persons not in person (dropped)",
    (SELECT count(*) FROM ev WHERE ev_id NOT IN (SELECT ev_id FROM coded))
        AS "events without any code (concept 0, no source concept; dropped)",
    (SELECT count(*) FROM ev WHERE cid <> 0 AND cid NOT IN (SELECT id FROM voc))
        AS "events whose concept_id is not in the concept table",
    (SELECT count(*) FROM measurement_bounds WHERE bound IS NOT NULL)
        AS "measurement results with an operator (<, <=, >, >=), written as bounds (`<20`)",
    (SELECT count(*) FROM meas WHERE value_num IS NOT NULL AND unit IS NULL)
        AS "measurement results without a unit",
    (SELECT count(*) FROM meas WHERE value_num IS NOT NULL AND ref_high IS NULL)
        AS "measurement results without range_high (ULN)",
    (SELECT count(*) FROM units WHERE n_units > 1)
        AS "measurement concepts reported in two or more units",
    (SELECT coalesce(sum(n), 0) FROM units WHERE n_units > 1)
        AS "measurement results of concepts in two or more units",
    (SELECT count(*) FROM codes WHERE how = 'icd10cm_from_standard')
        AS "ICD10CM rows added from standard conditions (vocabulary)",
    (SELECT count(*) FROM ev WHERE domain = 'diagnosis'
        AND ev_id NOT IN (SELECT ev_id FROM codes WHERE code_system = 'ICD10CM'))
        AS "condition events without an ICD10CM code",
    (SELECT count(DISTINCT ev_id) FROM codes WHERE how = 'atc_from_vocabulary')
        AS "drug exposures with an ATC class (vocabulary)",
    (SELECT count(*) FROM ev WHERE domain = 'medication'
        AND ev_id NOT IN (SELECT ev_id FROM codes WHERE how = 'atc_from_vocabulary'))
        AS "drug exposures without an ATC class",
    (SELECT count(*) FROM ev WHERE domain = 'medication' AND ev_id NOT IN (
        SELECT ev_id FROM drug_dose WHERE mg_per_day IS NOT NULL))
        AS "drug exposures without a daily dose (no single-ingredient strength in mg, quantity or days)",
    (SELECT count(*) FROM drug_dose WHERE mg_per_day IS NOT NULL AND own_days)
        AS "drug exposures dosed over their start and end dates (no days_supply)"

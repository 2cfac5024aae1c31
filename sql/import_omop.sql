-- OMOP CDM 5.3 / 5.4 -> extract rows (the view `extract_rows`); the mapping is described in
-- feasibility/importers/omop.py and docs/importing.md.
--
-- Reads the views `omop_<table>`, which the importer shapes to every column this file uses
-- (NULL where a site's export lacks an optional column; no rows where it lacks the table),
-- and the one-row view `omop_options(has_concept, index_observation_end)`. Values are read
-- through the macros of import_macros.sql: exports keep numbers, ids and dates as text.

-- The measurements, each with the sign of its bound: a number with an operator other than `=`
-- is a bound (`<20`, below the limit of detection), which the extract writes as text for the
-- engine to read as one, where the number alone would read as the value itself. Operators
-- (Meas Value Operator concepts): 4171756 <, 4171754 <=, 4172704 >, 4171755 >=.
CREATE TEMP VIEW measurement_bounds AS
SELECT *, CASE WHEN to_num(value_as_number) IS NOT NULL THEN
              CASE to_id(operator_concept_id)
                  WHEN 4171756 THEN '<' WHEN 4171754 THEN '<='
                  WHEN 4172704 THEN '>' WHEN 4171755 THEN '>=' END END AS bound
FROM omop_measurement;

-- Every event of the five clinical tables, before coding. `date_given`: the row has a date,
-- readable or not (an event dropped for an unreadable date is counted apart from one without).
CREATE TEMP TABLE ev_raw AS
SELECT to_id(person_id) AS person_id, 'diagnosis' AS domain,
       to_id(condition_concept_id) AS cid, to_id(condition_source_concept_id) AS scid,
       coalesce(to_date(condition_start_date), to_date(condition_start_datetime)) AS start_date,
       to_date(condition_end_date) AS end_date,
       CAST(NULL AS DOUBLE) AS value_num, CAST(NULL AS BIGINT) AS value_cid,
       CAST(NULL AS VARCHAR) AS value_str, CAST(NULL AS BIGINT) AS unit_cid,
       CAST(NULL AS VARCHAR) AS unit_src, CAST(NULL AS DOUBLE) AS ref_low,
       CAST(NULL AS DOUBLE) AS ref_high, CAST(NULL AS DOUBLE) AS quantity,
       CAST(NULL AS DOUBLE) AS days_supply,
       coalesce(to_text(condition_start_date), to_text(condition_start_datetime)) IS NOT NULL
           AS date_given
FROM omop_condition_occurrence
UNION ALL
SELECT to_id(person_id), 'lab', to_id(measurement_concept_id), to_id(measurement_source_concept_id),
       coalesce(to_date(measurement_date), to_date(measurement_datetime)), NULL,
       CASE WHEN bound IS NULL THEN to_num(value_as_number) END,
       CASE WHEN bound IS NULL THEN to_id(value_as_concept_id) END,
       CASE WHEN bound IS NULL THEN to_text(value_source_value)
            ELSE bound || CAST(to_num(value_as_number) AS VARCHAR) END,
       to_id(unit_concept_id), to_text(unit_source_value),
       to_num(range_low), to_num(range_high), NULL, NULL,
       coalesce(to_text(measurement_date), to_text(measurement_datetime)) IS NOT NULL
FROM measurement_bounds
UNION ALL
SELECT to_id(person_id), 'medication', to_id(drug_concept_id), to_id(drug_source_concept_id),
       coalesce(to_date(drug_exposure_start_date), to_date(drug_exposure_start_datetime)),
       to_date(drug_exposure_end_date),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, to_num(quantity), to_num(days_supply),
       coalesce(to_text(drug_exposure_start_date), to_text(drug_exposure_start_datetime)) IS NOT NULL
FROM omop_drug_exposure
UNION ALL
SELECT to_id(person_id), 'procedure', to_id(procedure_concept_id), to_id(procedure_source_concept_id),
       coalesce(to_date(procedure_date), to_date(procedure_datetime)), to_date(procedure_end_date),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       coalesce(to_text(procedure_date), to_text(procedure_datetime)) IS NOT NULL
FROM omop_procedure_occurrence
UNION ALL
SELECT to_id(person_id), 'observation', to_id(observation_concept_id),
       to_id(observation_source_concept_id),
       coalesce(to_date(observation_date), to_date(observation_datetime)), NULL,
       to_num(value_as_number), to_id(value_as_concept_id), to_text(value_as_string),
       to_id(unit_concept_id), to_text(unit_source_value), NULL, NULL, NULL, NULL,
       coalesce(to_text(observation_date), to_text(observation_datetime)) IS NOT NULL
FROM omop_observation;

-- The events kept: dated, of a known person.
CREATE TEMP TABLE ev AS
SELECT row_number() OVER () AS ev_id, * FROM ev_raw
WHERE start_date IS NOT NULL AND person_id IN (SELECT to_id(person_id) FROM omop_person);

CREATE TEMP VIEW voc_all AS
SELECT to_id(concept_id) AS id, to_text(vocabulary_id) AS vocab, to_text(concept_code) AS code,
       to_text(concept_name) AS name, to_text(concept_class_id) AS cls
FROM omop_concept;

-- The vocabulary is large: only the concepts the events use are kept.
CREATE TEMP TABLE voc AS
SELECT * FROM voc_all
WHERE id IN (
    SELECT id FROM (
        SELECT cid AS id FROM ev UNION ALL SELECT scid FROM ev
        UNION ALL SELECT value_cid FROM ev UNION ALL SELECT unit_cid FROM ev)
    WHERE id IS NOT NULL AND id <> 0);

-- Relationships in force (an export without invalid_reason has only valid ones).
CREATE TEMP VIEW relationship AS
SELECT to_id(concept_id_1) AS id_1, to_id(concept_id_2) AS id_2, relationship_id
FROM omop_concept_relationship
WHERE to_text(invalid_reason) IS NULL;

-- A standard condition gets the ICD10CM code that maps to it alone (`Maps to`, one target).
CREATE TEMP TABLE snomed_icd AS
WITH maps AS (
    SELECT id_1 AS src_id, id_2 AS std_id FROM relationship WHERE relationship_id = 'Maps to'
), icd AS (
    SELECT id, code FROM voc_all WHERE vocab = 'ICD10CM'
), sole AS (
    SELECT src_id FROM maps WHERE src_id IN (SELECT id FROM icd)
    GROUP BY src_id HAVING count(DISTINCT std_id) = 1
)
SELECT DISTINCT m.std_id, icd.code
FROM maps m JOIN sole USING (src_id) JOIN icd ON icd.id = m.src_id
WHERE m.std_id IN (SELECT cid FROM ev WHERE domain = 'diagnosis');

CREATE TEMP TABLE drug_ids AS
SELECT DISTINCT cid AS id FROM ev WHERE domain = 'medication' AND cid IS NOT NULL AND cid <> 0;

-- A drug's ATC 5th-level classes: through concept_ancestor, else through concept_relationship
-- from the drug or its ingredients (`RxNorm has ing`).
CREATE TEMP TABLE drug_atc AS
WITH atc AS (
    SELECT id, code FROM voc_all
    WHERE vocab = 'ATC' AND (cls = 'ATC 5th' OR (cls IS NULL AND length(code) = 7))
), anc AS (
    SELECT DISTINCT to_id(a.descendant_concept_id) AS drug_id, atc.code
    FROM omop_concept_ancestor a JOIN atc ON atc.id = to_id(a.ancestor_concept_id)
    WHERE to_id(a.descendant_concept_id) IN (SELECT id FROM drug_ids)
), parts AS (
    SELECT id AS drug_id, id AS part FROM drug_ids
    UNION
    SELECT id_1, id_2 FROM relationship
    WHERE relationship_id = 'RxNorm has ing' AND id_1 IN (SELECT id FROM drug_ids)
), rel AS (
    SELECT parts.drug_id, atc.code
    FROM parts JOIN relationship r ON r.id_1 = parts.part JOIN atc ON atc.id = r.id_2
)
SELECT * FROM anc
UNION
SELECT * FROM rel WHERE drug_id NOT IN (SELECT drug_id FROM anc);

-- Single-ingredient strength in mg, by the drug_strength patterns that DARWIN EU's
-- DrugUtilisation reads a daily dose from (Burkard et al., Pharmacoepidemiol Drug Saf 2024,
-- doi:10.1002/pds.5809): an amount per unit dispensed (a tablet: `mg`); a numerator per unit
-- dispensed, over a volume, a mass, an actuation or an area (a solution dispensed in mL, or a
-- quantified pack: `mg`); or a numerator per hour (a patch: `mg_a_day`, whatever the quantity).
-- The UCUM concept of the amount or numerator unit gives the factor (`in_mg`); the denominators
-- are 8587 mL, 8519 L, 8576 mg, 45744809 actuation, 9483 cm2 and 8505 hour.
CREATE OR REPLACE TEMP MACRO in_mg(x, unit_id) AS to_num(x) * CASE to_id(unit_id)
    WHEN 8576 THEN 1.0 WHEN 8504 THEN 1000.0 WHEN 9655 THEN 0.001 END;  -- mg, g, ug
CREATE TEMP TABLE strength AS
WITH part AS (
    SELECT to_id(drug_concept_id) AS drug_id, to_num(amount_value) AS amount,
           in_mg(amount_value, amount_unit_concept_id) AS amount_mg,
           in_mg(numerator_value, numerator_unit_concept_id) AS numerator_mg,
           to_num(denominator_value) AS denominator,
           to_id(denominator_unit_concept_id) AS per
    FROM omop_drug_strength
    WHERE to_id(drug_concept_id) IN (SELECT id FROM drug_ids)
)
SELECT drug_id, count(*) AS n_parts,
       any_value(CASE WHEN amount IS NOT NULL THEN amount_mg
                      WHEN per IN (8587, 8519, 8576, 45744809, 9483) THEN numerator_mg END) AS mg,
       any_value(CASE WHEN amount IS NULL AND per = 8505 THEN
                     CASE WHEN denominator > 24 THEN numerator_mg * 24 / denominator
                          WHEN denominator > 0 THEN numerator_mg
                          WHEN denominator IS NULL THEN numerator_mg * 24 END END) AS mg_a_day
FROM part
GROUP BY 1;

-- Each drug exposure's daily dose in mg (single-ingredient drugs only): a dose a day from an
-- hourly strength; else the quantity dispensed times the strength, over the days supplied, or,
-- where days_supply is missing or 0 (an administration in hospital), over the exposure's own
-- days from start to end date. `own_days`: dosed over those days.
CREATE TEMP TABLE drug_dose AS
WITH days AS (
    SELECT ev_id, cid, quantity,
           CASE WHEN days_supply > 0 THEN days_supply
                WHEN end_date >= start_date THEN end_date - start_date + 1 END AS days,
           NOT coalesce(days_supply > 0, false) AS own_days
    FROM ev WHERE domain = 'medication'
)
SELECT d.ev_id,
       CASE WHEN s.mg_a_day > 0 THEN s.mg_a_day
            WHEN s.mg > 0 AND d.quantity > 0 AND d.days > 0 THEN s.mg * d.quantity / d.days
       END AS mg_per_day,
       s.mg_a_day IS NULL AND d.own_days AS own_days
FROM days d JOIN strength s ON s.drug_id = d.cid AND s.n_parts = 1;

-- Each event once per code: its standard concept, its source concept when different, the
-- ICD10CM code of a standard condition recorded without one, and the drug's ATC classes.
-- Without a concept table, the concept ids themselves are the codes.
CREATE TEMP TABLE codes AS
WITH named AS (
    SELECT e.ev_id,
           CASE WHEN v.vocab = 'ICD9Proc' THEN 'ICD9PCS' ELSE upper(replace(v.vocab, ' ', '_')) END
               AS code_system,
           v.code, 'standard' AS how
    FROM ev e JOIN voc v ON v.id = e.cid
    UNION ALL
    SELECT e.ev_id,
           CASE WHEN v.vocab = 'ICD9Proc' THEN 'ICD9PCS' ELSE upper(replace(v.vocab, ' ', '_')) END,
           v.code, 'source'
    FROM ev e JOIN voc v ON v.id = e.scid
    WHERE e.scid IS DISTINCT FROM e.cid
), bare AS (
    SELECT ev_id, 'OMOP_CONCEPT_ID' AS code_system, CAST(cid AS VARCHAR) AS code, 'standard' AS how
    FROM ev WHERE cid <> 0
    UNION ALL
    SELECT ev_id, 'OMOP_CONCEPT_ID', CAST(scid AS VARCHAR), 'source'
    FROM ev WHERE scid <> 0 AND scid IS DISTINCT FROM cid
), base AS (
    SELECT * FROM named WHERE (SELECT has_concept FROM omop_options)
    UNION ALL
    SELECT * FROM bare WHERE NOT (SELECT has_concept FROM omop_options)
)
SELECT * FROM base
UNION ALL
SELECT e.ev_id, 'ICD10CM', m.code, 'icd10cm_from_standard'
FROM ev e JOIN snomed_icd m ON m.std_id = e.cid
WHERE e.domain = 'diagnosis'
  AND e.ev_id NOT IN (SELECT ev_id FROM base WHERE code_system = 'ICD10CM')
UNION ALL
SELECT e.ev_id, 'ATC', a.code, 'atc_from_vocabulary'
FROM ev e JOIN drug_atc a ON a.drug_id = e.cid
WHERE e.domain = 'medication';

-- Persons: sex from gender_concept_id (8507 M, 8532 F), else the source value's F/M, else U;
-- the birth date when month and day (or birth_datetime, in the birth year) are known.
CREATE TEMP TABLE pers AS
WITH p AS (
    SELECT to_id(person_id) AS person_id, to_id(gender_concept_id) AS g,
           upper(left(to_text(gender_source_value), 1)) AS gs,
           CAST(to_id(year_of_birth) AS INTEGER) AS y, to_text(year_of_birth) IS NOT NULL AS y_given,
           to_id(month_of_birth) AS m, to_id(day_of_birth) AS d, to_date(birth_datetime) AS bdt
    FROM omop_person WHERE to_id(person_id) IS NOT NULL
)
SELECT person_id, CAST(person_id AS VARCHAR) AS patient_id, y_given,
       CASE WHEN g = 8507 THEN 'M' WHEN g = 8532 THEN 'F'
            WHEN gs IN ('F', 'M') THEN gs ELSE 'U' END AS sex,
       y AS birth_year,
       coalesce(TRY_CAST(printf('%04d-%02d-%02d', y, m, d) AS DATE),
                CASE WHEN year(bdt) = y THEN bdt END) AS birth_date
FROM p;

-- Each person's date of death (the earliest, where the table lists two).
CREATE TEMP TABLE deaths AS
SELECT to_id(person_id) AS person_id,
       min(coalesce(to_date(death_date), to_date(death_datetime))) AS death_date
FROM omop_death
GROUP BY 1;

-- With --index-date observation-end: the end of each person's last observation period.
CREATE TEMP TABLE idx AS
SELECT to_id(person_id) AS person_id, max(to_date(observation_period_end_date)) AS index_date
FROM omop_observation_period
WHERE (SELECT index_observation_end FROM omop_options)
GROUP BY 1;

-- The extract: a person row per person, then each event once per code. A drug's daily dose
-- (mg/d) is `drug_dose`'s; a drug without an end date ends days_supply - 1 days after its
-- start. Rows are ordered by patient, domain and date, then by every other column, so that the
-- same database gives the same file.
CREATE TEMP VIEW extract_rows AS
WITH people AS (
    SELECT p.*, i.index_date, dth.death_date
    FROM pers p LEFT JOIN idx i USING (person_id) LEFT JOIN deaths dth USING (person_id)
), rows AS (
    SELECT DISTINCT e.ev_id, k.code_system, k.code FROM codes k JOIN ev e USING (ev_id)
    WHERE k.code IS NOT NULL AND k.code_system IS NOT NULL
)
SELECT p.patient_id, p.sex, p.birth_year, p.birth_date, p.index_date, 'person' AS domain,
       NULL AS code_system, NULL AS code, NULL AS value_num, NULL AS value_text,
       NULL AS unit, NULL AS ref_low, NULL AS ref_high, NULL AS start_date, NULL AS end_date,
       p.death_date
FROM people p
UNION ALL
SELECT p.patient_id, p.sex, p.birth_year, p.birth_date, p.index_date, e.domain,
       r.code_system, r.code,
       CASE WHEN e.domain = 'medication' THEN d.mg_per_day ELSE e.value_num END,
       CASE WHEN e.value_num IS NULL THEN coalesce(vv.name, e.value_str) END,
       CASE WHEN e.domain = 'medication' THEN
                CASE WHEN d.mg_per_day IS NOT NULL THEN 'mg/d' END
            ELSE coalesce(u.code, e.unit_src) END,
       e.ref_low, e.ref_high, e.start_date,
       CASE WHEN e.end_date IS NOT NULL THEN e.end_date
            WHEN e.domain = 'medication' AND e.days_supply >= 1
            THEN CAST(e.start_date + CAST(e.days_supply - 1 AS INTEGER) AS DATE) END,
       p.death_date
FROM rows r JOIN ev e USING (ev_id) JOIN people p USING (person_id)
LEFT JOIN voc vv ON vv.id = e.value_cid AND e.value_cid <> 0
LEFT JOIN voc u ON u.id = e.unit_cid AND e.unit_cid <> 0
LEFT JOIN drug_dose d ON d.ev_id = e.ev_id
ORDER BY 1, 6, 14, 7, 8, 9, 10, 11, 12, 13, 15, 2, 3, 4, 5, 16;

-- The extract's distinct (code system, code, unit) triples with their row counts and last
-- dates. The code map is built from these in Python, so concept patterns, exclusions and
-- unit spellings are resolved once per distinct code, not once per row. Person rows
-- (no code) form one group, which still counts their rows and dates.
SELECT
    code_system,
    code,
    unit,
    count(*) AS n_rows,
    max(start_date) AS last_date,
    count(*) FILTER (WHERE patient_id IS NULL) AS null_patient_rows
FROM events
GROUP BY code_system, code, unit

-- The extract's distinct (code system, code, unit) triples with their row counts. The code
-- map is built from these in Python, so concept patterns, exclusions and unit spellings are
-- resolved once per distinct code, not once per row. Person rows (no code) form one group.
SELECT
    code_system,
    code,
    unit,
    count(*) AS n_rows
FROM events
GROUP BY code_system, code, unit

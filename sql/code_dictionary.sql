-- The extract's distinct (code system, code, unit) triples with their row counts. The code
-- map is built from these in Python, so concept patterns, exclusions and unit spellings are
-- resolved once per distinct code, not once per row. Person rows (no code) form one group.
-- A unit matters only to a row with a number: the rows of a unit a concept does not know are
-- counted among those (a text result without a unit is no unit problem). The engine adds
-- the counts of texts written as bounds (`<20`, `<1:80`), read with the results pass's own
-- patterns (compile/pipeline.py, `code_dictionary`): a bound is a number in its row's unit.
SELECT
    code_system,
    code,
    unit,
    count(*) AS n_rows,
    count(value_num) AS n_numbers
FROM events
GROUP BY code_system, code, unit

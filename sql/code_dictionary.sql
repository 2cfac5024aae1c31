-- The extract's distinct (code system, code, unit) triples with their row counts. The code
-- map is built from these in Python, so concept patterns, exclusions and unit spellings are
-- resolved once per distinct code, not once per row. Person rows (no code) form one group.
-- A unit matters only to a row with a number: the rows of a unit a concept does not know are
-- counted among those (a text result without a unit is no unit problem). A text with no
-- number that holds `<` or `>` may be a number written as a bound (`<20`): the results pass
-- reads those only for the concepts whose rows hold one (a plain search, not the patterns).
SELECT
    code_system,
    code,
    unit,
    count(*) AS n_rows,
    count(value_num) AS n_numbers,
    count(CASE WHEN value_num IS NULL AND (strpos(value_text, '<') > 0 OR strpos(value_text, '>') > 0) THEN 1 END)
        AS n_signs
FROM events
GROUP BY code_system, code, unit

-- The extract's distinct (code system, code, unit) triples with their row counts. The code
-- map is built from these in Python, so concept patterns, exclusions and unit spellings are
-- resolved once per distinct code, not once per row. Person rows (no code) form one group.
-- A unit matters only to a row with a number: the rows of a unit a concept does not know are
-- counted among those (a text result without a unit is no unit problem). A text with no
-- number that starts with `<`, `>`, `=`, `≤` or `≥` (after blanks) may be a number written as a
-- bound (`<20`, `≥1.035`): the results pass reads those only for the concepts whose rows hold
-- one (a test of the first character, not the patterns; most rows have no text at all).
SELECT
    code_system,
    code,
    unit,
    count(*) AS n_rows,
    count(value_num) AS n_numbers,
    count(
        CASE
            WHEN value_text IS NOT NULL
                AND value_num IS NULL
                AND substr(ltrim(value_text, ' ' || chr(9)), 1, 1) IN ('<', '>', '=', '≤', '≥')
                THEN 1
        END
    ) AS n_signs
FROM events
GROUP BY code_system, code, unit

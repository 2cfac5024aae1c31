-- feasibility: compiled SQL for SMALL (duckdb)
-- Input: a table or view `events` with the extract contract's columns.
-- Thresholds on computed figures (results, doses, totals, derived measures) are moved
-- out by 1e-09 (relative), so a figure equal to one but for binary rounding
-- meets it: `<= 3.000000003` is `at most 3` (docs/criteria-language.md).

-- 1. sites: the distinct sites, numbered in sort order
CREATE TABLE sites AS
/* The extract's sites, numbered in sort order. The demographics pass aggregates each row's */
/* site as this number: MIN and MAX of the site strings cost a third of that pass, and the */
/* smallest number is still the first site in sort order. */
SELECT
  site_id,
  CAST(ROW_NUMBER() OVER (ORDER BY site_id) - 1 AS INT) AS site_rank
FROM (
  SELECT DISTINCT
    site_id
  FROM events
) AS s;

-- 2. demographics: every row once per patient: rows, site, sex, birth, index date, dates seen
CREATE TABLE demographics AS
SELECT
  "e"."patient_id" AS patient_id,
  COUNT(*) AS n_rows,
  MIN("s"."site_rank") AS site_lo,
  MAX("s"."site_rank") AS site_hi,
  MIN(
    CASE
      WHEN "e"."sex" IN ('F', 'f')
      THEN 1
      WHEN "e"."sex" IN ('M', 'm')
      THEN 2
      WHEN "e"."sex" IN ('U', 'u')
      THEN 3
      WHEN "e"."sex" IS NULL
      THEN NULL
      ELSE 4
    END
  ) AS sex_lo,
  MAX(
    CASE
      WHEN "e"."sex" IN ('F', 'f')
      THEN 1
      WHEN "e"."sex" IN ('M', 'm')
      THEN 2
      WHEN "e"."sex" IN ('U', 'u')
      THEN 3
      WHEN "e"."sex" IS NULL
      THEN NULL
      ELSE 4
    END
  ) AS sex_hi,
  MIN("e"."birth_year") AS by_lo,
  MAX("e"."birth_year") AS by_hi,
  MIN("e"."birth_date") AS bd_lo,
  MAX("e"."birth_date") AS bd_hi,
  MIN("e"."death_date") AS death_date,
  MIN("e"."start_date") AS first_date,
  MAX(
    CASE WHEN "e"."start_date" <= CAST('2025-01-01' AS DATE) THEN "e"."start_date" END
  ) AS last_seen,
  COUNT(CASE WHEN "e"."start_date" > CAST('2025-01-01' AS DATE) THEN 1 END) AS n_future
FROM events AS e
JOIN sites AS s
  ON "s"."site_id" = "e"."site_id"
GROUP BY
  "e"."patient_id";

-- 3. code dictionary: the distinct (code system, code, unit) triples
/* The extract's distinct (code system, code, unit) triples with their row counts. The code */
/* map is built from these in Python, so concept patterns, exclusions and unit spellings are */
/* resolved once per distinct code, not once per row. Person rows (no code) form one group. */
/* A unit matters only to a row with a number: the rows of a unit a concept does not know are */
/* counted among those (a text result without a unit is no unit problem). The engine adds */
/* the counts of texts written as bounds (`<20`, `<1:80`), read with the results pass's own */
/* patterns (compile/pipeline.py, `code_dictionary`): a bound is a number in its row's unit. */
SELECT
  code_system,
  code,
  unit,
  COUNT(*) AS n_rows,
  COUNT(value_num) AS n_numbers,
  COUNT(
    CASE
      WHEN (
        (
          NOT "value_text" IS NULL
        )
        AND (
          "value_num" IS NULL
        )
        AND (
          SUBSTRING("value_text", 1, 1) IN ('<', '=', '>', 'G', 'L', 'g', 'l', '≤', '≥', ' ', '	')
        )
      )
      AND (
        NOT CASE
          WHEN (
            NOT "value_text" IS NULL
          )
          AND (
            "value_num" IS NULL
          )
          AND (
            SUBSTRING("value_text", 1, 1) IN ('<', '=', '>', 'G', 'L', 'g', 'l', '≤', '≥', ' ', '	')
          )
          THEN CASE
            WHEN REGEXP_MATCHES(
              TRIM(LOWER("value_text"), ' 	.'),
              '^(?:(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*[ \t,;:(](?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)\)?|(?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)[ \t]*[,;:(]?[ \t]*(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*)\z'
            )
            THEN NULL
            ELSE TRY_CAST(REPLACE(
              REGEXP_EXTRACT(
                "value_text",
                '^[ \t]*(?:greater than or equal to|GREATER THAN OR EQUAL TO|Greater than or equal to|Greater Than Or Equal To|less than or equal to|LESS THAN OR EQUAL TO|Less than or equal to|Less Than Or Equal To|greater than|GREATER THAN|Greater than|Greater Than|less than|LESS THAN|Less than|Less Than|<=|=<|>=|=>|<|≤|≥|>)[ \t]*([0-9]+(?:\.[0-9]+|,[0-9]{1,2}|,[0-9]{4,})?(?:[eE][+-]?[0-9]+)?)(\.[ \t]*|(?:[ \t]|[A-Za-z%µμ])[\s\S]*)?\z',
                1
              ),
              ',',
              '.'
            ) AS DOUBLE)
          END
        END IS NULL
      )
      THEN 1
    END
  ) AS n_bounds,
  COUNT(
    CASE
      WHEN (
        (
          NOT "value_text" IS NULL
        )
        AND (
          "value_num" IS NULL
        )
        AND (
          SUBSTRING("value_text", 1, 1) IN ('<', '=', '>', 'G', 'L', 'g', 'l', '≤', '≥', ' ', '	')
        )
      )
      AND (
        NOT COALESCE(
          CASE
            WHEN (
              NOT "value_text" IS NULL
            )
            AND (
              "value_num" IS NULL
            )
            AND (
              SUBSTRING("value_text", 1, 1) IN ('<', '=', '>', 'G', 'L', 'g', 'l', '≤', '≥', ' ', '	')
            )
            THEN CASE
              WHEN REGEXP_MATCHES(
                TRIM(LOWER("value_text"), ' 	.'),
                '^(?:(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*[ \t,;:(](?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)\)?|(?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)[ \t]*[,;:(]?[ \t]*(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*)\z'
              )
              THEN NULL
              ELSE TRY_CAST(REPLACE(
                REGEXP_EXTRACT(
                  "value_text",
                  '^[ \t]*(?:greater than or equal to|GREATER THAN OR EQUAL TO|Greater than or equal to|Greater Than Or Equal To|less than or equal to|LESS THAN OR EQUAL TO|Less than or equal to|Less Than Or Equal To|greater than|GREATER THAN|Greater than|Greater Than|less than|LESS THAN|Less than|Less Than|<=|=<|>=|=>|<|≤|≥|>)[ \t]*([0-9]+(?:\.[0-9]+|,[0-9]{1,2}|,[0-9]{4,})?(?:[eE][+-]?[0-9]+)?)(\.[ \t]*|(?:[ \t]|[A-Za-z%µμ])[\s\S]*)?\z',
                  1
                ),
                ',',
                '.'
              ) AS DOUBLE)
            END
          END,
          CASE
            WHEN (
              NOT "value_text" IS NULL
            )
            AND (
              "value_num" IS NULL
            )
            AND (
              SUBSTRING("value_text", 1, 1) IN ('<', '=', '>', 'G', 'L', 'g', 'l', '≤', '≥', ' ', '	')
            )
            THEN CASE
              WHEN REGEXP_MATCHES(
                TRIM(LOWER("value_text"), ' 	.'),
                '^(?:(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*[ \t,;:(](?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)\)?|(?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)[ \t]*[,;:(]?[ \t]*(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*)\z'
              )
              THEN NULL
              ELSE TRY_CAST(REGEXP_EXTRACT(
                "value_text",
                '^[ \t]*(?:greater than or equal to|GREATER THAN OR EQUAL TO|Greater than or equal to|Greater Than Or Equal To|less than or equal to|LESS THAN OR EQUAL TO|Less than or equal to|Less Than Or Equal To|greater than|GREATER THAN|Greater than|Greater Than|less than|LESS THAN|Less than|Less Than|<=|=<|>=|=>|<|≤|≥|>)[ \t]*1[ \t]*[:/][ \t]*([0-9]+)(\.[ \t]*|[ \t][\s\S]*)?\z',
                1
              ) AS DOUBLE)
            END
          END
        ) IS NULL
      )
      THEN 1
    END
  ) AS n_written
FROM events
GROUP BY
  code_system,
  code,
  unit;

-- 4. code_map(code_system, code, unit, concept_id, factor, low, high, uln) is built
--    by the engine from (3) and the concept library (prefix patterns, exclusions,
--    unit conversions, dose factors, plausible ranges). Concept ids: 0 = sle, 1 = alt, 2 = stroke

-- 5. patient_records: per patient and concept, the history atoms' bits from the dates of the records
CREATE TABLE patient_records AS
SELECT
  "patient_id",
  CASE
    WHEN "concept_id" = 0
    THEN CAST(CAST(0 AS BIGINT) + COALESCE(
      CAST((
        CASE WHEN NOT "last_date" IS NULL THEN TRUE ELSE FALSE END
      ) AS BIGINT) * 2 + 1,
      2
    ) AS BIGINT)
    WHEN "concept_id" = 2
    THEN CAST(CAST(0 AS BIGINT) + COALESCE(
      CAST((
        CASE
          WHEN "last_date" >= (
            CAST('2025-01-01' AS DATE) - INTERVAL 6 MONTH
          )
          THEN TRUE
          ELSE FALSE
        END
      ) AS BIGINT) * 8 + 4,
      8
    ) AS BIGINT)
    ELSE CAST(0 AS BIGINT)
  END AS a0
FROM (
  SELECT
    "e"."patient_id" AS patient_id,
    "m"."concept_id" AS concept_id,
    MAX("e"."start_date") AS last_date
  FROM events AS e
  INNER JOIN code_map AS m
    ON (
      "m"."code_system" = "e"."code_system"
    )
    AND (
      "m"."code" = "e"."code"
    )
    AND (
      "m"."unit" = COALESCE("e"."unit", '')
    )
  WHERE
    (
      "e"."code" IN (
        SELECT
          "code"
        FROM code_map
      )
    )
    AND (
      "m"."concept_id" IN (0, 2)
    )
    AND (
      (
        "e"."start_date" <= CAST('2025-01-01' AS DATE)
      )
      AND (
        (
          "m"."concept_id" IN (0)
        )
        OR (
          (
            "m"."concept_id" IN (2)
          )
          AND (
            "e"."start_date" >= (
              CAST('2025-01-01' AS DATE) - INTERVAL 6 MONTH
            )
          )
        )
      )
    )
  GROUP BY
    "e"."patient_id",
    "m"."concept_id"
) AS f;

-- 6. patient_results: per patient, the measurement atoms' bits from each concept's latest result, its data quality
CREATE TABLE patient_results AS
SELECT
  "patient_id",
  BIT_OR("a0") AS a0,
  ARRAY_AGG(
    {'concept_id': "concept_id", 'implausible': "n_implausible", 'unread': "n_unread", 'default_uln': (
      "concept_id" IN (1)
    ) AND "latest_uln_default"}
  ) FILTER(WHERE
    (
      "n_implausible" > 0
    )
    OR (
      "n_unread" > 0
    )
    OR (
      (
        "concept_id" IN (1)
      ) AND "latest_uln_default"
    )) AS quality
FROM (
  SELECT
    "patient_id",
    "concept_id",
    "n_implausible",
    "n_unread",
    "latest_uln_default",
    CASE
      WHEN "concept_id" = 1
      THEN CAST(CAST(0 AS BIGINT) + COALESCE(
        CAST((
          CASE
            WHEN "latest_d" >= CAST('2025-01-01' AS DATE) - 90
            THEN CASE
              WHEN NOT "latest_uln" IS NULL
              THEN "latest_uln" <= 3.000000003
              WHEN (
                "latest_uln_way" IN (0, 1)
              ) AND (
                "latest_uln_written" <= 3.000000003
              )
              THEN TRUE
              WHEN (
                "latest_uln_way" = 2
              ) AND (
                "latest_uln_written" > 3.000000003
              )
              THEN FALSE
              WHEN (
                "latest_uln_way" = 3
              ) AND (
                "latest_uln_written" >= 2.999999997
              )
              THEN FALSE
            END
          END
        ) AS BIGINT) * 32 + 16,
        32
      ) AS BIGINT)
      ELSE CAST(0 AS BIGINT)
    END AS a0
  FROM (
    SELECT
      "g"."patient_id",
      "g"."concept_id",
      "g"."n_implausible",
      "g"."n_unread",
      CASE
        WHEN (
          "g"."latest_number" >> 67
        ) = (
          "g"."latest_number" >> 67
        )
        AND (
          (
            "g"."latest_number" >> 2
          ) & 36893488147419103231
        ) <> 0
        THEN CAST(CAST(XOR(
          CAST((
            (
              "g"."latest_number" >> 2
            ) & 36893488147419103231
          ) - 9223372036854775809 AS BIGINT),
          (
            (
              CAST((
                (
                  "g"."latest_number" >> 2
                ) & 36893488147419103231
              ) - 9223372036854775809 AS BIGINT) >> 63
            ) & CAST(9223372036854775807 AS BIGINT)
          )
        ) AS BIT) AS DOUBLE)
      END AS latest_number,
      CAST('0001-01-01' AS DATE) + INTERVAL (CAST((
        "g"."latest_number" >> 67
      ) AS INT)) DAY AS latest_d,
      CASE
        WHEN (
          "g"."latest_uln" >> 67
        ) = (
          "g"."latest_number" >> 67
        )
        AND (
          (
            "g"."latest_uln" >> 2
          ) & 36893488147419103231
        ) <> 0
        THEN CAST(CAST(XOR(
          CAST((
            (
              "g"."latest_uln" >> 2
            ) & 36893488147419103231
          ) - 9223372036854775809 AS BIGINT),
          (
            (
              CAST((
                (
                  "g"."latest_uln" >> 2
                ) & 36893488147419103231
              ) - 9223372036854775809 AS BIGINT) >> 63
            ) & CAST(9223372036854775807 AS BIGINT)
          )
        ) AS BIT) AS DOUBLE)
      END AS latest_uln,
      CASE
        WHEN (
          "g"."latest_uln" >> 67
        ) = (
          "g"."latest_number" >> 67
        )
        THEN (
          (
            "g"."latest_uln" >> 0
          ) & 3
        ) = 1
      END AS latest_uln_default,
      CASE
        WHEN (
          "g"."latest_uln_bound" >> 67
        ) = (
          "g"."latest_number" >> 67
        )
        AND (
          (
            "g"."latest_uln_bound" >> 2
          ) & 36893488147419103231
        ) <> 0
        THEN CAST(CAST(XOR(
          CAST((
            (
              "g"."latest_uln_bound" >> 2
            ) & 36893488147419103231
          ) - 9223372036854775809 AS BIGINT),
          (
            (
              CAST((
                (
                  "g"."latest_uln_bound" >> 2
                ) & 36893488147419103231
              ) - 9223372036854775809 AS BIGINT) >> 63
            ) & CAST(9223372036854775807 AS BIGINT)
          )
        ) AS BIT) AS DOUBLE)
      END AS latest_uln_written,
      (
        (
          "g"."latest_uln_bound" >> 0
        ) & 3
      ) AS latest_uln_way
    FROM (
      SELECT
        "e"."patient_id" AS patient_id,
        "m"."concept_id" AS concept_id,
        COUNT(
          CASE
            WHEN COALESCE((
              "e"."value_num" < "m"."low"
            ) OR (
              "e"."value_num" > "m"."high"
            ), FALSE)
            THEN 1
          END
        ) AS n_implausible,
        COUNT(
          CASE
            WHEN (
              NOT "e"."value_text" IS NULL
            )
            AND (
              "e"."text_result" = 0
            )
            AND (
              "e"."value_num" IS NULL
            )
            AND (
              "e"."bound" IS NULL
            )
            THEN 1
          END
        ) AS n_unread,
        MAX(
          CASE
            WHEN (
              (
                NOT "e"."value_num" IS NULL
              ) OR (
                NOT "e"."value_text" IS NULL
              )
            )
            AND (
              NOT COALESCE((
                "e"."value_num" < "m"."low"
              ) OR (
                "e"."value_num" > "m"."high"
              ), FALSE)
            )
            THEN (
              (
                CAST(DATE_DIFF('DAY', CAST('0001-01-01' AS DATE), "e"."start_date") AS INT128)
              ) << 67
            ) + (
              (
                COALESCE(
                  CAST(XOR(
                    CAST(CAST(CAST((
                      CASE
                        WHEN (
                          "e"."value_num" IS NULL
                        ) AND (
                          "e"."text_result" = -1
                        )
                        THEN 0.0
                        ELSE "e"."value_num" * "m"."factor"
                      END
                    ) + 0.0 AS DOUBLE) AS BIT) AS BIGINT),
                    (
                      (
                        CAST(CAST(CAST((
                          CASE
                            WHEN (
                              "e"."value_num" IS NULL
                            ) AND (
                              "e"."text_result" = -1
                            )
                            THEN 0.0
                            ELSE "e"."value_num" * "m"."factor"
                          END
                        ) + 0.0 AS DOUBLE) AS BIT) AS BIGINT) >> 63
                      ) & CAST(9223372036854775807 AS BIGINT)
                    )
                  ) AS INT128) + 9223372036854775809,
                  0
                )
              ) << 2
            ) + 0
          END
        ) AS latest_number,
        MAX(
          CASE
            WHEN (
              (
                (
                  NOT "e"."value_num" IS NULL
                ) OR (
                  NOT "e"."value_text" IS NULL
                )
              )
              AND (
                NOT COALESCE((
                  "e"."value_num" < "m"."low"
                ) OR (
                  "e"."value_num" > "m"."high"
                ), FALSE)
              )
            )
            AND (
              (
                NOT "e"."value_num" IS NULL
              ) OR (
                "e"."text_result" = -1
              )
            )
            AND (
              "m"."concept_id" IN (1)
            )
            THEN (
              (
                CAST(DATE_DIFF('DAY', CAST('0001-01-01' AS DATE), "e"."start_date") AS INT128)
              ) << 67
            ) + (
              (
                COALESCE(
                  CAST(XOR(
                    CAST(CAST(CAST((
                      CASE
                        WHEN (
                          "e"."value_num" IS NULL
                        ) AND (
                          "e"."text_result" = -1
                        )
                        THEN 0.0
                        WHEN (
                          "e"."ref_high" > 0
                        ) AND (
                          "e"."ref_high" - "e"."ref_high" = 0
                        )
                        THEN "e"."value_num" / "e"."ref_high"
                        ELSE "e"."value_num" * "m"."factor" / "m"."uln"
                      END
                    ) + 0.0 AS DOUBLE) AS BIT) AS BIGINT),
                    (
                      (
                        CAST(CAST(CAST((
                          CASE
                            WHEN (
                              "e"."value_num" IS NULL
                            ) AND (
                              "e"."text_result" = -1
                            )
                            THEN 0.0
                            WHEN (
                              "e"."ref_high" > 0
                            ) AND (
                              "e"."ref_high" - "e"."ref_high" = 0
                            )
                            THEN "e"."value_num" / "e"."ref_high"
                            ELSE "e"."value_num" * "m"."factor" / "m"."uln"
                          END
                        ) + 0.0 AS DOUBLE) AS BIT) AS BIGINT) >> 63
                      ) & CAST(9223372036854775807 AS BIGINT)
                    )
                  ) AS INT128) + 9223372036854775809,
                  0
                )
              ) << 2
            ) + (
              CASE
                WHEN (
                  NOT "e"."value_num" IS NULL
                )
                AND (
                  NOT COALESCE((
                    "e"."ref_high" > 0
                  ) AND (
                    "e"."ref_high" - "e"."ref_high" = 0
                  ), FALSE)
                )
                THEN 1
                ELSE 0
              END
            )
          END
        ) AS latest_uln,
        MAX(
          CASE
            WHEN (
              "e"."value_num" IS NULL
            )
            AND (
              "m"."concept_id" IN (1)
            )
            AND (
              NOT "e"."bound" IS NULL
            )
            THEN (
              (
                CAST(DATE_DIFF('DAY', CAST('0001-01-01' AS DATE), "e"."start_date") AS INT128)
              ) << 67
            ) + (
              (
                COALESCE(
                  CAST(XOR(
                    CAST(CAST(CAST((
                      CASE
                        WHEN (
                          "e"."value_num" IS NULL
                        ) AND (
                          "e"."text_result" = -1
                        )
                        THEN 0.0
                        WHEN (
                          "e"."ref_high" > 0
                        ) AND (
                          "e"."ref_high" - "e"."ref_high" = 0
                        )
                        THEN "e"."bound" / "e"."ref_high"
                        ELSE "e"."bound" * "m"."factor" / "m"."uln"
                      END
                    ) + 0.0 AS DOUBLE) AS BIT) AS BIGINT),
                    (
                      (
                        CAST(CAST(CAST((
                          CASE
                            WHEN (
                              "e"."value_num" IS NULL
                            ) AND (
                              "e"."text_result" = -1
                            )
                            THEN 0.0
                            WHEN (
                              "e"."ref_high" > 0
                            ) AND (
                              "e"."ref_high" - "e"."ref_high" = 0
                            )
                            THEN "e"."bound" / "e"."ref_high"
                            ELSE "e"."bound" * "m"."factor" / "m"."uln"
                          END
                        ) + 0.0 AS DOUBLE) AS BIT) AS BIGINT) >> 63
                      ) & CAST(9223372036854775807 AS BIGINT)
                    )
                  ) AS INT128) + 9223372036854775809,
                  0
                )
              ) << 2
            ) + "e"."bound_way"
          END
        ) AS latest_uln_bound
      FROM (
        SELECT
          *,
          CASE
            WHEN "value_text" IS NULL
            THEN 0
            WHEN TRIM(LOWER("value_text"), ' 	.') IN (
              'positive',
              'pos',
              '+',
              'detected',
              'detectable',
              'reactive',
              'present',
              'yes',
              'weakly positive',
              'weak positive',
              'low positive',
              'weakly reactive',
              'repeatedly reactive'
            )
            THEN 1
            WHEN TRIM(LOWER("value_text"), ' 	.') IN (
              'negative',
              'neg',
              '-',
              'not detected',
              'undetected',
              'undetectable',
              'not detectable',
              'target not detected',
              'tnd',
              'none detected',
              'non-reactive',
              'nonreactive',
              'non reactive',
              'not reactive',
              'absent',
              'no',
              'not present'
            )
            THEN -1
            WHEN REGEXP_MATCHES(
              TRIM(LOWER("value_text"), ' 	.'),
              '^(?:(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*[ \t,;:(](?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)\)?|(?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)[ \t]*[,;:(]?[ \t]*(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*)\z'
            )
            THEN -1
            WHEN REGEXP_MATCHES(
              TRIM(LOWER("value_text"), ' 	.'),
              '^(?:(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*[ \t,;:(](?:positive|pos|detected|detectable|reactive|present|yes|weakly positive|weak positive|low positive|weakly reactive|repeatedly reactive)\)?|(?:positive|pos|detected|detectable|reactive|present|yes|weakly positive|weak positive|low positive|weakly reactive|repeatedly reactive)[ \t]*[,;:(]?[ \t]*(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*)\z'
            )
            THEN 1
            ELSE 0
          END AS text_result,
          CASE
            WHEN (
              NOT "value_text" IS NULL
            )
            AND (
              "value_num" IS NULL
            )
            AND (
              SUBSTRING("value_text", 1, 1) IN ('<', '=', '>', 'G', 'L', 'g', 'l', '≤', '≥', ' ', '	')
            )
            THEN CASE
              WHEN REGEXP_MATCHES(
                TRIM(LOWER("value_text"), ' 	.'),
                '^(?:(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*[ \t,;:(](?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)\)?|(?:negative|neg|not detected|undetected|undetectable|not detectable|target not detected|tnd|none detected|non-reactive|nonreactive|non reactive|not reactive|absent|no|not present)[ \t]*[,;:(]?[ \t]*(?:(?:greater than or equal to|less than or equal to|greater than|less than|<=|=<|=>|>=|<|>|≤|≥)[ \t]*)?[0-9][\s\S]*)\z'
              )
              THEN NULL
              ELSE TRY_CAST(REPLACE(
                REGEXP_EXTRACT(
                  "value_text",
                  '^[ \t]*(?:greater than or equal to|GREATER THAN OR EQUAL TO|Greater than or equal to|Greater Than Or Equal To|less than or equal to|LESS THAN OR EQUAL TO|Less than or equal to|Less Than Or Equal To|greater than|GREATER THAN|Greater than|Greater Than|less than|LESS THAN|Less than|Less Than|<=|=<|>=|=>|<|≤|≥|>)[ \t]*([0-9]+(?:\.[0-9]+|,[0-9]{1,2}|,[0-9]{4,})?(?:[eE][+-]?[0-9]+)?)(\.[ \t]*|(?:[ \t]|[A-Za-z%µμ])[\s\S]*)?\z',
                  1
                ),
                ',',
                '.'
              ) AS DOUBLE)
            END
          END AS bound,
          CASE
            WHEN (
              NOT "value_text" IS NULL
            )
            AND (
              "value_num" IS NULL
            )
            AND (
              SUBSTRING("value_text", 1, 1) IN ('<', '=', '>', 'G', 'L', 'g', 'l', '≤', '≥', ' ', '	')
            )
            THEN CASE REGEXP_EXTRACT(
                "value_text",
                '^[ \t]*(greater than or equal to|GREATER THAN OR EQUAL TO|Greater than or equal to|Greater Than Or Equal To|less than or equal to|LESS THAN OR EQUAL TO|Less than or equal to|Less Than Or Equal To|greater than|GREATER THAN|Greater than|Greater Than|less than|LESS THAN|Less than|Less Than|<=|=<|>=|=>|<|≤|≥|>)',
                1
              )
              WHEN '<'
              THEN 0
              WHEN 'less than'
              THEN 0
              WHEN 'LESS THAN'
              THEN 0
              WHEN 'Less than'
              THEN 0
              WHEN 'Less Than'
              THEN 0
              WHEN '<='
              THEN 1
              WHEN '=<'
              THEN 1
              WHEN '≤'
              THEN 1
              WHEN 'less than or equal to'
              THEN 1
              WHEN 'LESS THAN OR EQUAL TO'
              THEN 1
              WHEN 'Less than or equal to'
              THEN 1
              WHEN 'Less Than Or Equal To'
              THEN 1
              WHEN '>='
              THEN 2
              WHEN '=>'
              THEN 2
              WHEN '≥'
              THEN 2
              WHEN 'greater than or equal to'
              THEN 2
              WHEN 'GREATER THAN OR EQUAL TO'
              THEN 2
              WHEN 'Greater than or equal to'
              THEN 2
              WHEN 'Greater Than Or Equal To'
              THEN 2
              WHEN '>'
              THEN 3
              WHEN 'greater than'
              THEN 3
              WHEN 'GREATER THAN'
              THEN 3
              WHEN 'Greater than'
              THEN 3
              WHEN 'Greater Than'
              THEN 3
            END
          END AS bound_way
        FROM events
      ) AS e
      INNER JOIN code_map AS m
        ON (
          "m"."code_system" = "e"."code_system"
        )
        AND (
          "m"."code" = "e"."code"
        )
        AND (
          "m"."unit" = COALESCE("e"."unit", '')
        )
      WHERE
        (
          "e"."code" IN (
            SELECT
              "code"
            FROM code_map
          )
        )
        AND (
          "m"."concept_id" IN (1)
        )
        AND (
          (
            "e"."start_date" <= CAST('2025-01-01' AS DATE)
          )
          AND (
            (
              "m"."concept_id" IN (1)
            )
            AND (
              "e"."start_date" >= CAST('2025-01-01' AS DATE) - 90
            )
          )
        )
      GROUP BY
        "e"."patient_id",
        "m"."concept_id"
    ) AS g
  ) AS f
) AS c
GROUP BY
  "patient_id";

-- 7. atom_masks: the families' atom bits OR-ed per patient
CREATE TABLE atom_masks AS
SELECT
  "patient_id",
  BIT_OR("a0") AS a0
FROM (
  SELECT
    "patient_id",
    "a0" AS a0
  FROM patient_records
  UNION ALL
  SELECT
    "patient_id",
    "a0" AS a0
  FROM patient_results
) AS atoms
GROUP BY
  "patient_id";

-- 8. patients: one row per patient with its age range and the atoms' truth words
CREATE TABLE patients AS
SELECT
  p.*,
  CASE
    WHEN NOT "bd_lo" IS NULL
    THEN YEAR("idx") - YEAR("bd_hi") - CASE
      WHEN (
        MONTH("idx") < MONTH("bd_hi")
      )
      OR (
        (
          MONTH("idx") = MONTH("bd_hi")
        ) AND (
          DAY("idx") < DAY("bd_hi")
        )
      )
      THEN 1
      ELSE 0
    END
    ELSE YEAR("idx") - "by_hi" - CASE WHEN (
      MONTH("idx") = 12
    ) AND (
      DAY("idx") = 31
    ) THEN 0 ELSE 1 END
  END AS age_lo,
  CASE
    WHEN NOT "bd_lo" IS NULL
    THEN YEAR("idx") - YEAR("bd_lo") - CASE
      WHEN (
        MONTH("idx") < MONTH("bd_lo")
      )
      OR (
        (
          MONTH("idx") = MONTH("bd_lo")
        ) AND (
          DAY("idx") < DAY("bd_lo")
        )
      )
      THEN 1
      ELSE 0
    END
    ELSE YEAR("idx") - "by_lo"
  END AS age_hi
FROM (
  SELECT
    "d"."patient_id",
    "s"."site_id" AS site_id,
    "d"."site_lo" <> "d"."site_hi" AS site_conflict,
    CASE
      WHEN (
        "d"."sex_lo" = "d"."sex_hi"
      ) AND (
        "d"."sex_lo" = 1
      )
      THEN 'F'
      WHEN (
        "d"."sex_lo" = "d"."sex_hi"
      ) AND (
        "d"."sex_lo" = 2
      )
      THEN 'M'
      ELSE 'U'
    END AS sex,
    "d"."sex_lo" <> "d"."sex_hi" AS sex_conflict,
    "d"."sex_hi" = 4 AS sex_unrecognised,
    "d"."by_lo" AS by_lo,
    "d"."by_hi" AS by_hi,
    "d"."bd_lo" AS bd_lo,
    "d"."bd_hi" AS bd_hi,
    CAST('2025-01-01' AS DATE) AS idx,
    FALSE AS idx_conflict,
    FALSE AS idx_given,
    "d"."first_date" AS first_date,
    "d"."last_seen" AS last_seen,
    "d"."n_future" AS n_future,
    COALESCE("d"."death_date" <= CAST('2025-01-01' AS DATE), FALSE) AS dead_by_index,
    COALESCE("m"."a0", 0) & (
      COALESCE("m"."a0", 0) >> 1
    ) & 21 AS true0,
    (
      COALESCE("m"."a0", 0) & ~(
        COALESCE("m"."a0", 0) >> 1
      ) & 21
    ) | (
      (
        ~(
          COALESCE("m"."a0", 0) | (
            COALESCE("m"."a0", 0) >> 1
          )
        )
      ) & 5
    ) AS false0
  FROM demographics AS d
  LEFT JOIN atom_masks AS m
    ON "m"."patient_id" = "d"."patient_id"
  LEFT JOIN sites AS s
    ON "s"."site_rank" = "d"."site_lo"
) AS p;

-- 9. histogram: patients counted by (passed, unknown) criterion masks per trial and site
SELECT
  'SMALL' AS trial_id,
  "site_id",
  "p0",
  "u0",
  COUNT(*) AS n
FROM (
  SELECT
    "site_id",
    "p0",
    CAST(31 AS BIGINT) - "p0" - "f0" AS u0
  FROM (
    SELECT
      "site_id",
      CAST(0 AS BIGINT) + CASE
        WHEN COALESCE((
          (
            "age_lo" >= 18
          ) AND (
            "age_hi" >= 18
          )
        ), FALSE)
        THEN 1
        ELSE 0
      END + CASE WHEN (
        (
          "true0" & 1
        ) = 1
      ) THEN 2 ELSE 0 END + CASE WHEN (
        (
          "true0" & 16
        ) = 16
      ) THEN 4 ELSE 0 END + CASE WHEN (
        (
          "false0" & 4
        ) <> 0
      ) THEN 8 ELSE 0 END + CASE WHEN TRUE THEN 16 ELSE 0 END AS p0,
      CAST(0 AS BIGINT) + CASE
        WHEN COALESCE(
          (
            (
              NOT (
                "age_lo" >= 18
              )
            ) AND (
              NOT (
                "age_hi" >= 18
              )
            )
          ),
          FALSE
        )
        THEN 1
        ELSE 0
      END + CASE WHEN (
        (
          "false0" & 1
        ) <> 0
      ) THEN 2 ELSE 0 END + CASE WHEN (
        (
          "false0" & 16
        ) <> 0
      ) THEN 4 ELSE 0 END + CASE WHEN (
        (
          "true0" & 4
        ) = 4
      ) THEN 8 ELSE 0 END + CASE WHEN FALSE THEN 16 ELSE 0 END AS f0
    FROM patients
  ) AS sides
) AS masks
GROUP BY
  "site_id",
  "p0",
  "u0";

-- Helper macros for the importers' SQL: real exports store dates, numbers and ids as text
-- in several spellings (GiBleed keeps numbers as VARCHAR, some CSVs write dates as YYYYMMDD).
CREATE OR REPLACE TEMP MACRO to_date(x) AS coalesce(
    TRY_CAST(x AS DATE),
    TRY_CAST(try_strptime(CAST(x AS VARCHAR), '%Y%m%d') AS DATE));
CREATE OR REPLACE TEMP MACRO to_num(x) AS TRY_CAST(
    nullif(trim(replace(CAST(x AS VARCHAR), ',', '')), '') AS DOUBLE);
CREATE OR REPLACE TEMP MACRO to_id(x) AS TRY_CAST(x AS BIGINT);
CREATE OR REPLACE TEMP MACRO to_text(x) AS nullif(trim(CAST(x AS VARCHAR)), '');

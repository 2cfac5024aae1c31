-- What an importer wrote, read back from the parquet file (the parameter) in one scan: its
-- rows per domain (a map of domain to rows, NULL for an empty file) and its patients.
SELECT histogram(domain) AS rows_by_domain, count(DISTINCT patient_id) AS patients
FROM read_parquet(?)

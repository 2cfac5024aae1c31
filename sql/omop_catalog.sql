-- The tables and views of an attached OMOP DuckDB file (`omop_src`), and its schemas: the
-- importer picks the CDM's schema from them, never mixing two CDMs of one file.
SELECT 'relation' AS kind, schema_name, table_name AS name
FROM duckdb_tables() WHERE database_name = 'omop_src'
UNION ALL
SELECT 'relation', schema_name, view_name FROM duckdb_views() WHERE database_name = 'omop_src'
UNION ALL
SELECT 'schema', schema_name, NULL FROM duckdb_schemas() WHERE database_name = 'omop_src'
ORDER BY 1, 2, 3

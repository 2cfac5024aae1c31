-- The extract's notice, from each file's parquet key-value metadata ($files: the extract's
-- files; $key: contract.NOTICE_KEY as bytes). Only the footers are read; the value stays
-- bytes, so that text which is not UTF-8 gets the engine's error rather than DuckDB's.
SELECT file_name, value FROM parquet_kv_metadata($files) WHERE key = $key

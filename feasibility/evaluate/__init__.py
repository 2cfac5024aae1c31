"""Running the compiled trials: on DuckDB (`duckdb_engine`) or Apache Spark (`spark_engine`),
both taken through the same steps by `driver.evaluate`, and the plain-Python reference
evaluator (`reference`) they are checked against."""

"""OMOP CDM 5.3 / 5.4 -> extract.

The source is a folder of parquet or CSV files (one per table, any case: `person.parquet`,
`PERSON.csv`, `person/` of parquet parts, ...) or a DuckDB database file. Everything is DuckDB
SQL over the source; nothing loops over rows in Python.

Mapping (see docs/importing.md):
- person: sex from gender_concept_id (8507 M, 8532 F, else the source value's F/M, else U);
  birth_year = year_of_birth; birth_date when month and day of birth (or birth_datetime) are
  known.
- condition_occurrence -> diagnosis, measurement -> lab, drug_exposure -> medication,
  procedure_occurrence -> procedure, observation -> observation.
- Each event is written once per code: its standard concept (vocabulary_id and concept_code,
  e.g. SNOMED, LOINC, RxNorm) and, when different, its source concept (e.g. the ICD10CM code
  the condition was recorded with).
- With the vocabulary tables: a standard condition also gets the ICD10CM codes that map to it
  alone (`Maps to`, one target) when the event has no ICD10CM source code; a drug also gets
  its ATC 5th-level classes (concept_ancestor, else concept_relationship via the drug or its
  ingredients). Concept sets match by code system, so the extra rows never double-count.
- Measurements: value_as_number, the value concept's name as text, the unit concept's code
  (UCUM) or unit_source_value, range_low / range_high.
- Drugs: start and end dates (end = start + days_supply - 1 when there is no end date); daily
  dose in mg/d = quantity x amount_value / days_supply for single-ingredient drugs with a
  drug_strength amount in mg, g or ug.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from feasibility.errors import FeasibilityError, short_message
from feasibility.importers.common import (
    ImportSummary,
    connect,
    create_view,
    fetch_counts,
    find_table_file,
    reader_sql,
    summarise_written,
    write_extract,
)

EVENT_TABLES = ("condition_occurrence", "measurement", "drug_exposure", "procedure_occurrence", "observation")
VOCAB_TABLES = ("concept", "concept_relationship", "concept_ancestor", "drug_strength")
OTHER_TABLES = ("observation_period",)
INDEX_CHOICES = ("none", "observation-end")

# UCUM unit concepts of drug_strength amounts -> factor to mg
_MG_FACTORS = {8576: 1.0, 8504: 1000.0, 9655: 0.001}


@dataclass(frozen=True)
class _Table:
    required: tuple[str, ...]
    optional: tuple[str, ...]


_COLUMNS = {
    "person": _Table(
        ("person_id", "year_of_birth"),
        ("gender_concept_id", "gender_source_value", "month_of_birth", "day_of_birth", "birth_datetime"),
    ),
    "condition_occurrence": _Table(
        ("person_id", "condition_concept_id"),
        (
            "condition_start_date",
            "condition_start_datetime",
            "condition_end_date",
            "condition_source_concept_id",
        ),
    ),
    "measurement": _Table(
        ("person_id", "measurement_concept_id"),
        (
            "measurement_date",
            "measurement_datetime",
            "value_as_number",
            "value_as_concept_id",
            "unit_concept_id",
            "unit_source_value",
            "range_low",
            "range_high",
            "measurement_source_concept_id",
            "value_source_value",
        ),
    ),
    "drug_exposure": _Table(
        ("person_id", "drug_concept_id"),
        (
            "drug_exposure_start_date",
            "drug_exposure_start_datetime",
            "drug_exposure_end_date",
            "quantity",
            "days_supply",
            "drug_source_concept_id",
        ),
    ),
    "procedure_occurrence": _Table(
        ("person_id", "procedure_concept_id"),
        ("procedure_date", "procedure_datetime", "procedure_end_date", "procedure_source_concept_id"),
    ),
    "observation": _Table(
        ("person_id", "observation_concept_id"),
        (
            "observation_date",
            "observation_datetime",
            "value_as_number",
            "value_as_string",
            "value_as_concept_id",
            "unit_concept_id",
            "unit_source_value",
            "observation_source_concept_id",
        ),
    ),
    "concept": _Table(("concept_id", "vocabulary_id", "concept_code"), ("concept_name", "concept_class_id")),
    "concept_relationship": _Table(("concept_id_1", "concept_id_2", "relationship_id"), ("invalid_reason",)),
    "concept_ancestor": _Table(("ancestor_concept_id", "descendant_concept_id"), ()),
    "drug_strength": _Table(("drug_concept_id",), ("amount_value", "amount_unit_concept_id")),
    "observation_period": _Table(("person_id", "observation_period_end_date"), ()),
}


class _Source:
    """The OMOP tables found, as views `src_<table>`, and their columns."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path):
        self.con = con
        self.path = path
        self.columns: dict[str, set[str]] = {}

    def col(self, table: str, column: str, cast: str = "") -> str:
        """`column` of `table`, or NULL when the table lacks this optional column."""
        if column in self.columns.get(table, set()):
            return f"{cast}({column})" if cast else column
        return "NULL"

    def has(self, table: str) -> bool:
        return table in self.columns


def _open_source(con: duckdb.DuckDBPyConnection, path: Path, schema: str | None) -> _Source:
    if not path.exists():
        raise FeasibilityError("OMOP folder or DuckDB file not found", where=str(path), fix="check the path")
    source = _Source(con, path)
    wanted = ("person", *EVENT_TABLES, *VOCAB_TABLES, *OTHER_TABLES)
    found: dict[str, tuple[str, str]] = {}  # table -> (reader SQL, label)
    if path.is_dir():
        for name in wanted:
            f = find_table_file(path, name)
            if f is not None:
                found[name] = (reader_sql(f), str(f))
    else:
        escaped = str(path).replace("'", "''")
        try:
            con.execute(f"ATTACH '{escaped}' AS omop_src (READ_ONLY)")
            tables = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'omop_src' "
                "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
                "WHERE database_name = 'omop_src'"
            ).fetchall()
        except duckdb.Error as e:
            raise FeasibilityError(
                f"cannot open as a DuckDB database ({short_message(e)})",
                where=str(path),
                fix="give a folder of OMOP parquet/CSV files or a DuckDB file",
            ) from None
        by_name: dict[str, list[tuple[str, str]]] = {}
        for sch, tab in tables:
            by_name.setdefault(tab.lower(), []).append((sch, tab))
        if schema is None:
            schemas = [s for s, _ in by_name.get("person", [])]
            schema = schemas[0] if len(schemas) == 1 else ("main" if "main" in schemas else None)
            if len(schemas) > 1 and schema is None:
                raise FeasibilityError(
                    f"`person` is in several schemas ({', '.join(schemas)})",
                    where=str(path),
                    fix="pass --schema NAME",
                )
        for name in wanted:
            options = by_name.get(name, [])
            pick = next((o for o in options if o[0] == schema), options[0] if options else None)
            if pick is not None:
                found[name] = (f'omop_src."{pick[0]}"."{pick[1]}"', f"{path}:{pick[0]}.{pick[1]}")
    if "person" not in found:
        raise FeasibilityError(
            "required table `person` is missing",
            where=str(path),
            fix="export the OMOP person table (person.parquet or person.csv)",
        )
    if not any(t in found for t in EVENT_TABLES):
        raise FeasibilityError(
            "no event table (condition_occurrence, measurement, drug_exposure, "
            "procedure_occurrence, observation)",
            where=str(path),
            fix="export the OMOP clinical tables beside person",
        )
    for name, (reader, label) in found.items():
        cols = set(create_view(con, f"src_{name}", reader, label))
        spec = _COLUMNS[name]
        missing = [c for c in spec.required if c not in cols]
        if missing:
            if name in VOCAB_TABLES or name in OTHER_TABLES:
                continue  # unusable vocabulary table: treated as absent (noted in the summary)
            raise FeasibilityError(
                f"table `{name}` has no column `{missing[0]}`",
                where=label,
                fix="export the table with its OMOP CDM columns",
            )
        source.columns[name] = cols
    return source


def import_omop(
    path: Path,
    out: Path,
    index: str = "none",
    schema: str | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> ImportSummary:
    """Read the OMOP CDM at `path`, write the extract to `out`, return the summary."""
    if index not in INDEX_CHOICES:
        raise FeasibilityError(
            f"unknown index choice `{index}`",
            where="--index-date",
            fix=f"use one of {', '.join(INDEX_CHOICES)}",
        )
    con = connect(threads, memory_limit)
    try:
        src = _open_source(con, Path(path), schema)
        try:
            _build(con, src, index)
        except duckdb.Error as e:
            raise FeasibilityError(
                f"cannot read the OMOP tables ({short_message(e)})",
                where=str(path),
                fix="check the tables are complete OMOP CDM exports",
            ) from None
        summary = ImportSummary(source=str(path), out=out)
        write_extract(con, "SELECT * FROM extract_rows", out)
        summarise_written(con, out, summary)
        summary.counts = fetch_counts(con, _quality_sql(src))
        absent = [t for t in (*EVENT_TABLES, *VOCAB_TABLES) if not src.has(t)]
        if absent:
            summary.notes.append("tables absent or unusable: " + ", ".join(absent))
        if not src.has("concept"):
            summary.notes.append("no concept table: codes written as OMOP_CONCEPT_ID")
        if index == "observation-end":
            summary.notes.append("index_date = end of each person's last observation period")
        return summary
    finally:
        con.close()


def _events_sql(src: _Source) -> str:
    c = src.col
    parts = []

    def date(table: str, day: str, stamp: str) -> str:
        return f"coalesce(to_date({c(table, day)}), to_date({c(table, stamp)}))"

    t = "condition_occurrence"
    if src.has(t):
        parts.append(f"""
            SELECT to_id(person_id) AS person_id, 'diagnosis' AS domain,
                   to_id(condition_concept_id) AS cid, to_id({c(t, "condition_source_concept_id")}) AS scid,
                   {date(t, "condition_start_date", "condition_start_datetime")} AS start_date,
                   to_date({c(t, "condition_end_date")}) AS end_date,
                   CAST(NULL AS DOUBLE) AS value_num, CAST(NULL AS BIGINT) AS value_cid,
                   CAST(NULL AS VARCHAR) AS value_str, CAST(NULL AS BIGINT) AS unit_cid,
                   CAST(NULL AS VARCHAR) AS unit_src, CAST(NULL AS DOUBLE) AS ref_low,
                   CAST(NULL AS DOUBLE) AS ref_high, CAST(NULL AS DOUBLE) AS quantity,
                   CAST(NULL AS DOUBLE) AS days_supply
            FROM src_{t}""")
    t = "measurement"
    if src.has(t):
        parts.append(f"""
            SELECT to_id(person_id), 'lab', to_id(measurement_concept_id),
                   to_id({c(t, "measurement_source_concept_id")}),
                   {date(t, "measurement_date", "measurement_datetime")}, NULL,
                   to_num({c(t, "value_as_number")}), to_id({c(t, "value_as_concept_id")}),
                   to_text({c(t, "value_source_value")}),
                   to_id({c(t, "unit_concept_id")}), to_text({c(t, "unit_source_value")}),
                   to_num({c(t, "range_low")}), to_num({c(t, "range_high")}), NULL, NULL
            FROM src_{t}""")
    t = "drug_exposure"
    if src.has(t):
        parts.append(f"""
            SELECT to_id(person_id), 'medication', to_id(drug_concept_id),
                   to_id({c(t, "drug_source_concept_id")}),
                   {date(t, "drug_exposure_start_date", "drug_exposure_start_datetime")},
                   to_date({c(t, "drug_exposure_end_date")}),
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   to_num({c(t, "quantity")}), to_num({c(t, "days_supply")})
            FROM src_{t}""")
    t = "procedure_occurrence"
    if src.has(t):
        parts.append(f"""
            SELECT to_id(person_id), 'procedure', to_id(procedure_concept_id),
                   to_id({c(t, "procedure_source_concept_id")}),
                   {date(t, "procedure_date", "procedure_datetime")},
                   to_date({c(t, "procedure_end_date")}),
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
            FROM src_{t}""")
    t = "observation"
    if src.has(t):
        parts.append(f"""
            SELECT to_id(person_id), 'observation', to_id(observation_concept_id),
                   to_id({c(t, "observation_source_concept_id")}),
                   {date(t, "observation_date", "observation_datetime")}, NULL,
                   to_num({c(t, "value_as_number")}), to_id({c(t, "value_as_concept_id")}),
                   to_text({c(t, "value_as_string")}),
                   to_id({c(t, "unit_concept_id")}), to_text({c(t, "unit_source_value")}),
                   NULL, NULL, NULL, NULL
            FROM src_{t}""")
    return " UNION ALL ".join(parts)


def _build(con: duckdb.DuckDBPyConnection, src: _Source, index: str) -> None:
    c = src.col
    con.execute(f"CREATE TEMP TABLE ev_raw AS {_events_sql(src)}")
    con.execute("""
        CREATE TEMP TABLE ev AS
        SELECT row_number() OVER () AS ev_id, * FROM ev_raw
        WHERE start_date IS NOT NULL AND person_id IN (SELECT to_id(person_id) FROM src_person)
    """)
    has_concept = src.has("concept")
    if has_concept:
        con.execute(f"""
            CREATE TEMP VIEW voc_all AS
            SELECT to_id(concept_id) AS id, to_text(vocabulary_id) AS vocab,
                   to_text(concept_code) AS code, to_text({c("concept", "concept_name")}) AS name,
                   to_text({c("concept", "concept_class_id")}) AS cls
            FROM src_concept
        """)
        con.execute("""
            CREATE TEMP TABLE used_ids AS
            SELECT DISTINCT id FROM (
                SELECT cid AS id FROM ev UNION ALL SELECT scid FROM ev
                UNION ALL SELECT value_cid FROM ev UNION ALL SELECT unit_cid FROM ev)
            WHERE id IS NOT NULL AND id <> 0
        """)
        con.execute("CREATE TEMP TABLE voc AS SELECT * FROM voc_all WHERE id IN (SELECT id FROM used_ids)")
    else:
        con.execute(
            "CREATE TEMP TABLE voc (id BIGINT, vocab VARCHAR, code VARCHAR, name VARCHAR, cls VARCHAR)"
        )
    rel_ok = has_concept and src.has("concept_relationship")
    valid = (
        "to_text(invalid_reason) IS NULL"
        if "invalid_reason" in src.columns.get("concept_relationship", set())
        else "TRUE"
    )
    if rel_ok:
        con.execute(f"""
            CREATE TEMP TABLE snomed_icd AS
            WITH maps AS (
                SELECT to_id(concept_id_1) AS src_id, to_id(concept_id_2) AS std_id
                FROM src_concept_relationship WHERE relationship_id = 'Maps to' AND {valid}
            ), icd AS (
                SELECT id, code FROM voc_all WHERE vocab = 'ICD10CM'
            ), sole AS (
                SELECT src_id FROM maps WHERE src_id IN (SELECT id FROM icd)
                GROUP BY src_id HAVING count(DISTINCT std_id) = 1
            )
            SELECT DISTINCT m.std_id, icd.code
            FROM maps m JOIN sole USING (src_id) JOIN icd ON icd.id = m.src_id
            WHERE m.std_id IN (SELECT cid FROM ev WHERE domain = 'diagnosis')
        """)
    else:
        con.execute("CREATE TEMP TABLE snomed_icd (std_id BIGINT, code VARCHAR)")
    con.execute(
        "CREATE TEMP TABLE drug_ids AS SELECT DISTINCT cid AS id FROM ev "
        "WHERE domain = 'medication' AND cid IS NOT NULL AND cid <> 0"
    )
    atc_parts = []
    atc_cte = (
        "atc AS (SELECT id, code FROM voc_all WHERE vocab = 'ATC' "
        "AND (cls = 'ATC 5th' OR (cls IS NULL AND length(code) = 7)))"
    )
    if has_concept and src.has("concept_ancestor"):
        atc_parts.append("""
            SELECT to_id(a.descendant_concept_id) AS drug_id, atc.code
            FROM src_concept_ancestor a JOIN atc ON atc.id = to_id(a.ancestor_concept_id)
            WHERE to_id(a.descendant_concept_id) IN (SELECT id FROM drug_ids)""")
    if rel_ok:
        atc_parts.append(f"""
            SELECT parts.drug_id, atc.code
            FROM (SELECT id AS drug_id, id AS part FROM drug_ids
                  UNION SELECT to_id(concept_id_1), to_id(concept_id_2)
                  FROM src_concept_relationship
                  WHERE relationship_id = 'RxNorm has ing' AND {valid}
                    AND to_id(concept_id_1) IN (SELECT id FROM drug_ids)) AS parts
            JOIN src_concept_relationship r ON to_id(r.concept_id_1) = parts.part
            JOIN atc ON atc.id = to_id(r.concept_id_2)
            WHERE {valid.replace("invalid_reason", "r.invalid_reason")}""")
    if atc_parts:
        ancestor = atc_parts[0] if len(atc_parts) == 2 else None
        if ancestor is not None:
            query = (
                f"WITH {atc_cte}, anc AS ({atc_parts[0]}), rel AS ({atc_parts[1]}) "
                "SELECT DISTINCT * FROM anc UNION SELECT * FROM rel "
                "WHERE drug_id NOT IN (SELECT drug_id FROM anc)"
            )
        else:
            query = f"WITH {atc_cte} SELECT DISTINCT * FROM ({atc_parts[0]})"
        con.execute(f"CREATE TEMP TABLE drug_atc AS {query}")
    else:
        con.execute("CREATE TEMP TABLE drug_atc (drug_id BIGINT, code VARCHAR)")
    if src.has("drug_strength"):
        factor = " ".join(f"WHEN {k} THEN {v}" for k, v in _MG_FACTORS.items())
        con.execute(f"""
            CREATE TEMP TABLE strength AS
            SELECT to_id(drug_concept_id) AS drug_id, count(*) AS n_parts,
                   any_value(to_num({c("drug_strength", "amount_value")})
                             * CASE to_id({c("drug_strength", "amount_unit_concept_id")}) {factor} END)
                       AS mg
            FROM src_drug_strength WHERE to_id(drug_concept_id) IN (SELECT id FROM drug_ids)
            GROUP BY 1
        """)
    else:
        con.execute("CREATE TEMP TABLE strength (drug_id BIGINT, n_parts BIGINT, mg DOUBLE)")

    system = "CASE WHEN v.vocab = 'ICD9Proc' THEN 'ICD9PCS' ELSE upper(replace(v.vocab, ' ', '_')) END"
    if has_concept:
        standard = (
            f"SELECT e.ev_id, {system} AS code_system, v.code, 'standard' AS how "
            "FROM ev e JOIN voc v ON v.id = e.cid"
        )
        source = (
            f"SELECT e.ev_id, {system}, v.code, 'source' FROM ev e JOIN voc v ON v.id = e.scid "
            "WHERE e.scid IS DISTINCT FROM e.cid"
        )
    else:
        standard = (
            "SELECT ev_id, 'OMOP_CONCEPT_ID' AS code_system, CAST(cid AS VARCHAR) AS code, "
            "'standard' AS how FROM ev WHERE cid <> 0"
        )
        source = (
            "SELECT ev_id, 'OMOP_CONCEPT_ID', CAST(scid AS VARCHAR), 'source' FROM ev "
            "WHERE scid <> 0 AND scid IS DISTINCT FROM cid"
        )
    con.execute(f"""
        CREATE TEMP TABLE codes AS
        WITH base AS ({standard} UNION ALL {source})
        SELECT * FROM base
        UNION ALL
        SELECT e.ev_id, 'ICD10CM', m.code, 'icd10cm_from_standard'
        FROM ev e JOIN snomed_icd m ON m.std_id = e.cid
        WHERE e.domain = 'diagnosis'
          AND e.ev_id NOT IN (SELECT ev_id FROM base WHERE code_system = 'ICD10CM')
        UNION ALL
        SELECT e.ev_id, 'ATC', a.code, 'atc_from_vocabulary'
        FROM ev e JOIN drug_atc a ON a.drug_id = e.cid
        WHERE e.domain = 'medication'
    """)
    con.execute(f"""
        CREATE TEMP TABLE pers AS
        WITH p AS (
            SELECT to_id(person_id) AS person_id, to_id({c("person", "gender_concept_id")}) AS g,
                   upper(left(to_text({c("person", "gender_source_value")}), 1)) AS gs,
                   CAST(to_id(year_of_birth) AS INTEGER) AS y,
                   to_id({c("person", "month_of_birth")}) AS m, to_id({c("person", "day_of_birth")}) AS d,
                   to_date({c("person", "birth_datetime")}) AS bdt
            FROM src_person WHERE to_id(person_id) IS NOT NULL
        )
        SELECT person_id, CAST(person_id AS VARCHAR) AS patient_id,
               CASE WHEN g = 8507 THEN 'M' WHEN g = 8532 THEN 'F'
                    WHEN gs IN ('F', 'M') THEN gs ELSE 'U' END AS sex,
               y AS birth_year,
               coalesce(TRY_CAST(printf('%04d-%02d-%02d', y, m, d) AS DATE),
                        CASE WHEN year(bdt) = y THEN bdt END) AS birth_date
        FROM p
    """)
    if index == "observation-end" and src.has("observation_period"):
        con.execute("""
            CREATE TEMP TABLE idx AS
            SELECT to_id(person_id) AS person_id, max(to_date(observation_period_end_date)) AS index_date
            FROM src_observation_period GROUP BY 1
        """)
    else:
        con.execute("CREATE TEMP TABLE idx (person_id BIGINT, index_date DATE)")
    con.execute("""
        CREATE TEMP VIEW extract_rows AS
        WITH people AS (
            SELECT p.*, i.index_date FROM pers p LEFT JOIN idx i USING (person_id)
        ), dose AS (
            SELECT e.ev_id,
                   CASE WHEN s.n_parts = 1 AND s.mg > 0 AND e.quantity > 0 AND e.days_supply > 0
                        THEN s.mg * e.quantity / e.days_supply END AS mg_per_day
            FROM ev e JOIN strength s ON s.drug_id = e.cid WHERE e.domain = 'medication'
        ), rows AS (
            SELECT DISTINCT e.ev_id, k.code_system, k.code FROM codes k JOIN ev e USING (ev_id)
            WHERE k.code IS NOT NULL AND k.code_system IS NOT NULL
        )
        SELECT p.patient_id, p.sex, p.birth_year, p.birth_date, p.index_date, 'person' AS domain,
               NULL AS code_system, NULL AS code, NULL AS value_num, NULL AS value_text,
               NULL AS unit, NULL AS ref_low, NULL AS ref_high, NULL AS start_date, NULL AS end_date
        FROM people p
        UNION ALL
        SELECT p.patient_id, p.sex, p.birth_year, p.birth_date, p.index_date, e.domain,
               r.code_system, r.code,
               CASE WHEN e.domain = 'medication' THEN d.mg_per_day ELSE e.value_num END,
               CASE WHEN e.value_num IS NULL THEN coalesce(vv.name, e.value_str) END,
               CASE WHEN e.domain = 'medication' THEN
                        CASE WHEN d.mg_per_day IS NOT NULL THEN 'mg/d' END
                    ELSE coalesce(u.code, e.unit_src) END,
               e.ref_low, e.ref_high, e.start_date,
               CASE WHEN e.end_date IS NOT NULL THEN e.end_date
                    WHEN e.domain = 'medication' AND e.days_supply >= 1
                    THEN CAST(e.start_date + CAST(e.days_supply - 1 AS INTEGER) AS DATE) END
        FROM rows r JOIN ev e USING (ev_id) JOIN people p USING (person_id)
        LEFT JOIN voc vv ON vv.id = e.value_cid AND e.value_cid <> 0
        LEFT JOIN voc u ON u.id = e.unit_cid AND e.unit_cid <> 0
        LEFT JOIN dose d ON d.ev_id = e.ev_id
        ORDER BY 1, 6, 14
    """)


def _quality_sql(src: _Source) -> str:
    reads = ", ".join(
        f'(SELECT count(*) FROM src_{t}) AS "{t} rows read"' for t in EVENT_TABLES if src.has(t)
    )
    return f"""
    WITH coded AS (SELECT DISTINCT ev_id FROM codes WHERE code IS NOT NULL),
    meas AS (
        SELECT e.cid, coalesce(u.code, e.unit_src) AS unit, e.value_num, e.ref_high
        FROM ev e LEFT JOIN voc u ON u.id = e.unit_cid AND e.unit_cid <> 0
        WHERE e.domain = 'lab'
    ),
    units AS (SELECT cid, count(DISTINCT unit) AS n_units, count(*) AS n FROM meas
              WHERE value_num IS NOT NULL AND unit IS NOT NULL GROUP BY cid)
    SELECT
        (SELECT count(*) FROM pers) AS "persons",
        (SELECT count(*) FROM pers WHERE sex = 'U') AS "persons without F/M gender",
        (SELECT count(*) FROM pers WHERE birth_year IS NULL) AS "persons without year of birth",
        (SELECT count(*) FROM idx WHERE index_date IS NOT NULL) AS "persons with an index_date",
        {reads},
        (SELECT count(*) FROM ev_raw WHERE start_date IS NULL) AS "events without a date (dropped)",
        (SELECT count(*) FROM ev_raw WHERE start_date IS NOT NULL
            AND person_id NOT IN (SELECT person_id FROM pers))
            AS "events of persons not in person (dropped)",
        (SELECT count(*) FROM ev WHERE ev_id NOT IN (SELECT ev_id FROM coded))
            AS "events without any code (concept 0, no source concept; dropped)",
        (SELECT count(*) FROM ev WHERE cid <> 0 AND cid NOT IN (SELECT id FROM voc))
            AS "events whose concept_id is not in the concept table",
        (SELECT count(*) FROM meas WHERE value_num IS NOT NULL AND unit IS NULL)
            AS "measurement results without a unit",
        (SELECT count(*) FROM meas WHERE value_num IS NOT NULL AND ref_high IS NULL)
            AS "measurement results without range_high (ULN)",
        (SELECT count(*) FROM units WHERE n_units > 1)
            AS "measurement concepts reported in two or more units",
        (SELECT coalesce(sum(n), 0) FROM units WHERE n_units > 1)
            AS "measurement results of concepts in two or more units",
        (SELECT count(*) FROM codes WHERE how = 'icd10cm_from_standard')
            AS "ICD10CM rows added from standard conditions (vocabulary)",
        (SELECT count(*) FROM ev WHERE domain = 'diagnosis'
            AND ev_id NOT IN (SELECT ev_id FROM codes WHERE code_system = 'ICD10CM'))
            AS "condition events without an ICD10CM code",
        (SELECT count(DISTINCT ev_id) FROM codes WHERE how = 'atc_from_vocabulary')
            AS "drug exposures with an ATC class (vocabulary)",
        (SELECT count(*) FROM ev WHERE domain = 'medication'
            AND ev_id NOT IN (SELECT ev_id FROM codes WHERE how = 'atc_from_vocabulary'))
            AS "drug exposures without an ATC class",
        (SELECT count(*) FROM ev e WHERE domain = 'medication' AND NOT EXISTS (
            SELECT 1 FROM strength s WHERE s.drug_id = e.cid AND s.n_parts = 1 AND s.mg > 0
            AND e.quantity > 0 AND e.days_supply > 0))
            AS "drug exposures without a daily dose (no single-ingredient strength, quantity or days supply)"
    """

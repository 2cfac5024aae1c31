"""OMOP CDM 5.3 / 5.4 -> extract.

The source is a folder of parquet or CSV files (one per table, any case: `person.parquet`,
`PERSON.csv`, `person/` of parquet parts, ...) or a DuckDB database file. This module finds the
tables and shapes each into a view with every column the mapping reads; the mapping itself is
the fixed SQL of `sql/import_omop.sql`, and nothing loops over rows in Python.

Mapping (see docs/importing.md):
- person: sex from gender_concept_id (8507 M, 8532 F, else the source value's F/M, else U);
  birth_year = year_of_birth; birth_date when month and day of birth (or birth_datetime) are
  known; death_date from death (the earliest of a person's), when the table is there.
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
  (UCUM) or unit_source_value, range_low / range_high; a number whose operator_concept_id is
  <, <=, > or >= is written as a bound (`<20`), which the engine reads as one.
- Drugs: start and end dates (end = start + days_supply - 1 when there is no end date); daily
  dose in mg/d for single-ingredient drugs with a drug_strength in mg, g or ug: quantity x
  amount (or x numerator, over mL, L, mg, actuation or cm2) / days_supply, or / the days from
  start to end date without a days_supply; a numerator per hour gives the dose a day itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
from sqlglot import exp

from feasibility.errors import FeasibilityError, short_message
from feasibility.importers.common import (
    ImportSummary,
    People,
    build_extract,
    connect,
    create_view,
    find_table_file,
    reader,
    refuse_out_in_source,
    shaped_view,
    temp_view,
)
from feasibility.resources import sql_text
from feasibility.user_files import check_extract_out

EVENT_TABLES = ("condition_occurrence", "measurement", "drug_exposure", "procedure_occurrence", "observation")
VOCAB_TABLES = ("concept", "concept_relationship", "concept_ancestor", "drug_strength")
OTHER_TABLES = ("observation_period", "death")
INDEX_CHOICES = ("none", "observation-end")


@dataclass(frozen=True)
class _Table:
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


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
            "operator_concept_id",
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
    "drug_strength": _Table(
        ("drug_concept_id",),
        (
            "amount_value",
            "amount_unit_concept_id",
            "numerator_value",
            "numerator_unit_concept_id",
            "denominator_value",
            "denominator_unit_concept_id",
        ),
    ),
    "observation_period": _Table(("person_id", "observation_period_end_date"), ()),
    "death": _Table(("person_id",), ("death_date", "death_datetime")),
}


class _Source:
    """The OMOP tables found, as views `src_<table>`, and their columns."""

    def __init__(self) -> None:
        self.columns: dict[str, set[str]] = {}
        self.notes: list[str] = []

    def has(self, table: str) -> bool:
        return table in self.columns


# A table found: what reads it, its label in messages, and its file when it is one.
_Found = tuple[exp.Expr, str, Path | None]


def _open_source(
    con: duckdb.DuckDBPyConnection, path: Path, schema: str | None, encoding: str | None
) -> _Source:
    if not path.exists():
        raise FeasibilityError("OMOP folder or DuckDB file not found", where=str(path), fix="check the path")
    source = _Source()
    found: dict[str, _Found] = {}
    if path.is_dir():
        if schema is not None:
            raise FeasibilityError(
                "--schema applies to a DuckDB file, not to a folder of tables",
                where=str(path),
                fix="leave out --schema",
            )
        for name in _WANTED:
            f = find_table_file(path, name)
            if f is not None:
                found[name] = (reader(f, encoding), str(f), f)
    elif path.name.lower().endswith((".parquet", ".csv", ".csv.gz")):
        raise FeasibilityError(
            "is one table; the importer reads the folder that holds the OMOP tables",
            where=str(path),
            fix=f"give the folder, e.g. `feasibility import omop {path.parent}`",
        )
    else:
        found = _duckdb_tables(con, path, schema, source.notes)
    if "person" not in found:
        raise FeasibilityError(
            "required table `person` is missing" + (f" from schema `{schema}`" if schema is not None else ""),
            where=str(path),
            fix="export the OMOP person table (person.parquet or person.csv)"
            if path.is_dir()
            else "pass --schema NAME of the schema that holds the CDM tables",
        )
    if not any(t in found for t in EVENT_TABLES):
        raise FeasibilityError(
            "no event table (condition_occurrence, measurement, drug_exposure, "
            "procedure_occurrence, observation)",
            where=str(path),
            fix="export the OMOP clinical tables beside person",
        )
    for name, (source_table, label, file) in found.items():
        cols = set(create_view(con, f"src_{name}", source_table, label, file, encoding))
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


_WANTED = ("person", *EVENT_TABLES, *VOCAB_TABLES, *OTHER_TABLES)


def _duckdb_tables(
    con: duckdb.DuckDBPyConnection, path: Path, schema: str | None, notes: list[str]
) -> dict[str, _Found]:
    """The OMOP tables of the DuckDB file `path`, attached read-only, in `schema` (default: the
    one holding `person`). The clinical tables come from that schema only, so that one CDM is
    never mixed with another of the same file; a vocabulary table it lacks may come from the
    one other schema that has it (CDMs often keep the vocabulary in a schema of its own)."""
    attach = exp.Attach(
        this=exp.alias_(exp.Literal.string(str(path)), "omop_src"),
        expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
    )
    try:
        con.execute(attach.sql(dialect="duckdb"))
        catalog = con.execute(sql_text("omop_catalog.sql")).fetchall()
    except duckdb.Error as e:
        raise FeasibilityError(
            f"cannot open as a DuckDB database ({short_message(e)})",
            where=str(path),
            fix="give a folder of OMOP parquet/CSV files or a DuckDB file",
        ) from None
    schemas = [sch for kind, sch, _ in catalog if kind == "schema"]
    by_name: dict[str, list[tuple[str, str]]] = {}
    for sch, tab in ((sch, tab) for kind, sch, tab in catalog if kind == "relation"):
        by_name.setdefault(tab.lower(), []).append((sch, tab))
    with_person = [s for s, _ in by_name.get("person", [])]
    if schema is not None:
        # DuckDB matches schema names regardless of case: so does --schema
        match = next((s for s in schemas if s == schema), None) or next(
            (s for s in schemas if s.lower() == schema.lower()), None
        )
        if match is None:
            raise FeasibilityError(
                f"schema `{schema}` not found; the file's schemas are {', '.join(schemas)}",
                where=str(path),
                fix="pass --schema NAME of a schema holding the CDM tables"
                + (f" (`person` is in {', '.join(with_person)})" if with_person else ""),
            )
        schema = match
    elif len(with_person) == 1:
        schema = with_person[0]
    elif len(with_person) > 1:
        if "main" not in with_person:
            raise FeasibilityError(
                f"`person` is in several schemas ({', '.join(with_person)})",
                where=str(path),
                fix="pass --schema NAME",
            )
        schema = "main"
    found: dict[str, _Found] = {}
    elsewhere: dict[str, list[str]] = {}  # vocabulary table -> the other schemas holding it
    for name in _WANTED:
        options = by_name.get(name, [])
        pick = next((o for o in options if o[0] == schema), None)
        if pick is None and name in VOCAB_TABLES and options:
            if len(options) > 1:
                notes.append(
                    f"`{name}` is not in schema {schema} and in several others "
                    f"({', '.join(o[0] for o in options)}): not used"
                )
                continue
            pick = options[0]
            elsewhere.setdefault(pick[0], []).append(name)
        if pick is not None:
            table = exp.Table(
                this=exp.to_identifier(pick[1], quoted=True),
                db=exp.to_identifier(pick[0], quoted=True),
                catalog=exp.to_identifier("omop_src"),
            )
            found[name] = (table, f"{path}:{pick[0]}.{pick[1]}", None)
    if "person" in found:
        notes.append(f"CDM tables read from schema {schema}")
    notes.extend(f"vocabulary read from schema {s}: {', '.join(t)}" for s, t in elsewhere.items())
    return found


def import_omop(
    path: Path,
    out: Path,
    index: str = "none",
    schema: str | None = None,
    encoding: str | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    notices: Sequence[str] = (),
) -> ImportSummary:
    """Read the OMOP CDM at `path` (its CSV tables in `encoding`, see `common.csv_encoding`),
    write the extract to `out` with `notices` as its notice, return the summary."""
    if index not in INDEX_CHOICES:
        raise FeasibilityError(
            f"unknown index choice `{index}`",
            where="--index-date",
            fix=f"use one of {', '.join(INDEX_CHOICES)}",
        )
    if Path(path).exists():  # else _open_source says it is not found
        kind = "OMOP CDM folder" if Path(path).is_dir() else "OMOP DuckDB file"
        refuse_out_in_source(out, [(Path(path), kind)])
    check_extract_out(out)
    con = connect(threads, memory_limit)
    try:
        src = _open_source(con, Path(path), schema, encoding)
        for table, spec in _COLUMNS.items():
            present = src.columns.get(table, set())
            shaped_view(
                con, f"omop_{table}", f"src_{table}" if src.has(table) else None, present, spec.columns
            )
        options = exp.select(
            exp.Boolean(this=src.has("concept")).as_("has_concept"),
            exp.Boolean(this=index == "observation-end").as_("index_observation_end"),
        )
        temp_view(con, "omop_options", options)
        people = People(table="pers", view="omop_person", source="person", id_column="person_id")
        summary = build_extract(
            con, "import_omop.sql", "import_omop_quality.sql", str(path), "OMOP CDM", out, people, notices
        )
        summary.notes.extend(src.notes)
        summary.counts = {k: n for k, n in summary.counts.items() if not _read_of_absent(k, src)}
        absent = [t for t in (*EVENT_TABLES, *VOCAB_TABLES) if not src.has(t)]
        if absent:
            summary.notes.append("tables absent or unusable: " + ", ".join(absent))
        if not src.has("concept"):
            summary.notes.append("no concept table: codes written as OMOP_CONCEPT_ID")
        if index == "observation-end":
            summary.notes.append("index_date = end of each person's last observation period")
        summary.notes.extend(_unreadable_domains(summary.counts))
        return summary
    finally:
        con.close()


def _unreadable_domains(counts: dict[str, int]) -> list[str]:
    """What the trials will not see, said where it is plain: every drug exposure without an
    ATC class, or every condition without an ICD10CM code. A vocabulary that lacks ATC or
    ICD10CM (a Synthea export's holds RxNorm and SNOMED only) leaves the rows in the extract
    under codes the concept library does not list, so medication or diagnosis criteria would
    pass or fail everyone without a word."""
    notes = []
    drugs = counts.get("drug_exposure rows read", 0)
    if drugs and counts.get("drug exposures without an ATC class") == drugs:
        notes.append(
            "no drug exposure has an ATC class, so medication criteria will find none: add the ATC "
            "vocabulary to the concept table, with concept_ancestor or concept_relationship"
        )
    conditions = counts.get("condition_occurrence rows read", 0)
    if conditions and counts.get("condition events without an ICD10CM code") == conditions:
        notes.append(
            "no condition has an ICD10CM code, so diagnosis criteria find only the few SNOMED codes "
            "the concept library lists: add the ICD10CM vocabulary and its 'Maps to' relationships"
        )
    return notes


def _read_of_absent(label: str, src: _Source) -> bool:
    """Whether `label` is the rows-read count of a table the export does not have."""
    return label.endswith(" rows read") and not src.has(label.removesuffix(" rows read"))

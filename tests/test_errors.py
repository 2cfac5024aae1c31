"""Bad input gets one line naming the file, the place and the fix; exit 2; no traceback;
no report folder left behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from feasibility.errors import ExtractError, short_message, withhold_values
from feasibility.extract.contract import BY_NAME as CONTRACT
from feasibility.extract.source import ExtractSource
from tests.support import REPO, corrupt_column, event, frame, person, write_extract

SPEC = REPO / "tests/fixtures/trials/spec.yaml"


def feasibility(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "feasibility", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def good_rows() -> list[dict]:
    return person("p1", sex="F", birth_year=1980) + [
        event("p1", "diagnosis", "ICD10CM", "M32.14", "2024-01-01")
    ]


def run_on(tmp_path: Path, extract: Path, *extra: str) -> subprocess.CompletedProcess:
    return feasibility(
        "run", str(extract), "--trials", str(SPEC), "--out", str(tmp_path / "report"), *extra, cwd=tmp_path
    )


def test_good_extract_runs(tmp_path):
    proc = run_on(tmp_path, write_extract(good_rows(), tmp_path / "x.parquet"), "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report" / "report.json").is_file()
    # in a log (stderr not a terminal) no spinner is drawn and no empty line left behind
    assert re.fullmatch(
        rf"report written to {re.escape(str(tmp_path / 'report'))}/ \(\d+\.\d s\)\n", proc.stderr
    )


def test_site_option_ignored_by_an_extract_with_sites_says_so(tmp_path):
    named = [{**r, "site_id": "S1"} for r in good_rows()]
    proc = run_on(tmp_path, write_extract(named, tmp_path / "named.parquet"), "-q", "--site", "MINE")
    assert proc.returncode == 0, proc.stderr
    assert "note: --site MINE names only rows without a site_id; this extract's sites: S1" in proc.stderr
    # where rows have no site_id, --site is their site and there is nothing to say
    proc = run_on(tmp_path, write_extract(good_rows(), tmp_path / "bare.parquet"), "-q", "--site", "MINE")
    assert proc.returncode == 0 and "note:" not in proc.stderr, proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [s["site_id"] for s in report["trials"][0]["sites"]] == ["ALL", "MINE"]


def test_missing_file(tmp_path):
    proc = run_on(tmp_path, tmp_path / "nope.parquet")
    assert_one_line_error(proc, "nope.parquet", "file not found", "fix:")
    assert not (tmp_path / "report").exists()


def test_paths_with_brackets_are_printed_verbatim(tmp_path):
    # a path is the user's text: `[red]` in it is not terminal markup
    folder = tmp_path / "site [red]"
    folder.mkdir()
    extract = write_extract(good_rows(), folder / "x.parquet")
    proc = feasibility(
        "run", str(extract), "--trials", str(SPEC), "--out", str(folder / "rep"), "-q", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert f"report written to {folder / 'rep'}/" in proc.stderr
    proc = run_on(tmp_path, folder / "nope.parquet")
    assert_one_line_error(proc, str(folder / "nope.parquet"), "fix:")


def test_not_parquet(tmp_path):
    bad = tmp_path / "x.parquet"
    bad.write_text("patient_id,sex\n1,F\n")
    assert_one_line_error(run_on(tmp_path, bad), "x.parquet", "cannot read as parquet", "fix:")
    assert not (tmp_path / "report").exists()


def test_truncated_parquet(tmp_path):
    path = write_extract(good_rows(), tmp_path / "x.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_on(tmp_path, path), "x.parquet", "fix:")


def test_corrupt_data_pages(tmp_path):
    """The footer and schema read, the data does not: the first reads of the rows fail."""
    rows = person("p1") + [event("p1", "diagnosis", "ICD10CM", f"M32.{i}", "2024-01-01") for i in range(300)]
    path = corrupt_column(write_extract(rows, tmp_path / "x.parquet"), "code")
    assert_one_line_error(run_on(tmp_path, path), "x.parquet", "cannot read the extract", "fix:")
    assert not (tmp_path / "report").exists()


def test_missing_column_with_suggestion(tmp_path):
    df = frame(good_rows()).rename({"birth_year": "birthyear"})
    df.write_parquet(tmp_path / "x.parquet")
    line = assert_one_line_error(run_on(tmp_path, tmp_path / "x.parquet"), "`birth_year`")
    assert "rename `birthyear` to `birth_year`" in line


def test_wrong_type(tmp_path):
    df = frame(good_rows()).with_columns(pl.col("birth_year").cast(pl.Utf8))
    df.write_parquet(tmp_path / "x.parquet")
    line = assert_one_line_error(
        run_on(tmp_path, tmp_path / "x.parquet"), "`birth_year`", "VARCHAR", "INTEGER"
    )
    assert line.endswith("e.g. CAST(birth_year AS INTEGER) in the export's query")


def test_dates_as_strings(tmp_path):
    df = frame(good_rows()).with_columns(pl.col("start_date").cast(pl.Utf8))
    df.write_parquet(tmp_path / "x.parquet")
    line = assert_one_line_error(run_on(tmp_path, tmp_path / "x.parquet"), "`start_date`", "DATE")
    assert line.endswith("e.g. CAST(start_date AS DATE) in the export's query from YYYY-MM-DD text")


def test_null_patient_id(tmp_path):
    rows = good_rows() + [{**good_rows()[1], "patient_id": None}]
    line = assert_one_line_error(
        run_on(tmp_path, write_extract(rows, tmp_path / "x.parquet")), "1 rows have no patient_id"
    )
    assert "p1" not in line  # no patient-level value in messages


def test_zero_rows(tmp_path):
    frame([]).write_parquet(tmp_path / "x.parquet")
    assert_one_line_error(run_on(tmp_path, tmp_path / "x.parquet"), "no rows")


def test_two_sexes_is_a_counted_warning(tmp_path):
    rows = good_rows() + [{**good_rows()[1], "sex": "M"}]
    proc = run_on(tmp_path, write_extract(rows, tmp_path / "x.parquet"), "--min-cell", "0")
    assert proc.returncode == 0, proc.stderr

    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["data_quality"]["counts"]["patients_with_two_sexes"] == 1


def test_a_sex_outside_the_contract_is_read_as_unknown_and_counted(tmp_path):
    rows = good_rows()
    rows += [{**r, "patient_id": "p2", "sex": "female"} for r in good_rows()]
    rows += [{**r, "patient_id": "p3", "sex": "f"} for r in good_rows()]
    proc = run_on(tmp_path, write_extract(rows, tmp_path / "x.parquet"), "--min-cell", "0")
    assert proc.returncode == 0, proc.stderr
    assert "1 patients with unrecognised sex (read as U: the extract contract's values are F, M and U)" in (
        " ".join((proc.stderr + proc.stdout).split())
    )
    counts = json.loads((tmp_path / "report" / "report.json").read_text())["data_quality"]["counts"]
    # p3's lower-case f is F; p2's `female` is U, not a second sex
    assert counts["patients_with_unrecognised_sex"] == 1
    assert counts["patients_with_unknown_sex"] == 1
    assert counts["patients_with_two_sexes"] == 0


YAML_CASES = [
    (
        "id: T\ncriteria:\n  - id: a\n    kind: inclusion\n    text: x\n    rule: {age: {min: 18}\n",
        ["trial.yaml:", "YAML syntax error"],
    ),
    (
        "id: T\ncriteria:\n  - id: a\n    kind: inclusion\n    text: x\n    rule: {age: {mni: 18}}\n",
        ["trial.yaml:6", "unknown key `mni`", "did you mean `min`"],
    ),
    (
        "id: T\ncriteria:\n  - id: a\n    kind: inclusion\n    text: x\n    rule: {diagnosis: sel}\n",
        ["trial.yaml:6", "unknown concept `sel`", "did you mean `sle`"],
    ),
    (
        "id: T\ncriteria:\n  - id: a\n    kind: inclusion\n    text: x\n    rule: {age: {min: 70, max: 18}}\n",
        ["trial.yaml:6", "can never be met"],
    ),
    (
        "id: T\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: {sex: F}}\n"
        "  - {id: a, kind: inclusion, text: y, rule: {sex: M}}\n",
        ["trial.yaml:4", "criterion id `a` is used twice"],
    ),
    (
        "id: T\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: {lab: {concept: alt, max: 3, unit: furlong}}}\n",
        [
            "trial.yaml:3",
            "unit `furlong` is not known for `alt`",
            "use one of: U/L, ukat/L, ULN, LLN or `U/L above ULN`",
        ],
    ),
    (
        "id: T\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: {diagnosis: {concept: sle, within: 6 moons}}}\n",
        ["trial.yaml:3", "cannot read the window `6 moons`"],
    ),
    (
        "id: T\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: {diagnosis: {concept: sle, within: 0 months}}}\n",
        ["trial.yaml:3", "the window `0 months` is empty"],
    ),
    (
        "id: T\ncriteria:\n  - {id: a, kind: inclusion, text: x}\n",
        ["trial.yaml:3", "has no rule", "assessable: false"],
    ),
    (
        "id: T\ncriteria:\n  - {id: a, kind: exclusoin, text: x, rule: {sex: F}}\n",
        ["trial.yaml:3", "not `exclusoin`", "`kind: exclusion`"],
    ),
    ("id: T\ncriteria: []\n", ["trial.yaml:2", "has no criteria", "fix: list the protocol's criteria"]),
]


@pytest.mark.parametrize(("text", "fragments"), YAML_CASES)
def test_bad_trial_yaml(tmp_path, text, fragments):
    folder = tmp_path / "trials"
    (folder / "concepts").mkdir(parents=True)
    (folder / "concepts" / "c.yaml").write_text(
        (REPO / "tests/fixtures/trials/concepts/spec_concepts.yaml").read_text()
    )
    (folder / "trial.yaml").write_text(text)
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = feasibility(
        "run",
        str(extract),
        "--trials",
        str(folder / "trial.yaml"),
        "--out",
        str(tmp_path / "report"),
        cwd=tmp_path,
    )
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "report").exists()


def test_missing_trial_path(tmp_path):
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = feasibility("run", str(extract), "--trials", "nowhere.yaml", cwd=tmp_path)
    assert_one_line_error(proc, "nowhere.yaml", "trial path not found")


def test_failed_run_keeps_the_previous_report(tmp_path):
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    assert run_on(tmp_path, extract, "-q").returncode == 0
    before = (tmp_path / "report" / "report.json").read_text()
    bad = tmp_path / "bad.parquet"
    bad.write_text("garbage")
    assert run_on(tmp_path, bad).returncode == 2
    assert (tmp_path / "report" / "report.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []


def _folder_of_two(tmp_path: Path, first: pl.DataFrame, second: pl.DataFrame) -> Path:
    folder = tmp_path / "extract"
    folder.mkdir()
    first.write_parquet(folder / "a.parquet")
    second.write_parquet(folder / "b.parquet")
    return folder


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (
            lambda df: df.with_columns(pl.col("birth_year").cast(pl.Utf8)),
            ["b.parquet", "`birth_year` is VARCHAR here but INTEGER in a.parquet"],
        ),
        (
            lambda df: df.drop("ref_high"),
            ["b.parquet", "`ref_high` is missing here but present in a.parquet"],
        ),
        (
            lambda df: df.with_columns(pl.col("start_date").alias("index_date")),
            ["b.parquet", "`index_date` is here but not in a.parquet"],
        ),
    ],
)
def test_files_of_one_extract_must_agree_on_contract_columns(tmp_path, change, fragments):
    # DuckDB would read b.parquet with a.parquet's schema: casting its values, filling a
    # missing column with NULLs, or dropping b's index dates without a word
    rows = frame(good_rows()).drop("index_date")
    folder = _folder_of_two(tmp_path, rows, change(rows))
    line = assert_one_line_error(run_on(tmp_path, folder), *fragments, "same columns and types")
    assert not (tmp_path / "report").exists()
    assert "1980" not in line


def test_files_of_one_extract_may_differ_in_integer_width(tmp_path):
    # several exporters of one extract: birth years as INT32 in one file and INT64 in the
    # other, a patient id beyond INT32 in the wider file; each read as the wider type
    narrow = frame(good_rows()).with_columns(pl.col("birth_year").cast(pl.Int32))
    wide = frame(good_rows()).with_columns(
        pl.col("birth_year").cast(pl.Int64), pl.lit("p2").alias("patient_id")
    )
    folder = _folder_of_two(tmp_path, narrow, wide)
    proc = run_on(tmp_path, folder, "-q", "--min-cell", "0")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["data_quality"]["counts"]["patients"] == 2
    # integer patient ids, the second file's past what INT32 holds
    ids = tmp_path / "ids"
    ids.mkdir()
    frame(good_rows()).with_columns(pl.lit(1, pl.Int32).alias("patient_id")).write_parquet(ids / "a.parquet")
    frame(good_rows()).with_columns(pl.lit(2**40, pl.Int64).alias("patient_id")).write_parquet(
        ids / "b.parquet"
    )
    proc = run_on(tmp_path, ids, "-q", "--min-cell", "0", "--out", "ids-report")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "ids-report" / "report.json").read_text())
    assert report["data_quality"]["counts"]["patients"] == 2
    # Spark reads every file with one file's schema: refused before it starts
    proc = run_on(tmp_path, ids, "--engine", "spark", "--out", "spark-report")
    assert_one_line_error(proc, "`patient_id` is an integer of another width", "run with the DuckDB engine")
    assert not (tmp_path / "spark-report").exists()


def test_files_of_one_extract_may_differ_outside_the_contract(tmp_path):
    rows = frame(good_rows())
    folder = _folder_of_two(tmp_path, rows, rows.with_columns(pl.lit("B2").alias("ward")))
    proc = run_on(tmp_path, folder, "-q")
    assert proc.returncode == 0, proc.stderr


def test_a_folder_in_spark_partitioned_layout_is_read(tmp_path):
    # Spark and pandas write a "file" x.parquet as a folder of part files
    part = tmp_path / "data" / "x.parquet"
    part.mkdir(parents=True)
    write_extract(good_rows(), part / "part-00000.parquet")
    proc = run_on(tmp_path, tmp_path / "data", "-q")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["provenance"]["extract"]["files"] == ["part-00000.parquet"]


def test_a_folders_files_that_are_not_parquet_are_named_as_not_read(tmp_path):
    # a CSV export beside the parquet one: its rows are in no count, and the user is told
    folder = tmp_path / "extract"
    (folder / "sub").mkdir(parents=True)
    write_extract(good_rows(), folder / "part-0.parquet")
    (folder / "patients.csv").write_text("patient_id,birth_year\np1,1980\n")
    (folder / "sub" / "notes.txt").write_text("p1 1980\n")
    # Spark's and Hadoop's own bookkeeping is left out, as they leave it out
    (folder / "_SUCCESS").touch()
    (folder / ".part-0.parquet.crc").touch()
    proc = run_on(tmp_path, folder, "-q")
    assert proc.returncode == 0, proc.stderr
    note = f"{folder}: 2 files that are not parquet are not read (patients.csv, sub/notes.txt)"
    assert f"note: {note}" in proc.stderr.splitlines()
    assert "1980" not in proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["provenance"]["extract"]["not_read"] == ["patients.csv", "sub/notes.txt"]
    assert note in report["data_quality"]["warnings"]
    assert note in (tmp_path / "report" / "report.html").read_text()
    # a folder of parquet files only, or one file, says nothing of the kind
    (folder / "patients.csv").unlink()
    (folder / "sub" / "notes.txt").unlink()
    proc = run_on(tmp_path, folder, "-q")
    assert proc.returncode == 0 and "not read" not in proc.stderr, proc.stderr


def test_an_extract_gone_before_its_fingerprint_is_one_line(tmp_path):
    source = ExtractSource((tmp_path / "gone.parquet",), "gone.parquet", {})
    with pytest.raises(ExtractError, match="cannot read the extract to fingerprint it") as e:
        source.sha256()
    assert e.value.where == "gone.parquet"


def test_a_value_out_of_its_columns_range_names_the_column(tmp_path):
    # DuckDB's message is long; cut at a word, it must not read as another column's name
    rows = frame(good_rows()).with_columns(pl.lit(2**63, pl.UInt64).alias("birth_year"))
    rows.write_parquet(tmp_path / "x.parquet")
    proc = run_on(tmp_path, tmp_path / "x.parquet")
    line = assert_one_line_error(proc, "a value cannot be read", "fix: check column `birth_year`")
    assert str(2**63) not in line and "birth_yea)" not in line
    assert not (tmp_path / "report").exists()


def test_a_long_database_message_is_cut_at_a_word():
    assert short_message(ValueError("a " * 100 + "source column birth_year")) == ("a " * 80).strip() + " …"


def test_database_errors_never_show_a_data_value():
    con = duckdb.connect()
    failing = {
        "SELECT CAST('19x1977' AS INTEGER)": "19x1977",
        "SELECT CAST('2024-13-45' AS DATE)": "2024-13-45",
        "SELECT CAST('2024-01-01 25:00' AS TIMESTAMP)": "25:00",
        "SELECT CAST(98765432101 AS INTEGER)": "98765432101",
        "SELECT make_date(20245, 13, 1)": "20245",
    }
    for sql, value in failing.items():
        with pytest.raises(duckdb.Error) as raised:
            con.execute(sql)
        assert value in str(raised.value)  # DuckDB does print it...
        message = short_message(raised.value)
        assert value not in message and "(value withheld)" in message, message  # ...we do not
    spark = '[CAST_INVALID_INPUT] The value \'P0042\' of the type "STRING" cannot be cast to "INT"'
    assert withhold_values(spark) == (
        '[CAST_INVALID_INPUT] The value (value withheld) of the type "STRING" cannot be cast to "INT"'
    )
    # the file and column names around a value are the user's own and stay
    read = 'Error while reading file "x/b.parquet": failed to cast column "birth_year": Could not convert string \'19x1\' to INT32'
    assert withhold_values(read) == (
        'Error while reading file "x/b.parquet": failed to cast column "birth_year": '
        "Could not convert string (value withheld) to INT32"
    )


@pytest.mark.parametrize("column", ["sex", "code"])
def test_text_that_is_not_utf8_names_its_column_and_never_its_value(tmp_path, column):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = frame(good_rows()).to_arrow()
    raw = [None if v is None else v.encode() for v in table.column(column).to_pylist()]
    raw[-1] = b"\xffSECRET"  # Latin-1 or a broken export: not UTF-8
    broken = pa.array(raw, pa.binary()).view(pa.string())  # unchecked, as a broken writer leaves it
    path = tmp_path / "x.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, broken), path)
    proc = feasibility("run", str(path), "--trials", str(SPEC), "--out", "rep", cwd=tmp_path)
    line = assert_one_line_error(proc, f"column `{column}` holds text that is not UTF-8", "as UTF-8")
    assert "SECRET" not in line
    assert not (tmp_path / "rep").exists()


def test_a_glob_the_shell_expanded_says_to_quote_it(tmp_path):
    # `run folder/*.parquet` unquoted gives one argument per file
    folder = tmp_path / "x"
    folder.mkdir()
    for name in ("a", "b"):
        write_extract(good_rows(), folder / f"{name}.parquet")
    proc = feasibility(
        "run", str(folder / "a.parquet"), str(folder / "b.parquet"), "--out", "r", cwd=tmp_path
    )
    assert_one_line_error(proc, "Got unexpected extra argument", "fix: quote the glob", "or give the folder")
    assert not (tmp_path / "r").exists()


def test_extra_columns_are_ignored(tmp_path):
    rows = [{**r, "ward": "B2"} for r in good_rows()]
    path = tmp_path / "x.parquet"
    frame(rows).with_columns(pl.Series("ward", [r["ward"] for r in rows])).write_parquet(path)
    proc = run_on(tmp_path, path, "-q")
    assert proc.returncode == 0, proc.stderr


def test_data_quality_warnings_are_counted(tmp_path):

    rows = person("p1", sex="F", birth_year=1980) + [
        event("p1", "diagnosis", "ICD10CM", "M32.14", "1975-01-01"),  # before birth
        event("p1", "lab", "LOINC", "1742-6", "2025-03-01", value_num=30, unit="U/L"),  # after index
        event("p1", "diagnosis", "ICD10CM", "M32.14", "2025-02-01"),  # on the index date: not after it
        event("p1", "lab", "LOINC", "1742-6", "2025-01-01", value_num=-5, unit="U/L"),  # negative
        event("p1", "lab", "LOINC", "1742-6", "2025-01-02", value_num=9e6, unit="U/L"),  # absurd
        event(
            "p1", "lab", "LOINC", "1742-6", "2025-01-03", value_num=-7, unit="furlong"
        ),  # negative, any unit
        event("p1", "lab", "LOINC", "1742-6", "2024-11-01", value_num=20, unit="U/L"),
        event("p1", "lab", "LOINC", "1742-6", "2024-11-01", value_num=20, unit="U/L"),  # duplicate row
        event("p1", "lab", "LOINC", "1742-6", "2024-12-01", value_num=30, unit="furlong"),  # unknown unit
        event("p1", "lab", "LOINC", "1742-6", "2024-12-02", value_text="haemolysed"),  # read as nothing
        event("p1", "diagnosis", "ICD10CM", "I63.9", "2024-12-01", ref_high=None),
    ]
    proc = run_on(
        tmp_path,
        write_extract(rows, tmp_path / "x.parquet"),
        "--min-cell",
        "0",
        "--as-of",
        "2025-02-01",
        "--check-duplicates",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    dq = json.loads((tmp_path / "report" / "report.json").read_text())["data_quality"]
    assert dq["counts"]["patients_with_events_before_birth"] == 1
    assert dq["counts"]["events_after_index"] == 1
    assert dq["implausible_value_rows"] == {"alt": 3}
    assert dq["unknown_unit_rows"] == {"alt": 2}
    # exact counts are for the site: every unit it would add to the concept is named
    assert dq["unknown_units"] == {"alt": {"furlong": 2}}
    assert dq["unread_text_rows"] == {"alt": 1}
    assert any(w.startswith("results with no number whose text") and "alt 1" in w for w in dq["warnings"])
    # the counts say how many rows, never what a row says
    assert not any("haemolysed" in w for w in dq["warnings"])
    assert any("unit the concept does not know" in w and "alt 2 (furlong 2)" in w for w in dq["warnings"])
    assert dq["counts"]["duplicate_rows"] == 1
    assert any("duplicate rows" in w for w in dq["warnings"])
    assert json.loads((tmp_path / "report" / "report.json").read_text())["provenance"]["options"][
        "check_duplicates"
    ]


def test_duplicate_rows_are_counted_only_when_asked(tmp_path):

    row = event("p1", "lab", "LOINC", "1742-6", "2024-11-01", value_num=20, unit="U/L")
    extract = write_extract([*person("p1", sex="F", birth_year=1980), row, row], tmp_path / "x.parquet")
    proc = run_on(tmp_path, extract, "--as-of", "2025-02-01", "-q")
    assert proc.returncode == 0, proc.stderr
    dq = json.loads((tmp_path / "report" / "report.json").read_text())["data_quality"]
    assert "duplicate_rows" not in dq["counts"]
    assert not any("duplicate" in w for w in dq["warnings"])


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("sex", "[sex]", "VARCHAR[]"),
        ("domain", "[domain]", "VARCHAR[]"),
        ("patient_id", "[patient_id]", "VARCHAR[]"),
        ("birth_year", "[birth_year]", "INTEGER[]"),
        ("start_date", "[start_date]", "DATE[]"),
        ("value_num", "[value_num]", "DOUBLE[]"),
        ("ref_high", "[ref_high::DECIMAL(9,2)]", "DECIMAL(9,2)[]"),
    ],
)
def test_a_list_of_the_right_type_is_the_wrong_type(tmp_path, column, value, kind):
    good = write_extract(good_rows(), tmp_path / "good.parquet")
    bad = tmp_path / "x.parquet"
    duckdb.sql(f"COPY (SELECT * REPLACE ({value} AS {column}) FROM '{good}') TO '{bad}'")
    assert_one_line_error(run_on(tmp_path, bad), "x.parquet", f"`{column}` has type {kind}, expected")
    assert not (tmp_path / "report").exists()


def test_decimal_and_timestamp_variants_are_accepted(tmp_path):
    good = write_extract(good_rows(), tmp_path / "good.parquet")
    path = tmp_path / "x.parquet"
    duckdb.sql(
        f"COPY (SELECT * REPLACE (value_num::DECIMAL(18,3) AS value_num, start_date::TIMESTAMP_NS "
        f"AS start_date, end_date::TIMESTAMPTZ AS end_date) FROM '{good}') TO '{path}'"
    )
    proc = run_on(tmp_path, path, "-q")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("run", "x.parquet", "--as-of", "2025-13-01"), ("'--as-of'", "is not a date")),
        (("run", "x.parquet", "--min-cell", "-1"), ("'--min-cell'", "-1 is not in the range")),
        (("run", "x.parquet", "--bogus"), ("No such option '--bogus'",)),
        (("run",), ("Missing argument 'EXTRACT'",)),
        (("import", "omop"), ("feasibility import omop:", "Missing argument 'SOURCE'")),
        (("nope",), ("No such command 'nope'",)),
    ],
)
def test_click_refusals_are_one_line_naming_the_help(tmp_path, args, fragments):
    proc = feasibility(*args, cwd=tmp_path)
    line = assert_one_line_error(proc, *fragments)
    assert line.startswith("error: ") and line.endswith(" --help`")


def test_a_command_group_alone_prints_its_help(tmp_path):
    proc = feasibility("import", cwd=tmp_path)
    assert proc.returncode == 2 and "Commands:" in proc.stderr and "omop" in proc.stderr


def test_spark_master_without_the_spark_engine_is_refused(tmp_path):
    # it would be ignored, and the run would go on DuckDB where the user expects a cluster
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = run_on(tmp_path, extract, "--spark-master", "spark://host:7077")
    assert_one_line_error(proc, "--spark-master", "--engine spark")
    assert not (tmp_path / "report").exists()


def test_threads_with_the_spark_engine_are_refused(tmp_path):
    # Spark would ignore them: its cores come from the master URL
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = run_on(tmp_path, extract, "--engine", "spark", "--threads", "4")
    assert_one_line_error(proc, "--threads", "--spark-master 'local[4]'")
    assert not (tmp_path / "report").exists()


def test_threads_have_an_upper_bound(tmp_path):
    # DuckDB starts every thread asked for: 100000 hung the run
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = run_on(tmp_path, extract, "--threads", "100000")
    assert_one_line_error(proc, "'--threads': 100000 is not in the range 1<=x<=1024")
    assert not (tmp_path / "report").exists()
    assert run_on(tmp_path, extract, "--threads", "1024", "-q").returncode == 0


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--out", "folder"], ["folder: this is a folder", "--out folder/extract.parquet"]),
        (["--out", ""], ["--out: no file name given"]),
        (["--out", "new/"], ["--out new/: names a folder, not a file"]),
        (["--out", "/proc/s.parquet"], ["/proc/s.parquet: cannot write the extract here"]),
        (["--seed", "99999999999999999999999"], ["--seed: the seed is out of range"]),
        (["--as-of", "0001-01-01"], ["--as-of: 0001-01-01 is too early", "--as-of 0086-01-01 or later"]),
    ],
)
def test_synth_mistakes_are_one_line_and_write_nothing(tmp_path, args, fragments):
    (tmp_path / "folder").mkdir()
    proc = feasibility("synth", "--patients", "20", "--out", "new/s.parquet", *args, cwd=tmp_path)
    assert_one_line_error(proc, *fragments)
    assert [p.name for p in tmp_path.rglob("*")] == ["folder"]


def test_a_nan_threshold_is_refused_before_the_run(tmp_path):
    trial = tmp_path / "trial.yaml"
    trial.write_text("id: T\ncriteria:\n  - {id: a, kind: inclusion, text: x, rule: {age: {min: .nan}}}\n")
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = feasibility(
        "run", str(extract), "--trials", str(trial), "--out", str(tmp_path / "report"), cwd=tmp_path
    )
    assert_one_line_error(proc, "trial.yaml:3: `.nan` is not a finite number", "fix: ")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("window", ["3000000 years", "99999999999999999999 days"])
def test_an_absurd_active_within_is_a_one_line_error(tmp_path, window):
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = run_on(tmp_path, extract, "--active-within", window)
    assert_one_line_error(proc, "--active-within: the window", "longer than 200 years", "fix: ")
    assert not (tmp_path / "report").exists()


def test_ever_is_no_in_care_window(tmp_path):
    """`ever` would keep every patient with a record: a step that removes no one, which
    `none` already asks for, so the flag refuses it rather than silently turning it off."""
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = run_on(tmp_path, extract, "--active-within", "ever")
    assert_one_line_error(proc, "--active-within: `ever` is not a window", "`none` to turn the check off")
    assert not (tmp_path / "report").exists()


def test_a_stopped_run_leaves_nothing_behind(tmp_path):
    """A scheduler's SIGTERM stops the work as Ctrl-C does and removes what it had written:
    here `synth`'s folder of parts beside the output, which holds patient rows. Ctrl-C takes
    the same path (Python's KeyboardInterrupt)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "feasibility", "synth", "--patients", "2000000", "--out", "x.parquet"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    # once a part is written, synth is in its loop of blocks: a signal is acted on at the end
    # of the block being written, not after the generation of every patient
    while not list(tmp_path.glob(".synth-*/part-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "synth ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines() == ["interrupted: nothing was written"]
    assert list(tmp_path.iterdir()) == []


def test_an_out_folder_inside_a_file_is_refused_as_such(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = feasibility("run", str(extract), "--trials", str(SPEC), "--out", "afile/sub", cwd=tmp_path)
    assert_one_line_error(
        proc,
        f"{tmp_path / 'afile'}: is a file, not a folder",
        "fix: give --out a path through folders, not through this file",
    )
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_an_empty_trials_path_is_refused(tmp_path):
    """`--trials "$UNSET"` must not read the current folder's YAML files as trials."""
    (tmp_path / "conversion.yaml").write_text("SITE-A: 0.3\n")
    extract = write_extract(good_rows(), tmp_path / "x.parquet")
    proc = feasibility("run", str(extract), "--trials", "", "--out", "r", cwd=tmp_path)
    assert_one_line_error(proc, "--trials", "an empty path (an unset variable?)")
    assert not (tmp_path / "r").exists()


def test_a_shared_report_names_only_common_unknown_units(tmp_path):
    """A unit spelled the same on many rows is the lab's convention and worth naming, so the
    site can add it to the concept; one seen on a few rows may be free text, and is only
    counted among the other units."""
    rows = []
    for i in range(40):
        pid = f"p{i}"
        rows += person(pid) + [
            event(pid, "lab", "LOINC", "1742-6", "2025-01-10", value_num=30, unit="ukat/dl")
        ]
    rows.append(event("p0", "lab", "LOINC", "1742-6", "2025-01-11", value_num=30, unit="see note"))
    proc = run_on(tmp_path, write_extract(rows, tmp_path / "x.parquet"), "-q")
    assert proc.returncode == 0, proc.stderr
    dq = json.loads((tmp_path / "report" / "report.json").read_text())["data_quality"]
    assert dq["unknown_units"] == {"alt": {"ukat/dl": 40, "(other units)": None}}
    text = json.dumps(dq)
    assert "see note" not in text
    assert any("alt 40 (ukat/dl 40, (other units) <13)" in w for w in dq["warnings"])


def test_a_common_unit_that_reads_as_free_text_is_not_named(tmp_path):
    """A unit field that holds an identifier or a note on many rows is counted among the
    other units, never printed: a shared report names unit spellings, not what a field holds."""
    rows = []
    for i in range(40):
        pid = f"p{i}"
        rows += person(pid) + [
            event(pid, "lab", "LOINC", "1742-6", "2025-01-10", value_num=30, unit="ukat/dl"),
            event(pid, "lab", "LOINC", "1742-6", "2025-01-09", value_num=30, unit="P00000042 lab note"),
            event(pid, "lab", "LOINC", "1742-6", "2025-01-08", value_num=30, unit="drawn 2025-01-08"),
            # a short note, and a name, of words alone; `mm Hg` is a unit, if not alt's
            event(pid, "lab", "LOINC", "1742-6", "2025-01-07", value_num=30, unit="see comment"),
            event(pid, "lab", "LOINC", "1742-6", "2025-01-06", value_num=30, unit="Ada Lovelace"),
            event(pid, "lab", "LOINC", "1742-6", "2025-01-05", value_num=30, unit="mm Hg"),
            # one word: a note or a name is held back; a short word or one units use is named
            event(pid, "lab", "LOINC", "1742-6", "2025-01-04", value_num=30, unit="Lovelace"),
            event(pid, "lab", "LOINC", "1742-6", "2025-01-03", value_num=30, unit="hemolysed"),
            event(pid, "lab", "LOINC", "1742-6", "2025-01-02", value_num=30, unit="Units"),
            event(pid, "lab", "LOINC", "1742-6", "2025-01-01", value_num=30, unit="mEq"),
        ]
    proc = run_on(tmp_path, write_extract(rows, tmp_path / "x.parquet"), "-q")
    assert proc.returncode == 0, proc.stderr
    dq = json.loads((tmp_path / "report" / "report.json").read_text())["data_quality"]
    assert dq["unknown_units"] == {
        "alt": {"Units": 40, "mEq": 40, "mm Hg": 40, "ukat/dl": 40, "(other units)": 240}
    }
    for held in ("P00000042", "2025-01-08", "see comment", "Lovelace", "hemolysed"):
        assert held not in json.dumps(dq), held
    # the site's own exact report shows what its unit field holds, to mend it
    proc = run_on(tmp_path, tmp_path / "x.parquet", "-q", "--min-cell", "0", "--out", "exact")
    assert proc.returncode == 0, proc.stderr
    exact = json.loads((tmp_path / "exact" / "report.json").read_text())["data_quality"]
    assert exact["unknown_units"]["alt"]["P00000042 lab note"] == 40


@pytest.mark.parametrize("found", ["TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"])
def test_every_timestamp_resolution_is_a_date(found):
    assert CONTRACT["start_date"].accepts_type(found)


def test_unsigned_integers_are_accepted(tmp_path):
    """polars and pyarrow write unsigned types, which DuckDB reads as UINTEGER, USMALLINT..."""
    from feasibility.run import run_feasibility

    for column in ("birth_year", "patient_id"):
        assert CONTRACT[column].accepts_type("UINTEGER") and CONTRACT[column].accepts_type("USMALLINT")
    rows = person("1", birth_year=1980) + [event("1", "diagnosis", "ICD10CM", "M32.14", "2024-01-01")]
    frame(rows).with_columns(pl.col("birth_year").cast(pl.UInt16)).write_parquet(tmp_path / "x.parquet")
    report = run_feasibility(
        str(tmp_path / "x.parquet"),
        [REPO / "tests/fixtures/trials/small.yaml"],
        out=tmp_path / "r",
        min_cell=0,
    )
    assert report["trials"][0]["sites"][0]["base"] == 1


def _stream_interrupted_by_ctrl_c():
    """An Arrow stream whose Python producer is stopped by Ctrl-C after one batch, as synth's
    patients are while DuckDB writes them."""
    import pyarrow as pa

    def batches():
        yield pa.record_batch({"x": [1]})
        raise KeyboardInterrupt

    return pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}), batches())


def test_ctrl_c_while_duckdb_reads_a_python_stream_is_an_interrupt():
    """DuckDB wraps the KeyboardInterrupt of a registered stream in its own error: the CLI
    reads it as Ctrl-C (exit 130, `interrupted`, as SIGTERM gives), and the engine does not
    report it as an unreadable extract."""
    from sqlglot import exp

    from feasibility.criteria.load import load_trials
    from feasibility.errors import interrupted
    from feasibility.evaluate.driver import READ
    from feasibility.evaluate.duckdb_engine import Engine, connect
    from feasibility.evaluate.options import RunOptions

    con = duckdb.connect()
    con.register("s", _stream_interrupted_by_ctrl_c())
    with pytest.raises(duckdb.Error) as caught:
        con.execute("SELECT count(*) FROM s").fetchall()
    assert interrupted(caught.value)
    assert not interrupted(duckdb.IOException("No magic bytes found at end of file"))

    options = RunOptions()
    trials, library = load_trials(None)
    engine = Engine(connect(options), trials, library, options)
    engine.con.register("s", _stream_interrupted_by_ctrl_c())
    with pytest.raises(KeyboardInterrupt):
        engine.query(exp.select(exp.Count(this=exp.Star())).from_("s"), READ)

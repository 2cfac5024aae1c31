"""`feasibility import csv`: a site's extract exported as CSV becomes the parquet extract,
each column read strictly as its contract type, and a value that is not one stops the
import with its column and row, never the value."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import duckdb
import pytest

from feasibility.errors import FeasibilityError
from feasibility.importers.csv_extract import import_csv
from feasibility.run import run_feasibility
from tests.support import REPO, small_trial_rows, write_extract
from tests.test_errors import assert_one_line_error, feasibility

HEADER = "patient_id,sex,birth_year,domain,code_system,code,value_num,unit,ref_high,start_date,end_date"


def _csv(tmp_path, lines: list[str], name: str = "x.csv", header: str = HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def _rows(path) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY ALL").fetchall()


def test_each_column_is_read_as_its_contract_type(tmp_path):
    source = _csv(
        tmp_path,
        [
            "p1,F,1980,person,,,,,,,",
            # a code keeps its leading zero; a timestamp is its day; spaces are trimmed
            "p1,F,1980.0,lab,LOINC,01742-6, 20.5 ,U/L,40,2024-12-20 08:30:00,",
            "p1,F,1980,medication,ATC,H02AB06,5,mg/d,,2024-01-01,2024-03-31",
        ],
    )
    out = tmp_path / "x.parquet"
    summary = import_csv(source, out)
    types = dict(
        duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE FROM read_parquet('{out}'))").fetchall()
    )
    assert (
        types["birth_year"] == "INTEGER" and types["start_date"] == "DATE" and types["value_num"] == "DOUBLE"
    )
    assert "site_id" not in types  # none in the CSV: `run --site` names the one site
    assert "value_text" in types and "index_date" in types  # absent columns are written empty
    got = duckdb.sql(
        f"SELECT code, value_num, start_date, end_date, birth_year FROM read_parquet('{out}') "
        "WHERE domain <> 'person' ORDER BY code"
    ).fetchall()
    assert got == [
        ("01742-6", 20.5, date(2024, 12, 20), None, 1980),
        ("H02AB06", 5.0, date(2024, 1, 1), date(2024, 3, 31), 1980),
    ]
    assert summary.rows == 3 and summary.patients == 1


def test_the_imported_extract_gives_the_same_report_as_the_same_rows_in_parquet(tmp_path):
    rows = small_trial_rows()
    direct = write_extract(rows, tmp_path / "direct.parquet")
    # the same rows as a site's export would write them: upper-case names in another order,
    # semicolons, gzipped
    names = ["start_date", "patient_id", "sex", "birth_year", "domain", "code_system", "code", "value_num"]
    names += ["unit", "ref_high"]
    lines = [";".join(n.upper() for n in names)]
    for r in rows:
        lines.append(";".join("" if r.get(n) is None else str(r[n]) for n in names))
    source = tmp_path / "x.csv.gz"
    with gzip.open(source, "wt") as f:
        f.write("\n".join(lines) + "\n")
    imported = tmp_path / "imported.parquet"
    import_csv(source, imported)
    trial = [REPO / "tests/fixtures/trials/small.yaml"]
    a = run_feasibility(str(direct), trial, out=tmp_path / "a", min_cell=0, as_of=date(2025, 1, 1))
    b = run_feasibility(str(imported), trial, out=tmp_path / "b", min_cell=0, as_of=date(2025, 1, 1))
    assert a["trials"] == b["trials"]
    assert a["trials"][0]["sites"][0]["eligible"] > 0


def test_the_same_csv_gives_the_same_file_sorted_by_patient(tmp_path):
    lines = [
        f"p{9 - i % 10},F,1980,lab,LOINC,1742-6,{i},U/L,40,2024-01-{1 + i % 28:02d}," for i in range(3000)
    ]
    source = _csv(tmp_path, lines)
    import_csv(source, tmp_path / "a.parquet")
    import_csv(source, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    ids = [
        r[0]
        for r in duckdb.sql(f"SELECT patient_id FROM read_parquet('{tmp_path / 'a.parquet'}')").fetchall()
    ]
    assert ids == sorted(ids) and len(ids) == 3000


def test_a_site_column_is_kept_and_other_columns_are_named(tmp_path):
    source = _csv(
        tmp_path,
        ["p1,A,F,1980,person,,,,,,,,x", "p2,B,M,1970,person,,,,,,,,y"],
        header="patient_id,site_id," + HEADER.removeprefix("patient_id,") + ",mrn",
    )
    summary = import_csv(source, tmp_path / "x.parquet")
    assert duckdb.sql(
        f"SELECT site_id FROM read_parquet('{tmp_path / 'x.parquet'}') ORDER BY 1"
    ).fetchall() == [
        ("A",),
        ("B",),
    ]
    assert "columns not in the extract contract, not written: mrn" in summary.notes


@pytest.mark.parametrize(
    ("cell", "column", "problem", "fix"),
    [
        ("02/01/2024", "start_date", "are not dates", "write dates as YYYY-MM-DD"),
        ("2024-02-30", "start_date", "are not dates", "write dates as YYYY-MM-DD"),
        ("1,5", "value_num", "are not numbers", "1.5, not 1,5"),
        ("1980.5", "birth_year", "are not whole numbers", "write years as whole numbers"),
        ("1e12", "birth_year", "are not whole numbers", "write years as whole numbers"),
    ],
)
def test_a_value_not_of_its_type_stops_the_import_with_its_row(tmp_path, cell, column, problem, fix):
    good = {"start_date": "2024-01-01", "value_num": "1", "birth_year": "1980"}
    lines = []
    for i in range(5):
        values = dict(good)
        if i in (2, 4):  # rows 3 and 5 after the header
            values[column] = cell
        quoted = {k: f'"{v}"' for k, v in values.items()}
        lines.append(
            f"p{i},F,{quoted['birth_year']},lab,LOINC,1742-6,{quoted['value_num']},U/L,40,{quoted['start_date']},"
        )
    source = _csv(tmp_path, lines)
    out = tmp_path / "x.parquet"
    proc = feasibility("import", "csv", str(source), "--out", str(out), cwd=tmp_path)
    line = assert_one_line_error(proc, str(source), f"2 values of column `{column}` {problem}", "row 3", fix)
    assert cell not in line.split(" — fix:")[0]  # the data's value is never quoted
    assert not out.exists() and not list(tmp_path.glob(".x.parquet.*"))


def test_one_value_not_of_its_type_reads_in_the_singular(tmp_path):
    source = _csv(tmp_path, ["p1,F,1980,person,,,,,,,", "p2,F,19x0,person,,,,,,,"])
    with pytest.raises(FeasibilityError) as e:
        import_csv(source, tmp_path / "x.parquet")
    assert "a value of column `birth_year` is not a whole number (the first in row 2 after" in str(e.value)


def test_a_header_without_rows_is_refused_before_anything_is_written(tmp_path):
    source = _csv(tmp_path, [])
    out = tmp_path / "x.parquet"
    proc = feasibility("import", "csv", str(source), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(proc, "has a header but no rows")
    assert not out.exists()


def test_a_missing_column_is_named_with_the_near_one(tmp_path):
    source = _csv(tmp_path, ["p1,F,1980,person,,,,,,,"], header=HEADER.replace("start_date", "startdate"))
    with pytest.raises(FeasibilityError) as e:
        import_csv(source, tmp_path / "x.parquet")
    assert "required column `start_date` is missing" in str(e.value)
    assert "rename `startdate` to `start_date`" in e.value.fix


def test_run_on_a_csv_says_how_to_import_it(tmp_path):
    source = _csv(tmp_path, ["p1,F,1980,person,,,,,,,"])
    proc = feasibility("run", str(source), "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert_one_line_error(proc, "cannot read as parquet", f"feasibility import csv {source} --out")


def _long_csv(tmp_path: Path, last: bytes) -> Path:
    """A CSV of 5,000 good rows and then `last`, past what DuckDB samples to read the header."""
    good = "".join(f"p{i},F,1980,person,,,,,,,\n" for i in range(5000))
    path = tmp_path / "x.csv"
    path.write_bytes((HEADER + "\n" + good).encode() + last)
    return path


@pytest.mark.parametrize(
    ("last", "problem", "fix"),
    [
        # a Windows export's é (latin-1), in a text value
        (
            b"p9,F,1980,lab,LOINC,1742-6,,,,2024-01-01,n\xe9g\n",
            "line 5002 is not UTF-8 text",
            "--encoding latin-1",
        ),
        (b"p9,F,1980,person,,,,,,,,extra\n", "line 5002 has more fields than the header's 11", "every row"),
    ],
)
def test_a_row_duckdb_cannot_read_is_named_by_its_line(tmp_path, last, problem, fix):
    source = _long_csv(tmp_path, last)
    out = tmp_path / "x.parquet"
    proc = feasibility("import", "csv", str(source), "--out", str(out), cwd=tmp_path)
    line = assert_one_line_error(proc, str(source), problem, fix)
    assert "n\xe9g" not in line and "extra" not in line
    assert not out.exists()


def _encoded(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


# A row with an accented text value (a Windows export's `négatif`), in each encoding a site's
# export may come in: the same rows, whatever the bytes
ACCENTED = "\n".join([HEADER + ",value_text", "p1,F,1980,lab,LOINC,1742-6,,,,2024-01-01,,négatif"]) + "\n"


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("utf8.csv", ACCENTED.encode("utf-8"), None),
        ("utf8-marked.csv", b"\xef\xbb\xbf" + ACCENTED.encode("utf-8"), "utf-8"),
        ("latin1.csv", ACCENTED.encode("latin-1"), "latin-1"),
        # Windows' "Unicode text": UTF-16 with its byte-order mark, found without --encoding
        ("utf16.csv", ACCENTED.encode("utf-16"), None),
        ("utf16.csv.gz", ACCENTED.encode("utf-16"), None),
        # no mark: the header's first character has UTF-16's zero byte
        ("utf16le.csv", ACCENTED.encode("utf-16-le"), None),
        ("utf16le.csv", ACCENTED.encode("utf-16-le"), "utf-16"),
    ],
)
def test_each_encoding_gives_the_same_rows(tmp_path, name, data, encoding):
    source = _encoded(tmp_path, name, data)
    out = tmp_path / "x.parquet"
    import_csv(source, out, encoding=encoding)
    assert duckdb.sql(f"SELECT patient_id, value_text FROM read_parquet('{out}')").fetchall() == [
        ("p1", "négatif")
    ]
    utf8 = tmp_path / "utf8.parquet"
    import_csv(_encoded(tmp_path, "ref.csv", ACCENTED.encode("utf-8")), utf8)
    assert out.read_bytes() == utf8.read_bytes()  # a report names the extract by its hash


@pytest.mark.parametrize(
    ("data", "encoding", "problem", "fix"),
    [
        (ACCENTED.encode("latin-1"), None, "line 2 is not UTF-8 text", "--encoding latin-1"),
        (ACCENTED.encode("utf-16"), "latin-1", "is UTF-16 text, not latin-1", "give utf-16"),
        # read as Latin-1, UTF-8's mark would be part of `patient_id`'s name
        (b"\xef\xbb\xbf" + ACCENTED.encode("utf-8"), "latin-1", "is UTF-8 text, not latin-1", "give utf-8"),
        (ACCENTED.encode("utf-8"), "utf-16", "is not UTF-16 text", "leave out --encoding"),
        # DuckDB reads big-endian UTF-16 as no rows at all, so it is refused rather than read
        (b"\xfe\xff" + ACCENTED.encode("utf-16-be"), None, "big-endian UTF-16", "iconv -f utf-16 -t utf-8"),
        (ACCENTED.encode("utf-16-be"), None, "big-endian UTF-16", "iconv"),
    ],
)
def test_text_not_in_its_encoding_is_refused_with_the_option_that_reads_it(
    tmp_path, data, encoding, problem, fix
):
    source = _encoded(tmp_path, "x.csv", data)
    out = tmp_path / "x.parquet"
    args = ["--encoding", encoding] if encoding else []
    proc = feasibility("import", "csv", str(source), "--out", str(out), *args, cwd=tmp_path)
    line = assert_one_line_error(proc, str(source), problem, fix)
    assert "gatif" not in line
    assert not out.exists()


def test_the_omop_importer_reads_its_csv_tables_in_the_encoding_given(tmp_path):
    # the OMOP person table in Latin-1, as a Windows database export writes it: refused as
    # UTF-8, read with --encoding latin-1
    omop = tmp_path / "omop"
    omop.mkdir()
    (omop / "person.csv").write_bytes(
        "person_id,gender_concept_id,year_of_birth,care_site_id,person_source_value\n"
        "1,8532,1980,1,Hélène\n".encode("latin-1")
    )
    (omop / "condition_occurrence.csv").write_text(
        "person_id,condition_concept_id,condition_start_date,condition_source_value\n"
        "1,257628,2024-01-01,M32.14\n"
    )
    out = tmp_path / "omop.parquet"
    proc = feasibility("import", "omop", str(omop), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(proc, "person.csv", "is not UTF-8 text", "--encoding latin-1")
    proc = feasibility("import", "omop", str(omop), "--out", str(out), "--encoding", "latin-1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert duckdb.sql(f"SELECT count(DISTINCT patient_id) FROM read_parquet('{out}')").fetchall() == [(1,)]


def test_a_utf16_file_broken_past_what_duckdb_samples_is_one_line(tmp_path):
    # a lone surrogate (a cut or mixed export) after 5,000 good rows
    good = "".join(f"p{i},F,1980,person,,,,,,,\n" for i in range(5000))
    text = (HEADER + "\n" + good).encode("utf-16")
    source = _encoded(tmp_path, "x.csv", text + b"\x00\xd8" + "p9,F,1980,person,,,,,,,\n".encode("utf-16-le"))
    out = tmp_path / "x.parquet"
    proc = feasibility("import", "csv", str(source), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(proc, str(source), "holds bytes that are not UTF-16 text", "re-export the file")
    assert not out.exists()

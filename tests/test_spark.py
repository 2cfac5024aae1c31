"""The Spark engine runs the compiled statements rendered as Spark SQL and counts exactly what
the DuckDB engine counts: the same mask histograms per trial and site, the same data quality.

One local Spark session serves the module (starting one takes seconds).
"""

from __future__ import annotations

import sys
from datetime import date

import polars as pl
import pytest

from feasibility.criteria.in_care import DEFAULT_ACTIVE_WITHIN, with_in_care_step
from feasibility.criteria.load import load_trials
from feasibility.errors import ExtractError, FeasibilityError
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.evaluate.results import EngineResult
from feasibility.evaluate.spark_engine import require_spark, run_on_spark, start_spark, stop_spark
from tests.support import REPO, corrupt_column, event, frame, mask_counters, person, write_extract

FIXTURES = REPO / "tests/fixtures/trials"


@pytest.fixture(scope="module")
def spark():
    session = start_spark("local[2]")
    yield session
    stop_spark(session)


def on_duckdb(extract, trials, library, options: RunOptions) -> EngineResult:
    con = connect(options)
    try:
        return Engine(con, trials, library, options).evaluate(str(extract))
    finally:
        con.close()


def assert_same(on_spark: EngineResult, on_duck: EngineResult) -> None:
    assert mask_counters(on_spark.histograms) == mask_counters(on_duck.histograms)
    assert on_spark.data_quality.as_dict() == on_duck.data_quality.as_dict()
    assert (on_spark.rows, on_spark.patients) == (on_duck.rows, on_duck.patients)
    assert on_spark.index_default == on_duck.index_default
    assert on_spark.index_from_column == on_duck.index_from_column


def test_sample_extract_gives_the_duckdb_counts(spark):
    """The four shipped trials on the shipped sample extract: every trial and site."""
    trials, library = load_trials(None)
    extract = REPO / "sample_data/extract.parquet"
    options = RunOptions()
    on_duck = on_duckdb(extract, trials, library, options)
    on_spark = run_on_spark(str(extract), trials, library, options, session=spark)
    assert_same(on_spark, on_duck)
    # the report's provenance names the engine that computed the counts
    assert on_spark.versions == {"duckdb": on_duck.versions["duckdb"], "spark": spark.version}
    assert set(on_duck.versions) == {"duckdb"}
    # a session the caller gave is left as it was: every view of the run is dropped
    assert [t.name for t in spark.catalog.listTables() if t.isTemporary] == []
    assert sorted(on_spark.histograms) == sorted(t.id for t in trials)
    for trial in trials:
        assert len(on_spark.histograms[trial.id]) == 3  # the sample's three sites
    assert on_spark.patients == 3000


def _edge_rows() -> list[dict]:
    """Patients on the edges the two SQL dialects could read differently: per-patient index
    dates (missing, conflicting, 31 December, 31 August minus 6 months), ties on one date,
    window boundaries, duplicate rows, overlapping and open-ended medications, the current
    dose of a stable dose, doses per kilogram, results confirmed on distinct days, lower limits
    of normal, unknown units, implausible values and doses, text results (one read as nothing), numbers
    and titres written as bounds (with signs or words, which each engine's own regular
    expressions read), events after the index date or without a date."""
    lab, dx, med, obs = "lab", "diagnosis", "medication", "observation"
    rows = person("p1", birth_year=1980, index_date="2024-06-30")
    rows += [
        event("p1", dx, "ICD10CM", "M32.14", "2024-01-10"),
        event("p1", dx, "ICD10CM", "M32.14", "2024-01-10"),  # an exact duplicate
        event("p1", dx, "ICD10CM", "M32.9", "2023-03-01"),
        # two ALT results on one day: the tie is broken the same way on both engines
        event("p1", lab, "LOINC", "1742-6", "2024-06-01", value_num=20.0, unit="U/L", ref_high=40.0),
        event("p1", lab, "LOINC", "1742-6", "2024-06-01", value_num=200.0, unit="U/L", ref_high=40.0),
        event("p1", lab, "LOINC", "2160-0", "2024-04-01", value_num=150.0, unit="umol/L"),  # day 90
        event("p1", lab, "LOINC", "718-7", "2024-05-31", value_num=9.0, unit="g/dL"),  # day 30
        event("p1", lab, "LOINC", "8061-4", "2024-02-01", value_text="Positive "),
        event("p1", obs, "LOINC", "29463-7", "2024-06-20", value_num=70.0, unit="kg"),
        event("p1", obs, "LOCAL", "SLEDAI2K", "2024-06-15", value_num=8.0),
        event("p1", med, "ATC", "H02AB07", "2024-01-15", end_date="2024-03-01", value_num=10.0, unit="mg/d"),
        event("p1", med, "ATC", "H02AB07", "2024-02-01", end_date="2024-04-15", value_num=10.0, unit="mg/d"),
        event("p1", med, "ATC", "H02AB07", "2024-02-01", end_date="2024-04-15", value_num=10.0, unit="mg/d"),
        event("p1", dx, "ICD10CM", "I63.9", "2024-08-01"),  # after the index date
    ]
    # index date on some rows only, a second sex, a birth date
    rows += person("p2", sex="F", birth_year=1990, birth_date="1990-07-01", index_date="2024-12-31")
    rows += [
        event("p2", dx, "ICD10CM", "M32.10", "2024-11-01", index_date=None, sex="M"),
        event("p2", lab, "LOINC", "1742-6", "2024-12-01", value_num=-5.0, unit="U/L"),  # implausible
        event("p2", lab, "LOINC", "1742-6", "2024-11-01", value_num=1.5, unit="mmol/L"),  # unknown unit
        event("p2", lab, "LOINC", "8061-4", "2024-10-01", value_text="not detected"),
        event("p2", lab, "LOINC", "8061-4", "2024-09-01", value_text="haemolysed"),  # read as nothing
        event("p2", med, "ATC", "H02AB04", "2024-09-01", value_num=20.0),  # no end, no unit
        event("p2", dx, "ICD10CM", "M32.0", None),  # excluded code, no date
    ]
    rows += person("p3", sex="M", birth_year=2006, index_date="2024-12-31")  # 18 on 31 December
    rows += person("p4", sex="U", birth_year=1950)  # no index date: the run's as-of date
    rows += [
        event("p4", med, "ATC", "H02AB07", "2024-06-01", end_date="2024-12-31", value_num=0.01, unit="g/d")
    ]
    rows += person("p5", birth_year=1975, index_date="2024-08-31")
    rows += [
        event("p5", dx, "ICD10CM", "I63.4", "2024-02-29"),  # exactly 6 months before 31 August
        event("p5", dx, "ICD10CM", "I63.4", "2024-02-28"),
        event("p5", lab, "LOINC", "718-7", "2024-08-01", value_num=400.0, unit="g/L"),  # implausible
        event("p5", lab, "LOINC", "718-7", "2024-08-01", value_num=65.0, unit="g/L"),
        # an implausible dose: days on the drug, with a dose not known
        event("p5", med, "ATC", "H02AB07", "2024-08-01", end_date="2024-08-20", value_num=-10.0, unit="mg/d"),
    ]
    # the current dose of a stable dose: two records started one day (the longer is
    # current), a tie of the same days (the higher dose is), a current record without a dose
    gc = ("ATC", "H02AB07")
    for pid, doses in (
        ("p6", [(10.0, "2024-12-31"), (30.0, "2024-12-20")]),
        ("p7", [(10.0, None), (30.0, None)]),
    ):
        rows += person(pid, birth_year=1970, index_date="2024-12-31")
        rows += [
            event(pid, med, *gc, "2024-12-01", end_date=end or "2024-12-31", value_num=dose, unit="mg/d")
            for dose, end in doses
        ]
    # results confirmed on distinct days: two days, and two results of one day
    rows += person("p9", birth_year=1970, index_date="2024-12-31")
    rows += [
        event("p9", lab, "LOINC", "718-7", day, value_num=value, unit=unit)
        for day, value, unit in (
            ("2024-10-01", 85.0, "g/L"),
            ("2024-12-01", 8.5, "g/dL"),
            ("2024-12-01", 8.0, "g/dL"),
        )
    ]
    rows += [
        event("p9", lab, "LOINC", "1742-6", day, value_num=130.0, unit="U/L")
        for day in ("2024-11-01", "2024-12-20")
    ]
    # multiples of a result's own lower limit: usable, missing, NaN; two results of one day
    rows += person("p10", birth_year=1970, index_date="2024-12-31")
    rows += [
        event("p10", lab, "LOINC", "4485-9", day, value_num=value, unit="mg/dL", ref_low=low)
        for day, value, low in (
            ("2024-06-01", 70.0, 90.0),
            ("2024-12-01", 70.0, None),
            ("2024-12-20", 95.0, float("nan")),
            ("2024-12-20", 80.0, 90.0),
        )
    ]
    # doses per kilogram: the latest weight (in pounds) rather than an older one, and a
    # weight of 0, which no dose divides by
    for pid, weights in (
        ("p11", [("2023-01-01", 80.0, "kg"), ("2024-10-01", 110.0, "[lb_av]")]),
        ("p12", [("2024-10-01", 0.0, "kg")]),
    ):
        rows += person(pid, birth_year=1970, index_date="2024-12-31")
        rows += [event(pid, obs, "LOINC", "29463-7", day, value_num=w, unit=u) for day, w, u in weights]
        rows.append(event(pid, med, *gc, "2024-12-01", end_date="2024-12-31", value_num=55.0, unit="mg/d"))
    rows += person("p8", birth_year=1970, index_date="2024-12-31")
    rows += [
        event("p8", med, *gc, "2024-11-01", end_date="2024-12-24", value_num=10.0, unit="mg/d"),
        event("p8", med, *gc, "2024-12-25", end_date="2024-12-31", value_num=None, unit="mg/d"),
    ]
    # results written as bounds: read, never counted as read as nothing
    rows += person("p13", birth_year=1970, index_date="2024-12-31")
    rows += [
        event("p13", lab, "LOINC", "2160-0", "2024-12-01", value_text="LESS THAN 2 mg/dL", unit="mg/dL"),
        event("p13", lab, "LOINC", "718-7", "2024-12-01", value_text=" ≤ 150 g/L", unit="g/L"),
        event("p13", lab, "LOINC", "8061-4", "2024-06-01", value_text="=<1:80"),
        event("p13", lab, "LOINC", "8061-4", "2024-11-01", value_text="Greater Than 1:1280"),
    ]
    # a creatinine written as a bound bounds the eGFR and the clearance the other way: both
    # at least 30 and 60 under 0.5 mg/dL (the range open to infinity), neither over 8
    for pid, creatinine in (("p14", "<0.5"), ("p15", ">8")):
        rows += person(pid, birth_year=1970, index_date="2024-12-31")
        rows += [
            event(pid, lab, "LOINC", "2160-0", "2024-12-01", value_text=creatinine, unit="mg/dL"),
            event(pid, obs, "LOINC", "29463-7", "2024-12-01", value_num=70.0, unit="kg"),
        ]
    # bounds with a decimal exponent (a viral load's `<2.00E+01`) or a word after them, and
    # texts as laboratory systems print them (a full stop after a bound or a titre, a decimal
    # comma, and a comma before three digits, read as nothing): Java's patterns and trims
    # read them as DuckDB's do
    for pid in ("p16", "p17", "p18", "p19"):
        rows += person(pid, birth_year=1970, index_date="2024-12-31")
    for pid, hemoglobin, ana in (
        ("p14", "<1.5E+02 g/L detected", "<1:80 (not detected)."),
        ("p15", ">1.7e2", " WEAKLY POSITIVE"),
        ("p16", ">1.7E+02.", "1:160."),
        ("p17", "Detectable, <150", "Not detectable."),
        ("p18", "<150,5 g/L", "1:80 (positive)"),
        ("p19", ">1,700", "POSITIVE (1:160)"),
    ):
        rows += [
            event(
                pid, lab, "LOINC", "718-7", "2024-12-01", value_text=hemoglobin, unit="g/L", ref_high=160.0
            ),
            event(pid, lab, "LOINC", "8061-4", "2024-11-01", value_text=ana),
        ]
    # anti-dsDNA by CLIFT: a titre, a titre written as a bound and a number in titres decide
    # its positivity from 1:10, and are no value against its limit
    for pid, clift in (("p16", {"value_text": "1:20"}), ("p17", {"value_text": "<1:10"})):
        rows.append(event(pid, lab, "LOINC", "6457-6", "2024-12-01", **clift))
    rows.append(event("p18", lab, "LOINC", "6457-6", "2024-12-01", value_num=5.0, unit="titer"))
    # dates of death (index 31 December): before the index date, after it, and two that
    # disagree, the earliest on it
    for pid, deaths in (
        ("p16", ["2024-06-01"]),
        ("p17", ["2025-01-10"]),
        ("p18", ["2025-03-01", "2024-12-31"]),
    ):
        rows += [
            {
                **event(pid, "diagnosis", "ICD10CM", "M32.14", "2024-05-01"),
                "death_date": date.fromisoformat(d),
            }
            for d in deaths
        ]
    return rows


def test_small_extract_with_index_dates_and_ties(spark, tmp_path):
    """No site_id column (the run's site fills it), integer patient ids, timestamps for
    dates, an index_date column: both engines cast, default and count the same, the in-care
    step with its dates of death among the criteria."""
    trials, library = load_trials([FIXTURES / "spec.yaml", FIXTURES / "small.yaml"])
    trials = [with_in_care_step(t, DEFAULT_ACTIVE_WITHIN) for t in trials]
    extract = tmp_path / "edge.parquet"
    frame(_edge_rows()).drop("site_id").with_columns(
        pl.col("patient_id").str.slice(1).cast(pl.Int64),
        pl.col("start_date").cast(pl.Datetime("us")),
    ).write_parquet(extract)
    options = RunOptions(as_of=date(2025, 1, 15), site="SITE-X", check_duplicates=True)
    on_duck = on_duckdb(extract, trials, library, options)
    on_spark = run_on_spark(str(extract), trials, library, options, session=spark)
    assert_same(on_spark, on_duck)
    assert on_spark.index_from_column
    assert set(on_spark.histograms["SPEC"]) == {"SITE-X"}
    counts = on_spark.data_quality.counts
    assert counts["patients"] == 19
    assert counts["patients_with_inconsistent_index_date"] >= 1
    assert counts["patients_deceased_by_index"] == 2
    assert counts["duplicate_rows"] >= 2
    assert on_spark.data_quality.implausible_value_rows == {"alt": 1, "hemoglobin": 1, "steroids": 1}
    assert on_spark.data_quality.unread_text_rows == {"ana": 1, "hemoglobin": 1}  # p19's `>1,700`


def test_extract_without_any_code_of_a_family(spark, tmp_path):
    """Labs only: no diagnosis or drug code of the trials is in the extract, so those
    families' passes read no row (found on an OMOP import, where Spark refused `IN ()`)."""
    trials, library = load_trials([FIXTURES / "spec.yaml", FIXTURES / "small.yaml"])
    rows = person("p1", birth_year=1980) + person("p2", birth_year=1990)
    rows += [event("p1", "lab", "LOINC", "718-7", "2024-08-01", value_num=120.0, unit="g/L")]
    extract = tmp_path / "labs-only.parquet"
    frame(rows).write_parquet(extract)
    options = RunOptions(as_of=date(2025, 1, 15))
    on_duck = on_duckdb(extract, trials, library, options)
    on_spark = run_on_spark(str(extract), trials, library, options, session=spark)
    assert_same(on_spark, on_duck)
    assert on_spark.patients == 2


def test_user_errors_are_one_line(spark, tmp_path, monkeypatch):
    trials, library = load_trials([FIXTURES / "small.yaml"])
    with pytest.raises(ExtractError, match="file not found"):
        run_on_spark(str(tmp_path / "missing.parquet"), trials, library, RunOptions(), session=spark)
    # dates as nanosecond timestamps: DuckDB reads them, Spark 3.5 cannot
    extract = tmp_path / "ns.parquet"
    rows = person("a") + [event("a", "diagnosis", "ICD10CM", "M32.1", "2024-05-01")]
    frame(rows).with_columns(pl.col("start_date").cast(pl.Datetime("ns"))).write_parquet(extract)
    with pytest.raises(ExtractError, match="Spark cannot read the extract") as caught:
        run_on_spark(str(extract), trials, library, RunOptions(), session=spark)
    assert "\n" not in str(caught.value)
    # the footer and schema read, the data pages do not
    rows = person("a") + [event("a", "diagnosis", "ICD10CM", f"M32.{i}", "2024-05-01") for i in range(300)]
    corrupt = corrupt_column(write_extract(rows, tmp_path / "corrupt.parquet"), "code")
    with pytest.raises(ExtractError, match="Spark cannot read the extract") as caught:
        run_on_spark(str(corrupt), trials, library, RunOptions(), session=spark)
    assert "\n" not in str(caught.value)
    # the session is still usable after a failed run
    assert spark.range(3).count() == 3
    # a mistyped master is refused before Spark's launcher prints a Java stack trace for it
    with pytest.raises(FeasibilityError, match="`bogus://x` is not a Spark master URL") as caught:
        start_spark("bogus://x")
    assert caught.value.where == "--spark-master"

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FeasibilityError, match="needs a Java runtime"):
        require_spark()
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if not installed
    with pytest.raises(FeasibilityError, match="needs pyspark") as caught:
        run_on_spark(str(extract), trials, library, RunOptions())
    assert caught.value.fix == "pip install 'feasibility[spark]'"

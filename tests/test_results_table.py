"""The results pass keeps one row per patient (`aggregate.results_per_patient`): at about
twelve (patient, concept) groups per patient, a table kept per group held 1.24 GB per million
patients and at 10M passed a 12 GB memory limit on its own."""

from __future__ import annotations

from feasibility.criteria.load import load_trials
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from tests.support import REPO


def test_the_results_table_holds_one_row_per_patient_and_the_quality_counts():
    trials, library = load_trials(None)
    options = RunOptions()
    con = connect(options)
    result = Engine(con, trials, library, options).evaluate(str(REPO / "sample_data/extract.parquet"))
    rows, patients = con.execute(
        "SELECT count(*), count(DISTINCT patient_id) FROM patient_results"
    ).fetchone()
    assert rows == patients
    assert 0.5 * result.patients < patients <= result.patients
    # the sample's patients whose latest result was read against a default ULN, from the lists
    listed = con.execute(
        "SELECT count(*) FROM (SELECT UNNEST(quality) AS q FROM patient_results) WHERE q.default_uln"
    ).fetchone()[0]
    assert listed == sum(result.data_quality.default_uln_patients.values()) > 0

"""Hostile text cannot change a query; the connection reads only the extract; identical
inputs give identical reports whatever the thread count."""

from __future__ import annotations

import json

import duckdb
import pytest

from feasibility.criteria.load import load_trials
from feasibility.errors import FeasibilityError
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.run import run_feasibility
from tests.support import REPO, event, person, write_extract

HOSTILE = "x'); DROP TABLE events; --"


def test_hostile_text_in_trials_and_extract_is_only_data(tmp_path):
    folder = tmp_path / "trials"
    (folder / "concepts").mkdir(parents=True)
    (folder / "concepts" / "c.yaml").write_text(
        "concepts:\n"
        "  evil:\n"
        "    kind: condition\n"
        f'    codes: {{LOCAL: [{json.dumps(HOSTILE)}, "semi;colon", "new\\nline", "Ünïcødé"]}}\n'
        "  evil_lab:\n"
        "    kind: measurement\n"
        '    codes: {LOCAL: ["L\'1"]}\n'
        "    unit: mg/dL\n"
        f"    units: {{{json.dumps(HOSTILE)}: 2}}\n"
    )
    (folder / "t.yaml").write_text(
        'id: HOSTILE\ntitle: "\'; DELETE FROM patients; --"\ncriteria:\n'
        f"  - id: {json.dumps(HOSTILE)}\n    kind: inclusion\n    text: {json.dumps(HOSTILE)}\n"
        "    rule: {diagnosis: evil}\n"
        "  - id: lab\n    kind: inclusion\n    text: lab\n"
        f"    rule: {{lab: {{concept: evil_lab, min: 10, unit: {json.dumps(HOSTILE)}}}}}\n"
    )
    rows = []
    for i, code in enumerate([HOSTILE, "semi;colon", "new\nline", "Ünïcødé", "other"]):
        pid = f"p{i}'; --"
        rows += person(pid)
        rows.append(event(pid, "diagnosis", "LOCAL", code, "2024-01-01"))
        rows.append(
            event(pid, "lab", "LOCAL", "L'1", "2024-01-01", value_num=11.0, unit=HOSTILE, value_text=HOSTILE)
        )
    extract = write_extract(rows, tmp_path / "x.parquet")
    trials, library = load_trials([folder / "t.yaml"])
    engine = Engine(connect(RunOptions()), trials, library, RunOptions())
    engine.evaluate(str(extract))
    values = engine.rule_values(trials[0])
    # the four hostile codes matched as plain codes, the fifth did not
    assert [values[f"p{i}'; --"][HOSTILE] for i in range(5)] == [True, True, True, True, False]
    # the hostile unit is a known unit of the concept: 11 of it is 22 mg/dL >= 10 of it (20)
    assert all(v["lab"] is True for v in values.values())
    # and the events view still exists: nothing was dropped
    assert engine.con.execute("SELECT count(*) FROM events").fetchone()[0] == 15


def test_connection_reads_only_the_extract(tmp_path):
    extract = write_extract(
        person("p1") + [event("p1", "diagnosis", "ICD10CM", "M32.1", "2024-01-01")], tmp_path / "x.parquet"
    )
    other = write_extract(person("p2"), tmp_path / "other.parquet")
    trials, library = load_trials([REPO / "tests/fixtures/trials/small.yaml"])
    engine = Engine(connect(RunOptions()), trials, library, RunOptions())
    engine.evaluate(str(extract))
    with pytest.raises(duckdb.Error, match="disabled by configuration"):
        engine.con.execute(f"SELECT * FROM read_parquet('{other}')").fetchall()
    # nor the network: refused by the connection's settings, not merely unreachable here
    with pytest.raises(duckdb.Error, match="disabled by configuration"):
        engine.con.execute("SELECT * FROM read_parquet('https://example.org/x.parquet')").fetchall()
    with pytest.raises(duckdb.Error):
        engine.con.execute(f"COPY (SELECT 1) TO '{tmp_path / 'leak.csv'}'")
    with pytest.raises(duckdb.Error):
        engine.con.execute("SET enable_external_access = true")
    assert not (tmp_path / "leak.csv").exists()


def test_bad_memory_limit_is_a_user_error():
    with pytest.raises(FeasibilityError, match="memory limit"):
        connect(RunOptions(memory_limit="lots"))


def _extract(tmp_path):
    rows = []
    for i in range(300):
        pid = f"p{i:03d}"
        rows += person(pid, sex="FM"[i % 2], birth_year=1940 + i % 70, site_id="ABC"[i % 3])
        if i % 4:
            rows.append(event(pid, "diagnosis", "ICD10CM", "M32.14", "2023-01-01"))
        # two results on the same day: the tie must be broken the same way every time
        rows.append(
            event(
                pid, "lab", "LOINC", "1742-6", "2025-01-20", value_num=10 + i % 150, unit="U/L", ref_high=40
            )
        )
        rows.append(
            event(
                pid, "lab", "LOINC", "1742-6", "2025-01-20", value_num=140 - i % 150, unit="U/L", ref_high=40
            )
        )
    return write_extract(rows, tmp_path / "x.parquet")


def test_reports_are_byte_identical_across_runs_and_threads(tmp_path):
    extract = _extract(tmp_path)
    outputs = []
    for threads in (1, 2, 4, 1):
        out = tmp_path / f"r{threads}-{len(outputs)}"
        run_feasibility(
            str(extract), [REPO / "tests/fixtures/trials/small.yaml"], out=out, threads=threads, min_cell=0
        )
        report = json.loads((out / "report.json").read_text())
        report.pop("generated_at")
        report["provenance"]["options"].pop("threads", None)
        outputs.append(((out / "waterfall.csv").read_bytes(), json.dumps(report, sort_keys=True).encode()))
    assert all(o == outputs[0] for o in outputs)


def test_provenance_lets_anyone_rerun(tmp_path):
    extract = _extract(tmp_path)
    out = tmp_path / "r"
    report = run_feasibility(
        str(extract), [REPO / "tests/fixtures/trials/small.yaml"], out=out, as_of=None, min_cell=11
    )
    prov = report["provenance"]
    import hashlib

    assert prov["extract"]["sha256"] == hashlib.sha256(extract.read_bytes()).hexdigest()
    trial_file = REPO / "tests/fixtures/trials/small.yaml"
    assert prov["trials"] == [
        {"id": "SMALL", "file": "small.yaml", "sha256": hashlib.sha256(trial_file.read_bytes()).hexdigest()}
    ]
    assert prov["engine_version"] and prov["index_date"]["default"] == "2025-01-20"
    assert prov["options"]["min_cell"] == 11


def test_running_out_of_memory_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "feasibility",
            "run",
            str(REPO / "sample_data/extract.parquet"),
            "--memory-limit",
            "2MB",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "ran out of memory within --memory-limit 2MB" in proc.stderr
    assert not (tmp_path / "r").exists()

"""The benchmark harness runs end to end at a tiny size (CI proves it works; it times nothing)."""

from __future__ import annotations

import csv
import subprocess
import sys

from tests.support import REPO


def test_tiny_benchmark_writes_its_table(tmp_path):
    out = tmp_path / "bench.csv"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--tiny",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(out.open()))
    assert [r["layout"] for r in rows] == ["sorted", "shuffled"]
    assert [r["rounds"] for r in rows] == ["1", "1"]  # --tiny measures once
    for r in rows:
        assert int(r["patients"]) == 2000 and int(r["rows"]) > 2000 * 20
        for key in ("floor_s", "expert_s", "run_s", "monthly_24_s", "run_1_trials_s", "run_16_trials_s"):
            assert float(r[key]) > 0
        # the ratio comes from the same run's unrounded seconds; the table rounds to 0.01 s,
        # so allow for that rounding on a sub-second floor
        floor, run = float(r["floor_s"]), float(r["run_s"])
        low, high = (run - 0.005) / (floor + 0.005), (run + 0.005) / max(floor - 0.005, 1e-3)
        assert low - 0.01 <= float(r["run_over_floor"]) <= high + 0.01
        assert float(r["peak_rss_gib"]) > 0
        sixteen = float(r["run_16_trials_s"])
        assert abs(float(r["16_over_4_trials"]) - sixteen / run) <= 0.02 * sixteen / run + 0.02
    assert "run_over_expert" in proc.stdout
    # both files are named by the fingerprint of synth's inputs (the second once took the name
    # of the last command measured on the first, and a stale file of that name was reused)
    names = sorted(p.name for p in (tmp_path / "work").glob("extract-*.parquet"))
    assert [n.rsplit("-", 1)[0] for n in names] == ["extract-2000-shuffled", "extract-2000-sorted"]
    assert len({n.rsplit("-", 1)[1] for n in names}) == 1 and len(names[0].rsplit("-", 1)[1]) == len(
        "0123456789ab.parquet"
    )


def test_one_layout_without_the_scaling_runs(tmp_path):
    # what the 10M measurement uses: the sorted file only, four trials only, no monthly run
    out = tmp_path / "bench.csv"
    argv = [sys.executable, str(REPO / "benchmarks" / "run.py"), "--tiny", "--work", str(tmp_path)]
    argv += ["--out", str(out), "--layouts", "sorted", "--no-scaling", "--no-monthly", "--repeat", "2"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = list(csv.DictReader(out.open()))
    assert row["layout"] == "sorted" and float(row["run_s"]) > 0 and row["rounds"] == "2"
    assert "run_1_trials_s" not in row and "run_16_trials_s" not in row and not row["monthly_24_s"]
    bad = subprocess.run([*argv[:2], "--tiny", "--layouts", "sideways"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--layouts takes sorted, shuffled or both" in bad.stderr
    none = subprocess.run([*argv[:2], "--tiny", "--repeat", "0"], capture_output=True, text=True)
    assert none.returncode == 2 and "--repeat takes a whole number of rounds" in none.stderr


def test_a_reused_work_folder_makes_an_extract_again_when_what_synth_reads_changes(tmp_path, monkeypatch):
    """Extracts are named by a fingerprint of the synth code, the seed trials and the concept
    library: an extract made before a trial or concept changed is not measured stale."""
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    trials = tmp_path / "trials"
    shutil.copytree(REPO / "trials", trials)
    monkeypatch.setattr(bench, "trials_dir", lambda: trials)
    before = bench.synth_inputs_key()
    assert bench.synth_inputs_key() == before  # the same inputs, the same name
    labs = trials / "concepts" / "labs.yaml"
    labs.write_text(labs.read_text(encoding="utf-8") + "\n# a changed library\n", encoding="utf-8")
    assert bench.synth_inputs_key() != before


def test_the_code_map_benchmark_prints_its_ratio():
    argv = [sys.executable, str(REPO / "benchmarks" / "code_map.py"), "--triples", "2000", "--repeat", "1"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = csv.DictReader(proc.stdout.splitlines())
    assert int(row["triples"]) == 2000
    # every code of the library is in the dictionary, so each seed concept maps at least once
    assert int(row["code_map_rows"]) >= 100
    baseline, mapping = float(row["baseline_s"]), float(row["map_s"])
    assert baseline > 0 and mapping > 0
    # the ratio comes from the unrounded seconds; the table rounds them to 0.1 ms
    low, high = (mapping - 5e-5) / (baseline + 5e-5), (mapping + 5e-5) / (baseline - 5e-5)
    assert low - 0.05 <= float(row["map_over_baseline"]) <= high + 0.05

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
    for r in rows:
        assert int(r["patients"]) == 2000 and int(r["rows"]) > 2000 * 20
        for key in ("floor_s", "expert_s", "run_s", "run_1_trials_s", "run_16_trials_s"):
            assert float(r[key]) > 0
        ratio = float(r["run_s"]) / float(r["floor_s"])
        assert abs(float(r["run_over_floor"]) - ratio) < 0.02 * ratio + 0.01
        assert float(r["peak_rss_gib"]) > 0
    assert "run_over_expert" in proc.stdout

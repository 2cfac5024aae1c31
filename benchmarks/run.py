"""Benchmark harness: `feasibility run` against the floor and an expert baseline, same run.

    python benchmarks/run.py                      # 100k and 1M patients
    python benchmarks/run.py --sizes 10000000 --memory-limit 12GB --layouts sorted --no-scaling
                                                  # 10M (needs time and disk)
    python benchmarks/run.py --tiny               # what CI runs: proves the harness works

For each size it generates two extracts (rows sorted by patient, rows in random order) and
measures, each in a fresh process with the same thread count:
- floor:  DuckDB alone grouping the file by patient;
- expert: one hand-written DuckDB query computing, per patient and per code the trials use
          (the codes of the extract the engine's code map holds), the latest date and the
          latest value;
- run:    the full `feasibility run` CLI with the four seed trials, reports written;
- monthly: the same run with `--monthly 24` (every month end of two years evaluated, and the
          enrollment forecast), as a multiple of the plain run;
- run-1 / run-16: the CLI with 1 and with 16 trials (seed trials plus variants with other
          thresholds, windows and ids), to show how time grows with the number of trials,
          as 16/1 and as 16/4 (against `run`, the four seed trials).
It prints a table of seconds, ratios and peak RSS, and writes it as CSV. Timings on a shared
machine are noisy: every command runs `--repeat` times (default 3), the rounds interleaved,
and each is taken at its median; the ratios, measured in the same run, are what to read.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from feasibility.compile.code_map import build_code_map  # noqa: E402
from feasibility.compile.plan import plan_features  # noqa: E402
from feasibility.criteria.load import load_trials  # noqa: E402
from feasibility.resources import trials_dir  # noqa: E402

FLOOR = "SELECT count(*) FROM (SELECT patient_id, count(*) FROM read_parquet({file}) GROUP BY patient_id)"
# The expert's latest date and value are used (a bare count lets DuckDB skip computing them)
EXPERT = (
    "SELECT count(*), max(last_date), sum(last_value) FROM (SELECT patient_id, code, "
    "max(start_date) AS last_date, arg_max(value_num, start_date) AS last_value "
    "FROM read_parquet({file}) WHERE code IN ({codes}) GROUP BY patient_id, code)"
)


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024 / 1024


def duckdb_query(sql: str, threads: int, memory_limit: str | None) -> list[str]:
    """A fresh Python process running one DuckDB query with the given settings."""
    settings = [f"SET threads = {threads}"]
    if memory_limit:
        settings.append(f"SET memory_limit = '{memory_limit}'")
    code = "\n".join(
        [
            "import duckdb",
            "con = duckdb.connect()",
            *(f"con.execute({s!r})" for s in settings),
            f"con.execute({sql!r}).fetchall()",
        ]
    )
    return [sys.executable, "-c", code]


def trial_codes(extract: Path) -> list[str]:
    """Every code of the extract that a seed trial's concept uses: the raw codes of the code
    map the engine builds from the extract's distinct (code system, code, unit) triples."""
    trials, library = load_trials(None)
    dictionary = (
        duckdb.connect()
        .execute(
            "SELECT code_system, code, unit, count(*), count(value_num) FROM read_parquet(?) GROUP BY ALL",
            [str(extract)],
        )
        .fetchall()
    )
    code_map, _ = build_code_map(plan_features(trials, library), dictionary)
    return sorted({row.code for row in code_map})


def variant_trials(folder: Path, count: int) -> Path:
    """The seed trials plus variants (other ids, thresholds and windows) up to `count` files."""
    shutil.rmtree(folder, ignore_errors=True)  # a reused --work folder gets fresh variants
    folder.mkdir(parents=True)
    (folder / "concepts").symlink_to(trials_dir() / "concepts")
    seeds = sorted(trials_dir().glob("*.yaml"))
    made = 0
    round_ = 0
    while made < count:
        for seed in seeds:
            if made >= count:
                break
            text = seed.read_text(encoding="utf-8")
            if round_:
                text = re.sub(r"^id: (\S+)", rf"id: \1-V{round_}", text, count=1, flags=re.M)
                # other thresholds and windows: scale numbers after min/max/above/below down (up,
                # a threshold near the top of its concept's plausible range, SpO2 >= 92 %, would
                # leave the range and be refused), shift windows
                text = re.sub(
                    r"\b(min|max|above|below): (\d+(?:\.\d+)?)",
                    lambda m, r=round_: f"{m.group(1)}: {float(m.group(2)) * (1 - 0.05 * r):g}",
                    text,
                )
                text = re.sub(
                    r"within: (\d+) days", lambda m, r=round_: f"within: {int(m.group(1)) + 7 * r} days", text
                )
            (folder / f"{made:02d}-{seed.name}").write_text(text, encoding="utf-8")
            made += 1
        round_ += 1
    return folder


def synth_inputs_key() -> str:
    """A short fingerprint of what `feasibility synth` makes an extract from: its code and
    SQL, the seed trials and the concept library. Extracts in a reused `--work` folder are
    named by it, so one made before any of these changed is made again, not measured stale."""
    sources = [
        *(REPO / "feasibility" / "synth").glob("*.py"),
        *(REPO / "sql").glob("synth_*.sql"),
        *trials_dir().glob("*.yaml"),
        *(trials_dir() / "concepts").glob("*.yaml"),
    ]
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def bench_size(
    patients: int,
    threads: int,
    memory_limit: str | None,
    work: Path,
    trial_counts: tuple[int, ...],
    with_monthly: bool = True,
    layouts: tuple[str, ...] = ("sorted", "shuffled"),
    repeat: int = 1,
) -> list[dict]:
    """Measure one size: per row order, the floor, the expert query, the CLI runs at each
    trial count (and --monthly), each `repeat` times; one row of figures per order."""
    rows = []
    cli = [sys.executable, "-m", "feasibility"]
    trial_sets = {n: variant_trials(work / f"trials-{n}", n) for n in trial_counts if n != 4}
    key = synth_inputs_key()
    for layout in layouts:
        extract = work / f"extract-{patients}-{layout}-{key}.parquet"
        if not extract.exists():
            flag = "--sorted" if layout == "sorted" else "--shuffled"
            subprocess.run(
                [
                    *cli,
                    "synth",
                    "--patients",
                    str(patients),
                    "--sites",
                    "3",
                    "--seed",
                    "1",
                    "--out",
                    str(extract),
                    flag,
                ],
                check=True,
                stderr=subprocess.DEVNULL,
            )
        file = f"'{extract}'"
        codes = ", ".join(f"'{c}'" for c in trial_codes(extract))
        options = ["--threads", str(threads), "-q", "--out", str(work / "report")]
        if memory_limit:
            options += ["--memory-limit", memory_limit]
        commands = {
            "floor": duckdb_query(FLOOR.format(file=file), threads, memory_limit),
            "expert": duckdb_query(EXPERT.format(file=file, codes=codes), threads, memory_limit),
            "run": [*cli, "run", str(extract), *options],
            # the monthly incidence over 24 months and the forecast, against the plain run
            **({"monthly": [*cli, "run", str(extract), "--monthly", "24", *options]} if with_monthly else {}),
            **{
                n: [*cli, "run", str(extract), "--trials", str(folder), *options]
                for n, folder in trial_sets.items()
            },
        }
        # Rounds of every command in turn, each taken at its median: a slow minute of the
        # shared machine then slows one round of everything, not one baseline, and the
        # ratios move less than the seconds.
        seconds: dict[str | int, list[float]] = {k: [] for k in commands}
        rss: dict[str | int, list[float]] = {k: [] for k in commands}
        for _ in range(repeat):
            for name, argv in commands.items():
                took, peak = timed(argv)
                seconds[name].append(took)
                rss[name].append(peak)
        floor, expert, run = (statistics.median(seconds[k]) for k in ("floor", "expert", "run"))
        expert_rss, run_rss = max(rss["expert"]), max(rss["run"])
        monthly = statistics.median(seconds["monthly"]) if with_monthly else None
        by_trials = {n: statistics.median(seconds[n]) for n in trial_sets}
        n_rows = (
            duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [str(extract)]).fetchone()[0]
        )
        row = {
            "patients": patients,
            "rows": n_rows,
            "layout": layout,
            "threads": threads,
            "rounds": repeat,
            "floor_s": round(floor, 2),
            "expert_s": round(expert, 2),
            "run_s": round(run, 2),
            "run_over_floor": round(run / floor, 2),
            "run_over_expert": round(run / expert, 2),
            "peak_rss_gib": round(run_rss, 2),
            "monthly_24_s": round(monthly, 2) if monthly else None,
            "monthly_over_run": round(monthly / run, 2) if monthly else None,
            "expert_rss_gib": round(expert_rss, 2),
        }
        for n, median in by_trials.items():
            row[f"run_{n}_trials_s"] = round(median, 2)
        if 1 in by_trials and 16 in by_trials:
            row["16_over_1_trials"] = round(by_trials[16] / by_trials[1], 2)
            # the first seed trial alone reads two of the four families of rows, so 16 over
            # 1 mixes what more trials cost with what the other families cost; 16 over the
            # four seed trials (all four families) is the cost of four times the trials
            row["16_over_4_trials"] = round(by_trials[16] / run, 2)
        rows.append(row)
        print_table([row], header=len(rows) == 1)
    return rows


def print_table(rows: list[dict], header: bool = True) -> None:
    """The rows as right-aligned columns, under a header line when `header`."""
    keys = list(rows[0])
    if header:
        print("  ".join(f"{k:>16}" for k in keys))
    for r in rows:
        print("  ".join(f"{r[k]!s:>16}" for k in keys), flush=True)


def main() -> None:
    """Parse the options, measure each size, print the table and write the CSV."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="patients per extract, comma-separated")
    parser.add_argument("--tiny", action="store_true", help="one 2,000-patient size, for CI")
    parser.add_argument("--no-monthly", action="store_true", help="skip the --monthly 24 measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--memory-limit", help="DuckDB memory limit for every measurement, e.g. 8GB")
    parser.add_argument(
        "--layouts", default="sorted,shuffled", help="row orders to measure: sorted, shuffled or both"
    )
    parser.add_argument(
        "--no-scaling", action="store_true", help="skip the runs with 1 and 16 trials (four trials only)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="rounds of every measurement, each taken at its median (default 3; with --tiny, 1)",
    )
    parser.add_argument("--work", type=Path, help="folder for extracts (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "benchmark.csv")
    args = parser.parse_args()
    sizes = [2000] if args.tiny else [int(s) for s in args.sizes.split(",")]
    layouts = tuple(s.strip() for s in args.layouts.split(",") if s.strip())
    if not layouts or set(layouts) - {"sorted", "shuffled"}:
        parser.error("--layouts takes sorted, shuffled or both, comma-separated")
    repeat = args.repeat if args.repeat is not None else 1 if args.tiny else 3
    if repeat < 1:
        parser.error("--repeat takes a whole number of rounds, 1 or more")
    trial_counts = (4,) if args.no_scaling else (1, 4, 16)
    with tempfile.TemporaryDirectory(prefix="feasibility-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for n in sizes:
            rows += bench_size(
                n, args.threads, args.memory_limit, work, trial_counts, not args.no_monthly, layouts, repeat
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark: mapping a large site's code dictionary to the seed trials' concepts.

    python benchmarks/code_map.py                 # 130,000 distinct (system, code, unit) triples
    python benchmarks/code_map.py --triples 2000  # what CI runs: proves it works

The synthetic extracts of `run.py` hold a few hundred distinct codes; a hospital's hold tens
of thousands (every diagnosis, drug and local lab code in use, each lab code with the unit
spellings its analysers write). The engine maps each distinct triple to concepts in Python,
once per run, so its cost grows with the dictionary, not with the rows. This measures, in the
same process and run:
- baseline: the least any mapping does per triple: normalise its code and look it up once
            in a dictionary of the library's whole codes;
- map:      `build_code_map` for the four seed trials (prefix patterns, exclusions, units,
            dose factors, plausible ranges).
It prints both, their ratio, and the rows mapped. Each is the median of `--repeat` rounds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feasibility.compile.code_map import DictionaryRow, build_code_map
from feasibility.compile.plan import Plan, plan_features
from feasibility.criteria.concepts import normalise_code
from feasibility.criteria.load import load_trials
from feasibility.resources import trials_dir

LAB_UNITS = (None, "mg/dL", "mg/dl", "g/L", "U/L", "mmol/L", "umol/L", "%", "10*3/uL")


def site_dictionary(plan: Plan, size: int, seed: int = 1) -> list[DictionaryRow]:
    """`size` distinct triples shaped like a large site's: ICD-10-CM codes at every level
    (about half), RxNorm and NDC drug codes, LOINC codes in several unit spellings, and
    every code of the seed trials' library among them, as a site's would be; the lab rows
    carry numbers, the others none."""
    rnd = random.Random(seed)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    library = [(p.system, p.code) for c in plan.concepts for p in c.codes]
    out: set[DictionaryRow] = {(system, code, None, 1, 1) for system, code in library}
    while len(out) < size:
        kind = rnd.random()
        if kind < 0.5:
            code = f"{rnd.choice(letters)}{rnd.randint(0, 99):02d}"
            if rnd.random() < 0.9:
                code += "." + str(rnd.randint(0, 9999))[: rnd.randint(1, 4)]
            out.add(("ICD10CM", code, None, rnd.randint(1, 500), 0))
        elif kind < 0.7:
            out.add(("RxNorm", str(rnd.randint(1, 2_500_000)), "mg", rnd.randint(1, 500), 0))
        elif kind < 0.85:
            out.add(
                (
                    "NDC",
                    f"{rnd.randint(0, 99999):05d}{rnd.randint(0, 9999):04d}{rnd.randint(0, 99):02d}",
                    None,
                    1,
                    0,
                )
            )
        else:
            code = f"{rnd.randint(1, 99999)}-{rnd.randint(0, 9)}"
            rows = rnd.randint(1, 5000)
            out.add(("LOINC", code, rnd.choice(LAB_UNITS), rows, rows))
    return sorted(out, key=lambda t: (str(t[0]), str(t[1]), t[2] or ""))


def baseline(plan: Plan, dictionary: list[DictionaryRow]) -> int:
    """One normalisation and one lookup per triple: the floor of any mapping."""
    whole = {p.code: cid for cid, c in enumerate(plan.concepts) for p in c.codes}
    return sum(1 for _, code, _, _, _ in dictionary if code is not None and normalise_code(code) in whole)


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` calls of `work`."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Build the dictionary, measure the baseline and the map, print one CSV row."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--triples", type=int, default=130_000, help="distinct (system, code, unit) triples")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; each measurement is their median")
    args = parser.parse_args()
    trials, library = load_trials([trials_dir()])
    plan = plan_features(trials, library)
    dictionary = site_dictionary(plan, args.triples)
    rows = len(build_code_map(plan, dictionary)[0])
    floor = median_seconds(lambda: baseline(plan, dictionary), args.repeat)
    mapping = median_seconds(lambda: build_code_map(plan, dictionary), args.repeat)
    print("triples,code_map_rows,baseline_s,map_s,map_over_baseline")
    print(f"{len(dictionary)},{rows},{floor:.4f},{mapping:.4f},{mapping / floor:.1f}")


if __name__ == "__main__":
    main()

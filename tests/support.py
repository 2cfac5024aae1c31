"""Helpers for spec tests: hand-built patient tables evaluated by the real engine."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from feasibility.analytics.histogram import MaskHistogram
from feasibility.criteria.load import load_trials
from feasibility.evaluate.duckdb_engine import Engine, connect
from feasibility.evaluate.options import RunOptions
from feasibility.evaluate.reference import ReferenceEvaluator
from feasibility.evaluate.results import EngineResult

REPO = Path(__file__).resolve().parent.parent

SCHEMA = {
    "patient_id": pl.Utf8,
    "site_id": pl.Utf8,
    "sex": pl.Utf8,
    "birth_year": pl.Int32,
    "birth_date": pl.Date,
    "index_date": pl.Date,
    "death_date": pl.Date,
    "domain": pl.Utf8,
    "code_system": pl.Utf8,
    "code": pl.Utf8,
    "value_num": pl.Float64,
    "value_text": pl.Utf8,
    "unit": pl.Utf8,
    "ref_low": pl.Float64,
    "ref_high": pl.Float64,
    "start_date": pl.Date,
    "end_date": pl.Date,
}

_DEMOGRAPHICS: dict[str, dict] = {}


def _date(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def person(patient_id: str, sex: str = "F", birth_year: int = 1980, **extra) -> list[dict]:
    """A person row; later `event` rows of the patient copy its demographics."""
    row = {
        "patient_id": patient_id,
        "sex": sex,
        "birth_year": birth_year,
        "domain": "person",
        **{k: _date(v) if k.endswith("date") else v for k, v in extra.items()},
    }
    _DEMOGRAPHICS[patient_id] = {
        k: row[k]
        for k in row
        if k in ("sex", "birth_year", "birth_date", "index_date", "death_date", "site_id")
    }
    return [row]


def event(patient_id: str, domain: str, code_system: str, code: str, start_date, **values) -> dict:
    """One event row of a patient declared with `person` before."""
    row = {
        **_DEMOGRAPHICS.get(patient_id, {"sex": "F", "birth_year": 1980}),
        "patient_id": patient_id,
        "domain": domain,
        "code_system": code_system,
        "code": code,
        "start_date": _date(start_date),
    }
    for k, v in values.items():
        row[k] = _date(v) if k.endswith("date") else v
    return row


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def write_extract(rows: list[dict], path: Path) -> Path:
    frame(rows).write_parquet(path)
    return path


def ten_site_rows() -> list[dict]:
    """Ten sites for tests/fixtures/trials/small.yaml: site S<j> has j+1 adults with SLE and
    no ALT (potentially eligible, none confirmed), and two more patients whom one criterion
    alone excludes: children with SLE at even sites (`adult`), adults without SLE at odd ones
    (`sle`)."""
    rows = []
    for j in range(10):
        site = f"S{j}"
        for i in range(j + 1):
            rows += person(f"{site}-p{i}", site_id=site)
            rows.append(event(f"{site}-p{i}", "diagnosis", "ICD10CM", "M32.14", "2024-06-01"))
        for i in range(2):
            if j % 2 == 0:
                rows += person(f"{site}-child{i}", birth_year=2015, site_id=site)
                rows.append(event(f"{site}-child{i}", "diagnosis", "ICD10CM", "M32.14", "2024-06-01"))
            else:
                rows += person(f"{site}-other{i}", site_id=site)
    return rows


def small_trial_rows() -> list[dict]:
    """Six patients for tests/fixtures/trials/small.yaml: adults p0-p4 and a child p5; SLE for
    p0-p2; an ALT result for p0 and p3."""
    rows = []
    for i in range(6):
        pid = f"p{i}"
        rows += person(pid, birth_year=1980 if i < 5 else 2015)
        if i < 3:
            rows.append(event(pid, "diagnosis", "ICD10CM", "M32.14", "2024-01-01"))
        if i in (0, 3):
            rows.append(
                event(pid, "lab", "LOINC", "1742-6", "2024-12-20", value_num=20, unit="U/L", ref_high=40)
            )
    return rows


def mask_counters(histograms: dict[str, dict[str, MaskHistogram]]) -> dict:
    """Per trial and site, patients by (passed, unknown) masks as Python ints: comparable
    whatever order an engine's rows came in."""
    return {trial: {site: h.as_counter() for site, h in sites.items()} for trial, sites in histograms.items()}


def corrupt_column(path: Path, column: str) -> Path:
    """Overwrite the data of a column's first chunk, leaving its page header and the footer
    intact: the file opens and its schema reads, and the first read of the column fails.
    The chunk needs some size: write a few hundred distinct values."""
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    chunks = (row_group.column(i) for i in range(row_group.num_columns))
    chunk = next(c for c in chunks if c.path_in_schema == column)
    first = chunk.data_page_offset + 30  # past the page header
    end = chunk.data_page_offset + chunk.total_compressed_size - 10
    assert end > first, "the column chunk is too small to corrupt"
    data = bytearray(path.read_bytes())
    data[first:end] = b"\xab" * (end - first)
    path.write_bytes(bytes(data))
    return path


# The two readings of a rule that spec tables are checked with: DuckDB's SQL, and the
# plain-Python reference evaluator that the Hypothesis tests compare it with
EVALUATORS = ("engine", "reference")


def _trial_path(trial: str | Path) -> Path:
    return Path(trial) if Path(trial).is_absolute() else REPO / trial


def load_engine(trial: str | Path, rows: list[dict], as_of: str | None = None) -> tuple[Engine, EngineResult]:
    """The engine loaded with a trial file's trials and an extract of `rows`."""
    trials, library = load_trials([_trial_path(trial)])
    options = RunOptions(as_of=_date(as_of) if as_of else None)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "extract.parquet")
        engine = Engine(connect(options), trials, library, options)
        # the tables the engine queries afterwards are in DuckDB: the file may go
        return engine, engine.evaluate(str(extract))


def evaluate(
    trial: str | Path, rows: list[dict], as_of: str | None = None
) -> dict[str, dict[str, bool | None]]:
    """Per patient, per criterion id, the rule's value: True, False or None (UNKNOWN)."""
    engine, _ = load_engine(trial, rows, as_of)
    return engine.rule_values(engine.trials[0])


def reference_values(
    trial: str | Path, rows: list[dict], as_of: str | None = None
) -> dict[str, dict[str, bool | None]]:
    """As `evaluate`, read by the reference evaluator instead of DuckDB."""
    trials, library = load_trials([_trial_path(trial)])
    return ReferenceEvaluator(rows, library, as_of=_date(as_of) if as_of else None).rule_values(trials[0])


def evaluate_with(
    evaluator: str, trial: str | Path, rows: list[dict], as_of: str | None = None
) -> dict[str, dict[str, bool | None]]:
    """`evaluate` or `reference_values`, by the name in `EVALUATORS`."""
    return {"engine": evaluate, "reference": reference_values}[evaluator](trial, rows, as_of)


def spec_row(pid: str, spec: tuple) -> dict:
    """One event from a compact spec tuple, as the trial spec tables write them:
    ("dx", ICD10CM code, date), ("pcs", ICD10PCS code, date),
    ("lab", LOINC, date, value, unit, ref_high[, text result]), ("low", LOINC, date, value,
    unit, ref_low), ("text", LOINC, date, text result),
    ("obs", system, code, date, value, unit), ("otext", system, code, date, text result),
    ("med", [system:]code, start, end, dose[, unit])."""
    kind, *rest = spec
    if kind == "dx":
        code, day = rest
        return event(pid, "diagnosis", "ICD10CM", code, day)
    if kind == "pcs":
        code, day = rest
        return event(pid, "procedure", "ICD10PCS", code, day)
    if kind == "lab":
        code, day, value, unit, ref_high, *text = rest
        result = {"value_num": value, "unit": unit, "ref_high": ref_high, "value_text": (text or [None])[0]}
        return event(pid, "lab", "LOINC", code, day, **result)
    if kind == "low":
        code, day, value, unit, ref_low = rest
        return event(pid, "lab", "LOINC", code, day, value_num=value, unit=unit, ref_low=ref_low)
    if kind == "text":
        code, day, text = rest
        return event(pid, "lab", "LOINC", code, day, value_text=text)
    if kind == "obs":
        system, code, day, value, unit = rest
        return event(pid, "observation", system, code, day, value_num=value, unit=unit)
    if kind == "otext":
        system, code, day, text = rest
        return event(pid, "observation", system, code, day, value_text=text)
    if kind == "med":
        code, start, end, dose, *unit = rest
        system, code = code.split(":") if ":" in code else ("ATC", code)
        return event(
            pid, "medication", system, code, start, end_date=end, value_num=dose, unit=(unit or ["mg/d"])[0]
        )
    raise ValueError(kind)


class SpecTable:
    """A trial's spec cases: (patient, demographics, event specs, criterion, expected), all
    evaluated in one engine run."""

    def __init__(self, trial: str, as_of: str):
        self.trial, self.as_of = trial, as_of
        self.cases: list[tuple[str, dict, list, str, bool | None]] = []

    def case(self, pid: str, criterion: str, expected: bool | None, *rows, **demographics) -> None:
        if any(c[0] == pid for c in self.cases):
            raise ValueError(f"spec case id {pid!r} is used twice")
        self.cases.append((pid, demographics, list(rows), criterion, expected))

    def evaluate(self, evaluator: str = "engine") -> dict[str, dict[str, bool | None]]:
        rows: list[dict] = []
        for pid, demographics, specs, _, _ in self.cases:
            rows += person(pid, **demographics)
            rows += [spec_row(pid, spec) for spec in specs]
        return evaluate_with(evaluator, self.trial, rows, as_of=self.as_of)

    def params(self):
        """pytest parametrize arguments: (pid, criterion, expected), ids = patient ids."""
        return [(pid, c, e) for pid, _, _, c, e in self.cases], [c[0] for c in self.cases]


@dataclass
class Case:
    """One spec case: a patient built from `events` (domain, system, code, date, values), and
    the expected value of criterion `crit`, with the protocol reason `why`."""

    crit: str
    expected: bool | None
    why: str
    events: list = field(default_factory=list)
    demo: dict = field(default_factory=dict)


def evaluate_cases(trial: str, cases: list[Case], as_of: str, evaluator: str = "engine") -> list[bool | None]:
    """Each case's criterion value, all cases evaluated in one run of `evaluator`."""
    rows: list[dict] = []
    for i, case in enumerate(cases):
        rows += person(f"c{i:04d}", **({"sex": "F", "birth_year": 1980} | case.demo))
        for domain, system, code, day, values in case.events:
            rows.append(event(f"c{i:04d}", domain, system, code, day, **values))
    values = evaluate_with(evaluator, trial, rows, as_of=as_of)
    return [values[f"c{i:04d}"][case.crit] for i, case in enumerate(cases)]

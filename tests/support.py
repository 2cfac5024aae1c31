"""Helpers for spec tests: hand-built patient tables evaluated by the real engine."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import polars as pl

from feasibility.criteria.load import load_trials
from feasibility.engine import Engine, RunOptions, connect

REPO = Path(__file__).resolve().parent.parent

SCHEMA = {
    "patient_id": pl.Utf8,
    "site_id": pl.Utf8,
    "sex": pl.Utf8,
    "birth_year": pl.Int32,
    "birth_date": pl.Date,
    "index_date": pl.Date,
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
        k: row[k] for k in row if k in ("sex", "birth_year", "birth_date", "index_date", "site_id")
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


def evaluate(
    trial: str | Path, rows: list[dict], as_of: str | None = None
) -> dict[str, dict[str, bool | None]]:
    """Per patient, per criterion id, the rule's value: True, False or None (UNKNOWN)."""
    trial_path = Path(trial) if Path(trial).is_absolute() else REPO / trial
    trials, library = load_trials([trial_path])
    options = RunOptions(as_of=_date(as_of) if as_of else None)
    with tempfile.TemporaryDirectory() as tmp:
        extract = write_extract(rows, Path(tmp) / "extract.parquet")
        engine = Engine(connect(options), trials, library, options)
        engine.load(str(extract))
        return engine.rule_values(trials[0])

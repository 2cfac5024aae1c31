"""What a run computed, whichever engine ran it: per trial and site, patients counted by
their criterion masks, and the data-quality counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from feasibility.analytics.histogram import MaskHistogram
from feasibility.analytics.incidence import MonthEnds
from feasibility.criteria.model import Trial

if TYPE_CHECKING:  # the reports read a result without loading the engine's DuckDB side
    from feasibility.extract.source import ExtractSource


@dataclass
class DataQuality:
    """Counts only: what the engine noticed about the extract and how it treated it."""

    counts: dict[str, int] = field(default_factory=dict)
    unknown_units: dict[str, dict[str, int]] = field(default_factory=dict)  # per concept, by unit
    default_uln_patients: dict[str, int] = field(default_factory=dict)
    implausible_value_rows: dict[str, int] = field(default_factory=dict)
    # per result concept, the rows of a text with no number read as no word, titre or bound
    unread_text_rows: dict[str, int] = field(default_factory=dict)
    # per medication concept, the exposures read that end before they start (no day on it)
    reversed_exposure_rows: dict[str, int] = field(default_factory=dict)
    unread_code_system_rows: dict[str, int] = field(default_factory=dict)

    @property
    def unknown_unit_rows(self) -> dict[str, int]:
        """Per concept, the rows in a unit it does not know, whatever the unit."""
        return {c: sum(by_unit.values()) for c, by_unit in self.unknown_units.items()}

    def as_dict(self) -> dict:
        """The counts as report.json holds them, each mapping in key order."""
        return {
            "counts": dict(self.counts),
            "unknown_unit_rows": dict(sorted(self.unknown_unit_rows.items())),
            "unknown_units": {c: dict(sorted(u.items())) for c, u in sorted(self.unknown_units.items())},
            "default_uln_patients": dict(sorted(self.default_uln_patients.items())),
            "implausible_value_rows": dict(sorted(self.implausible_value_rows.items())),
            "unread_text_rows": dict(sorted(self.unread_text_rows.items())),
            "reversed_exposure_rows": dict(sorted(self.reversed_exposure_rows.items())),
            "unread_code_system_rows": dict(sorted(self.unread_code_system_rows.items())),
        }


@dataclass
class EngineResult:
    """What one run computed: per trial and site, patients counted by their masks."""

    trials: list[Trial]
    histograms: dict[str, dict[str, MaskHistogram]]
    data_quality: DataQuality
    source: ExtractSource
    index_default: date
    latest_event: date | None  # the extract's latest start_date (None: no row has one)
    versions: dict[str, str]  # e.g. {"duckdb": "2.0.1"}: the libraries that computed it
    # per concept id, the raw codes of the code map: the rows the passes read, which the
    # monthly passes filter by again
    codes: Mapping[int, Sequence[str]]
    # the concepts whose rows hold a number or a titre written as a bound (see
    # `Plan.written_bounds`), which the monthly passes read again
    written_bounds: frozenset[int]
    # whether patients' index dates come from the extract's `index_date` column (one that
    # holds at least one date)
    index_from_column: bool

    # derived, so the engines cannot disagree with their own counts
    @property
    def rows(self) -> int:
        """The extract's rows."""
        return self.data_quality.counts["rows"]

    @property
    def patients(self) -> int:
        """The extract's patients."""
        return self.data_quality.counts["patients"]


@dataclass(frozen=True)
class MonthlyStatus:
    """Per trial and site, patients counted by the month ends at which they were eligible
    and potentially eligible (`incidence.MonthEnds`: month_back from 0, the index date, to
    `month_ends_evaluated(months) - 1`), from which `incidence` counts the newly eligible."""

    months: int
    counts: dict[str, dict[str, Counter[MonthEnds]]]

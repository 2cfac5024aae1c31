"""The tables one evaluation reads and writes, and the key that identifies a patient in them.

A run evaluates every patient once, at their index date. The monthly incidence evaluates
them again at each of the last months' ends: the same queries over other tables, with the
month as part of the patient key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from feasibility.compile.sqlexpr import col


@dataclass(frozen=True)
class Tables:
    """The names of the tables one evaluation creates, and the key its rows are grouped by."""

    events: str = "events"
    patient_records: str = "patient_records"
    patient_results: str = "patient_results"
    patient_exposures: str = "patient_exposures"
    patient_coverage: str = "patient_coverage"
    atom_masks: str = "atom_masks"
    demographics: str = "demographics"
    patients: str = "patients"
    sites: str = "sites"  # one numbering of the sites, shared by the run and the months
    code_map: str = "code_map"  # the extract's codes mapped to concepts, shared likewise
    # the patients whose rows disagree on index_date (see `aggregate.index_conflicts_query`);
    # None where every row carries its patient's index date already (the monthly events)
    index_conflicts: str | None = "index_conflicts"
    keys: tuple[str, ...] = ("patient_id",)

    def families(self) -> dict[str, str]:
        """The table of each family's pass (see `plan.FAMILIES`)."""
        return {
            "records": self.patient_records,
            "results": self.patient_results,
            "exposures": self.patient_exposures,
            "coverage": self.patient_coverage,
        }

    def key_columns(self, table: str | None = None) -> list[exp.Column]:
        """The key columns (patient, and the month end in the monthly tables), of `table`."""
        return [col(k, table) for k in self.keys]

    def key_join(self, left: str, right: str) -> exp.Expr:
        """`left.k = right.k AND ...` over the key columns."""
        condition: exp.Expr | None = None
        for k in self.keys:
            eq = exp.EQ(this=col(k, left), expression=col(k, right))
            condition = eq if condition is None else exp.And(this=condition, expression=eq)
        assert condition is not None
        return condition


RUN = Tables()
MONTHLY = Tables(
    events="events_monthly",
    patient_records="patient_records_monthly",
    patient_results="patient_results_monthly",
    patient_exposures="patient_exposures_monthly",
    patient_coverage="patient_coverage_monthly",
    atom_masks="atom_masks_monthly",
    demographics="demographics_monthly",
    patients="patients_monthly",
    index_conflicts=None,
    keys=("patient_id", "month_back"),
)

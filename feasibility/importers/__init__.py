"""Importers: a site's OMOP CDM or MIMIC-IV database -> an extract (docs/importing.md)."""

from feasibility.importers.mimic import import_mimic
from feasibility.importers.omop import import_omop

__all__ = ["import_mimic", "import_omop"]

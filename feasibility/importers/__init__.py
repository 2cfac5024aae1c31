"""Importers: a site's OMOP CDM or MIMIC-IV database -> an extract (docs/importing.md).

`feasibility.importers.omop.import_omop` and `feasibility.importers.mimic.import_mimic`; the
command line is `feasibility import omop|mimic-iv` (feasibility/importers/cli.py).
"""

"""Cohort feasibility batch engine: trial eligibility criteria evaluated on a site's extract."""

__version__ = "0.1.0"

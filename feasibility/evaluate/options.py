"""What a run is asked to do beyond the trials: the index date, the site name, resources."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from feasibility.errors import FeasibilityError
from feasibility.extract.contract import DEFAULT_SITE


@dataclass(frozen=True)
class RunOptions:
    """The engine's settings for one run. `as_of` overrides the default index date (the
    extract's latest start date); `site` names the site of an extract without `site_id`."""

    as_of: date | None = None
    site: str = DEFAULT_SITE
    threads: int | None = None
    memory_limit: str | None = None  # DuckDB syntax, e.g. "4GB"
    check_duplicates: bool = False  # count exact duplicate rows (another pass over coded rows)
    keep_patient_masks: bool = False  # keep each patient's criterion masks, for the patient list


def memory_setting(value: str) -> str:
    """The --memory-limit value as DuckDB and Spark read it, or a one-line error."""
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value, re.I):
        raise FeasibilityError(
            f"cannot read memory limit `{value}`", where="--memory-limit", fix="write e.g. 4GB or 512MB"
        )
    return value.strip()

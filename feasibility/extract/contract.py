"""The extract contract (v1): the columns a site's parquet file must or may carry."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

CONTRACT_VERSION = "1"

# The other spellings DuckDB gives an accepted type: DECIMAL carries its precision and scale,
# TIMESTAMP a resolution or a time zone. Anything else must match exactly, so that a list,
# struct or map of an accepted type (`VARCHAR[]`, `DATE[]`) is refused before the run
# rather than read as NULLs or failing mid-run on a value.
_SPELLINGS = {
    "DECIMAL": re.compile(r"DECIMAL\(\d+, ?\d+\)"),
    "TIMESTAMP": re.compile(r"TIMESTAMP(_S|_MS|_NS| WITH TIME ZONE)?"),
}


# the site of an extract without `site_id`, unless --site names it
DEFAULT_SITE = "site"

_DIGITS = re.compile(r"(\d+)")


def site_order(site_id: str) -> tuple[tuple[str | int, ...], str]:
    """The key by which reports list sites: each run of digits in a site id as its number,
    as a reader expects (SITE-9 before SITE-10, where text order puts SITE-10 first), then
    the id itself, so that ids written alike (S1, S01) still come in one order."""
    parts = _DIGITS.split(site_id)  # text, digits, text, ...: each place holds one type
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), site_id


# The parquet key-value metadata key of the extract's notice: the licence or attribution its
# data must carry (e.g. MIMIC-IV's ODbL citation), one per line. Reports built from the
# extract repeat it, so the notice travels with every report a site shares.
NOTICE_KEY = "feasibility.notice"
# a notice is a few lines of licence text; anything longer is not one
NOTICE_MAX_CHARS = 2000


def split_notices(texts: Iterable[str], printable: Callable[[str], str]) -> tuple[str, ...]:
    """The lines of the notice `texts`, each through `printable` and stripped, blank ones
    dropped, each line once in the order first found: an extract's files, or an import's
    `--notice`s, usually repeat a line. `printable` returns a line without control
    characters, or raises: the reader of an extract strips them (the extract is the site's
    own, and a run goes on), an import refuses them (its user can fix the text at once)."""
    lines: dict[str, None] = {}
    for text in texts:
        for line in text.splitlines():
            line = printable(line).strip()
            if line:
                lines[line] = None
    return tuple(lines)


@dataclass(frozen=True)
class Column:
    """One column of the extract contract (docs/extract-contract.md)."""

    name: str
    type: str  # the type the engine reads it as
    required: bool
    accepts: tuple[str, ...]  # DuckDB types accepted and cast to `type` (see `accepts_type`)
    meaning: str

    def accepts_type(self, found: str) -> bool:
        """Whether a column DuckDB describes as `found` can be read as this column: one of
        the accepted types (DECIMAL of any precision, TIMESTAMP of any resolution or time
        zone), never a list, array, struct or map of one."""
        found = found.strip().upper()
        return any(
            found == name or (name in _SPELLINGS and _SPELLINGS[name].fullmatch(found) is not None)
            for name in self.accepts
        )


_STRING = ("VARCHAR",)
# The integer types a column may have, from narrowest to widest: files of one extract that
# differ in width alone are read as the widest (`source._describe`).
INTEGER_TYPES = (
    "TINYINT",
    "UTINYINT",
    "SMALLINT",
    "USMALLINT",
    "INTEGER",
    "UINTEGER",
    "BIGINT",
    "UBIGINT",
    "HUGEINT",
)
_INT = INTEGER_TYPES
_NUMBER = ("DOUBLE", "FLOAT", "DECIMAL", "REAL", *_INT)
_DATE = ("DATE", "TIMESTAMP")

COLUMNS: tuple[Column, ...] = (
    Column("patient_id", "VARCHAR", True, _STRING + _INT, "pseudonymous patient id"),
    Column("site_id", "VARCHAR", False, _STRING + _INT, "site; absent: one site named by --site"),
    Column("sex", "VARCHAR", True, _STRING, "F, M or U (lower case accepted), constant per patient"),
    Column("birth_year", "INTEGER", True, _INT, "year of birth, constant per patient"),
    Column("birth_date", "DATE", False, _DATE, "date of birth; takes precedence over birth_year"),
    Column("index_date", "DATE", False, _DATE, "per-patient screening date; overrides --as-of"),
    Column("death_date", "DATE", False, _DATE, "date of death; dead by the index date: not in care"),
    Column(
        "domain", "VARCHAR", True, _STRING, "diagnosis, lab, medication, procedure, observation or person"
    ),
    Column(
        "code_system",
        "VARCHAR",
        True,
        _STRING,
        "ICD10CM, ICD10, ICD9CM, LOINC, ATC, RXNORM, SNOMED, CVX, LOCAL, ...",
    ),
    Column("code", "VARCHAR", True, _STRING + _INT, "the code in that system"),
    Column("value_num", "DOUBLE", False, _NUMBER, "numeric result; for medications the daily dose"),
    Column("value_text", "VARCHAR", False, _STRING, "text result: positive, negative, detected, ..."),
    Column("unit", "VARCHAR", False, _STRING, "UCUM or common spelling"),
    Column("ref_low", "DOUBLE", False, _NUMBER, "lower reference limit"),
    Column("ref_high", "DOUBLE", False, _NUMBER, "upper reference limit (ULN)"),
    Column("start_date", "DATE", True, _DATE, "event date"),
    Column("end_date", "DATE", False, _DATE, "end of a medication or condition"),
)

BY_NAME = {c.name: c for c in COLUMNS}

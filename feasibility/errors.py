"""User-facing errors: one line naming the file, the place and the fix."""

from __future__ import annotations

import re


class FeasibilityError(Exception):
    """A problem with the user's input, reported as one line and a non-zero exit.

    Messages never contain patient-level values: only file names, column names, counts and
    the names of things in trial files.
    """

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        parts = [f"{where}: {message}" if where else message]
        if fix:
            parts.append(f"fix: {fix}")
        super().__init__(" — ".join(parts))


class ExtractError(FeasibilityError):
    """The extract does not meet the contract."""


class TrialError(FeasibilityError):
    """A trial or concept file is malformed."""


_DUCKDB_PREFIXES = (
    "Invalid Input Error: ",
    "IO Error: ",
    "Binder Error: ",
    "Conversion Error: ",
    "Parser Error: ",
    "Catalog Error: ",
    "Out of Memory Error: ",
)


# Where database engines print the data value that failed: `convert string 'x'`, `value
# out of range: "x"`, `with value x`, `Date out of range: x`, Spark's `The value 'x'`.
_QUOTED_VALUE = re.compile(r"""(?i)\b(string|value|input|out of range:)\s+(['"]).*?\2""")
_BARE_VALUE = re.compile(r"""(?i)\b(with value|out of range:)\s+(?=[^\s'"(])\S+""")
VALUE_WITHHELD = "(value withheld)"


def withhold_values(message: str) -> str:
    """`message` with the data values a database quotes in it replaced: an error about the
    extract names its file and column, never a patient's value."""
    for pattern in (_QUOTED_VALUE, _BARE_VALUE):
        message = pattern.sub(lambda m: f"{m[1]} {VALUE_WITHHELD}", message)
    return message


def interrupted(error: BaseException) -> bool:
    """Whether an error from DuckDB is Ctrl-C or SIGTERM arriving during a query: DuckDB's
    interrupt error, a RuntimeError from its result fetch, or, when Python code was feeding
    DuckDB a stream (a registered Arrow object), the KeyboardInterrupt wrapped in DuckDB's
    error for the failed stream."""
    text = str(error)
    return (
        type(error).__name__ == "InterruptException"
        or (isinstance(error, RuntimeError) and "interrupted" in text.lower())
        or "KeyboardInterrupt" in text
    )


def short_message(error: Exception, limit: int = 160) -> str:
    """The first line of a database error, without DuckDB's class prefix and with any data
    value withheld, for a one-line message (the file names DuckDB adds are the user's own)."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    for prefix in _DUCKDB_PREFIXES:
        message = message.removeprefix(prefix)
    message = withhold_values(message)
    # cut at a word, and say so: a name cut short ("birth_yea") reads as the wrong name
    return message if len(message) <= limit else message[:limit].rsplit(" ", 1)[0] + " …"


def some_names(names: list[str], limit: int = 3) -> str:
    """The first `limit` of `names`, and how many more, for a one-line message."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more

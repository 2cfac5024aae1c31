"""Where the shipped SQL files and seed trials live, in a checkout or an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    # A wheel carries them inside the package; an editable install or a checkout beside it.
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped `{name}/` folder is missing from this installation")


def trials_dir() -> Path:
    """The shipped trial files (and their `concepts/` library)."""
    return _bundled("trials")


@cache
def sql_text(name: str) -> str:
    """The text of a fixed SQL file in `sql/`."""
    return (_bundled("sql") / name).read_text(encoding="utf-8")

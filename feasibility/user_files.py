"""Reading the user's own text files (trials, concepts, conversion rates, reports to
compare) with one-line errors instead of tracebacks."""

from __future__ import annotations

from pathlib import Path

from feasibility.errors import FeasibilityError


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def read_user_text(path: Path, error: type[FeasibilityError] = FeasibilityError, what: str = "file") -> str:
    """The file's text (UTF-8, a byte-order mark allowed); any problem is a one-line `error`."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{what} not found", where=str(path), fix="check the path") from None
    except UnicodeDecodeError:
        if path.suffix.lower() == ".parquet" or _starts_with(path, b"PAR1"):
            # the likeliest mix-up: an extract given where a text file belongs
            raise error(
                f"is a parquet file, not a {what}",
                where=str(path),
                fix=f"an extract goes to `feasibility run EXTRACT`; give the {what} here",
            ) from None
        raise error("not UTF-8 text", where=str(path), fix="save the file as UTF-8") from None
    except IsADirectoryError:
        raise error(f"a folder, not a {what}", where=str(path), fix="give the file's path") from None
    except OSError as e:
        raise error(f"cannot read ({e.strerror})", where=str(path), fix="check the path") from None

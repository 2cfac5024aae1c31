"""Reading the user's own text files (trials, concepts, conversion rates, reports to
compare) with one-line errors instead of tracebacks."""

from __future__ import annotations

from pathlib import Path

from feasibility.errors import FeasibilityError


def read_user_bytes(
    path: Path, error: type[FeasibilityError] = FeasibilityError, what: str = "file"
) -> bytes:
    """The file's bytes; a missing or unreadable file is a one-line `error`."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found", where=str(path), fix="check the path") from None
    except IsADirectoryError:
        raise error(f"a folder, not a {what}", where=str(path), fix="give the file's path") from None
    except OSError as e:
        raise error(f"cannot read ({e.strerror})", where=str(path), fix="check the path") from None


def user_text(
    raw: bytes, path: Path, error: type[FeasibilityError] = FeasibilityError, what: str = "file"
) -> str:
    """The bytes read from `path` as text (UTF-8, a byte-order mark allowed), or a one-line
    `error`: a caller that also hashes the bytes reads the file once."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        if path.suffix.lower() == ".parquet" or raw.startswith(b"PAR1"):
            # the likeliest mix-up: an extract given where a text file belongs
            raise error(
                f"is a parquet file, not a {what}",
                where=str(path),
                fix=f"an extract goes to `feasibility run EXTRACT`; give the {what} here",
            ) from None
        raise error("not UTF-8 text", where=str(path), fix="save the file as UTF-8") from None


def read_user_text(path: Path, error: type[FeasibilityError] = FeasibilityError, what: str = "file") -> str:
    """The file's text (UTF-8, a byte-order mark allowed); any problem is a one-line `error`."""
    return user_text(read_user_bytes(path, error, what), path, error, what)

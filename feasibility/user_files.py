"""Reading the user's own text files (trials, concepts, conversion rates, reports to
compare) with one-line errors instead of tracebacks, and never writing over a file of theirs
that the program did not write."""

from __future__ import annotations

import errno
from pathlib import Path

from feasibility.errors import FeasibilityError

# the first bytes of every parquet file
PARQUET_MAGIC = b"PAR1"


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
        if path.suffix.lower() == ".parquet" or raw.startswith(PARQUET_MAGIC):
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


def refuse_replacing(path: Path, starts_with: bytes, what: str, flag: str) -> None:
    """Before any work: a user error when `path` is an existing file that does not start with
    `starts_with`, i.e. is not a `what` such as this program writes there (an earlier
    extract, an earlier patient list). A mistyped output path must not destroy a trial
    file, a CSV or another extract (`--patient-list extract.parquet`)."""
    if not path.is_file():
        return
    try:
        with path.open("rb") as f:
            head = f.read(len(starts_with))
    except OSError as e:
        raise FeasibilityError(
            f"cannot read ({e.strerror})", where=str(path), fix=f"give {flag} a new file"
        ) from None
    if head != starts_with:
        raise FeasibilityError(
            f"exists and is not a {what}, which replacing it would destroy",
            where=str(path),
            fix=f"give {flag} a new file name, or delete the file first",
        )


def existing_folder(path: Path, flag: str) -> Path:
    """The nearest folder above `path` that exists, in which its missing folders are made;
    a user error, the same for every output, when a file stands there instead: making the
    folders would fail with only "File exists" or "Not a directory"."""
    # `.` and `/` have no parents: their own parent (themselves) is where they are made
    existing = next((p for p in path.parents if p.exists()), path.parent)
    if not existing.is_dir():
        raise FeasibilityError(
            "is a file, not a folder",
            where=str(existing),
            fix=f"give {flag} a path through folders, not through this file",
        )
    return existing


def why_not_written(error: OSError) -> str:
    """Why a file or folder could not be made, in the user's terms. The system's own words
    mislead in one case: a virtual file system (/proc) refuses new entries with "No such
    file or directory", said of a folder that exists."""
    if error.errno == errno.ENOENT:
        return "this place takes no new files"
    if error.errno == errno.EROFS:
        return "a read-only file system"
    if error.errno == errno.ENOSPC:
        return "the disk is full"
    return error.strerror or type(error).__name__


def check_extract_out(out: Path) -> None:
    """Before an extract is written to `out` (`synth`, `import`): no file stands where a
    folder on its way belongs, and an existing `out` is an earlier extract (a parquet file),
    never a trial, a CSV or a source table in another format. Its name ends in `.parquet`:
    `run` reads a folder's parquet files by that ending, and a reader of `x.csv` would not
    expect parquet in it."""
    existing_folder(out, "--out")
    refuse_replacing(out, PARQUET_MAGIC, "parquet file", "--out")
    if not out.name.lower().endswith(".parquet"):
        raise FeasibilityError(
            "an extract is written as a parquet file, and its name must say so",
            where=f"--out {out}",
            fix=f"name it with .parquet, e.g. --out {out.with_name(out.stem + '.parquet')}",
        )

"""Write a report directory atomically: all files or none."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from feasibility.errors import FeasibilityError


def write_directory(target: Path, files: dict[str, str | bytes]) -> None:
    """Write `files` into a temporary folder beside `target`, then move it into place, so a
    failure never leaves a half-written report. An existing report folder is replaced."""
    target = target.resolve()
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
        # mkdtemp makes the folder private; a report folder gets the user's usual mode
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
    except OSError as e:
        raise FeasibilityError(
            f"cannot write here ({e.strerror})", where=str(parent), fix="choose another --out folder"
        ) from None
    try:
        for name, content in files.items():
            path = staging / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        if target.exists():
            if not target.is_dir():
                raise FeasibilityError(
                    "exists and is not a folder", where=str(target), fix="choose another --out"
                )
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=parent))
            os.replace(target, old / "report")
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_file(target: Path, content: str) -> None:
    """Write one file atomically (write beside it, then rename)."""
    target = target.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.replace(tmp, target)
    except OSError as e:
        raise FeasibilityError(
            f"cannot write ({e.strerror})", where=str(target), fix="check the path and permissions"
        ) from None

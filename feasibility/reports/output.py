"""Write a report directory atomically: all files or none."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from feasibility import interrupts
from feasibility.errors import FeasibilityError, some_names
from feasibility.user_files import existing_folder, refuse_replacing, why_not_written

if sys.platform != "win32":
    import fcntl


def write_directory(target: Path, files: dict[str, str | bytes]) -> None:
    """Write `files` into a temporary folder beside `target`, then move it into place, so a
    failure never leaves a half-written report. An existing folder is replaced only when it
    holds nothing but files of these names (an earlier report): `--out .` in the folder of
    the extract must not delete the extract."""
    target = target.resolve()
    parent = target.parent
    check_folder_target(target, files)  # compare writes with no check of its own before
    staging: Path | None = None
    try:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            with interrupts.deferred():  # a Ctrl-C here would leave a folder no one removes
                staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
            # mkdtemp makes the folder private; a report folder gets the user's usual mode
            umask = os.umask(0)
            os.umask(umask)
            staging.chmod(0o777 & ~umask)
        except OSError as e:
            raise FeasibilityError(
                f"cannot write here ({why_not_written(e)})",
                where=str(parent),
                fix="choose another --out folder",
            ) from None
        for name, content in files.items():
            path = staging / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        # the commit: on the command line, Ctrl-C no longer stops the run from here (it would
        # tell the user `interrupted` beside a report already replaced); see interrupts.py
        interrupts.hold()
        if target.exists():
            _swap(staging, target, list(files))
        else:
            os.replace(staging, target)
    except OSError as e:
        raise FeasibilityError(
            f"cannot write the output ({e.strerror})",
            where=str(target),
            fix="free some space or choose another --out"
            if e.errno == errno.ENOSPC
            else "choose another --out",
        ) from None
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _swap(staging: Path, target: Path, names: list[str]) -> None:
    """Put the staged folder in place of an earlier one. A folder that cannot be renamed (a
    mount point, as `docker -v host:/out` makes) takes the new files one by one instead:
    each file is still whole, though the set is no longer swapped at once."""
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    try:
        os.replace(target, old / "report")
    except OSError:
        for name in names:
            os.replace(staging / name, target / name)
        return
    finally:
        if not (old / "report").exists():
            old.rmdir()
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def check_folder_target(target: Path, names: Iterable[str]) -> None:
    """Before any work: `target` is new, or a folder `write_directory` may replace (one that
    holds only files named `names`), and the folder it is written from can be written."""
    target = target.resolve()
    _check_replaceable(target, set(names))
    # the report is staged beside the target: the nearest existing folder above it must be
    # writable (a permission check, not a promise: the disk may still fill)
    existing = existing_folder(target, "--out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FeasibilityError(
            "cannot write here (permission denied)", where=str(existing), fix="choose another --out folder"
        )


def _check_replaceable(target: Path, names: set[str]) -> None:
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        # `--out .` or `--out ""` (an unset variable): replacing the folder one works in
        # leaves the shell in a deleted directory
        raise FeasibilityError(
            "is the current folder or one above it",
            where=str(target),
            fix="name a new folder, e.g. --out report",
        )
    if not target.exists():
        return
    if not target.is_dir():
        raise FeasibilityError("exists and is not a folder", where=str(target), fix="choose another --out")
    others = sorted(entry.name for entry in target.iterdir() if entry.name not in names or entry.is_dir())
    if others:
        raise FeasibilityError(
            f"the folder holds files this command does not write ({some_names(others)}), which replacing it "
            "would delete",
            where=str(target),
            fix=f"choose a new or empty --out folder, or one this command wrote ({', '.join(sorted(names))})",
        )


def check_file_target(target: Path, inputs: Iterable[Path], flag: str, starts_with: bytes, what: str) -> None:
    """Before any work: `target` can be written as a file, and is none of the `inputs` (a
    patient list written over the extract would destroy it) nor any other existing file but
    an earlier `what`, whose contents start with `starts_with`."""
    resolved = target.resolve()
    if any(resolved == Path(i).resolve() for i in inputs):
        raise FeasibilityError(
            "is one of the run's input files", where=str(target), fix=f"give {flag} a new file"
        )
    if resolved.is_dir():
        raise FeasibilityError("is a folder", where=str(target), fix=f"give {flag} a file name")
    existing_folder(resolved, flag)
    refuse_replacing(resolved, starts_with, what, flag)
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{resolved.name}.", dir=resolved.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise FeasibilityError(
            f"cannot write here ({why_not_written(e)})", where=str(target), fix=f"give {flag} a writable path"
        ) from None


def write_with_file(folder: Path, files: dict[str, str | bytes], target: Path, content: str) -> None:
    """`write_directory(folder, files)` and one more file written atomically at `target`
    (the patient list), all or nothing: the file is written to a temporary copy first and
    renamed only once the folder is in place, and a failure leaves neither behind."""
    target = target.resolve()
    tmp: str | None = None
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with interrupts.deferred():  # the file made is always the one removed below
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
        except OSError as e:
            raise FeasibilityError(
                f"cannot write ({e.strerror})",
                where=str(target),
                fix="check the path, the space and permissions",
            ) from None
        write_directory(folder, files)
        os.replace(tmp, target)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def writer_lock(target: Path, what: str, flag: str) -> Iterator[None]:
    """Hold, for the block, the lock of the one run that may write `target` (`what`: "report
    folder", "patient list"); a second run writing it at the same time is refused at once
    (it would replace the first run's output, and each run's user believe theirs is there).
    The lock is an flock on `.NAME.lock` beside the target (or in the nearest folder that
    exists, whose lock later runs look for too), which the OS releases when the process dies
    however it dies; the file is removed when the block ends."""
    if sys.platform == "win32":  # no flock; the project runs on Linux, where this is kept
        yield
        return
    target = target.resolve()
    # beside the target, or in the nearest folder that exists (the target's folders are only
    # made when it is written), named after the path from there; a file standing there is
    # the output checks' own error
    base = existing_folder(target, flag)
    lock = _lock_file(target, base)
    fd = _locked(lock)
    # a run that began before the target's folders were made holds its lock higher up: the
    # folders its commit made must not lead this run to a lock file of its own
    if fd is not None and fd >= 0 and _held_higher_up(target, base):
        _release(lock, fd)
        fd = -1
    if fd is None:  # no lock can be made there: the output checks say why
        yield
        return
    if fd < 0:
        raise FeasibilityError(
            f"another feasibility run is writing this {what}",
            where=str(target),
            fix=f"wait for it to finish, or choose another {flag}",
        )
    try:
        yield
    finally:
        _release(lock, fd)


def _lock_file(target: Path, folder: Path) -> Path:
    """The lock file of `target` in `folder`, one of the folders above it."""
    return folder / f".{'-'.join(target.relative_to(folder).parts)}.lock"


def _held_higher_up(target: Path, base: Path) -> bool:
    """Whether another process holds a lock of `target` in a folder above `base`, taken when
    `base` did not exist yet. Such files are only opened, never made: none is there but
    while a run holds it (or was killed holding it, and then none holds it)."""
    for folder in base.parents:
        try:
            fd = os.open(_lock_file(target, folder), os.O_RDONLY)
        except OSError:  # none there, or a name too long for one: no run took it
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:  # a file system without flock
            pass
        finally:
            os.close(fd)  # and with it the flock, if this process got it
    return False


def _release(lock: Path, fd: int) -> None:
    """Give up the lock `_locked` returned."""
    # removed while still held: a run that opened the file meanwhile finds it gone once it
    # has the lock, and takes a new one (_locked), never two runs holding two files
    with suppress(OSError):
        lock.unlink()
    os.close(fd)


def _locked(lock: Path) -> int | None:
    """An open descriptor holding the exclusive flock of `lock`; -1 when another process
    holds it; None when the file cannot be made."""
    for _ in range(10):
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return -1
        except OSError:  # a file system without flock
            os.close(fd)
            return None
        # the holder before us may have removed the file between our open and our flock: the
        # lock then holds a file no one else opens, so try again with the file now there
        try:
            now, held = os.stat(lock), os.fstat(fd)
            if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    return None

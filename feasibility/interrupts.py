"""Ctrl-C and SIGTERM on the command line: a command stops cleanly until it begins to put its
outputs in place; from then on it finishes (the renames, then its own clean-up at exit) and
says truthfully what it wrote.

Only `install` changes the process's signal handlers, and only the command line calls it:
library callers (tests calling `run_feasibility`) keep Python's own Ctrl-C, and `hold` is then
a flag that nothing reads."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from feasibility.errors import interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped a command before it wrote anything; the message says what
    its outputs hold (an earlier report, intact)."""


class LateInterrupt(Exception):
    """Ctrl-C or SIGTERM came once the command had begun to put its outputs in place: they
    were written in full, and the message says which."""


@dataclass
class _State:
    installed: bool = False
    # while holding, a signal is recorded rather than raised as KeyboardInterrupt
    holding: bool = False
    received: int = 0  # SIGINTs and SIGTERMs received, raised or held
    # a KeyboardInterrupt raised where Python could not propagate it (see _unraisable)
    lost: bool = False
    written: str | None = None  # what the command finished writing, for the late message


_state = _State()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _state.received += 1
    if _state.holding:
        return
    # the process is stopping: the clean-up on its way out (the staging folder, DuckDB's spill
    # folder, which holds patient rows) must not be cut short by a second Ctrl-C
    _state.holding = True
    raise KeyboardInterrupt


def _unraisable(info: sys.UnraisableHookArgs, previous: Callable[[sys.UnraisableHookArgs], object]) -> None:
    """A signal's KeyboardInterrupt raised while Python ran a finaliser or a garbage-collector
    callback cannot propagate: Python would print it as "Exception ignored" and the command
    would go on as if no interrupt had come. It is noted instead, and `hold` acts on it
    before the commit; any other unraisable error is Python's to print."""
    if _state.installed and info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
        _state.lost = True
        return
    previous(info)


def install() -> Callable[[], None]:
    """Handle SIGINT and SIGTERM for the command line (call it from the main thread): each
    raises KeyboardInterrupt, as Ctrl-C does in Python, until `hold` is called, after which
    they are only recorded. A scheduler's or `timeout`'s SIGTERM thus stops a run as Ctrl-C
    does; a signal ignored when the process started is left ignored. Returns the function
    that puts the previous handlers back (the command line never calls it: the hold lasts
    to the process's exit, through its atexit clean-up)."""
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        # a signal the process was started ignoring stays ignored, as Python leaves Ctrl-C:
        # a shell script's background job must outlive the Ctrl-C that stops the script
        if previous[s] is not signal.SIG_IGN:
            signal.signal(s, _on_signal)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda info: _unraisable(info, previous_hook)
    global _state
    _state = _State(installed=True)

    def restore() -> None:
        global _state
        for s, handler in previous.items():
            signal.signal(s, handler)
        sys.unraisablehook = previous_hook
        _state = _State()

    return restore


def hold() -> None:
    """From here to the process's exit, SIGINT and SIGTERM are recorded, not raised: called as
    a command begins to rename its outputs into place (an interrupt there would leave the
    user told `interrupted` beside a replaced report, or a half-replaced one) and as the
    command line ends (an interrupt in the atexit clean-up leaves a traceback and a folder).

    An interrupt that Python lost (raised inside a finaliser) is raised here, before the
    commit, so that the command stops as it would have where the interrupt came."""
    _state.holding = True
    if _state.lost:
        _state.lost = False
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """A signal during the block is acted on as the block ends: for a file or folder made and
    named in one step (`mkdtemp`), so that the clean-up that removes it always knows it."""
    if not _state.installed or _state.holding:
        yield
        return
    before = _state.received
    _state.holding = True
    try:
        yield
    finally:
        _state.holding = False
    if _state.received != before:
        _state.holding = True  # stopping, as in _on_signal
        raise KeyboardInterrupt


def ending() -> None:
    """The command line is ending (its line said or about to be): SIGINT and SIGTERM are
    ignored to the process's exit, through the atexit clean-up. Python puts back the
    default handlers of the signals it handles as it exits, so a signal then would kill the
    process with another status than the one its line announced; an ignored one cannot."""
    _state.holding = True
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def finished(written: str) -> None:
    """The command has put its outputs in place; `written` says what they hold. If Ctrl-C or
    SIGTERM came meanwhile, the command stops here (not printing its results) and says that
    the interrupt came too late to stop the writing. Otherwise both are ignored from here:
    the command has only its results to print, and a Ctrl-C then would add a second line,
    `interrupted too late`, after its `written to`."""
    _state.written = written
    if not _state.installed:
        return
    if _state.received:
        raise LateInterrupt(written)
    ending()


def late_message() -> str | None:
    """After a command returned: the line to print if an interrupt came while its outputs
    were written or its results printed, or None."""
    if not _state.installed or not _state.received:
        return None
    return f"interrupted too late to stop it: {_state.written or 'the command had finished'}"


@contextmanager
def meaning(outcome: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM in the block (Python's KeyboardInterrupt, or DuckDB's error for a
    query it stopped) ends the command with `Interrupted(outcome)`: `outcome` says what the
    command's outputs hold when it is stopped before writing them."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(outcome) from None
    except Exception as e:
        if not interrupted(e):
            raise
        raise Interrupted(outcome) from None


@contextmanager
def writing(outputs: Sequence[tuple[Path, str]], written: str) -> Iterator[None]:
    """A command's work up to its outputs being in place. Stopped in the block, it ends with
    `Interrupted` saying nothing was written and which earlier `outputs` (each path with the
    words naming it) are intact; after the block, `finished(written)`."""
    with meaning(nothing_written(*outputs)):
        yield
    finished(written)


def nothing_written(*outputs: tuple[Path, str]) -> str:
    """The outcome of a command stopped before it wrote (for `meaning`): nothing was
    written, and the outputs of an earlier run (`outputs`: each path with the words naming
    it) are intact."""
    earlier = [words for path, words in outputs if _holds_something(path)]
    if not earlier:
        return "nothing was written"
    verb = "are" if len(earlier) > 1 else "is"
    return f"nothing was written; the earlier {' and '.join(earlier)} {verb} intact"


def _holds_something(path: Path) -> bool:
    try:
        return path.is_file() or (path.is_dir() and any(path.iterdir()))
    except OSError:  # unreadable: the run's own checks will say so
        return False

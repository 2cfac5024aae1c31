"""Find trial files and the concept library they use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from feasibility.criteria.concepts import ConceptLibrary, load_library
from feasibility.criteria.model import Trial
from feasibility.criteria.parse import parse_trial
from feasibility.errors import TrialError
from feasibility.resources import trials_dir


def trial_files(paths: Sequence[Path]) -> list[Path]:
    """The trial YAML files named by files or folders (a folder's `*.yaml`, not recursive)."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
            if not found:
                raise TrialError(
                    "no trial files (*.yaml) in this folder",
                    where=str(p),
                    fix="point --trials at a folder of trial YAML files",
                )
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise TrialError("trial path not found", where=str(p), fix="check the --trials path")
    return files


def concept_dirs(files: Sequence[Path]) -> list[Path]:
    """The shipped library first, then any `concepts/` folder beside the given trial files,
    whose definitions take precedence (a site may adapt a code list)."""
    dirs = [trials_dir() / "concepts"]
    for f in files:
        local = f.resolve().parent / "concepts"
        if local.is_dir() and local not in [d.resolve() for d in dirs]:
            dirs.append(local)
    return dirs


def load_trials(paths: Sequence[Path] | None = None) -> tuple[list[Trial], ConceptLibrary]:
    """Parse the trials at `paths` (default: the shipped seed trials) and their concepts."""
    files = trial_files(paths or [trials_dir()])
    library = load_library(concept_dirs(files))
    trials = [parse_trial(f, library) for f in files]
    seen: dict[str, str] = {}
    for t in trials:
        if t.id in seen:
            raise TrialError(
                f"trial id `{t.id}` is used by two files (also {seen[t.id]})",
                where=t.path,
                fix="give each trial its own id",
            )
        seen[t.id] = t.path
    return trials, library

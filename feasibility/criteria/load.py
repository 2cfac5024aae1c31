"""Find trial files and the concept library they use.

Each trial reads its concepts from the shipped library and, when there is one, the
`concepts/` folder beside its file, whose definitions replace shipped ones of the same name
(a site may adapt a code list for its own trials). A run counts all its trials with one
library, so trials run together must read every concept the same way: what a trial counts
never depends on which other trials run with it. Where they would not, the run is refused
(docs/criteria-language.md, "The concept library").
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from feasibility.criteria.concepts import ConceptLibrary, definition, load_library, yaml_files
from feasibility.criteria.model import Concept, Trial
from feasibility.criteria.parse import parse_trial
from feasibility.errors import TrialError
from feasibility.resources import trials_dir


def trial_files(paths: Sequence[Path]) -> list[Path]:
    """The trial YAML files named by files or folders (a folder's `*.yaml` and `*.yml`, not
    recursive), each file once however often it is named."""
    files: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        if p.is_dir():
            found = yaml_files(p)
            if not found:
                raise TrialError(
                    "no trial files (*.yaml or *.yml) in this folder",
                    where=str(p),
                    fix="point at a folder of trial YAML files",
                )
        elif p.is_file():
            found = [p]
        else:
            # the same words for `check PATHS`, `show TRIAL` and `--trials`: `where` names it
            raise TrialError(
                "trial path not found",
                where=str(p),
                fix="check the path: a trial YAML file or a folder of them",
            )
        for f in found:
            # `--trials trials --trials trials/X.yaml` names X twice; it is one trial, read once
            if f.resolve() not in seen:
                seen.add(f.resolve())
                files.append(f)
    return files


def _own_concepts(file: Path, shipped: Path) -> Path | None:
    """The `concepts/` folder beside a trial file, unless it is the shipped library's."""
    folder = file.resolve().parent / "concepts"
    return folder if folder.is_dir() and folder != shipped else None


def _merged(shipped: ConceptLibrary, local: dict[Path, ConceptLibrary]) -> ConceptLibrary:
    """The run's library: the shipped one with every folder's own definitions (`local`) over
    it. A name two folders define differently is refused; defined alike (labels and notes may
    differ), it is one concept, labelled as in the first folder."""
    concepts = dict(shipped.concepts)
    redefined: dict[str, Concept] = {}
    files = list(shipped.files)
    for library in local.values():
        files.extend(library.files)
        for name, concept in library.concepts.items():
            first = redefined.get(name)
            if first is None:
                redefined[name] = concepts[name] = concept
            elif definition(first) != definition(concept):
                raise TrialError(
                    f"concept `{name}` is defined differently here and in {first.where}, "
                    "and one run cannot count with both",
                    where=concept.where,
                    fix="rename one of the two (and use the new name in the trials beside it), "
                    "or run the trials separately",
                )
    return ConceptLibrary(concepts, tuple(files))


def _check_agrees(trial: Trial, own: ConceptLibrary, run: ConceptLibrary) -> None:
    """Refuse a run whose library would count `trial` otherwise than its own concepts do:
    another trial's folder redefines a shipped concept that this trial uses."""
    for name in sorted(trial.concepts()):
        if definition(own[name]) != definition(run[name]):
            raise TrialError(
                f"concept `{name}` is redefined here, but trial `{trial.id}` ({trial.path}) of the "
                f"same run uses the definition in {own[name].where}",
                where=run[name].where,
                fix="give the redefinition its own name (and use it in the trials beside it), "
                "or run the trials separately",
            )


def load_trials(paths: Sequence[Path] | None = None) -> tuple[list[Trial], ConceptLibrary]:
    """Parse the trials at `paths` (default: the shipped seed trials), each against its own
    concepts, and the one library the run counts them with."""
    files = trial_files(paths or [trials_dir()])
    shipped_dir = (trials_dir() / "concepts").resolve()
    shipped = load_library(trials_dir() / "concepts")
    local: dict[Path, ConceptLibrary] = {}  # each concepts/ folder's own definitions, read once
    own: dict[Path | None, ConceptLibrary] = {None: shipped}  # what the trials beside it see
    for f in files:
        folder = _own_concepts(f, shipped_dir)
        if folder is not None and folder not in local:
            local[folder] = load_library(folder)
            own[folder] = ConceptLibrary(
                {**shipped.concepts, **local[folder].concepts}, shipped.files + local[folder].files
            )
    library = _merged(shipped, local)
    trials = []
    for f in files:
        mine = own[_own_concepts(f, shipped_dir)]
        trial = parse_trial(f, mine)
        _check_agrees(trial, mine, library)
        trials.append(trial)
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


def trial_by_id(trials: Sequence[Trial], trial_id: str, where: str) -> Trial:
    """The trial whose id is exactly `trial_id`, or a one-line error at `where` (the option
    or argument that named it). Ids are matched exactly, as reports and compare show them;
    the error suggests the id meant: one differing only in case first, then the closest."""
    for trial in trials:
        if trial.id == trial_id:
            return trial
    ids = [t.id for t in trials]
    folded = {i.casefold(): i for i in ids}
    if trial_id.casefold() in folded:
        meant = folded[trial_id.casefold()]
        fix = f"did you mean `{meant}`? (trial ids are matched exactly, capitals included)"
    elif near := difflib.get_close_matches(trial_id.casefold(), list(folded), n=1, cutoff=0.6):
        fix = f"did you mean `{folded[near[0]]}`?"
    else:
        fix = f"use one of {', '.join(ids)}" if ids else "check the --trials paths"
    raise TrialError(f"no trial with id `{trial_id}`", where=where, fix=fix)

"""The concept library: named code lists with units, read from `concepts/*.yaml` (or `.yml`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import astuple, dataclass
from functools import cached_property
from pathlib import Path

from feasibility.criteria.code_systems import code_problem, misspelled_system, normalise_system
from feasibility.criteria.model import VALUED_KINDS, CodePattern, Concept
from feasibility.criteria.yaml_source import (
    Located,
    check_keys,
    load_yaml,
    optional_text,
    require,
    shape,
    written,
)
from feasibility.errors import TrialError
from feasibility.units import TITRE, normalise_unit

KINDS = ("condition", "procedure", "measurement", "medication", "other")
CONCEPT_KEYS = {
    "label",
    "kind",
    "codes",
    "exclude",
    "unit",
    "units",
    "default_uln",
    "positive_from",
    "titre_positive_from",
    "plausible",
    "dose_factors",
    "checked",
    "note",
    "description",
}


def normalise_code(code: str) -> str:
    """Codes compare upper-cased and without dots: `M32.14` and `m3214` are one code."""
    return str(code).strip().upper().replace(".", "")


def _patterns(node: Located, key: str, name: str) -> tuple[CodePattern, ...]:
    spec = node.get(key)
    if not spec:
        return ()
    if not isinstance(spec, Located):
        raise TrialError(
            f"`{key}` of concept `{name}` must map code systems to lists of codes",
            where=node.where(key),
            fix="write e.g. `ICD10CM: [M32*]`",
        )
    out = []
    for system, codes in spec.items():
        code_system = normalise_system(str(system))
        where = spec.where(system)
        meant = misspelled_system(str(system))
        if meant is not None:
            raise TrialError(
                f"code system `{system}` of concept `{name}` is no system the engine knows: "
                f"its codes would match no {meant} row",
                where=where,
                fix=f"did you mean `{meant}`? (a site's own system may have any name not this close "
                "to a known one)",
            )
        if isinstance(codes, str | int | float) and not isinstance(codes, bool):
            codes = [codes]
        if not isinstance(codes, list):
            raise TrialError(
                f"codes of system `{system}` in concept `{name}` must be a list",
                where=where,
                fix="write `[code, code, ...]`",
            )
        for code in codes:
            if isinstance(code, bool) or not isinstance(code, str | int | float):
                raise TrialError(
                    f"a code of system `{system}` in concept `{name}` is a {shape(code)}, not a code",
                    where=where,
                    fix="write each code as a word or number, e.g. `[M32.14, M32.15]`",
                )
            # as written: YAML reads an unquoted `250.10` as 250.1 and `042` as 34
            text = written(code).strip()
            prefix = text.endswith("*")
            text = normalise_code(text.rstrip("*"))
            if not text:
                raise TrialError(
                    f"empty code in concept `{name}`",
                    where=node.where(key),
                    fix="remove it or write the code",
                )
            problem = code_problem(code_system, text, prefix)
            if problem is not None:
                what, fix = problem
                raise TrialError(f"code `{code}` of concept `{name}` {what}", where=where, fix=fix)
            out.append(CodePattern(code_system, text, prefix))
    return tuple(out)


def _number(
    node: Located, key: str, name: str, fix: str = "write a plain number in the concept's canonical unit"
) -> float:
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise TrialError(
            f"`{key}` of concept `{name}` must be a positive number", where=node.where(key), fix=fix
        )
    return float(value)


def _factors(node: Located, key: str, name: str, what: str, example: str) -> list[tuple[str, float]]:
    """`key: {NAME: factor, ...}`, each factor a positive number."""
    spec = node.get(key)
    if spec is None:
        return []
    if not isinstance(spec, Located):
        raise TrialError(
            f"`{key}` of concept `{name}` must be a mapping, not a {shape(spec)}",
            where=node.where(key),
            fix=f"give each its factor, e.g. `{key}: {{{example}}}`",
        )
    out = []
    for item, factor in spec.items():
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
            raise TrialError(
                f"{what} `{item}` in concept `{name}` must be a positive number",
                where=spec.where(item),
                fix=f"write e.g. `{example}`",
            )
        out.append((item, float(factor)))
    return out


def _plausible(node: Located, name: str, kind: str) -> tuple[float | None, float | None] | None:
    """`plausible: [low, high]` in the canonical unit (either may be null): a measurement's
    results, or a medication's daily doses. Both are non-negative unless the concept says
    otherwise."""
    if "plausible" not in node:
        return (0.0, None) if kind in VALUED_KINDS else None
    value = node["plausible"]
    bounds = list(value) if isinstance(value, list) else None
    if (
        bounds is None
        or len(bounds) != 2
        or any(b is not None and (isinstance(b, bool) or not isinstance(b, int | float)) for b in bounds)
        or (None not in bounds and bounds[0] >= bounds[1])
    ):
        raise TrialError(
            f"`plausible` of concept `{name}` must be [low, high] with low < high",
            where=node.where("plausible"),
            fix="write e.g. `plausible: [0, 30]` (null for no bound)",
        )
    if kind not in VALUED_KINDS:
        raise TrialError(
            f"`plausible` is for measurements and medications' doses; concept `{name}` is a {kind}",
            where=node.where("plausible"),
            fix="remove it",
        )
    low, high = bounds
    return (None if low is None else float(low), None if high is None else float(high))


def _positive_from(
    node: Located, name: str, kind: str, unit: str | None, plausible: tuple[float | None, float | None] | None
) -> float | None:
    """`positive_from`: the cut-off, in the concept's unit, from which a result without a
    text and without a usable `ref_high` of its own reads as positive."""
    if "positive_from" not in node:
        return None
    if kind != "measurement" or unit is None:
        raise TrialError(
            f"`positive_from` of concept `{name}` is a cut-off in the concept's unit, and it has "
            + ("none" if kind == "measurement" else f"none: it is a {kind}"),
            where=node.where("positive_from"),
            fix='give the measurement its `unit:` (e.g. `unit: "{titer}"`), or remove `positive_from`',
        )
    cut_off = _number(node, "positive_from", name)
    low, high = plausible or (None, None)
    if (low is not None and cut_off < low) or (high is not None and cut_off > high):
        bounds = "..".join("" if b is None else f"{b:g}" for b in (low, high))
        raise TrialError(
            f"`positive_from: {written(node['positive_from'])}` of concept `{name}` is outside its "
            f"plausible range ({bounds} {unit}): every plausible result would read alike",
            where=node.where("positive_from"),
            fix=f"write the cut-off in {unit}, the concept's unit",
        )
    return cut_off


def _titre_positive_from(node: Located, name: str, kind: str, unit: str | None) -> float | None:
    """`titre_positive_from`: the titre from which a result written as one reads as positive,
    for a measurement whose values are not titres (a concept in titres has `positive_from`)."""
    if "titre_positive_from" not in node:
        return None
    if kind != "measurement":
        raise TrialError(
            f"`titre_positive_from` of concept `{name}` is a cut-off for titres, and it is a {kind}",
            where=node.where("titre_positive_from"),
            fix="remove `titre_positive_from`",
        )
    if unit is not None and normalise_unit(unit) == TITRE:
        raise TrialError(
            f"`titre_positive_from` of concept `{name}` is for a concept whose values are not "
            f"titres, and its unit is {unit}",
            where=node.where("titre_positive_from"),
            fix="write the cut-off as `positive_from`",
        )
    fix = "give the titre's denominator: `titre_positive_from: 10` for 1:10"
    return _number(node, "titre_positive_from", name, fix=fix)


def parse_concept(name: str, node: Located, where: str = "") -> Concept:
    """One concept definition; `where` is the `file:line` of its name, for a body that is
    not a mapping (and so knows no place of its own)."""
    if not isinstance(node, Located):
        raise TrialError(
            f"concept `{name}` must be a mapping, not a {shape(node)}",
            where=where,
            fix="give it `kind:` and `codes:` on indented lines below its name (docs/criteria-language.md)",
        )
    check_keys(node, CONCEPT_KEYS, f"concept `{name}`")
    kind = require(node, "kind", f"concept `{name}`")
    if kind not in KINDS:
        raise TrialError(
            f"concept `{name}` has unknown kind `{kind}`",
            where=node.where("kind"),
            fix=f"use one of {', '.join(KINDS)}",
        )
    codes = _patterns(node, "codes", name)
    if not codes:
        raise TrialError(f"concept `{name}` has no codes", where=node.where(), fix="add `codes:`")
    spellings = _factors(node, "units", name, "conversion factor of unit", "umol/L: 0.0113")
    units = [(normalise_unit(unit) or "", factor) for unit, factor in spellings]
    dose_factors = [
        (normalise_code(code), factor)
        for code, factor in _factors(node, "dose_factors", name, "dose factor of", "H02AB04: 1.25")
    ]
    unit = optional_text(node, "unit", f"concept `{name}`")
    label = optional_text(node, "label", f"concept `{name}`")
    checked = optional_text(node, "checked", f"concept `{name}`")
    for key in ("note", "description"):
        optional_text(node, key, f"concept `{name}`")
    name_line = where.rpartition(":")[2]  # the line of the name, above its body
    plausible = _plausible(node, name, kind)
    return Concept(
        name=name,
        plausible=plausible,
        kind=kind,
        label=label or name,
        codes=codes,
        exclude=_patterns(node, "exclude", name),
        unit=unit,
        units=tuple(units),
        unit_spellings=tuple((written(unit), factor) for unit, factor in spellings),
        default_uln=_number(node, "default_uln", name) if "default_uln" in node else None,
        positive_from=_positive_from(node, name, kind, unit, plausible),
        titre_positive_from=_titre_positive_from(node, name, kind, unit),
        dose_factors=tuple(dose_factors),
        checked=checked or "",
        source=node.file,
        line=int(name_line) if name_line.isdigit() else node.line,
    )


@dataclass(frozen=True)
class ConceptLibrary:
    """All concepts by name, with the files they came from."""

    concepts: dict[str, Concept]
    files: tuple[Path, ...]

    def __getitem__(self, name: str) -> Concept:
        return self.concepts[name]

    def __contains__(self, name: object) -> bool:
        return name in self.concepts

    @cached_property
    def sha256(self) -> str:
        """A fingerprint of what the concepts match and how their values are read (codes,
        exclusions, units, default ULN, positive cut-offs, plausible range, dose factors), not
        of their labels and notes: two reports with the same one counted with the same code
        lists, from whichever folders they were read."""
        canonical = [[c.name, *definition(c)] for c in sorted(self.concepts.values(), key=lambda c: c.name)]
        return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def definition(concept: Concept) -> list:
    """What a concept matches and how its values are read, as plain JSON-able data: two
    concepts with the same definition count the same patients, whatever their labels."""
    c = concept
    return [
        c.kind,
        [list(astuple(p)) for p in c.codes],
        [list(astuple(p)) for p in c.exclude],
        c.unit,
        [list(u) for u in c.units],
        c.default_uln,
        c.positive_from,
        None if c.plausible is None else list(c.plausible),
        [list(d) for d in c.dose_factors],
        # only where given, so that a library without it keeps its fingerprint
        *([] if c.titre_positive_from is None else [["titre_positive_from", c.titre_positive_from]]),
    ]


def yaml_files(folder: Path) -> list[Path]:
    """The `*.yaml` and `*.yml` files of a folder (either case), by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml") and p.is_file())


def load_library(folder: Path) -> ConceptLibrary:
    """Read every `*.yaml` (or `*.yml`) of a concept folder; a name defined twice is an
    error. A trial folder's own concepts are laid over the shipped ones by `load.py`."""
    concepts: dict[str, Concept] = {}
    files: list[Path] = []
    seen: dict[str, str] = {}
    for path in yaml_files(folder):
        files.append(path)
        data = load_yaml(path)
        if data is None:
            continue
        if not isinstance(data, Located) or "concepts" not in data:
            raise TrialError(
                "a concept file must have a top-level `concepts:` mapping",
                where=str(path),
                fix="start the file with `concepts:`",
            )
        check_keys(data, {"concepts", "description"}, "a concept file")
        body = data["concepts"]
        if body is None or body == "" or (isinstance(body, dict | list) and not body):
            raise TrialError(
                "`concepts:` is empty",
                where=data.where("concepts"),
                fix="write each concept as `name:` on an indented line below `concepts:`, or delete the file",
            )
        if not isinstance(body, Located):
            raise TrialError(
                f"`concepts:` must be a mapping of names, not a {shape(body)}",
                where=data.where("concepts"),
                fix="write each concept as `name:` on an indented line below `concepts:`",
            )
        for name, node in body.items():
            if name in seen:
                raise TrialError(
                    f"concept `{name}` is defined twice (also in {seen[name]})",
                    where=body.where(name),
                    fix="keep one definition",
                )
            seen[name] = body.where(name)
            concepts[name] = parse_concept(name, node, body.where(name))
    return ConceptLibrary(concepts, tuple(files))

"""YAML loading that remembers where each mapping and key came from, for one-line errors."""

from __future__ import annotations

import difflib
import math
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from feasibility.errors import FeasibilityError, TrialError
from feasibility.user_files import read_user_text, user_text


class Located(dict):
    """A YAML mapping that knows its file, its line and the line of each key (1-based)."""

    file: str = ""
    line: int = 0
    key_lines: dict[str, int]

    @classmethod
    def at(cls, values: dict, where: str) -> Located:
        """A mapping written in shorthand (`diagnosis: sle`), placed where the shorthand was."""
        out = cls(values)
        file, _, line = where.rpartition(":")
        out.file, out.line, out.key_lines = file, int(line) if line.isdigit() else 0, {}
        return out

    def where(self, key: str | None = None) -> str:
        """`file:line` of the mapping, or of its `key` when that key was read from the file."""
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"


# The safe loader every user YAML file is read with: libyaml's when available; type
# checkers see the pure-Python loader it mirrors
if TYPE_CHECKING:
    from yaml import SafeLoader
else:
    SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_error(
    e: yaml.YAMLError, path: Path, fix: str, error: type[FeasibilityError] = FeasibilityError
) -> FeasibilityError:
    """A YAML parse error of the file `path` as a one-line `error`, at the line and column
    where the parser stopped; `fix` tells how to mend a syntax error there."""
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = (e.problem or e.context or "invalid YAML").strip()
        return error(f"YAML syntax error: {problem}", where=where, fix=fix)
    # only the reader raises an error without a mark: a character YAML does not allow
    problem = str(e).splitlines()[0] if str(e) else "unreadable text"
    return error(f"YAML error: {problem}", where=str(path), fix="remove that character")


class _Loader(SafeLoader):
    """SafeLoader whose mappings are `Located`; no arbitrary Python objects are built."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    out = Located()
    out.file = loader.name
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            raise TrialError(
                "a mapping key must be a plain word",
                where=f"{out.file}:{key_node.start_mark.line + 1}",
                fix="write keys as plain words such as `id:` or `rule:`",
            )
        key = written(key)
        if key in out:
            raise TrialError(
                f"key `{key}` appears twice in the same mapping",
                where=f"{out.file}:{key_node.start_mark.line + 1}",
                fix="remove one of the two",
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


class WrittenInt(int):
    """An integer that remembers how it was written: YAML reads the code `042` as 34."""

    text: str


class WrittenFloat(float):
    """A float that remembers how it was written: YAML reads the code `250.10` as 250.1."""

    text: str


def written(value: object) -> str:
    """A scalar as the file wrote it (a number's own text, so codes keep their zeros)."""
    return getattr(value, "text", None) or str(value)


def shown(value: object, limit: int = 40) -> str:
    """A value quoted in an error message, cut short so the message stays one readable line."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number_error(loader: _Loader, node: yaml.ScalarNode, problem: str) -> TrialError:
    return TrialError(
        f"`{shown(node.value)}` {problem}",
        where=f"{loader.name}:{node.start_mark.line + 1}",
        fix="write a plain finite number (quote it if it is a code or a text)",
    )


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> WrittenFloat:
    # A NaN or infinite threshold would reach the SQL as a bare word (`nan`) and fail the run
    value = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise _number_error(loader, node, "is not a finite number")
    out = WrittenFloat(value)
    out.text = str(node.value)
    return out


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> WrittenInt:
    try:
        value = loader.construct_yaml_int(node)
        float(value)  # every number in a trial may be compared as a float
    except (ValueError, OverflowError):
        raise _number_error(loader, node, "is too large a number") from None
    out = WrittenInt(value)
    out.text = str(node.value)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


# The deepest rule: `all`, `any`, `not` and `at_least` nested at most this many inside one
# another (checked by the rule parser). Protocols need a handful; every step past this is an
# error in the file, and compiling, printing and evaluating a rule all recurse once per level.
MAX_RULE_DEPTH = 20
# The deepest YAML a trial or concept file may hold: room for MAX_RULE_DEPTH levels of
# `at_least: {of: [...]}` (three YAML levels each) plus the trial around them. Building the
# mappings recurses through Python once per level, so a deeper file must be refused before it
# is built, by counting its parse events, or it ends in a RecursionError.
MAX_YAML_DEPTH = 3 * MAX_RULE_DEPTH + 10


def _check_depth(text: str, path: Path) -> None:
    """Refuse YAML nested deeper than MAX_YAML_DEPTH, at the line where it gets too deep."""
    depth = 0
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise TrialError(
                    f"mappings and lists nest more than {MAX_YAML_DEPTH} levels deep",
                    where=f"{path}:{event.start_mark.line + 1}",
                    fix=f"flatten the rule: `all`, `any`, `not` and `at_least` may nest at most "
                    f"{MAX_RULE_DEPTH} levels (docs/criteria-language.md)",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml(path: Path, raw: bytes | None = None) -> Any:
    """Parse a YAML file (or `raw`, its bytes, when the caller has read them); syntax errors
    become one-line errors with line and column, and a file nested deeper than
    MAX_YAML_DEPTH is refused at its line."""
    what = "trial or concept file"
    text = read_user_text(path, TrialError, what) if raw is None else user_text(raw, path, TrialError, what)
    loader = _Loader(text)
    loader.name = str(path)
    try:
        _check_depth(text, path)
        return loader.get_single_data()
    except yaml.YAMLError as e:
        fix = "check indentation and quoting near that line (quote text containing ': ')"
        raise yaml_error(e, path, fix, TrialError) from None
    finally:
        loader.dispose()


def check_keys(node: Located, allowed: set[str] | tuple[str, ...], what: str) -> None:
    """Refuse unknown keys, suggesting the nearest valid one."""
    for key in node:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.5)
            fix = f"did you mean `{near[0]}`?" if near else f"valid keys: {', '.join(sorted(allowed))}"
            raise TrialError(f"unknown key `{key}` in {what}", where=node.where(key), fix=fix)


def optional_text(node: Located, key: str, what: str) -> str | None:
    """A key whose value is a piece of text (a number or a date is read as written); None
    when absent."""
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | date):
        raise TrialError(
            f"`{key}` of {what} must be text, not a {shape(value)}",
            where=node.where(key),
            fix=f"write `{key}:` followed by one line of text (quote it if it holds ': ')",
        )
    return written(value)


def shape(value: object) -> str:
    """What a YAML value is, in the words of an error message."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, date):
        return "date"
    return "number" if isinstance(value, int | float) else "text"


def require(node: Located, key: str, what: str) -> Any:
    """A key that must be present."""
    if key not in node or node[key] is None or node[key] == "":
        raise TrialError(f"{what} needs `{key}`", where=node.where(), fix=f"add `{key}:`")
    return node[key]

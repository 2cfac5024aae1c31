"""YAML loading that remembers where each mapping and key came from, for one-line errors."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from feasibility.errors import TrialError
from feasibility.user_files import read_user_text


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


# libyaml when available; type checkers see the pure-Python loader it mirrors
if TYPE_CHECKING:
    from yaml import SafeLoader as _BaseLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
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
        key = str(key)
        if key in out:
            raise TrialError(
                f"key `{key}` appears twice in the same mapping",
                where=f"{out.file}:{key_node.start_mark.line + 1}",
                fix="remove one of the two",
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; syntax errors become one-line errors with line and column."""
    text = read_user_text(path, TrialError)
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise TrialError(
            f"YAML syntax error: {problem}",
            where=where,
            fix="check indentation and quoting near that line (quote text containing ': ')",
        ) from None
    except yaml.YAMLError as e:
        raise TrialError(f"YAML error: {e}", where=str(path)) from None
    finally:
        loader.dispose()


def check_keys(node: Located, allowed: set[str] | tuple[str, ...], what: str) -> None:
    """Refuse unknown keys, suggesting the nearest valid one."""
    for key in node:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.5)
            fix = f"did you mean `{near[0]}`?" if near else f"valid keys: {', '.join(sorted(allowed))}"
            raise TrialError(f"unknown key `{key}` in {what}", where=node.where(key), fix=fix)


def require(node: Located, key: str, what: str) -> Any:
    """A key that must be present."""
    if key not in node or node[key] is None or node[key] == "":
        raise TrialError(f"{what} needs `{key}`", where=node.where(), fix=f"add `{key}:`")
    return node[key]

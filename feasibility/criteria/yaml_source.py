"""YAML loading that remembers where each mapping and key came from, for one-line errors."""

from __future__ import annotations

import difflib
import math
import re
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
    e: yaml.YAMLError,
    path: Path,
    fix: str,
    error: type[FeasibilityError] = FeasibilityError,
    text: str | None = None,
) -> FeasibilityError:
    """A YAML parse error of the file `path` as a one-line `error`, at the line and column
    where the parser stopped, in the parser's own words. With the file's `text`, the fix
    names the cause where it is known for sure (a tab, a misplaced `- `, an unclosed quote
    or bracket, a `: ` in unquoted text); otherwise `fix` tells how to mend it there."""
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = (e.problem or e.context or "invalid YAML").strip()
        known = syntax_cause(e, text.splitlines()) if text is not None and mark else None
        return error(f"YAML syntax error: {problem}", where=where, fix=known or fix)
    # only the reader raises an error without a mark: a character YAML does not allow
    problem = str(e).splitlines()[0] if str(e) else "unreadable text"
    return error(f"YAML error: {problem}", where=str(path), fix="remove that character")


def _spaces(column: int) -> str:
    """The indentation of a 0-based column, in words."""
    return f"{column} space{'s' if column != 1 else ''}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _previous(lines: list[str], row: int) -> int | None:
    """The 0-based number of the last line above `row` holding more than a comment."""
    for k in range(min(row, len(lines)) - 1, -1, -1):
        if lines[k].strip() and not lines[k].lstrip().startswith("#"):
            return k
    return None


# `key: ` (or `- key: `) at the start of a line: the key whose value a text is
_KEY = re.compile(r"^\s*(?:-\s+)?([^\s:#'\"{}\[\],&*!|>%@`-][^:#]*?):(?:\s|$)")
# characters YAML reads as syntax at the start of a value: a text starting with one must be
# quoted (`text: @home`, `text: *x`, `text: > 5 years`, `text: - x`, `text: [a] b`)
_SYNTAX_START = "@`%*!?&|>-[]{}"
_ITEMS = 'items of a list start with "- " at the same indentation as the one before'
_COLON_TEXT = (
    "holds a colon that YAML reads as the start of another key: put the whole text in double "
    "quotes, or write it as a block: `>-` after the key and the text on the lines below, indented"
)


def _quote_it(row: int, char: str) -> str:
    return (
        f'line {row + 1}: a text that starts with "{char}" must be in quotes: write it as "..." '
        '(a double quote inside it as \\")'
    )


def syntax_cause(e: yaml.MarkedYAMLError, lines: list[str]) -> str | None:
    """The fix for a YAML syntax error whose cause the parser's words and the lines around
    it tell for sure, starting with the line to change; None when they do not. The parser
    stops at the first thing it cannot read, which is often after the mistake itself, so
    each cause is recognised only from what nothing else produces."""
    mark, context = e.problem_mark, e.context_mark
    if mark is None:
        return None
    problem, scanning = e.problem or "", e.context or ""
    line = lines[mark.line] if mark.line < len(lines) else ""
    char = line[mark.column] if mark.column < len(line) else ""
    if "tab" in problem or "\t" in line[: _indent(line)] or char == "\t":
        return f"line {mark.line + 1}: a tab is used to indent; indent with spaces only"
    if "mapping values are not allowed" in problem:
        return _colon_cause(lines, mark.line, mark.column)
    if (
        "expected" not in problem
        and char
        and char in _SYNTAX_START
        and line[: mark.column].rstrip().endswith(":")
    ):
        return _quote_it(mark.line, char)  # a token, tag, alias or list where a text was due
    if context is None or context.line >= len(lines):
        return None
    opened = lines[context.line]
    if "end of stream" in problem and "quoted scalar" in scanning:
        return (
            f"line {context.line + 1}: the quote opened at column {context.column + 1} is never "
            'closed: end the text with the same quote mark (inside "..." write a double quote as '
            "\\\", inside '...' a single quote as '')"
        )
    if "did not find expected ','" in problem and "flow" in scanning:
        bracket = opened[context.column : context.column + 1]
        return (
            f"line {context.line + 1}: the `{bracket}` opened at column {context.column + 1} is not "
            f"closed where expected: close it with `{'}' if bracket == '{' else ']'}`, and put any "
            'text inside it that holds ": " or "," in quotes'
        )
    if "block scalar" in scanning:
        # `>` and `|` start a block of text only when alone at the end of their line
        return _quote_it(context.line, opened[context.column : context.column + 1])
    if "could not find expected ':'" in problem:
        return (
            f"line {context.line + 1} has no `key:`: write it as `key: value`, or, if it continues "
            "the text on the line above, indent it further than that line's key"
        )
    if "did not find expected '-' indicator" in problem and mark.column == _indent(line):
        # (stopped inside a line, not at its start, as after a quote left open further up, the
        # parser's place tells nothing of the indentation)
        item = _item_above(lines, mark.line, context.column)
        if re.match(r"-[^\s-]", line[mark.column :]):
            return f'line {mark.line + 1}: put a space after the "-" that starts a list item'
        if mark.column == context.column:
            return f'line {mark.line + 1}: {_ITEMS} (line {item + 1}): add the missing "- "'
        inside = len(lines[item]) - len(lines[item][context.column + 1 :].lstrip())
        return (
            f"line {mark.line + 1} is indented {_spaces(mark.column)}: {_ITEMS} "
            f"({_spaces(context.column)}, line {item + 1}), and the lines inside an item line up "
            f"under its first word ({_spaces(inside)})"
        )
    if "did not find expected key" in problem:
        return _key_cause(lines, mark.line, mark.column, context.line, context.column)
    return None


def _item_above(lines: list[str], row: int, column: int) -> int:
    """The nearest line above `row` that starts a list item (`- `) at `column`."""
    for k in range(min(row, len(lines)) - 1, -1, -1):
        if _indent(lines[k]) == column and lines[k].lstrip().startswith("-"):
            return k
    return 0


def _key_cause(lines: list[str], row: int, col: int, mapping_row: int, mapping_col: int) -> str | None:
    """Where a mapping expected its next key at line `row`, column `col`; its keys start at
    `mapping_col` (line `mapping_row`)."""
    line = lines[row] if row < len(lines) else ""
    char = line[col : col + 1]
    keys = f"{_spaces(mapping_col)}, line {mapping_row + 1}"
    if char == "-" and col == mapping_col:
        return (
            f'line {row + 1}: this "- " sits among the keys of the mapping above ({keys}): to start '
            'a new list item, put its "- " at the indentation of the other "- " items; if the '
            'line belongs to the item above, remove the "- "'
        )
    if char == "-" and col == _indent(line):
        items = [k for k in range(row - 1, -1, -1) if lines[k].lstrip().startswith("- ")]
        before = f" ({_spaces(_indent(lines[items[0]]))}, line {items[0] + 1})" if items else ""
        return f"line {row + 1}: {_ITEMS}{before}"
    key = _KEY.match(line)
    value = line[key.end() : col].strip() if key else ""
    # a whole quoted text on this line, then more text: the quote was closed too early
    if key and len(value) > 1 and value[:1] in ("'", '"') and value[-1:] == value[:1]:
        return (
            f"line {row + 1}: text follows a closing quote: a quote mark inside the text ends it "
            'early; write the whole text in double quotes with a double quote inside it as \\", '
            "or as a block with >-"
        )
    if key and value[:1] in ("[", "{") and value[-1:] in ("]", "}"):
        return _quote_it(row, value[:1])
    if col != mapping_col and col == _indent(line):
        return (
            f"line {row + 1} is indented {_spaces(col)}, but the keys of the mapping it is in "
            f"start at {keys}: line it up with the keys it belongs with"
        )
    return None


def _colon_cause(lines: list[str], row: int, col: int) -> str | None:
    """A `:` at line `row`, column `col` that YAML cannot take as a key's."""
    line = lines[row] if row < len(lines) else ""
    key = _KEY.match(line)
    if key and key.end() <= col:
        return f"line {row + 1}: the text after `{key.group(1).strip()}:` {_COLON_TEXT}"
    k = _previous(lines, row)
    if k is None:
        return None
    above = lines[k]
    if re.match(r"^\s*-[^\s-]", above):
        return f'line {k + 1}: put a space after the "-" that starts a list item'
    if re.match(r"^\s*(?:-\s+)?[\w.-]+:\S", above) and not _KEY.match(above):
        word = above.strip().lstrip("- ").split(":", 1)[0]
        return f"line {k + 1}: put a space after the `:` of `{word}:`"
    if _indent(line) > _indent(above):
        return (
            f"line {row + 1} is indented more than line {k + 1} above it: if it is a key beside "
            f"that line's, indent it the same; if it continues the text of line {k + 1}, that "
            'text holds ": " and must be in double quotes or written as a block with >-'
        )
    return None


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
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        near = f" near line {mark.line + 1}" if mark else ""
        fix = (
            f'check the indentation and quoting{near}; protocol text containing ": " must be '
            "quoted or written as a block with >-"
        )
        raise yaml_error(e, path, fix, TrialError, text) from None
    finally:
        loader.dispose()


# Words authors write for a key of the language, by what they mean: the nearest spelling
# would mislead (`type` is nearer to `text` than to `kind`, `test` to `at_least` than to
# `lab`). Each is offered only where its key is allowed.
KEY_SYNONYMS: dict[str, str] = {
    "type": "kind",
    "category": "kind",
    "criterion": "text",
    "description": "text",
    "wording": "text",
    "test": "lab",
    "labs": "lab",
    "laboratory": "lab",
    "drug": "medication",
    "drugs": "medication",
    "medicine": "medication",
    "treatment": "medication",
    "therapy": "medication",
    "condition": "diagnosis",
    "disease": "diagnosis",
    "dx": "diagnosis",
    "vital": "observation",
    "vitals": "observation",
    "score": "observation",
    "gender": "sex",
    "or": "any",
    "and": "all",
    "none": "not",
    "count": "n",
    "uln": "default_uln",
    "range": "plausible",
    "name": "label",
    "factors": "units",
}
# Comparison words and operators, with the key that says the same (`>=` is `min`)
COMPARE_SYNONYMS: dict[str, str] = {
    ">": "above",
    "gt": "above",
    "greater_than": "above",
    "more_than": "above",
    ">=": "min",
    "=>": "min",
    "≥": "min",
    "gte": "min",
    "at_least": "min",
    "minimum": "min",
    "<": "below",
    "lt": "below",
    "less_than": "below",
    "<=": "max",
    "=<": "max",
    "≤": "max",
    "lte": "max",
    "at_most": "max",
    "maximum": "max",
}
# The keys that start a rule of one atom, in the order errors list them (parse.RULE_KEYS adds
# the combinators): written beside `rule:` rather than under it, they are a rule misplaced
ATOM_KEYS = ("age", "sex", "diagnosis", "procedure", "history", "lab", "observation", "medication", "derived")


def _key_fix(node: Located, key: str, allowed: set[str] | tuple[str, ...]) -> str:
    """The fix for an unknown `key` among `allowed`: the key meant, where it can be told."""
    value = node[key]
    if key.isdigit() and value is None and any(isinstance(v, int | float) for v in node.values()):
        # `{below: 9,5}`: the comma of a decimal splits a `{...}` into another key
        return "write decimals with a point (`9.5`, not `9,5`): inside `{...}` a comma starts another key"
    if key in ATOM_KEYS and "rule" in allowed:
        return (
            f"`{key}` is a rule: put it under `rule:`, on the next line, indented further than `rule:` "
            f"(`rule:` then `  {key}: ...`)"
        )
    meant = KEY_SYNONYMS.get(key.lower()) or COMPARE_SYNONYMS.get(key.lower())
    if meant in allowed:
        return f"write `{meant}:`" if key.lower() in COMPARE_SYNONYMS else f"did you mean `{meant}`?"
    if key.lower() == "between" and "min" in allowed:
        return "write `min: LOW, max: HIGH` (both ends included; `above`/`below` exclude them)"
    if key.lower() == "concept" and "measure" in allowed:
        return "`derived` names its `measure:` (creatinine_clearance or egfr_ckd_epi_2021)"
    near = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.5)
    return f"did you mean `{near[0]}`?" if near else f"valid keys: {', '.join(sorted(allowed))}"


def check_keys(node: Located, allowed: set[str] | tuple[str, ...], what: str) -> None:
    """Refuse unknown keys, suggesting the key meant: a word authors use for it, else the
    nearest valid one."""
    for key in node:
        if key not in allowed:
            raise TrialError(
                f"unknown key `{key}` in {what}", where=node.where(key), fix=_key_fix(node, key, allowed)
            )


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


def require(node: Located, key: str, what: str, fix: str | None = None) -> Any:
    """A key that must be present; `fix` says what to write, where `add `key:`` is not enough."""
    if key not in node or node[key] is None or node[key] == "":
        raise TrialError(f"{what} needs `{key}`", where=node.where(), fix=fix or f"add `{key}:`")
    return node[key]

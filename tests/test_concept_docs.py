"""docs/concepts.md's concept table is the shipped concept library: one table per concept
file, one row per concept in the file's order, with its label, its code systems and where
its code list was checked. A concept added to the library without its row fails here."""

from __future__ import annotations

import re
from pathlib import Path

from feasibility.criteria.load import load_trials
from tests.support import REPO

DOC = REPO / "docs" / "concepts.md"


def expected_tables() -> dict[str, list[str]]:
    """Per concept file name, the table rows the library makes."""
    _, library = load_trials(None)
    tables: dict[str, list[str]] = {}
    for name, concept in library.concepts.items():
        systems = ", ".join(dict.fromkeys(p.system for p in concept.codes))
        checked = re.sub(r"\s+", " ", concept.checked).strip()
        row = f"| `{name}` | {concept.label} | {systems} | {checked} |"
        tables.setdefault(Path(concept.source).name, []).append(row)
    return tables


def documented_tables() -> dict[str, list[str]]:
    """Per `### ... (`trials/concepts/FILE`)` heading of the concept table, its rows."""
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in DOC.read_text(encoding="utf-8").split("## Concept table", 1)[1].splitlines():
        heading = re.match(r"### .*\(`trials/concepts/([^`]+)`\)", line)
        if heading:
            current = tables.setdefault(heading.group(1), [])
        elif current is not None and line.startswith("| `"):
            current.append(line)
    return tables


def test_the_concept_table_lists_every_concept_of_the_library():
    expected, documented = expected_tables(), documented_tables()
    assert sorted(documented) == sorted(expected), "one table per concept file"
    for file, rows in expected.items():
        assert documented[file] == rows, f"docs/concepts.md, table of {file}: expected\n" + "\n".join(rows)


def test_every_concept_says_where_its_codes_were_checked():
    missing = [row for rows in expected_tables().values() for row in rows if row.endswith("|  |")]
    assert not missing

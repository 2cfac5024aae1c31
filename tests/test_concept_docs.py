"""docs/concepts.md is the shipped concept library's account of itself. Its concept table
has one table per concept file and one row per concept in the file's order, with its label,
its code systems and where its code list was checked; its LOCAL codes, prednisone-equivalent
dose factors, default ULNs and positive cut-offs are the library's. A library edited without its
page fails."""

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


def _table(heading: str) -> list[list[str]]:
    """The body rows of the first table under `## heading`, as lists of cells."""
    section = DOC.read_text(encoding="utf-8").split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_the_local_codes_table_names_every_local_code_and_its_concepts():
    _, library = load_trials(None)
    in_library = {
        (p.code, name) for name, c in library.concepts.items() for p in c.codes if p.system == "LOCAL"
    }
    documented = {
        (code.strip("`"), concept)
        for codes, concepts, _ in _table("LOCAL codes")
        for code in codes.split(", ")
        for concept in concepts.split(", ")
    }
    assert documented == in_library


def test_the_dose_factor_table_is_the_glucocorticoids_factors():
    _, library = load_trials(None)
    documented = {atc: float(factor) for atc, _, _, factor in _table("Prednisone-equivalent dose factors")}
    assert documented == dict(library["glucocorticoids"].dose_factors)


def test_the_default_uln_table_is_the_library_s():
    _, library = load_trials(None)
    rows = _table("Default upper limits of normal")
    assert {name: float(uln) for name, uln, _ in rows} == {
        name: c.default_uln for name, c in library.concepts.items() if c.default_uln is not None
    }
    for name, _, unit in rows:
        assert unit.startswith(library[name].unit), name


def test_the_positive_cut_off_table_is_the_library_s():
    _, library = load_trials(None)
    documented = {}
    for name, cut_off, _, _ in _table("Titres and positive cut-offs"):
        key = "titre_positive_from" if "titre_positive_from" in cut_off else "positive_from"
        documented[name] = (key, float(re.search(r"[0-9.]+", cut_off).group()))
    in_library = {}
    for name, c in library.concepts.items():
        for key in ("positive_from", "titre_positive_from"):
            if getattr(c, key) is not None:
                in_library[name] = (key, getattr(c, key))
    assert documented == in_library

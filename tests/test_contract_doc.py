"""docs/extract-contract.md's table is the contract the engine checks (extract/contract.py):
every column, its type, whether it is required, and the other types it accepts."""

from __future__ import annotations

import re

from feasibility.extract.contract import COLUMNS
from tests.support import REPO

DOC = (REPO / "docs" / "extract-contract.md").read_text(encoding="utf-8")
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}


def _documented() -> dict[str, tuple[str, str]]:
    """Per column name: (type cell, required cell) of the table."""
    rows = {}
    for names, type_cell, required, _ in re.findall(
        r"^\| ([a-z_, ]+) \| (.+?) \| (.+?) \| (.+) \|$", DOC, re.M
    ):
        if names.strip() == "column":
            continue
        for name in names.split(","):
            rows[name.strip()] = (type_cell, required)
    return rows


def _accepted(column) -> str | None:
    """What the table must say the column accepts beside its own type."""
    others = set(column.accepts) - {column.type}
    if column.type == "VARCHAR" and others:
        assert others >= _INTEGERS
        return "(integers accepted)"
    if column.type == "INTEGER":
        return "(any integer type accepted)"
    if column.type == "DOUBLE":
        assert {"FLOAT", "DECIMAL", "INTEGER"} <= others
        return "(any number accepted)"
    if column.type == "DATE":
        assert others == {"TIMESTAMP"}
        return "(TIMESTAMP accepted)"
    return None


def test_the_contract_table_is_the_checked_contract():
    documented = _documented()
    assert sorted(documented) == sorted(c.name for c in COLUMNS)
    for column in COLUMNS:
        type_cell, required = documented[column.name]
        accepted = _accepted(column)
        assert type_cell == (f"{column.type} {accepted}" if accepted else column.type), column.name
        # `yes*`: required, but may be NULL on person rows
        assert required.startswith("yes") == column.required, column.name

"""The code stays as the project writes it: ruff-clean, ruff-formatted, and its type hints
true (mypy, with the settings in pyproject.toml). CI runs the tests, so CI checks these too."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support import REPO


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("command", [("ruff", "check", "."), ("ruff", "format", "--check", ".")])
def test_ruff(command):
    done = _run(*command)
    assert done.returncode == 0, done.stdout + done.stderr


def test_type_hints_hold(tmp_path):
    done = _run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr


def _formatted(node: ast.expr) -> bool:
    """Text made by formatting: an f-string with a value in it, `%`, `+` or `.format`."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def test_no_sql_is_pasted_together():
    """Every statement the package sends to DuckDB or Spark is fixed text (with parameters)
    or rendered from sqlglot expressions: none is formatted from pieces of text."""
    pasted = []
    for path in sorted((REPO / "feasibility").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"execute", "sql"}
                and node.args
                and _formatted(node.args[0])
            ):
                pasted.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert pasted == []

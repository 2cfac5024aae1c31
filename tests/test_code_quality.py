"""The code stays as the project writes it: ruff-clean, ruff-formatted, and its type hints
true (mypy, with the settings in pyproject.toml). CI runs the tests, so CI checks these too."""

from __future__ import annotations

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

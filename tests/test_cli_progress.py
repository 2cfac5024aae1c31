"""The spinner of long commands: the running step and the time since the command began on
a terminal, nothing at all in a log."""

from __future__ import annotations

import io
import re

from rich.console import Console

from feasibility import cli_options
from feasibility.cli_options import working


def test_a_terminal_sees_each_step_and_the_elapsed_time(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(cli_options, "err", Console(file=out, force_terminal=True, width=100))
    with working("loading trials") as step:
        step("reading [red] the extract")  # a step's text is never markup
    shown = out.getvalue()
    assert "loading trials" in shown
    assert "reading [red] the extract" in shown
    assert re.search(r"\d:\d\d:\d\d", shown)  # h:mm:ss, whatever the machine's load


def test_a_log_gets_nothing(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(cli_options, "err", Console(file=out, force_terminal=False))
    with working("loading trials") as step:
        step("reading the extract")
    assert out.getvalue() == ""

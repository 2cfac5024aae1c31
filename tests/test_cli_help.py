"""`--help` and the README are the user's first manual: every command and option says what it
is for, and the README's command table names only commands and options that exist."""

from __future__ import annotations

import re
from pathlib import Path

import click

from feasibility.cli import cli


def _commands(group: click.Group, prefix: str = "feasibility"):
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


def test_every_command_and_option_has_help():
    missing = []
    for path, command in _commands(cli):
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[0]}")
    assert missing == []


def test_commands_are_all_reached():
    # the walk above must see the nested import commands, or it proves nothing about them
    names = {path for path, _ in _commands(cli)}
    assert {"feasibility run", "feasibility import omop", "feasibility import mimic-iv"} <= names


def test_the_readme_commands_table_names_real_commands_and_options():
    """Each row of the README's command table is a command that exists, and every `--option`
    it shows is one of that command's."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    commands = dict(_commands(cli))
    checked = 0
    for line in table.splitlines():
        match = re.match(r"^\| `(feasibility(?: [a-z][a-z-]*)+)", line)
        if not match:
            continue
        path = match.group(1)
        while path not in commands:  # `feasibility import omop DIR`: the words before the arguments
            path = path.rsplit(" ", 1)[0]
            assert path != "feasibility", line
        params = commands[path].params
        options = {opt for param in params for opt in [*param.opts, *param.secondary_opts]}
        shown = set(re.findall(r"--[a-z][a-z-]*", line.split("` |", 1)[0]))
        assert shown <= options, (path, sorted(shown - options))
        checked += 1
    assert checked >= 10


def test_the_cli_defaults_are_the_engines():
    """The CLI types the Spark master and the dialects again rather than load the engines
    for every command: the copies must stay equal."""
    from feasibility.compile.pipeline import DIALECTS
    from feasibility.evaluate.spark_engine import DEFAULT_MASTER

    run = {p.name: p for p in cli.commands["run"].params}
    sql = {p.name: p for p in cli.commands["sql"].params}
    assert run["spark_master"].default == DEFAULT_MASTER
    assert isinstance(sql["dialect"].type, click.Choice)
    assert tuple(sql["dialect"].type.choices) == DIALECTS

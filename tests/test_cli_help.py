"""`--help` is the user's first manual: every command and option says what it is for."""

from __future__ import annotations

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

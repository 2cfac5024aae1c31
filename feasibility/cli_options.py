"""Command-line options shared by several commands, declared once."""

from __future__ import annotations

import click

threads_option = click.option(
    "--threads", type=click.IntRange(min=1), help="DuckDB threads (default: all cores)."
)
memory_limit_option = click.option(
    "--memory-limit", help="DuckDB memory limit, e.g. 4GB (DuckDB spills beyond it)."
)

"""Command-line options and the status console shared by several commands, declared once."""

from __future__ import annotations

import click
from rich.console import Console

# stderr carries paths, ids and messages that are the user's text: never read as markup,
# and never broken across lines (a wrapped path cannot be copied)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

threads_option = click.option(
    "--threads", type=click.IntRange(min=1), help="DuckDB threads (default: all cores)."
)
memory_limit_option = click.option(
    "--memory-limit", help="DuckDB memory limit, e.g. 4GB (DuckDB spills beyond it)."
)

"""Command-line options and the status console shared by several commands, declared once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# stderr carries paths, ids and messages that are the user's text: never read as markup,
# and never broken across lines (a wrapped path cannot be copied)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

# DuckDB starts every thread it is given, so a mistyped 100000 would hang the run setting
# them up; 1024, far beyond the cores of the machines this runs on, still starts at once.
MAX_THREADS = 1024
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1, max=MAX_THREADS),
    help=f"DuckDB threads, 1 to {MAX_THREADS} (default: all cores).",
)
# a conversion share, as `analytics.conversion.is_share` reads one: above 0, at most 1
SHARE = click.FloatRange(min=0, max=1, min_open=True)
# the formats `analytics.conversion.load_conversion` reads, for `run` and `compare`
CONVERSION_FILE_FORMATS = "YAML (`SITE: 0.25`) or CSV (site_id,conversion)"
memory_limit_option = click.option(
    "--memory-limit",
    help="DuckDB memory limit, e.g. 4GB (DuckDB spills beyond it; default: DuckDB's, 80% of RAM).",
)


@contextmanager
def working(first_step: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the running step, with the time since the command began
    (a large extract takes minutes); yields the function that names the next step. Nothing
    is drawn, and nothing is left behind, when stderr is not a terminal."""
    if not err.is_terminal:  # rich would still end its display with an empty line
        yield lambda step: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(first_step, total=None)
        yield lambda step: progress.update(task, description=step)

"""The waterfall in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _n(value, min_cell: int) -> str:
    return f"<{min_cell}" if value is None else f"{value:,}"


def print_report(report: dict, console: Console, *, site: str = "ALL") -> None:
    """Per trial: the waterfall of `site` (ALL by default) and each site's totals."""
    protection = report["protection"]
    k = protection["min_cell"]
    if not protection["shareable"]:
        console.print("[bold red]Exact counts (--min-cell 0): for use inside the site only, do not share.[/]")
    for trial in report["trials"]:
        texts = {c["id"]: c for c in trial["criteria"]}
        block = next((s for s in trial["sites"] if s["site_id"] == site), trial["sites"][0])
        table = Table(
            title=f"[bold]{trial['id']}[/] — {trial['title']}  (site {block['site_id']})",
            title_justify="left",
            show_lines=False,
            expand=False,
        )
        for col, justify in (
            ("#", "right"),
            ("criterion", "left"),
            ("", "left"),
            ("passed", "right"),
            ("failed", "right"),
            ("unknown", "right"),
            ("eligible", "right"),
            ("potential", "right"),
            ("text", "left"),
        ):
            table.add_column(
                col, justify=justify, no_wrap=col != "text", max_width=60 if col == "text" else None
            )
        for step in block["waterfall"]:
            c = texts.get(step["criterion_id"])
            kind = {"inclusion": "inc", "exclusion": "exc", "base": ""}[step["kind"]]
            if c is not None and not c["assessable"]:
                kind += " n/a"
            text = Text(c["text"] if c else "all patients", overflow="ellipsis", no_wrap=True)
            style = "dim" if c is not None and not c["assessable"] else None
            table.add_row(
                str(step["step"]),
                step["criterion_id"],
                kind,
                _n(step["passed"], k),
                _n(step["failed"], k),
                _n(step["unknown"], k),
                _n(step["eligible"], k),
                _n(step["potentially_eligible"], k),
                text,
                style=style,
            )
        console.print(table)
        if len(trial["sites"]) > 2:
            sites = "  ".join(
                f"{s['site_id']}: {_n(s['eligible'], k)} eligible, "
                f"{_n(s['potentially_eligible'], k)} potentially"
                for s in trial["sites"]
                if s["site_id"] != "ALL"
            )
            console.print(f"  per site — {sites}")
        console.print()
    warnings = report["data_quality"].get("warnings") or []
    if warnings:
        console.print("[yellow]Data quality:[/] " + "; ".join(warnings))

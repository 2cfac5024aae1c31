"""The waterfall in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _n(value, min_cell: int) -> str:
    return f"<{min_cell}" if value is None else f"{value:,}"


def _months(value: float | None) -> str:
    return "beyond the horizon" if value is None else f"{value:.1f}"


def _print_enrollment(enrollment: dict, console: Console, k: int) -> None:
    """Monthly incidence per site and the enrollment forecast, under the waterfall."""
    fc = enrollment["forecast"]
    title = f"  newly {enrollment['basis']} per month over {enrollment['months']} months; expected enrollment"
    table = Table(title=title, title_justify="left")
    for col in ("site", "1st half /month", "2nd half /month", "enrolled 6 mo [80%]", "enrolled 12 mo [80%]"):
        table.add_column(col, justify="left" if col == "site" else "right")
    forecasts = {s["site"]: s for s in (fc["sites"] if fc else [])}

    def per_month(total: int | None, months: int) -> str:
        return f"<{k} in {months}" if total is None else f"{total / max(months, 1):.1f}"

    for inc in enrollment["incidence"]:
        trend = inc["trend_potentially_eligible"]
        cells = [
            per_month(trend["first_half_total"], trend["first_half_months"]),
            per_month(trend["second_half_total"], trend["second_half_months"]),
        ]
        site = forecasts.get(inc["site_id"])
        for months in (6, 12):
            if site is not None:
                e = next(x for x in site["expected"] if x["months"] == months)
                cells.append(f"{e['mean']:.1f} [{e['low80']}–{e['high80']}]")
            elif fc and months < len(fc["band"]["months"]):  # ALL: the total's simulated band
                band = fc["band"]
                cells.append(f"{band['mean'][months]:.1f} [{band['low80'][months]}–{band['high80'][months]}]")
            else:
                cells.append("")
        table.add_row(inc["site_id"], *cells)
    console.print(table)
    target = fc["time_to_target"] if fc else None
    if target:
        if target["median"] is None:
            console.print(f"  time to enroll {target['target']}: {target['note'] or 'beyond the horizon'}")
        else:
            console.print(
                f"  time to enroll {target['target']}: median {_months(target['median'])} months "
                f"(80% {_months(target['low80'])}–{_months(target['high80'])}, "
                f"95% {_months(target['low95'])}–{_months(target['high95'])})"
            )


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
        if trial.get("enrollment"):
            _print_enrollment(trial["enrollment"], console, k)
        console.print()
    warnings = report["data_quality"].get("warnings") or []
    if warnings:
        console.print("[yellow]Data quality:[/] " + "; ".join(warnings))

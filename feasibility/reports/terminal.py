"""The waterfall in the terminal."""

from __future__ import annotations

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from feasibility.analytics.forecast import SITE_MONTHS
from feasibility.analytics.waterfall import ALL_SITES
from feasibility.protect import suppressed_label, suppressed_text

COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("#", "right"),
    ("criterion", "left"),
    ("", "left"),
    ("passed", "right"),
    ("failed", "right"),
    ("unknown", "right"),
    ("eligible", "right"),
    ("potential", "right"),
)
COUNTS = ("passed", "failed", "unknown", "eligible", "potentially_eligible")  # a step's, in COLUMNS
TEXT_WIDTH, MIN_TEXT_WIDTH = 60, 20  # the criterion's text, beside its counts


def table_width(widths: list[int]) -> int:
    """Characters a rich Table with the default box takes for columns of these content
    widths: its left border, then per column two spaces of padding and a border."""
    return 1 + sum(w + 3 for w in widths)


def _n(value: int | None, k: int) -> str:
    """A count, `<k` when suppressed (`k` from `suppressed_label`)."""
    return f"<{k}" if value is None else f"{value:,}"


def _step_count(step: dict, key: str, protection: dict) -> str:
    value = step[key]
    return suppressed_text(key, protection) if value is None else f"{value:,}"


def _hanging(items: list[tuple[str, str]]) -> Table:
    """Lines of (label, text) whose text wraps under itself, not under the label. The text
    is the user's and the data's: never markup."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for label, text in items:
        grid.add_row(label, Text(text))
    return grid


def _months(value: float | None) -> str:
    return "beyond the horizon" if value is None else f"{value:.1f}"


def _print_enrollment(enrollment: dict, console: Console, k: int) -> None:
    """Monthly incidence per site and the enrollment forecast, under the waterfall."""
    fc = enrollment["forecast"]
    title = f"  newly {enrollment['basis']} per month over {enrollment['months']} months; expected enrollment"
    table = Table(title=title, title_justify="left")
    horizons = [f"enrolled {months} mo [80%]" for months in SITE_MONTHS]
    for col in ("site", "1st half /month", "2nd half /month", *horizons):
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
        for months in SITE_MONTHS:
            if site is not None:
                e = next(x for x in site["expected"] if x["months"] == months)
                cells.append(f"{e['mean']:.1f} [{e['low80']}–{e['high80']}]")
            elif fc and months < len(fc["band"]["months"]):  # ALL: the total's simulated band
                band = fc["band"]
                cells.append(f"{band['mean'][months]:.1f} [{band['low80'][months]}–{band['high80'][months]}]")
            else:
                cells.append("")
        table.add_row(escape(inc["site_id"]), *cells)
    console.print(table)
    if enrollment.get("sites_withheld"):
        console.print(_hanging([("  per site —", enrollment["sites_withheld"])]))
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


def print_report(report: dict, console: Console) -> None:
    """Per trial: the waterfall of every site together (ALL) and each site's totals."""
    protection = report["protection"]
    k = suppressed_label(protection)
    if not protection["shareable"]:
        console.print("[bold red]Exact counts (--min-cell 0): for use inside the site only, do not share.[/]")
    index = report["provenance"]["index_date"]
    given = report["provenance"].get("options", {}).get("as_of")
    console.print(
        f"Index date {index['default']} "
        + ("(--as-of)" if given else "(the latest event date in the extract; --as-of to change)")
        + (": the extract's index_date column where present" if index.get("per_patient") else "")
    )
    for trial in report["trials"]:
        texts = {c["id"]: c for c in trial["criteria"]}
        block = trial["sites"][0]  # ALL comes first
        # ids, titles and sites are the user's text, never markup
        # a trial file without a title is titled by its id: shown once
        titled = f" — {escape(trial['title'])}" if trial["title"] != trial["id"] else ""
        heading = f"{titled}  (site {escape(block['site_id'])})"
        table = Table(
            title=f"[bold]{escape(trial['id'])}[/]{heading}",
            title_justify="left",
            show_lines=False,
            expand=False,
        )
        rows, texts_shown, styles = [], [], []
        for step in block["waterfall"]:
            c = texts.get(step["criterion_id"])
            kind = {"inclusion": "inc", "exclusion": "exc", "base": ""}[step["kind"]]
            if c is not None and not c["assessable"]:
                kind += " n/a"
            counts = [_step_count(step, key, protection) for key in COUNTS]
            rows.append([str(step["step"]), step["criterion_id"], kind, *counts])
            # the protocol's line breaks would make a row of several lines: one line, cut short
            texts_shown.append(" ".join(c["text"].split()) if c else "all patients")
            styles.append("dim" if c is not None and not c["assessable"] else None)
        # the counts are never cut short: only the text column gives way, and goes when it
        # would be too narrow to read
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (h, _) in enumerate(COLUMNS)]
        room = min(TEXT_WIDTH, console.width - table_width([*widths, 0]))
        with_text = room >= MIN_TEXT_WIDTH
        for (header, justify), width in zip(COLUMNS, widths, strict=True):
            table.add_column(header, justify=justify, no_wrap=True, min_width=width)
        if with_text:
            table.add_column("text", justify="left", no_wrap=True, max_width=room)
        for row, text, style in zip(rows, texts_shown, styles, strict=True):
            cells = [Text(cell) for cell in row]  # plain text: a criterion id is never markup
            table.add_row(*cells, *([Text(text, overflow="ellipsis")] if with_text else []), style=style)
        console.print(table)
        if len(trial["sites"]) > 2:
            sites = [
                f"{s['site_id']}: {_n(s['eligible'], k)} eligible, "
                f"{_n(s['potentially_eligible'], k)} potentially"
                for s in trial["sites"]
                if s["site_id"] != ALL_SITES
            ]
            labels = ["  per site —"] + [""] * (len(sites) - 1)
            console.print(_hanging(list(zip(labels, sites, strict=True))))
        elif trial.get("sites_withheld"):
            console.print(_hanging([("  per site —", trial["sites_withheld"])]))
        if trial.get("enrollment"):
            _print_enrollment(trial["enrollment"], console, k)
        console.print()
    warnings = report["data_quality"].get("warnings") or []
    if warnings:
        console.print("[yellow]Data quality:[/]")
        console.print(_hanging([("  -", line) for line in warnings]))

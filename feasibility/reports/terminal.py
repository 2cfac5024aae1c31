"""The waterfall in the terminal."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO, cast

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from feasibility.analytics.forecast import SITE_MONTHS
from feasibility.criteria.model import Duration
from feasibility.protect import WITHHELD, suppressed_label, suppressed_text
from feasibility.reports.build import index_basis, ranked_sites, ranks_sites, site_blocks
from feasibility.reports.forecast_text import band_cells, expected_cells, time_to_target_text

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
# table styles, widest first: the first that fits the terminal is used, so that a narrow
# terminal (or a pipe, 80 columns) loses borders, not counts
STYLES: tuple[dict[str, Any], ...] = (
    {},
    {"show_edge": False, "pad_edge": False},
    {"box": None, "pad_edge": False},
)
NOT_ASSESSABLE_MARK = "*"  # on a criterion's id where the waterfall has no room for its kind
# spaces before a line's end, with any colour codes rich closes the line with
_TRAILING_SPACES = re.compile(r" +((?:\x1b\[[0-9;]*m)*)\n")


class _TrimmedLines(io.TextIOBase):
    """A text stream that drops the spaces rich leaves where it wraps a line at a word.

    Piped output is diffed, mailed and pasted, where a trailing space is noise. A write that
    ends in spaces keeps them back until the next write shows whether the line goes on.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._held = ""

    def write(self, text: str) -> int:
        pending = self._held + text
        kept = pending.rstrip(" ")
        self._held = pending[len(kept) :]
        self._stream.write(_TRAILING_SPACES.sub(r"\1\n", kept))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    # rich asks the stream whether it is a terminal, and which, to choose colours and width
    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


def report_console(stream: TextIO | None = None, **options: Any) -> Console:
    """The console run and compare print their reports on: stdout by default, with no
    trailing spaces; `options` as for rich's Console."""
    # a text stream in all but typeshed's name: rich calls write, flush, isatty and fileno
    return Console(file=cast(TextIO, _TrimmedLines(stream or sys.stdout)), **options)


def table_width(widths: list[int]) -> int:
    """Characters a rich Table with the default box takes for columns of these content
    widths: its left border, then per column two spaces of padding and a border."""
    return 1 + sum(w + 3 for w in widths)


def count_label(value: int | None, k: int) -> str:
    """A count, `<k` when suppressed (`k` from `suppressed_label`)."""
    return f"<{k}" if value is None else f"{value:,}"


def _step_count(step: dict, key: str, protection: dict) -> str:
    value = step[key]
    return suppressed_text(key, protection) if value is None else f"{value:,}"


def hanging(items: list[tuple[str, str]]) -> Table:
    """Lines of (label, text) whose text wraps under itself, not under the label. The text
    is the user's and the data's: never markup."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for label, text in items:
        grid.add_row(label, Text(text))
    return grid


def _rendered_width(table: Table) -> int:
    """The characters a table takes when nothing limits it. Measured, not rendered: rich
    measures a table from its cells' widths, which cost a fraction of drawing it (the
    waterfalls were measured up to three times each, most of a small run's printing)."""
    return Console(file=io.StringIO(), width=10_000, color_system=None).measure(table).maximum


def _fitting_style(build: Callable[[dict[str, Any]], Table], width: int) -> tuple[dict[str, Any], int] | None:
    """The first of `STYLES` in which the table `build` makes fits `width`, with the width it
    takes there, if any."""
    for style in STYLES:
        used = _rendered_width(build(style))
        if used <= width:
            return style, used
    return None


def print_site_table(columns: Sequence[str], rows: Sequence[Sequence[Text | str]], console: Console) -> None:
    """A table of one row per site, the site first, the figures right-aligned, in the first
    of `STYLES` that fits the terminal (a figure wrapped in its cell is hard to read). A
    site id is the user's text: cells given as `str` are never read as markup."""

    def table(style: dict[str, Any]) -> Table:
        t = Table(**style)
        for col in columns:
            t.add_column(col, justify="left" if col == columns[0] else "right")
        for row in rows:
            t.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
        return t

    fit = _fitting_style(table, console.width)
    console.print(table(STYLES[-1] if fit is None else fit[0]))


def _waterfall_table(
    rows: list[list[str]], assessable: list[bool], texts: list[str], width: int
) -> tuple[Table, str | None]:
    """The waterfall's counts, and the criterion's text where the terminal has room for it,
    with a note to print under it. The counts are never cut short: the borders go first
    (`STYLES`), then the text column, which goes when it would be too narrow to read, then
    the step number and the kind (a not-assessable criterion's id is then marked)."""

    def table(style: dict[str, Any], text_width: int | None, compact: bool = False) -> Table:
        t = Table(show_lines=False, expand=False, **style)
        keep = [i for i, (header, _) in enumerate(COLUMNS) if not compact or header not in ("#", "")]
        shown = [
            [
                cell + (NOT_ASSESSABLE_MARK if compact and COLUMNS[i][0] == "criterion" and not ok else "")
                for i, cell in enumerate(row)
            ]
            for row, ok in zip(rows, assessable, strict=True)
        ]
        for i in keep:
            header, justify = COLUMNS[i]
            t.add_column(
                header, justify=justify, no_wrap=True, min_width=max(len(header), *(len(r[i]) for r in shown))
            )
        if text_width is not None:
            t.add_column("text", justify="left", no_wrap=True, max_width=text_width)
        for row, ok, text in zip(shown, assessable, texts, strict=True):
            cells = [Text(row[i]) for i in keep]  # plain text: a criterion id is never markup
            extra = [Text(text, overflow="ellipsis")] if text_width is not None else []
            t.add_row(*cells, *extra, style=None if ok else "dim")
        return t

    fit = _fitting_style(lambda style: table(style, None), width)
    if fit is None:
        note = f"  {NOT_ASSESSABLE_MARK} not assessable from the data" if not all(assessable) else None
        return table(STYLES[-1], None, compact=True), note
    style, counts_only = fit
    # what one more column costs beside its content: separator and padding
    overhead = _rendered_width(table(style, MIN_TEXT_WIDTH)) - counts_only - MIN_TEXT_WIDTH
    room = min(TEXT_WIDTH, width - counts_only - overhead)
    return table(style, room if room >= MIN_TEXT_WIDTH else None), None


def terminal_key(protection: dict) -> str:
    """What the waterfall's columns and marks mean, in one paragraph under the tables (the
    HTML page's "How to read this report" says more)."""
    parts = [
        "passed, failed and unknown count the patients still confirmed eligible after the step "
        "before; eligible: every assessable criterion TRUE so far; potential: none FALSE so far "
        "(UNKNOWN ones need a test or the investigator); n/a: not assessable from data, passes "
        "everyone"
    ]
    if protection["shareable"]:
        k = suppressed_label(protection)
        parts.append(
            f"<{k}: 1 to {k - 1} patients, suppressed; {WITHHELD}: a count worked out from others "
            f"and left out because it could reveal a suppressed one (it may be large); other "
            f"counts rounded to {protection.get('round_to', 5)}, each on its own, so a row may not add "
            "up exactly"
        )
    return "; ".join(parts) + '. Definitions: report.html, "How to read this report".'


def _print_enrollment(enrollment: dict, console: Console, shown_once: Sequence[str] = ()) -> None:
    """Monthly incidence per site and the enrollment forecast, under the waterfall."""
    fc = enrollment["forecast"]
    period = Duration(enrollment["months"], "month")  # "1 month", "24 months"
    console.print(f"  newly {enrollment['basis']} per month over {period}; expected enrollment")
    horizons = [f"enrolled {months} mo [80%]" for months in SITE_MONTHS]
    forecasts = {s["site"]: s for s in (fc["sites"] if fc else [])}

    rows: list[list[str]] = []

    def per_month(total: int | None, months: int) -> str:
        if months == 0:  # --monthly 1 has no first half
            return "—"
        # a half's total is unknown when one of its months is suppressed, and may be large
        return WITHHELD if total is None else f"{total / months:.1f}"

    for inc in enrollment["incidence"]:
        trend = inc["trend_potentially_eligible"]
        cells = [
            per_month(trend["first_half_total"], trend["first_half_months"]),
            per_month(trend["second_half_total"], trend["second_half_months"]),
        ]
        site = forecasts.get(inc["site_id"])
        if site is not None:
            cells += expected_cells(site)
        elif fc:  # ALL: the total's simulated band
            cells += band_cells(fc["band"])
        else:
            cells += [""] * len(SITE_MONTHS)
        rows.append([inc["site_id"], *cells])

    print_site_table(("site", "1st half /month", "2nd half /month", *horizons), rows, console)
    if enrollment.get("sites_withheld"):
        console.print(hanging([("  per site —", enrollment["sites_withheld"])]))
    if enrollment.get("months_withheld"):
        console.print(hanging([("  months —", enrollment["months_withheld"])]))
    if not fc:
        return
    if fc["time_to_target"]:
        console.print(f"  {time_to_target_text(fc['time_to_target'])}")
    for note in fallback_notes(fc) + [c for c in fc["cautions"] if c not in shown_once]:
        console.print(hanging([("  model:", note)]))


def fallback_notes(fc: dict) -> list[str]:
    """The prior's note when the forecast fell back from the fitted prior (too few sites, no
    spread between them, no incidence): the fitted prior is the model's usual case, and a
    fallback changes how the figures read."""
    return [] if fc["prior"]["method"] == "empirical_bayes" else [fc["prior"]["note"]]


def _forecasts(trials: list[dict]) -> list[dict]:
    return [t["enrollment"]["forecast"] for t in trials if (t.get("enrollment") or {}).get("forecast")]


def _shared_cautions(trials: list[dict]) -> list[str]:
    """The cautions every trial's forecast carries (those of the options and the months, such
    as a period under a year), said once under the trials rather than under each."""
    forecasts = _forecasts(trials)
    return (
        [c for c in forecasts[0]["cautions"] if all(c in fc["cautions"] for fc in forecasts)]
        if forecasts
        else []
    )


def _print_forecast_terms(trials: list[dict], shared: Sequence[str], console: Console) -> None:
    """What every trial's forecast assumed, once under them all: the same options (and the
    same months) make the same conversions for each trial, and the cautions they share
    (`shared`, see `_shared_cautions`)."""
    forecasts = _forecasts(trials)
    if not forecasts:
        return
    lines = [("Forecast:", _conversions(forecasts[0]["sites"]))]
    lines += [("", caution) for caution in shared]
    console.print(hanging(lines))


def _conversions(sites: list[dict]) -> str:
    """The conversion each site's expected enrollment used: once when every site has the same."""
    shares = {s["conversion"] for s in sites}
    used = (
        f"{shares.pop():g} at every site"
        if len(shares) == 1
        else ", ".join(f"{s['site']} {s['conversion']:g}" for s in sites)
    )
    return f"conversion (the share of potentially eligible patients who enroll): {used}"


def print_report(report: dict, console: Console) -> None:
    """Per trial: the waterfall of every site together (ALL) and each site's totals."""
    protection = report["protection"]
    k = suppressed_label(protection)
    shared = _shared_cautions(report["trials"])  # said once, under the trials
    if not protection["shareable"]:
        console.print("[bold red]Exact counts (--min-cell 0): for use inside the site only, do not share.[/]")
    index = report["provenance"]["index_date"]
    given = report["provenance"].get("options", {}).get("as_of")
    source = "--as-of" if given else "the latest event date in the extract; --as-of to change"
    basis = index_basis(index)
    if basis == "own":
        console.print(
            "Index date: each patient's own, from the extract's index_date column (every patient has one)"
        )
    elif basis == "own, else default":
        console.print(
            f"Index date: each patient's own, from the extract's index_date column; "
            f"{index['default']} ({source}) for patients without one"
        )
    else:
        console.print(f"Index date {index['default']} ({source})")
    # the licence or citation the extract's data must carry (the site's text, never markup)
    notices = report["provenance"]["extract"].get("notices") or []
    if notices:
        console.print(hanging([("Data notice:" if i == 0 else "", escape(n)) for i, n in enumerate(notices)]))
    for trial in report["trials"]:
        texts = {c["id"]: c for c in trial["criteria"]}
        block = trial["sites"][0]  # ALL comes first
        # ids, titles and sites are the user's text, never markup
        # a trial file without a title is titled by its id: shown once
        titled = f" — {escape(trial['title'])}" if trial["title"] != trial["id"] else ""
        heading = f"[bold]{escape(trial['id'])}[/]{titled}  (site {escape(block['site_id'])})"
        rows, assessable, texts_shown = [], [], []
        for step in block["waterfall"]:
            c = texts.get(step["criterion_id"])
            kind = {"inclusion": "inc", "exclusion": "exc", "base": ""}[step["kind"]]
            assessable.append(c is None or c["assessable"])
            if not assessable[-1]:
                kind += " n/a"
            counts = [_step_count(step, key, protection) for key in COUNTS]
            rows.append([str(step["step"]), step["criterion_id"], kind, *counts])
            # the protocol's line breaks would make a row of several lines: one line, cut short
            texts_shown.append(" ".join(c["text"].split()) if c else "all patients")
        # a title wraps at words on its own line; as the table's title it was cut with the table
        console.print(heading, overflow="fold")
        table, note = _waterfall_table(rows, assessable, texts_shown, console.width)
        console.print(table)
        if note:
            console.print(note)
        if len(trial["sites"]) > 2:
            blocks = site_blocks(trial)
            many = ranks_sites(trial)
            sites = [
                f"{s['site_id']}: {count_label(s['eligible'], k)} eligible, "
                f"{count_label(s['potentially_eligible'], k)} potentially"
                for s in (ranked_sites(blocks) if many else blocks)
            ]
            labels = ["  per site —"] + [""] * (len(sites) - 1)
            if many:  # said on a line of its own: as a label it would squeeze the list
                console.print(f"  per site: {len(blocks)} sites, most potentially eligible first")
                labels = ["  "] * len(sites)
            console.print(hanging(list(zip(labels, sites, strict=True))))
        elif trial.get("sites_withheld"):
            console.print(hanging([("  per site —", trial["sites_withheld"])]))
        if trial.get("enrollment"):
            _print_enrollment(trial["enrollment"], console, shared)
        console.print()
    _print_forecast_terms(report["trials"], shared, console)
    console.print(hanging([("Key:", terminal_key(protection))]), style="dim")
    console.print()
    warnings = report["data_quality"].get("warnings") or []
    if warnings:
        console.print("[yellow]Data quality:[/]")
        console.print(hanging([("  -", line) for line in warnings]))

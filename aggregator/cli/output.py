"""What every command prints the same way: tables, times in the reporter's zone, config problems, one-line errors."""

from __future__ import annotations

import re
from datetime import datetime

import click

from aggregator.config.settings import Settings
from aggregator.config.sources import SourceCatalog
from aggregator.parse.dates import bounded
from aggregator.search.highlight import MARK_END, MARK_START
from aggregator.text import show_controls


def fmt_time(value: datetime | None, settings: Settings) -> str:
    """A stored (UTC) time in the reporter's zone, to the minute; "-" for none."""
    if value is None:
        return "-"
    return bounded(value).astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")  # stored dates may be extreme


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Rows as left-aligned columns under a header and a rule."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def report_problems(catalog: SourceCatalog) -> None:
    """Say on stderr which entries of sources.toml were skipped and why."""
    for problem in catalog.problems:
        click.echo(f"config error (source skipped): {problem.message}", err=True)


def one_line(exc: Exception) -> str:
    """An error message on one line, as every command prints errors."""
    return " ".join(str(exc).split())


def terminal_safe(text: str, *, keep_marks: bool = False) -> str:
    """`text` for one line of a terminal: controls, line breaks and bidi overrides shown as escapes, never obeyed.

    With `keep_marks`, the search highlighter's markers pass through for `render_marks` to style.
    """
    if not keep_marks:
        return show_controls(text, breaks=True)
    pieces = re.split(f"([{MARK_START}{MARK_END}])", text)
    return "".join(p if p in (MARK_START, MARK_END) else show_controls(p, breaks=True) for p in pieces)

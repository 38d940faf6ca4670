"""The `search` command: a page of hits as a table with highlighted snippets, or as JSON, JSON lines or CSV."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
import textwrap
from typing import Any, cast

import click

from aggregator.cli.options import pass_ctx
from aggregator.cli.output import fmt_time, table, terminal_safe
from aggregator.cli.query import QueryCommand, query_errors, query_topics
from aggregator.search.export import csv_cell, iso
from aggregator.search.highlight import MARK_END, MARK_START, highlight
from aggregator.search.hits import MAX_LIMIT, Hit, SearchPage, Sort
from aggregator.search.hits import search as run_search
from aggregator.search.query import parse, positive_texts
from aggregator.services.context import Context

FORMATS = ("table", "json", "jsonl", "csv")
HIT_FIELDS = [
    "item_id", "title", "url", "source_id", "language", "published_at", "first_seen_at", "story_id", "topics",
    "score", "snippet", "highlights",
]  # fmt: skip
# Plain-text highlighting where colours cannot be shown: Markdown's bold, since «» and "" are everyday quotes in
# Spanish and English news.
PLAIN_MARKS = ("**", "**")
# Control characters (C0, DEL, C1) would move the cursor or recolour the terminal, and bidi overrides would
# reorder what is shown: a feed's title must not do either. The highlight markers are kept for the renderer.


@click.command(cls=QueryCommand)
@click.argument("query")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True,
              help="Best matches first (BM25 / ts_rank, title weighted most), or newest first.")  # fmt: skip
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True, help="Hits to show.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Hits to skip (paging).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="json: one object with the total and the hits; jsonl and csv: one hit per line.")  # fmt: skip
@pass_ctx
def search(obj: Context, query: str, sort: str, limit: int, offset: int, fmt: str) -> None:
    """Search the stored items with the query language, e.g. 'cartel -sinaloa topic:nexus since:2026-01'.

    Words match whole words, case- and accent-insensitively ("cartel" finds "Cártel"); "a phrase"; extradit*
    for a prefix; a OR b, NOT a or -a, parentheses; filters topic:, source:, lang:, tier:, since:, until:
    (days, months or years), story:N and score>=0.8. In JSON and CSV, `snippet` is plain text and
    `highlights` lists the [start, end) character offsets of the matched words in it.
    """
    db = obj.database()
    with query_errors(), db.session() as session:
        page = run_search(
            session, query, sort=cast(Sort, sort), limit=limit, offset=offset, topics=query_topics(obj),
            zone=obj.settings.zone,
        )  # fmt: skip
    db.close()
    if fmt == "table":
        _printtable(obj, page, query, sort, offset)
    elif fmt == "json":
        body = {
            "query": query, "sort": sort, "offset": offset, "limit": limit, "total": page.total,
            "total_exact": page.total_exact, "ranked": page.ranked, "hits": [hit_row(h) for h in page.hits],
        }  # fmt: skip
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        for hit in page.hits:
            click.echo(json.dumps(hit_row(hit), ensure_ascii=False))
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=HIT_FIELDS)
        writer.writeheader()
        terminal = sys.stdout.isatty()
        for hit in page.hits:
            writer.writerow({k: csv_cell(v, terminal=terminal) for k, v in _csv_row(hit_row(hit)).items()})


# --- machine-readable rows ---------------------------------------------------------------------------------------


def hit_row(hit: Hit) -> dict[str, Any]:
    """A hit as plain JSON values: ISO times, the snippet without markers and the offsets of its matches."""
    snippet, spans = unmark(hit.snippet)
    return {
        "item_id": hit.item_id, "title": hit.title, "url": hit.url, "source_id": hit.source_id,
        "language": hit.language, "published_at": iso(hit.published_at), "first_seen_at": iso(hit.first_seen_at),
        "story_id": hit.story_id, "topics": hit.topics, "score": hit.score, "snippet": snippet,
        "highlights": [list(span) for span in spans],
    }  # fmt: skip


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    return dict(
        row,
        topics=" ".join(f"{t}:{s}" for t, s in row["topics"].items()),
        highlights=" ".join(f"{a}-{b}" for a, b in row["highlights"]),
        score="" if row["score"] is None else row["score"],
    )


def unmark(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """Text marked by aggregator.search.highlight without its markers, and the (start, end) of each marked span."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    at, start = 0, None
    for piece in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if piece == MARK_START:
            start = at
        elif piece == MARK_END:
            if start is not None:
                spans.append((start, at))
            start = None
        else:
            out.append(piece)
            at += len(piece)
    return "".join(out), spans


# --- the terminal table ------------------------------------------------------------------------------------------


def _printtable(obj: Context, page: SearchPage, query: str, sort: str, offset: int) -> None:
    settings = obj.settings
    styled = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100
    click.echo(_header(page, sort, offset))
    if page.ranked is not None:
        click.echo(
            f"note: relevance was computed over the newest {page.ranked:,} matches only; "
            "--sort date lists every match, newest first"
        )
    if not page.hits:
        return
    terms = positive_texts(parse(query).root)
    rows = [
        [
            str(hit.item_id),
            fmt_time(hit.published_at or hit.first_seen_at, settings),
            terminal_safe(hit.source_id),
            terminal_safe(hit.language or "-"),
            ", ".join(f"{t} {s:.2f}" for t, s in hit.topics.items()) or "-",
            _clip(terminal_safe(highlight(hit.title, terms), keep_marks=True), 90),
        ]
        for hit in page.hits
    ]
    lines = table(rows, ["id", f"date ({settings.timezone})", "source", "lang", "topics", "title"]).splitlines()
    indent = " " * (max(len("id"), *(len(r[0]) for r in rows)) + 2)
    click.echo("\n".join(line.rstrip() for line in lines[:2]))
    for line, hit in zip(lines[2:], page.hits, strict=True):
        click.echo(render_marks(line.rstrip(), styled))
        snippet = terminal_safe(hit.snippet, keep_marks=True)
        for part in _wrap(snippet, max(40, width - len(indent))):
            click.echo(indent + render_marks(part, styled))


def _header(page: SearchPage, sort: str, offset: int) -> str:
    count = f"{page.total:,}" + ("" if page.total_exact else "+")
    header = f"{count} {'match' if page.total == 1 and page.total_exact else 'matches'}"
    if page.hits and (offset or len(page.hits) < page.total):
        header += f", showing {offset + 1}–{offset + len(page.hits)}"
    ranked = sort == "relevance" and any(hit.score is not None for hit in page.hits)
    if page.hits:
        header += ", by relevance" if ranked else ", newest first"
    return header


def render_marks(marked: str, styled: bool) -> str:
    """Turn highlight markers into bold colour (a terminal) or PLAIN_MARKS; a span left open by a cut ends here."""
    out: list[str] = []
    inside = False
    for piece in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if piece in (MARK_START, MARK_END):
            inside = piece == MARK_START
        elif inside and piece:
            out.append(click.style(piece, fg="yellow", bold=True) if styled else piece.join(PLAIN_MARKS))
        else:
            out.append(piece)
    return "".join(out)


def _wrap(marked: str, width: int) -> list[str]:
    """Wrap a marked text at spaces; a marked phrase split over two lines is marked on both."""
    lines = textwrap.wrap(marked, width=width, break_on_hyphens=False)
    for i, line in enumerate(lines[:-1]):
        if line.rfind(MARK_START) > line.rfind(MARK_END):
            lines[i] += MARK_END
            lines[i + 1] = MARK_START + lines[i + 1]
    return lines


def _clip(marked: str, limit: int) -> str:
    """At most `limit` visible characters of a marked text, cut with "…"."""
    visible = len(marked) - marked.count(MARK_START) - marked.count(MARK_END)
    if visible <= limit:
        return marked
    out, shown = [], 0
    for ch in marked:
        if ch not in (MARK_START, MARK_END):
            if shown == limit - 1:
                break
            shown += 1
        out.append(ch)
    return "".join(out) + "…"

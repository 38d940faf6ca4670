"""The `snapshot` command: an item's captured versions (when, where in which WARC file), or one of them as served."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aggregator.cli.options import pass_ctx
from aggregator.cli.output import fmt_time, terminal_safe
from aggregator.errors import AggregatorError, CaptureError
from aggregator.models import Capture, Item
from aggregator.services.context import Context
from aggregator.store.captures import Versions, item_versions
from aggregator.store.warc import read_record


@click.command()
@click.argument("item_id", type=int)
@click.option(
    "--version", "number", type=click.IntRange(min=1), metavar="N", help="The Nth captured version (1 = first)."
)
@click.option("--first", is_flag=True, help="The first captured version: the page as first fetched.")
@click.option("--feed", is_flag=True, help="The feed body in which the item was first seen, not its page.")
@click.option(
    "--out", "out", metavar="FILE", help="Write the captured body there ('-': standard output, never a terminal)."
)
@pass_ctx
def snapshot(obj: Context, item_id: int, number: int | None, first: bool, feed: bool, out: str | None) -> None:
    """Show ITEM_ID's captured versions and where they are; --out FILE writes one as captured.

    Without --version or --first, --out writes the latest version of the article page (the feed body, for an item
    whose page was never fetched). The body is written as the outlet served it, compression undone.
    """
    if number is not None and first:
        raise click.UsageError("--version and --first name different versions: give one")
    db = obj.database()
    with db.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise AggregatorError(f"snapshot: no item with id {item_id}")
        versions = item_versions(session, item)
        session.expunge_all()
    db.close()
    if out is None:
        _show(obj, item, versions)
        return
    chosen, what = _choose(item_id, versions, number=1 if first else number, feed=feed)
    if chosen.warc_file is None or chosen.offset is None or chosen.length is None:
        raise CaptureError(f"snapshot: {what} of item {item_id} is not available: {chosen.error}")
    captured = read_record(obj.settings.data_path, chosen.warc_file, chosen.offset, chosen.length)
    when = fmt_time(chosen.captured_at, obj.settings)
    if out == "-":
        if sys.stdout.isatty():
            raise AggregatorError("snapshot: an outlet's page is not written to a terminal; give --out FILE or a pipe")
        sys.stdout.buffer.write(captured.body)
        sys.stdout.flush()
        click.echo(f"{what}, captured {when}", err=True)
        return
    try:
        Path(out).write_bytes(captured.body)
    except OSError as exc:
        raise CaptureError(f"snapshot: cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {out}: {what}, captured {when} from {terminal_safe(chosen.url)}")


def _choose(item_id: int, versions: Versions, *, number: int | None, feed: bool) -> tuple[Capture, str]:
    """The capture asked for, and how to name it."""
    if feed:
        if versions.feed is None:
            raise CaptureError(f"snapshot: no captured feed body carried item {item_id}")
        return versions.feed, "the feed body that first carried it"
    pages = versions.pages
    if not pages:
        if number is None and versions.feed is not None:
            return versions.feed, "the feed body that first carried it (its page was never captured)"
        raise CaptureError(f"snapshot: item {item_id} has no captured page{_failure_note(versions)}")
    if number is None:
        return pages[-1], f"version {len(pages)} of {len(pages)} (the latest)"
    if number > len(pages):
        raise CaptureError(f"snapshot: item {item_id} has {len(pages)} captured version(s), not {number}")
    return pages[number - 1], f"version {number} of {len(pages)}"


def _failure_note(versions: Versions) -> str:
    return f" ({versions.failures[0].error})" if versions.failures else ""


def _show(obj: Context, item: Item, versions: Versions) -> None:
    settings = obj.settings
    click.echo(f"[{item.id}] {terminal_safe(item.title)}\n    {terminal_safe(item.url)}  ({item.source_id})")
    if not versions.pages and versions.feed is None and not versions.failures:
        click.echo("  nothing captured (captures are kept from the first crawl with [capture] enabled on)")
        return
    for n, page in enumerate(versions.pages, 1):
        click.echo(
            f"  version {n}  captured {fmt_time(page.captured_at, settings)}  {page.digest}  "
            f"{page.warc_file} offset {page.offset} length {page.length}"
        )
    if versions.edited:
        first = fmt_time(versions.pages[0].captured_at, settings)
        click.echo(f"  edited: captured {len(versions.pages)} versions, first on {first}")
    if versions.feed is not None:
        f = versions.feed
        click.echo(
            f"  feed body  captured {fmt_time(f.captured_at, settings)}  {terminal_safe(f.url)}  "
            f"{f.warc_file} offset {f.offset} length {f.length}"
        )
    for failure in versions.failures:
        click.echo(f"  not captured {fmt_time(failure.captured_at, settings)}: {terminal_safe(failure.error or '')}")
    click.echo(f"  write one: aggregator snapshot {item.id} [--first | --version N | --feed] --out FILE")

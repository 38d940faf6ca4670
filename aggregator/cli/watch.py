"""The `watch` commands: add, list, test and remove the watches of watches.toml, and report a watch run."""

from __future__ import annotations

from datetime import tzinfo

import click
from sqlalchemy import select

from aggregator.classify.topics import TopicSet
from aggregator.cli.options import pass_ctx
from aggregator.cli.output import fmt_time, table, terminal_safe
from aggregator.config.watch_file import add_watch, remove_watch
from aggregator.config.watches import CHANNELS, load_watches
from aggregator.errors import ConfigError
from aggregator.models import WatchCursor, WatchDelivery
from aggregator.search.hits import search
from aggregator.services.context import Context
from aggregator.services.watching import WatchRun
from aggregator.watches.health import watch_health
from aggregator.watches.match import SENT, matching_ids, newest_item_id
from aggregator.watches.notify import masked


@click.group()
def watch() -> None:
    """Add, list, test and remove watches: alerts on new matches of a query (config/watches.toml)."""


@watch.command("add")
@click.argument("watch_id", metavar="ID")
@click.argument("query")
@click.option("--deliver", "-d", "deliver", multiple=True, type=click.Choice(CHANNELS), help="Channel (repeatable).")
@click.option("--webhook", default="", metavar="URL", help="Where webhook alerts are POSTed.")
@click.option("--notify", "notify", multiple=True, metavar="URL", help="An Apprise URL for -d notify (repeatable).")
@click.option("--every", default="now", show_default=True, help='"now", or a batch period such as 1h.')
@click.option("--quiet", "quiet_hours", default="", metavar="HH:MM-HH:MM", help="Hours (your timezone) of silence.")
@click.option("--max-per-message", type=int, default=None, help="Items in one message (default 50).")
@pass_ctx
def add(obj: Context, watch_id: str, query: str, deliver: tuple[str, ...], webhook: str, notify: tuple[str, ...],
        every: str, quiet_hours: str, max_per_message: int | None) -> None:  # fmt: skip
    """Add watch ID on QUERY to watches.toml (comments kept); it alerts on items stored from now on."""
    entry: dict[str, object] = {"id": watch_id, "query": query, "deliver": tuple(deliver or ("atom",))}
    entry |= {"webhook": webhook, "notify": notify, "quiet": quiet_hours}
    if every != "now":  # the default is left out of the file (an empty `every` would not validate)
        entry["every"] = every
    if max_per_message is not None:
        entry["max_per_message"] = max_per_message
    new = add_watch(obj.config_dir, entry)
    where = obj.config_dir / "watches.toml"
    click.echo(f"added watch {new.id} ({', '.join(new.deliver)}, every {new.every}) to {where}")


@watch.command("remove")
@click.argument("watch_id", metavar="ID")
@pass_ctx
def remove(obj: Context, watch_id: str) -> None:
    """Remove watch ID from watches.toml; what it already delivered stays in the log."""
    remove_watch(obj.config_dir, watch_id)
    click.echo(f"removed watch {watch_id}")


@watch.command("list")
@pass_ctx
def list_watches(obj: Context) -> None:
    """Every watch with each channel's state: alerts waiting, sent, the last error and the next try."""
    catalog = load_watches(obj.config_dir)
    for problem in catalog.problems:
        click.echo(f"config error (watch skipped): {problem.message}", err=True)
    if not catalog.watches:
        click.echo(f"no watches in {catalog.path} (add one: aggregator watch add ID QUERY)")
        return
    settings = obj.settings
    db = obj.database()
    with db.session() as session:
        health = watch_health(session, catalog.watches)
    db.close()
    queries = {w.id: w for w in catalog.watches}
    rows = [
        [h.watch_id, h.channel, h.status, str(h.pending), str(h.sent), fmt_time(h.last_sent_at, settings),
         fmt_time(h.next_attempt_at, settings) if h.pending else "-",
         terminal_safe(h.query_error or h.last_error or queries[h.watch_id].query)[:80]]
        for h in health
    ]  # fmt: skip
    headers = ["watch", "channel", "status", "waiting", "sent", "last sent", "next try", "error / query"]
    click.echo(table(rows, headers))
    for w in catalog.watches:
        if w.notify:  # masked: an Apprise URL carries the service's token
            click.echo(f"{w.id} notifies {', '.join(masked(url) for url in w.notify)}")


@watch.command("test")
@click.argument("watch_id", metavar="ID")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True, help="Newest matches shown.")
@pass_ctx
def test(obj: Context, watch_id: str, limit: int) -> None:
    """Show what watch ID matches now (its newest matches, and those it would alert on next) without sending."""
    catalog = load_watches(obj.config_dir)
    watch_config = catalog.by_id().get(watch_id)
    if watch_config is None:
        raise ConfigError(f"watch: no valid watch '{watch_id}' in {catalog.path} (see `aggregator watch list`)")
    settings = obj.settings
    try:
        topics: TopicSet | None = obj.topics()
    except ConfigError:  # as run_watches: without topics.toml, topic: names only the stored topics
        topics = None
    db = obj.database()
    with db.session() as session:
        page = search(session, watch_config.query, sort="date", limit=limit, topics=topics, zone=settings.zone)
        cursor = session.get(WatchCursor, watch_id)
        top = newest_item_id(session)
        after = cursor.last_item_id if cursor is not None else top
        upcoming = set(matching_ids(session, watch_config, after, top, topics=topics, zone=settings.zone))
        shown = [hit.item_id for hit in page.hits]
        delivered = set(
            session.scalars(
                select(WatchDelivery.item_id).where(
                    WatchDelivery.watch_id == watch_id, WatchDelivery.item_id.in_(shown), WatchDelivery.state == SENT
                )
            )
        )
    db.close()
    total = f"{page.total:,}" + ("" if page.total_exact else "+")
    click.echo(f"watch {watch_id}: {terminal_safe(watch_config.query)} -> {total} stored item(s) match; "
               f"{len(upcoming)} not yet looked at would be alerted on next (nothing is sent now)")  # fmt: skip
    rows = [
        [str(hit.item_id), fmt_time(hit.published_at or hit.first_seen_at, settings), hit.source_id,
         "next" if hit.item_id in upcoming else ("sent" if hit.item_id in delivered else "-"),
         terminal_safe(hit.title)[:80]]
        for hit in page.hits
    ]  # fmt: skip
    if rows:
        click.echo(table(rows, ["item", f"date ({settings.timezone})", "source", "alert", "title"]))


def report_watches(run: WatchRun, zone: tzinfo, *, quiet: bool = False) -> None:
    """What a watch run did, after a crawl: alerts sent per watch, failures and problems on stderr."""
    for problem in run.problems:
        click.echo(f"watch problem: {problem}", err=True)
    for channel in run.channels:
        if channel.error:
            click.echo(f"warning: watch {channel.watch_id}: {channel.channel} failed, retried later: "
                       f"{channel.error}", err=True)  # fmt: skip
        elif channel.sent and not quiet:
            click.echo(f"watch {channel.watch_id}: {channel.sent} alert(s) sent by {channel.channel}")
        elif channel.held_until is not None and not quiet:
            click.echo(f"watch {channel.watch_id}: quiet hours, {channel.channel} alerts held until "
                       f"{channel.held_until.astimezone(zone):%Y-%m-%d %H:%M}")  # fmt: skip


def show_watch_status(obj: Context) -> None:
    """`status`'s lines on the watches: how many, alerts waiting, and every channel that is failing or broken."""
    catalog = load_watches(obj.config_dir)
    if not catalog.watches and not catalog.problems:
        return
    db = obj.database()
    with db.session() as session:
        health = watch_health(session, catalog.watches)
    db.close()
    waiting = sum(h.pending for h in health)
    bad = [h for h in health if h.status in ("failing", "broken")]
    click.echo(f"watches: {len(catalog.watches)}, {waiting} alert(s) waiting, {len(bad)} channel(s) failing")
    for problem in catalog.problems:
        click.echo(f"  config error (watch skipped): {terminal_safe(problem.message)[:140]}")
    for h in bad:
        why = terminal_safe(h.query_error or h.last_error or "")[:100]
        failing = h.status == "failing"
        retry = f" (try {h.attempts}, next {fmt_time(h.next_attempt_at, obj.settings)})" if failing else ""
        click.echo(f"  {h.status}: {h.watch_id} {h.channel}: {why}{retry}")

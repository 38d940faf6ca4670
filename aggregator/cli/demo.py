"""The `demo` command: serve the sample outlets on 127.0.0.1, crawl them into SQLite, show what came in."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from lxml import etree
from sqlalchemy import func, select

from aggregator.classify.topics import load_topics
from aggregator.cli.crawl import crawl_and_report
from aggregator.cli.options import pass_ctx
from aggregator.cli.output import terminal_safe
from aggregator.cli.watch import report_watches
from aggregator.demo import DEMO_DIR, DEMO_NETWORK, SITE_DIR, demo_catalog, demo_settings
from aggregator.demo.server import SiteServer
from aggregator.digest import archive
from aggregator.digest.atom import ATOM
from aggregator.digest.render import render
from aggregator.models import Item, ItemTopic, Sighting
from aggregator.schedule.scheduler import configure_logging, run
from aggregator.services.context import Context
from aggregator.services.digest import prepare
from aggregator.services.watching import run_watches, watch_mark
from aggregator.store.database import Database
from aggregator.trace.reading import plain_text
from aggregator.trace.render import render_trace
from aggregator.trace.tracing import trace_text
from aggregator.watches.atom import feed_path

TRACE_SAMPLE = "trace-sample.md"  # a short post written for the demo, with claims like the seed post's


@click.command()
@click.option("--keep-serving", is_flag=True, help="Keep the demo outlets' server running after the crawl.")
@click.option("--run", "scheduler", is_flag=True, help="Then run the scheduler on the demo outlets until Ctrl-C.")
@pass_ctx
def demo(obj: Context, keep_serving: bool, scheduler: bool) -> None:
    """Run the whole pipeline offline on sample outlets served from 127.0.0.1."""
    run_demo(obj, keep_serving=keep_serving, scheduler=scheduler)


def run_demo(obj: Context, *, keep_serving: bool, scheduler: bool = False) -> None:
    settings = demo_settings(obj.settings)
    data = settings.data_path
    click.echo(f"the demo writes under {data}: demo.sqlite, demo-config/, demo-digests/, the classifier")
    if obj.db_url:
        url = obj.db_url
    else:
        path = data / "demo.sqlite"
        _keep_previous(path)
        url = f"sqlite:///{path}"
    with SiteServer(SITE_DIR) as server:
        click.echo(f"demo outlets served at {server.base}/ (fictional sample outlets, see {SITE_DIR}/MANIFEST.md)")
        config = _write_config(obj, settings, server.base)
        catalog = demo_catalog(server.base)
        db = Database(url)
        mark = watch_mark(db)
        click.echo("\n== first crawl: every source is new ==")
        crawl_and_report(obj, db, catalog, None, quiet=False, settings=settings)
        _alert(Context(config_dir=config, db_url=url), db, mark)
        click.echo("\n== second crawl: conditional GET, nothing re-parsed ==")
        crawl_and_report(obj, db, catalog, [s.id for s in catalog.sources], quiet=True, settings=settings)
        _show(db, settings)
        html = _digest(obj, db, settings)
        _trace(db, settings, catalog)
        day = html.stem.removeprefix("digest-")
        db.close()
        demo = f"aggregator --config {config} --db {url}"
        click.echo(f"\ndatabase: {url}\nconfig of the demo outlets: {config}")
        click.echo(f"try:  {demo} sources check")
        click.echo(f"      {demo} export --format jsonl | head -3")
        click.echo(f"      {demo} digest --date {day} --format md   (the archived demo digest)")
        click.echo(f"      {demo} trace {SITE_DIR / TRACE_SAMPLE}   (a text's claims traced to the items)")
        click.echo(f"\nthe demo digest, to read in a browser: {html}")
        if scheduler:
            click.echo(f"\n== aggregator run on the demo outlets (config {config}); Ctrl-C to stop ==")
            configure_logging("plain", verbose=obj.verbose, zone=settings.zone)
            run(Context(config_dir=config, db_url=url, verbose=obj.verbose))
        elif keep_serving:
            click.echo(f"serving {server.base}/ until Ctrl-C")
            try:
                server.thread.join()
            except KeyboardInterrupt:
                pass


def _keep_previous(path: Path) -> None:
    """Each demo starts from an empty database; a previous one (and the labels given there) is kept aside."""
    if not path.exists():
        for suffix in ("-wal", "-shm", "-migrate.lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            Path(f"{path}{suffix}").replace(f"{kept}{suffix}")
    Path(f"{path}-migrate.lock").unlink(missing_ok=True)
    click.echo(f"kept the previous demo database as {kept}")


def _write_config(obj: Context, settings: Any, base: str) -> Path:
    """A config directory for the demo outlets (as served now), so the commands the demo prints work as printed."""
    config = settings.data_path / "demo-config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "sources.toml").write_text(
        (DEMO_DIR / "sources.toml").read_text(encoding="utf-8").replace("@@BASE@@", base), encoding="utf-8"
    )
    shutil.copy(obj.config_dir / "topics.toml", config / "topics.toml")
    (config / "settings.toml").write_text(
        f'data_dir = "{settings.data_path}"\ntimezone = "{settings.timezone}"\n'
        '[crawl]\ndownload_delay = 0\nautothrottle = false\nmin_interval = "1m"\ndefault_interval = "2m"\n'
        f'allow_networks = ["{DEMO_NETWORK}"]\n'
        '[digest]\noutput_dir = "demo-digests"\ntitle = "Beat digest (demo)"\n[schedule]\ntick = "20s"\n',
        encoding="utf-8",
    )
    return config


DEMO_WATCH = """# The demo's watch: an alert once a terrorist designation is stored, in an Atom feed (nothing leaves
# the machine). `aggregator watch --help` for mail and webhooks.
[[watch]]
id = "designations"
query = '(terrorist OR terrorista) (designates OR designa OR designation OR designación)'
deliver = ["atom"]
"""


def _alert(ctx: Context, db: Database, mark: int) -> None:
    """Add the demo's watch, run it over what the first crawl stored, and show its alert (an Atom feed)."""
    (ctx.config_dir / "watches.toml").write_text(DEMO_WATCH, encoding="utf-8")
    run = run_watches(ctx, db, start_after=mark)
    click.echo("\n== a watch: alerts within the crawl that stored the item (config watches.toml) ==")
    report_watches(run, ctx.settings.zone)
    feed = feed_path(ctx.settings.data_path, "designations")
    if feed.exists():
        parsed = etree.fromstring(feed.read_bytes())
        for entry in parsed.iter(f"{{{ATOM}}}entry"):
            title, summary = entry.findtext(f"{{{ATOM}}}title"), entry.findtext(f"{{{ATOM}}}summary")
            click.echo(f"  alert: {terminal_safe(title or '')[:90]} ({terminal_safe(summary or '')})")
        click.echo(f"the watch's Atom feed: {feed} (and /watches/designations.atom in `aggregator serve`)")


def _digest(obj: Any, db: Database, settings: Any) -> Path:
    """Build the demo's digest, closing it now (a real digest closes at the configured time), and print it."""
    now = datetime.now(UTC)
    prepare(obj, db, now=now)
    with db.session() as session:
        built = archive.build(
            session, settings, load_topics(obj.config_dir), now.astimezone(settings.zone).date(), now=now, end=now
        )
        content = built.digest.content
        written = archive.write_outputs(session, settings, content)
    click.echo("\n== the digest: stories, not duplicates; every summary sentence quoted from a linked item ==\n")
    click.echo(render(content, "txt", title=settings.digest.title))
    return written["html"]


def _show(db: Database, settings: Any) -> None:
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(Item)) or 0
        with_text = session.scalar(select(func.count()).select_from(Item).where(Item.text != "")) or 0
        carried = session.scalar(select(func.count()).select_from(Sighting)) or 0
        by_lang = session.execute(select(Item.language, func.count()).group_by(Item.language)).all()
        by_topic = session.execute(
            select(ItemTopic.topic, func.count()).where(ItemTopic.passed.is_(True)).group_by(ItemTopic.topic)
        ).all()
        latest = session.execute(
            select(Item.id, Item.published_at, Item.source_id, Item.language, Item.title)
            .order_by(Item.published_at.desc().nulls_last())
            .limit(12)
        ).all()
        tags: dict[int, list[str]] = {}
        for item_id, topic, score in session.execute(
            select(ItemTopic.item_id, ItemTopic.topic, ItemTopic.score).where(ItemTopic.passed.is_(True))
        ):
            tags.setdefault(item_id, []).append(f"{topic} {score:.2f}")
        example = session.execute(
            select(ItemTopic.item_id, ItemTopic.topic, ItemTopic.explanation)
            .where(ItemTopic.passed.is_(True), ItemTopic.topic == "terrorism")
            .order_by(ItemTopic.item_id)
            .limit(1)
        ).first()
    langs = ", ".join(f"{lang or '?'}: {n}" for lang, n in by_lang)
    click.echo(
        f"\n{total} items stored ({langs}); {with_text} with full text; "
        f"{carried - total} copies of the same article folded into existing items"
    )
    click.echo("tagged: " + (", ".join(f"{topic} {n}" for topic, n in by_topic) or "nothing (no classifier)"))
    click.echo(f"newest items (times in {settings.timezone}), with their topics:")
    for item_id, published, source_id, lang, title in latest:
        when = published.astimezone(settings.zone).strftime("%m-%d %H:%M") if published else "     -     "
        topics = ", ".join(tags.get(item_id, [])) or "no topic"
        click.echo(f"  {when}  [{item_id}] [{lang or '?'}] {title[:70]}  ({source_id}; {topics})")
    if example is not None:
        item_id, topic, explanation = example
        hits = ", ".join(f"{h.get('term')} ({h.get('weight')})" for h in explanation.get("hits", [])[:5])
        words = ", ".join(str(f[0]) for f in explanation.get("features", [])[:5])
        click.echo(f"why item {item_id} is about {topic}: rules matched {hits or 'nothing'}; model words: {words}")
        click.echo(f"      (aggregator --db ... explain {item_id} shows every topic's reasons)")


def _trace(db: Database, settings: Any, catalog: Any) -> None:
    """Trace the demo's sample post against the demo items: each claim with the items (en and es) that bear on it."""
    text = plain_text((SITE_DIR / TRACE_SAMPLE).read_text(encoding="utf-8"))
    with db.session() as session:
        traced = trace_text(session, text, catalog.sources, zone=settings.zone)
    click.echo(f"\n== trace: the claims of a sample post ({TRACE_SAMPLE}) and the demo items that bear on them ==\n")
    click.echo(render_trace(traced, "text", settings.zone), nl=False)

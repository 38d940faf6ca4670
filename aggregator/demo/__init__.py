"""`aggregator demo`: serve the sample outlets on 127.0.0.1, crawl them into SQLite, show what came in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from aggregator.config.sources import SourceCatalog, parse_sources
from aggregator.demo.server import SiteServer
from aggregator.models import Item, ItemTopic, Sighting
from aggregator.store.database import Database

DEMO_DIR = Path(__file__).parent
SITE_DIR = DEMO_DIR / "site"


def demo_catalog(base: str) -> SourceCatalog:
    """The demo sources with the local server's address filled in."""
    path = DEMO_DIR / "sources.toml"
    return parse_sources(path.read_text(encoding="utf-8").replace("@@BASE@@", base), path)


def demo_settings(settings: Any) -> Any:
    """Politeness delays exist for other people's servers; the demo server is ours."""
    crawl = settings.crawl.model_copy(update={"download_delay": 0.0, "autothrottle": False, "concurrent_per_host": 8})
    digest = settings.digest.model_copy(update={"output_dir": "demo-digests", "title": "Beat digest (demo)"})
    demo = settings.model_copy(update={"crawl": crawl, "digest": digest})
    demo.config_dir = settings.config_dir
    return demo


def run_demo(obj: Any, *, keep_serving: bool, crawl: Callable[..., Any], scheduler: bool = False) -> None:
    settings = demo_settings(obj.settings)
    if obj.db_url:
        url = obj.db_url
    else:
        path = settings.data_path / "demo.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # each demo starts from an empty database
        url = f"sqlite:///{path}"
    with SiteServer(SITE_DIR) as server:
        click.echo(f"demo outlets served at {server.base}/ (fictional sample outlets, see {SITE_DIR}/MANIFEST.md)")
        catalog = demo_catalog(server.base)
        db = Database(url)
        click.echo("\n== first crawl: every source is new ==")
        crawl(obj, db, catalog, None, quiet=False, settings=settings)
        click.echo("\n== second crawl: conditional GET, nothing re-parsed ==")
        crawl(obj, db, catalog, [s.id for s in catalog.sources], quiet=True, settings=settings)
        _show(db, settings)
        html = _digest(obj, db, settings)
        day = html.stem.removeprefix("digest-")
        db.close()
        click.echo(f"\ndatabase: {url}")
        click.echo(f"try:  aggregator --db {url} sources check")
        click.echo(f"      aggregator --db {url} export --format jsonl | head -3")
        click.echo(f"      aggregator --db {url} digest --date {day} --format md   (the archived demo digest)")
        click.echo(f"\nthe demo digest, to read in a browser: {html}")
        if scheduler:
            _run_scheduler(obj, settings, server.base, url)
        elif keep_serving:
            click.echo(f"serving {server.base}/ until Ctrl-C")
            try:
                server.thread.join()
            except KeyboardInterrupt:
                pass


def _run_scheduler(obj: Any, settings: Any, base: str, url: str) -> None:
    """`aggregator run` against the demo outlets until Ctrl-C, from a config directory written for them."""
    import shutil

    from aggregator.cli.main import Context
    from aggregator.schedule.scheduler import configure_logging, run

    config = settings.data_path / "demo-config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "sources.toml").write_text(
        (DEMO_DIR / "sources.toml").read_text(encoding="utf-8").replace("@@BASE@@", base), encoding="utf-8"
    )
    shutil.copy(obj.config_dir / "topics.toml", config / "topics.toml")
    (config / "settings.toml").write_text(
        f'data_dir = "{settings.data_path}"\ntimezone = "{settings.timezone}"\n'
        '[crawl]\ndownload_delay = 0\nautothrottle = false\nmin_interval = "1m"\ndefault_interval = "2m"\n'
        '[digest]\noutput_dir = "demo-digests"\ntitle = "Beat digest (demo)"\n[schedule]\ntick = "20s"\n',
        encoding="utf-8",
    )
    click.echo(f"\n== aggregator run on the demo outlets (config {config}); Ctrl-C to stop ==")
    configure_logging("plain", verbose=obj.verbose)
    run(Context(config_dir=config, db_url=url, verbose=obj.verbose))


def _digest(obj: Any, db: Database, settings: Any) -> Path:
    """Build the demo's digest, closing it now (a real digest closes at the configured time), and print it."""
    from aggregator.classify.topics import load_topics
    from aggregator.cli.digest import prepare
    from aggregator.digest import archive
    from aggregator.digest.render import render

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

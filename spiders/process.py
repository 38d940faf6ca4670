"""Run one crawl in a child process (the Twisted reactor cannot be restarted) and stream its progress."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aggregator.config.settings import Settings
from aggregator.crawl.plan import CrawlPlan, CrawlTask
from aggregator.errors import AggregatorError

log = logging.getLogger(__name__)
# Crawl processes running now, so a scheduler told to stop can end them cleanly (see stop_crawls).
_ACTIVE: set[subprocess.Popen[bytes]] = set()


def plan_to_json(plan: CrawlPlan) -> str:
    return json.dumps(dataclasses.asdict(plan))


def plan_from_json(text: str) -> CrawlPlan:
    data = json.loads(text)
    tasks = [
        CrawlTask(**{**t, "pending_articles": [tuple(p) for p in t["pending_articles"]]}) for t in data.pop("tasks")
    ]
    return CrawlPlan(tasks=tasks, **data)


def run_crawl(
    plan: CrawlPlan,
    *,
    log_path: Path,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Start `python -m spiders.process`, feed it the plan, relay its events; return its exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "aggregator.spiders.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=env,
        )
        assert child.stdin is not None and child.stdout is not None
        _ACTIVE.add(child)
        try:
            child.stdin.write(plan_to_json(plan).encode())
            child.stdin.close()
        except BrokenPipeError:
            pass
        for line in child.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if on_event is not None:
                on_event(event)
        try:
            return child.wait()
        finally:
            _ACTIVE.discard(child)


def stop_crawls(grace: float = 20.0) -> int:
    """Ask running crawl processes to stop (SIGTERM: Scrapy finishes in-flight work and closes its spider,
    committing what it stored); kill those still running after `grace` seconds. Returns how many there were."""
    children = list(_ACTIVE)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()  # every write is transactional: at worst the last batch is rolled back and refetched
            child.wait()
    return len(children)


def _child_main() -> int:
    from scrapy.crawler import CrawlerProcess

    from aggregator.spiders.settings import scrapy_settings
    from aggregator.spiders.sites import load_spider
    from aggregator.spiders.sources import SourcesSpider

    plan = plan_from_json(sys.stdin.read())
    settings = Settings.model_validate(plan.settings)
    # Scrapy installs the root log handler at LOG_LEVEL (WARNING): its per-item DEBUG lines would
    # otherwise format every stored entry into the log.
    process = CrawlerProcess({**scrapy_settings(settings.crawl), **plan.extra_scrapy_settings})
    process.crawl(SourcesSpider, plan=plan, progress="stdout")
    for task in plan.tasks:
        if task.kind != "spider":
            continue
        try:
            spider_cls = load_spider(str(task.options.get("spider", "")))
        except AggregatorError as exc:
            _record_spider_error(plan, task, str(exc))
            continue
        process.crawl(spider_cls, plan=plan, task=task, progress="stdout")
    process.start()
    return 0


def _record_spider_error(plan: CrawlPlan, task: CrawlTask, message: str) -> None:
    from datetime import UTC, datetime

    from aggregator.crawl.polling import PollPolicy
    from aggregator.crawl.state import ERROR, FetchReport, record_fetch
    from aggregator.store.database import Database

    crawl = Settings.model_validate(plan.settings).crawl
    db = Database(plan.database_url, migrate_schema=False)
    now = datetime.now(UTC)
    with db.session() as session:
        report = FetchReport(task.source_id, task.url, now, ERROR, error=message)
        policy = PollPolicy(crawl.default_interval, crawl.min_interval, crawl.max_interval)
        record_fetch(session, report, crawl_id=plan.crawl_id, policy=policy, now=now)
    db.close()
    sys.stdout.write(
        json.dumps(
            {
                "event": "fetch",
                "source_id": task.source_id,
                "outcome": ERROR,
                "error": message,
                "primary": True,
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    sys.exit(_child_main())


@dataclasses.dataclass(frozen=True)
class CrawlOutcome:
    """What `crawl_sources` did: the crawl id, the child's exit code and one line per source."""

    crawl_id: str
    exit_code: int
    planned: int
    lines: list[Any]
    log_path: Path | None


def crawl_sources(
    db: Any,
    settings: Settings,
    catalog: Any,
    *,
    wanted: list[str] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_plan: Callable[[CrawlPlan], None] | None = None,
    extra_scrapy_settings: dict[str, Any] | None = None,
) -> CrawlOutcome:
    """Plan a crawl of the due (or named) sources, run it in a child process, summarise it."""
    import uuid
    from datetime import UTC, datetime

    from aggregator.crawl.health import crawl_summary
    from aggregator.crawl.plan import build_plan

    now = datetime.now(UTC)
    crawl_id = now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    plan = build_plan(db, settings, catalog, crawl_id=crawl_id, now=now, wanted=wanted)
    if extra_scrapy_settings:
        plan = dataclasses.replace(plan, extra_scrapy_settings=dict(extra_scrapy_settings))
    if on_plan is not None:
        on_plan(plan)
    if not plan.tasks:
        return CrawlOutcome(crawl_id, 0, 0, [], None)
    log_path = settings.data_path / "logs" / f"crawl-{crawl_id}.log"
    code = run_crawl(plan, log_path=log_path, on_event=on_event)
    with db.session() as session:
        lines = crawl_summary(session, crawl_id)
    return CrawlOutcome(crawl_id, code, len(plan.tasks), lines, log_path)

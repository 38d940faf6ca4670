"""Run one crawl in a child process (the Twisted reactor cannot be restarted) and stream its progress."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from aggregator.config.settings import Settings
from aggregator.crawl.health import CrawlLine, crawl_summary
from aggregator.crawl.plan import CrawlPlan, CrawlTask, build_plan
from aggregator.crawl.polling import PollPolicy
from aggregator.crawl.state import ERROR, FetchReport, record_fetch
from aggregator.errors import AggregatorError
from aggregator.store.database import Database, error_line

log = logging.getLogger(__name__)
# Crawl processes running now, so a scheduler told to stop can end them cleanly (see stop_crawls).
_ACTIVE: set[subprocess.Popen[bytes]] = set()
# How the child knows its parent, and which inherited descriptor is the crawl lock it holds too.
PARENT_ENV = "AGGREGATOR_CRAWL_PARENT"
LOCK_FD_ENV = "AGGREGATOR_CRAWL_LOCK_FD"
# Exit codes of a child that stops on its own: its parent is gone, or another crawl holds the lock.
EXIT_ORPHANED = 70
EXIT_LOCKED = 75
# How long a parent that is itself failing (Ctrl-C, an exception) gives its child to stop before killing it.
END_GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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
    lock_fd: int | None = None,
) -> int:
    """Start `python -m spiders.process`, feed it the plan, relay its events; return its exit code.

    The child dies with this process (see `_die_with_parent`). With `lock_fd`, the descriptor of the crawl lock
    this process holds, the child inherits it: the lock stays taken until both have exited, so no new crawl
    can start while this one still writes.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[PARENT_ENV] = str(os.getpid())
    env.pop(LOCK_FD_ENV, None)
    if lock_fd is not None:
        env[LOCK_FD_ENV] = str(lock_fd)
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "aggregator.spiders.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=env,
            pass_fds=() if lock_fd is None else (lock_fd,),
        )
        assert child.stdin is not None and child.stdout is not None
        _ACTIVE.add(child)
        try:
            try:
                # One line, and the pipe stays open: the child takes its end (EOF) as this process's death.
                child.stdin.write(plan_to_json(plan).encode() + b"\n")
                child.stdin.flush()
            except BrokenPipeError:
                pass  # it died before reading the plan: its exit code and log say why
            for line in child.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if on_event is not None:
                    on_event(event)
            return child.wait()
        except BaseException:
            _end(child, END_GRACE_SECONDS)  # a crawl lock released by the raise must not outlive the child
            raise
        finally:
            _ACTIVE.discard(child)
            try:
                child.stdin.close()
            except BrokenPipeError:
                pass


def _end(child: subprocess.Popen[bytes], grace: float) -> None:
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        child.kill()  # every write is transactional: at worst the last batch is rolled back and refetched
        child.wait()


def stop_crawls(grace: float = 20.0) -> int:
    """Ask running crawl processes to stop (SIGTERM: Scrapy finishes in-flight work and closes its spider,
    committing what it stored); kill those still running after `grace` seconds. Returns how many there were."""
    children = list(_ACTIVE)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        _end(child, grace)
    return len(children)


def _die_with_parent() -> None:
    """Make this crawl process end when the process that started it ends, however that one ends.

    Linux: the kernel sends SIGKILL on the parent's death (prctl). Everywhere: a thread watches the plan pipe,
    which the parent keeps open while it lives, and the parent pid. Ending at once is safe: every batch is one
    transaction, so at worst the last one is rolled back and the next crawl fetches it again.
    """
    expected = int(os.environ.get(PARENT_ENV) or 0)
    if sys.platform.startswith("linux"):
        import ctypes  # here: Linux only

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("crawl: prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if expected and os.getppid() != expected:
        _orphaned(f"its parent {expected} was gone before it started")

    def watch() -> None:
        while True:
            ready, _, _ = select.select([sys.stdin.buffer], [], [], 1.0)
            if ready and not os.read(sys.stdin.buffer.fileno(), 4096):
                _orphaned("its parent closed the plan pipe")
            if expected and os.getppid() != expected:
                _orphaned(f"its parent {expected} is gone")

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _orphaned(why: str) -> None:
    sys.stderr.write(f"crawl: stopping at once: {why}\n")
    sys.stderr.flush()
    os._exit(EXIT_ORPHANED)


def _hold_lock() -> bool:
    """Take the inherited crawl lock as this process's own too (it is the parent's open file, so this cannot block
    unless some other process holds it); False when another crawl holds it."""
    fd = os.environ.get(LOCK_FD_ENV)
    if not fd:
        return True
    try:
        fcntl.flock(int(fd), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stderr.write(f"crawl: not started: another crawl holds the lock (descriptor {fd})\n")
        return False
    except OSError as exc:  # not a descriptor this process has: the crawl runs, unguarded, as before
        log.warning("crawl: cannot hold the inherited crawl lock %s: %s", fd, exc)
    return True


def _child_main() -> int:
    plan_line = sys.stdin.buffer.readline()
    _die_with_parent()
    if not _hold_lock():
        return EXIT_LOCKED

    # Scrapy and Twisted are imported in the child only: the parent (the CLI, the scheduler) never loads them.
    from scrapy.crawler import CrawlerProcess

    from aggregator.spiders.settings import scrapy_settings
    from aggregator.spiders.sites import load_spider
    from aggregator.spiders.sources import SourcesSpider

    plan = plan_from_json(plan_line.decode())
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

    crawl = Settings.model_validate(plan.settings).crawl
    db = Database(plan.database_url, migrate_schema=False)
    now = datetime.now(UTC)
    stored = True
    try:
        with db.session() as session:
            report = FetchReport(task.source_id, task.url, now, ERROR, error=message)
            policy = PollPolicy(crawl.default_interval, crawl.min_interval, crawl.max_interval)
            record_fetch(session, report, crawl_id=plan.crawl_id, policy=policy, now=now)
    except SQLAlchemyError as exc:  # the parent still hears of it, and of the storage failure
        stored = False
        message = f"{message}; store: {error_line(exc)}"
        log.error("%s: %s", task.source_id, message)
    finally:
        db.close()
    event = {"event": "fetch", "source_id": task.source_id, "outcome": ERROR, "error": message, "primary": True}
    sys.stdout.write(json.dumps({**event, "stored": stored}) + "\n")


if __name__ == "__main__":
    sys.exit(_child_main())


@dataclasses.dataclass(frozen=True)
class CrawlOutcome:
    """What `crawl_sources` did: the crawl id, the child's exit code and one line per source.

    A source whose fetch could not be stored (read-only or full database, a value the database refused) is in
    `unstored` with its one-line error, and has an "error" line in `lines` even when the database kept no trace of
    it. A planned source the crawl process never reported on (it died or was stopped first) is in `not_reached`.
    `tagged` items were tagged by topic in the crawl, which spent `tagging_cpu` CPU seconds on it (classifier load
    included).
    """

    crawl_id: str
    exit_code: int
    planned: int
    lines: list[Any]
    log_path: Path | None
    unstored: dict[str, str] = dataclasses.field(default_factory=dict)
    not_reached: list[str] = dataclasses.field(default_factory=list)
    tagged: int = 0
    tagging_cpu: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Ids of the sources that count as errors: fetch or store failures, and those never reached."""
        return sorted({line.source_id for line in self.lines if line.outcome == "error"} | set(self.not_reached))


def crawl_sources(
    db: Any,
    settings: Settings,
    catalog: Any,
    *,
    wanted: list[str] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_plan: Callable[[CrawlPlan], None] | None = None,
    extra_scrapy_settings: dict[str, Any] | None = None,
    lock_fd: int | None = None,
) -> CrawlOutcome:
    """Plan a crawl of the due (or named) sources, run it in a child process, summarise it.

    `lock_fd`: the descriptor of the crawl lock the caller holds, for the child to hold too (see `run_crawl`).
    """

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
    unstored: dict[str, str] = {}
    reported: set[str] = set()
    tagging = {"items": 0, "cpu": 0.0}

    def relay(event: dict[str, Any]) -> None:
        if event.get("event") == "tagging":  # one per spider of the crawl, as it closes
            tagging["items"] += int(event.get("items") or 0)
            tagging["cpu"] += float(event.get("cpu_seconds") or 0.0)
        if event.get("event") == "fetch":
            reported.add(str(event.get("source_id")))
            if event.get("stored") is False:
                unstored.setdefault(str(event.get("source_id")), str(event.get("error") or "store: failed"))
        if on_event is not None:
            on_event(event)

    code = run_crawl(plan, log_path=log_path, on_event=relay, lock_fd=lock_fd)
    with db.session() as session:
        lines = _with_unstored(crawl_summary(session, crawl_id), unstored)
    seen = {line.source_id for line in lines} | reported
    not_reached = [t.source_id for t in plan.tasks if t.source_id not in seen]
    return CrawlOutcome(
        crawl_id, code, len(plan.tasks), lines, log_path, unstored, not_reached, int(tagging["items"]), tagging["cpu"]
    )


def _with_unstored(lines: list[Any], unstored: dict[str, str]) -> list[Any]:
    """The fetch log's lines, with every source whose fetch could not be stored as an error (a line of its own
    when the database could not record even the failure)."""
    by_source = {line.source_id: line for line in lines}
    for source_id, error in unstored.items():
        line = by_source.get(source_id)
        if line is None:
            by_source[source_id] = CrawlLine(source_id, "error", None, 0, 0, 0, 0, 0, error)
        else:
            by_source[source_id] = dataclasses.replace(line, outcome="error", error=error)
    return sorted(by_source.values(), key=lambda line: line.source_id)

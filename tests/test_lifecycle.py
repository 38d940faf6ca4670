"""A crawl process never outlives the crawl that started it, and never runs beside a newer one."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.config.settings import CrawlSettings
from aggregator.crawl.plan import build_plan
from aggregator.spiders.process import EXIT_ORPHANED, PARENT_ENV, crawl_sources, plan_to_json, stop_crawls
from aggregator.store.database import Database
from tests import feedgen
from tests.crawling import catalog, fast_settings, source
from tests.httpserver import Reply, TestServer

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")

CHILD_MODULE = b"aggregator.spiders.process"
# The test server is on loopback; once the crawler refuses private addresses by default, the tests allow it.
ALLOW_LOOPBACK = "allow_networks" in CrawlSettings.model_fields


def _wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has stopped; only its exit status is left


def _crawl_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if stat is not None and stat[1] == parent and CHILD_MODULE in cmdline:
            found.append(int(entry.name))
    return found


def _feed(server: TestServer, path: str) -> bytes:
    return feedgen.rss20([feedgen.item(i, server.base + path) for i in range(3)])


def _write_config(tmp_path: Path, server: TestServer) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    settings = (
        'data_dir = "data"\n[crawl]\ndownload_delay = 0\nautothrottle = false\ntimeout = "60s"\nretry_times = 0\n'
    )
    if ALLOW_LOOPBACK:
        settings += 'allow_networks = ["127.0.0.1/32"]\n'
    (config / "settings.toml").write_text(settings)
    (config / "sources.toml").write_text(source("hang", server.url("/hang")) + source("quick", server.url("/quick")))
    return config


def _crawl(config: Path, db_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", f"sqlite:///{db_path}", "crawl", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the cleanup below reaches a child that outlived it
    )


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _check_database(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert (
            conn.execute("SELECT count(*) FROM items").fetchone()[0]
            == conn.execute("SELECT count(*) FROM items_fts").fetchone()[0]
        )
        return dict(conn.execute("SELECT source_id, count(*) FROM items GROUP BY source_id").fetchall())
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_crawl_process_dies_with_the_crawl_command(tmp_path: Path, server: TestServer, sig: signal.Signals) -> None:
    """`kill -9` (or timeout's SIGTERM) of `aggregator crawl` mid-crawl ends its Scrapy process too; the next crawl
    then runs alone, finishes, and leaves a sound database."""
    server.add("/hang", Reply(status=-1))  # accepts the request and never answers: the crawl stays mid-flight
    server.add("/quick", Reply(body=_feed(server, "/quick")))
    config = _write_config(tmp_path, server)
    db_path = tmp_path / "crawl.sqlite"
    parent = _crawl(config, db_path)
    try:
        (child,) = _wait_until(lambda: _crawl_children(parent.pid), 60, "the crawl process started")
        _wait_until(lambda: server.hits("/hang"), 60, "the crawl asked for the hanging feed")
        os.kill(parent.pid, sig)
        parent.communicate(timeout=30)
        assert parent.returncode == -sig
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), f"the crawl process {child} outlived its parent: {_stat(child)}"
    finally:
        _kill_group(parent.pid)
    server.add("/hang", Reply(body=_feed(server, "/hang")))
    again = _crawl(config, db_path)
    try:
        out, err = again.communicate(timeout=120)
    finally:
        _kill_group(again.pid)
    assert again.returncode == 0, err.decode()
    assert b"hang" in out
    assert _check_database(db_path) == {"hang": 3, "quick": 3}


def _can_lock(path: Path) -> bool:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def _hanging_setup(tmp_path: Path, server: TestServer) -> tuple[Database, Any, Any]:
    server.add("/hang", Reply(status=-1))
    extra = {"allow_networks": ["127.0.0.1/32"]} if ALLOW_LOOPBACK else {}
    settings = fast_settings(tmp_path, timeout=60.0, retry_times=0, **extra)
    db = Database(f"sqlite:///{tmp_path / 'crawl.sqlite'}")
    return db, settings, catalog(source("hang", server.url("/hang")))


@pytest.mark.slow
def test_crawl_process_holds_the_crawl_lock_it_is_given(tmp_path: Path, server: TestServer) -> None:
    """The lock descriptor passed to the crawl stays locked while its process runs, even once the process that
    took it lets go, and is free when the crawl process has ended."""
    db, settings, cat = _hanging_setup(tmp_path, server)
    settings.data_path.mkdir(parents=True)
    lock_path = settings.data_path / "crawl.lock"
    handle = open(lock_path, "a+")  # noqa: SIM115 (closed by hand below, while the crawl runs)
    fcntl.flock(handle, fcntl.LOCK_EX)
    result: dict[str, Any] = {}

    def crawl() -> None:
        result["outcome"] = crawl_sources(db, settings, cat, lock_fd=handle.fileno())

    thread = threading.Thread(target=crawl, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: server.hits("/hang"), 60, "the crawl asked for the hanging feed")
        handle.close()  # as if the crawl command had died: only the crawl process still has the lock open
        assert not _can_lock(lock_path), "the lock was free while the crawl process still ran"
    finally:
        stop_crawls(grace=1.0)
        thread.join(timeout=60)
        handle.close()
        db.close()
    assert "outcome" in result
    assert _can_lock(lock_path), "the lock stayed taken after the crawl process ended"


@pytest.mark.slow
def test_crawl_process_stops_when_its_plan_pipe_closes(tmp_path: Path, server: TestServer) -> None:
    """The portable watch (no prctl needed): the parent's end of the plan pipe closing stops the crawl at once."""
    db, settings, cat = _hanging_setup(tmp_path, server)
    try:
        plan = build_plan(db, settings, cat, crawl_id="lifecycle", now=datetime.now(UTC))
    finally:
        db.close()
    log_path = tmp_path / "child.log"
    with open(log_path, "wb") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "aggregator.spiders.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, PARENT_ENV: str(os.getpid())},
        )
    assert child.stdin is not None
    try:
        child.stdin.write(plan_to_json(plan).encode() + b"\n")
        child.stdin.flush()
        _wait_until(lambda: server.hits("/hang"), 60, "the crawl asked for the hanging feed")
        started = time.monotonic()
        child.stdin.close()
        assert child.wait(timeout=10) == EXIT_ORPHANED, log_path.read_text()
        assert time.monotonic() - started < 5
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

"""Kill -9 the crawl at random points: the database stays consistent and the next crawl finishes the work."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests import feedgen
from tests.crawling import source
from tests.httpserver import Reply, Request, TestServer

FEEDS = 30
ITEMS = 6


def _write_config(config: Path, server: TestServer, timeout: str = "10s") -> None:
    config.mkdir()
    (config / "settings.toml").write_text(
        'data_dir = "data"\n[crawl]\ndownload_delay = 0\nautothrottle = false\nconcurrent_per_host = 4\n'
        'allow_networks = ["127.0.0.1/32"]\n'
        f'timeout = "{timeout}"\nretry_times = 0\n'
    )
    (config / "sources.toml").write_text("".join(source(f"f{n}", server.url(f"/f{n}")) for n in range(FEEDS)))


def _crawl(config: Path, db: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", db, "crawl", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _check_consistent(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        distinct = conn.execute("SELECT count(DISTINCT url_key) FROM items").fetchone()[0]
        assert items == distinct, "an item was stored twice"
        fts = conn.execute("SELECT count(*) FROM items_fts").fetchone()[0]
        assert fts == items, "the search index lost step with the items"
        # Every fetched source has all of its items: a source's batch is committed whole or not at all.
        per_source = conn.execute("SELECT source_id, count(*) FROM items GROUP BY source_id").fetchall()
        assert all(n == ITEMS for _, n in per_source), per_source
        done = conn.execute("SELECT count(*) FROM sources WHERE last_success_at IS NOT NULL").fetchone()[0]
        return items, done
    finally:
        conn.close()


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def _wait_for_fetches(path: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = sqlite3.connect(path, timeout=1)
            n = conn.execute("SELECT count(*) FROM fetches").fetchone()[0]
            conn.close()
            if n >= count:
                return
        except sqlite3.Error:
            pass  # not created or not migrated yet
        time.sleep(0.05)
    raise AssertionError(f"the crawl stored fewer than {count} fetches in {timeout}s")


def _slow_feeds(server: TestServer, delay: float) -> None:
    """Slow, chunked answers keep a crawl running long enough to be killed or read from in the middle."""
    for n in range(FEEDS):
        body = feedgen.rss20([feedgen.item(i, server.base + f"/f{n}") for i in range(ITEMS)])
        chunks = [body[i : i + 400] for i in range(0, len(body), 400)]
        server.add(f"/f{n}", Reply(body=chunks, chunk_delay=delay))  # type: ignore[arg-type]


def test_kill_minus_nine_mid_crawl_then_resume(tmp_path: Path, server: TestServer) -> None:
    _slow_feeds(server, 0.05)
    config = tmp_path / "config"
    _write_config(config, server)
    db_path = tmp_path / "crawl.sqlite"
    db = f"sqlite:///{db_path}"
    rng = random.Random(20261125)
    committed = done = fetched = 0
    partial = []
    for _round in range(3):
        if FEEDS - done < 4:
            break
        proc = _crawl(config, db)
        # Kill once a random number of further sources have been stored, so the kill lands mid-crawl.
        _wait_for_fetches(db_path, fetched + rng.randint(1, FEEDS - done - 3))
        time.sleep(rng.uniform(0, 0.3))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if db_path.exists():
            items, done = _check_consistent(db_path)
            assert items >= committed  # nothing committed is ever lost
            committed = items
            partial.append(done)
            fetched = _count(db_path, "fetches")
    assert any(0 < d < FEEDS for d in partial), f"no kill landed mid-crawl: {partial}"
    # A clean run completes whatever the killed runs left undone.
    proc = _crawl(config, db)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    items, done = _check_consistent(db_path)
    assert items == FEEDS * ITEMS
    assert done == FEEDS


def test_readers_keep_working_while_a_crawl_writes(tmp_path: Path, server: TestServer) -> None:
    """Exports, digest previews and status from other processes during a crawl: no "database is locked"."""
    _slow_feeds(server, 0.3)
    # One feed is held until the readers have had a full round, so the crawl is still running (and the other
    # feeds keep being written) whatever the machine's load makes of the readers' start-up.
    held = threading.Event()
    answer = server.routes["/f0"]

    def held_answer(request: Request) -> Reply:
        held.wait(90)
        return answer(request)

    server.add("/f0", held_answer)
    config = tmp_path / "config"
    _write_config(config, server, timeout="120s")
    (config / "topics.toml").write_text((Path(__file__).parents[1] / "config" / "topics.toml").read_text())
    db_path = tmp_path / "crawl.sqlite"
    db = f"sqlite:///{db_path}"
    crawler = _crawl(config, db)
    _wait_for_fetches(db_path, 1)
    readers = [["export", "--format", "jsonl"], ["digest", "--preview", "--format", "json"], ["status"]]
    overlapped = 0  # rounds that ended with the crawl still running
    for _round in range(3):
        # Every reader at once, while the crawl is still writing.
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "aggregator", "--config", str(config), "--db", db, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for args in readers
        ]
        for args, proc in zip(readers, procs, strict=True):
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"{args}: {err}"
            assert "locked" not in err.lower()
        overlapped += crawler.poll() is None
        held.set()
        if crawler.poll() is not None:
            break
    crawler.communicate(timeout=120)
    assert crawler.returncode == 0
    assert overlapped >= 1, "the readers never overlapped the crawl"
    assert _check_consistent(db_path)[0] == FEEDS * ITEMS

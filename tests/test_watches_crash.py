"""Kill -9 between matching and delivery, restart: every alert is delivered exactly once; the watch commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aggregator.services.watching import PAUSE_ENV
from tests import feedgen
from tests.httpserver import Reply, TestServer
from tests.test_watches import Hooks, deliveries, feed_items, watch, write_config


def agg(config: Path, db_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", db_url, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_killed_between_matching_and_delivery_then_restarted_delivers_exactly_once(
    tmp_path: Path, db_url: str, server: TestServer
) -> None:
    hooks = Hooks()
    try:
        server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
        config = tmp_path / "config"
        write_config(config, server, watches=watch("gulf", "cartel", '["webhook", "atom"]', webhook=hooks.url))
        marker = tmp_path / "matched"
        first = agg(config, db_url, "crawl", "--quiet", env={PAUSE_ENV: str(marker)})
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert first.poll() is None, first.communicate()[1].decode()
            assert time.monotonic() < deadline, "the crawl never reached the watches"
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)  # the crawl and everything it started
        first.wait()
        queued = deliveries(db_url)
        assert len(queued) == 4 and {state for *_, state, _ in queued} == {"pending"}  # matched, not yet sent
        assert hooks.posts == []
        for _ in range(2):  # the restart delivers; a further run finds nothing left
            again = agg(config, db_url, "crawl", "--quiet")
            out, err = again.communicate(timeout=180)
            assert again.returncode == 0, err.decode()
        assert len(hooks.posts) == 1 and sorted(hooks.items()) == sorted({i for _, i, *_ in queued})
        assert {state for *_, state, _ in deliveries(db_url)} == {"sent"} and len(deliveries(db_url)) == 4
    finally:
        hooks.close()


def test_watch_commands_add_list_test_remove_keep_comments(tmp_path: Path, server: TestServer) -> None:
    server.add("/feed", Reply(body=feedgen.rss20(feed_items(server.base))))
    config = tmp_path / "config"
    write_config(config, server, watches="# my watches, keep this\n" + watch("old", "festival", '["atom"]'))
    db_url = f"sqlite:///{tmp_path / 'w.sqlite'}"

    def run(*args: str) -> tuple[int, str, str]:
        done = agg(config, db_url, *args)
        out, err = done.communicate(timeout=180)
        return done.returncode, out.decode(), err.decode()

    code, out, err = run("watch", "add", "gulf", "cartel lang:en", "-d", "atom", "-d", "mail", "--every", "1h")
    assert code == 0, err
    text = (config / "watches.toml").read_text()
    assert text.startswith("# my watches, keep this\n") and 'every = "1h"' in text
    code, _, err = run("watch", "add", "bad", "cartel (")
    assert code == 1 and "unbalanced" in err and "bad" not in (config / "watches.toml").read_text()
    assert run("crawl", "--quiet")[0] == 0
    code, out, err = run("watch", "test", "gulf")
    assert code == 0, err
    assert "2 stored item(s) match" in out and "Gulf Cartel leader" in out
    code, out, err = run("watch", "list")
    assert code == 0 and "gulf" in out and "waiting" in out and "old" in out  # batched: held for the hour
    assert run("watch", "remove", "old")[0] == 0
    text = (config / "watches.toml").read_text()
    assert "# my watches, keep this" in text and "festival" not in text and "gulf" in text
    code, _, err = run("watch", "remove", "old")
    assert code == 1 and "no watch with id 'old'" in err
    assert json.loads("[]") == []

"""`aggregator run` reads at once when it starts, says when jobs run in words, and logs in the reporter's zone."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.schedule.scheduler import ZonedFormatter, describe_trigger
from tests.crawling import source
from tests.httpserver import TestServer
from tests.test_cli import agg
from tests.test_scheduler import REPO, count, feed, start_run, wait_for


def test_the_first_refresh_runs_at_start_not_a_tick_later(tmp_path: Path, server: TestServer) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "topics.toml").write_text((REPO / "config" / "topics.toml").read_text(encoding="utf-8"))
    (config / "sources.toml").write_text(source("beat", feed(server, "/feed", 3)))
    (config / "settings.toml").write_text(
        f'data_dir = "{tmp_path / "data"}"\ntimezone = "America/Mexico_City"\n'
        '[crawl]\ndownload_delay = 0\nautothrottle = false\nallow_networks = ["127.0.0.1/32"]\n'
        '[schedule]\ntick = "1h"\n'  # a whole hour: only a refresh at start can fetch within the test
    )
    db_url = f"sqlite:///{tmp_path}/run.sqlite"
    proc = start_run(config, db_url)
    try:
        wait_for(lambda: count(db_url, "items") == 3, timeout=120)
        status = agg("--config", str(config), "--db", db_url, "status")
        assert status.returncode == 0, status.stderr
        assert "every 1 h" in status.stdout and "daily at 07:00 (America/Mexico_City)" in status.stdout
        assert "interval[" not in status.stdout and "cron[" not in status.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert " CST " in err or " CDT " in err  # plain log lines carry the reporter's zone, not the machine's


def test_triggers_in_words() -> None:
    zone = ZoneInfo("America/Mexico_City")
    assert describe_trigger(IntervalTrigger(seconds=20)) == "every 20 s"
    assert describe_trigger(IntervalTrigger(minutes=30)) == "every 30 min"
    assert describe_trigger(IntervalTrigger(hours=6)) == "every 6 h"
    assert describe_trigger(CronTrigger(hour=7, minute=0, second=30, timezone=zone)) == (
        "daily at 07:00 (America/Mexico_City)"
    )


def test_log_times_are_in_the_given_zone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.created = datetime(2026, 12, 1, 18, 0, tzinfo=UTC).timestamp()
    line = ZonedFormatter("%(asctime)s %(message)s", ZoneInfo("America/Mexico_City")).format(record)
    assert line == "2026-12-01 12:00:00 CST hello"

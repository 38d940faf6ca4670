"""`aggregator run` for real: polls on its own, stops cleanly, catches up a missed digest once, survives bad
sources, a full output disk and a database restart."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, text

from aggregator.config.settings import load_settings
from aggregator.digest.archive import OutputError, options
from aggregator.digest.build import latest_closed_date
from aggregator.models import Digest, Fetch, Item
from aggregator.schedule import jobs
from aggregator.store.database import Database
from tests import feedgen
from tests.crawling import source
from tests.httpserver import Reply, TestServer
from tests.test_cli import agg
from tests.test_mail import Recorder, free_port

REPO = Path(__file__).resolve().parents[1]


def make_config(tmp_path: Path, sources: str, *, extra: str = "", data: Path | None = None) -> Path:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "topics.toml").write_text((REPO / "config" / "topics.toml").read_text(encoding="utf-8"))
    (config / "sources.toml").write_text(sources)
    (config / "settings.toml").write_text(
        f'data_dir = "{data or tmp_path / "data"}"\ntimezone = "America/Mexico_City"\n'
        '[crawl]\ndownload_delay = 0\nautothrottle = false\ntimeout = "3s"\nretry_times = 0\n'
        'allow_networks = ["127.0.0.1/32"]\n'
        f'[schedule]\ntick = "1s"\n{extra}'
    )
    return config


def feed(server: TestServer, path: str, n: int, prefix: str = "Item") -> str:
    items = [
        feedgen.item(i, server.base + path, title=f"{prefix} {i}: cartel gunmen arrested in Sonora") for i in range(n)
    ]
    return server.add(path, Reply(body=feedgen.rss20(items)))


def start_run(config: Path, db_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", db_url, "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def catches_sigterm(pid: int) -> bool:
    """The process has set a SIGTERM handler (Linux: bit 15 of SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def wait_for(predicate, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


def count(db_url: str, table: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
    except Exception:
        return 0
    finally:
        engine.dispose()


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_polls_on_its_own_logs_json_and_stops_cleanly(tmp_path: Path, server: TestServer, stopper: list) -> None:
    url = feed(server, "/feed", 3)
    config = make_config(tmp_path, source("beat", url))
    db_url = f"sqlite:///{tmp_path}/run.sqlite"
    proc = start_run(config, db_url, "--log-format", "json")
    stopper.append(proc)
    wait_for(lambda: count(db_url, "items") == 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every log line is JSON
    messages = [entry["message"] for entry in lines]
    assert any("received SIGTERM" in m for m in messages) and messages[-1] == "scheduler stopped"
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    status = agg("--config", str(config), "--db", db_url, "status")
    assert status.returncode == 0, status.stderr
    for job in ("refresh", "digest", "retrain", "maintenance"):
        assert job in status.stdout
    assert "last crawl:" in status.stdout and "1 fetch(es), 0 error(s)" in status.stdout
    # The feed was not fetched again and again: its next check follows its own pace (at least 5 minutes).
    assert len(server.hits("/feed")) <= 2


def test_sigterm_mid_crawl_leaves_a_consistent_database(tmp_path: Path, server: TestServer, stopper: list) -> None:
    good = feed(server, "/good", 5)
    # A source that never finishes answering: the crawl is still in flight when the signal comes.
    server.add("/hang", Reply(body=iter([b"<rss>"] + [b" "] * 1000), chunk_delay=0.5, length=2000))
    config = make_config(tmp_path, source("good", good) + source("hang", server.url("/hang")))
    db_url = f"sqlite:///{tmp_path}/run.sqlite"
    proc = start_run(config, db_url)
    stopper.append(proc)
    wait_for(lambda: count(db_url, "items") == 5 and len(server.hits("/hang")) >= 1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 0 and time.monotonic() - started < 45
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*), count(DISTINCT url_key) FROM items").fetchone() == (5, 5)
    server.add("/hang", Reply(body=feedgen.rss20([feedgen.item(9, server.base + "/hang")])))
    again = agg("--config", str(config), "--db", db_url, "crawl", "--source", "hang", "--quiet")
    assert again.returncode == 0, again.stderr
    assert count(db_url, "items") == 6


def _smtp() -> tuple[Controller, Recorder, int]:
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    return controller, recorder, port


def test_a_digest_missed_while_down_is_built_and_mailed_once(tmp_path: Path, server: TestServer, stopper: list) -> None:
    controller, recorder, port = _smtp()
    try:
        url = feed(server, "/feed", 2)
        mail = (
            f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsender = "d@beat.example"\nrecipients = ["r@beat.example"]\n'
        )
        config = make_config(tmp_path, source("beat", url), extra=mail)
        db_url = f"sqlite:///{tmp_path}/run.sqlite"
        settings = load_settings(config)
        now = datetime.now(UTC)
        wanted = latest_closed_date(now, options(settings))
        # The scheduler ran before: it built the digest of three days ago, then the machine was off.
        old = jobs.daily_digest(str(config), db_url, now=now - timedelta(days=3))
        assert old == (wanted - timedelta(days=3)).isoformat() and len(recorder.envelopes) == 1
        for _ in range(2):  # start, stop, start again: the missed digest is built and mailed once
            proc = start_run(config, db_url)
            stopper.append(proc)
            # Running, not just started: the second run finds the items and the mail there already, and a signal
            # before its handler is set would kill it.
            wait_for(lambda: catches_sigterm(proc.pid))  # noqa: B023 (called before the loop moves on)
            wait_for(lambda: count(db_url, "items") == 2 and len(recorder.envelopes) >= 2)
            time.sleep(1.5)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
            assert proc.returncode == 0
        db = Database(db_url)
        with db.session() as session:
            dates = sorted(session.scalars(select(Digest.local_date)))
            newest = session.scalar(select(Digest).where(Digest.local_date == wanted.isoformat()))
            assert newest is not None and newest.sent_at is not None
            # The catch-up digest covers the whole gap since the last one: nothing seen meanwhile is lost.
            assert newest.period_start == session.scalar(select(Digest.period_end).where(Digest.local_date == old))
        db.close()
        assert dates == [old, wanted.isoformat()]
        assert len(recorder.envelopes) == 2
    finally:
        controller.stop()


def test_bad_sources_never_stop_a_refresh(tmp_path: Path, server: TestServer) -> None:
    good = feed(server, "/good", 4)
    server.add("/garbage", Reply(body=bytes(range(256)) * 40))  # binary noise served as a feed
    server.add("/hang", Reply(body=iter([b"<rss>"] + [b" "] * 100), chunk_delay=1.0, length=500))
    sources = source("good", good) + source("garbage", server.url("/garbage")) + source("hang", server.url("/hang"))
    config = make_config(tmp_path, sources)
    db_url = f"sqlite:///{tmp_path}/r.sqlite"
    result = jobs.refresh(str(config), db_url)
    assert result.planned == 3 and result.new == 4 and result.errors == 2
    db = Database(db_url)
    with db.session() as session:
        errors = dict(session.execute(select(Fetch.source_id, Fetch.error).where(Fetch.outcome == "error")).all())
    db.close()
    assert set(errors) == {"garbage", "hang"} and all(errors.values())


def test_a_full_output_disk_is_a_clear_error_and_retried(tmp_path: Path, server: TestServer) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root); the full-disk case is not exercised")
    try:
        (mount / "filler").write_bytes(b"x" * 500_000)
        url = feed(server, "/feed", 3)
        config = make_config(tmp_path, source("beat", url), extra=f'[digest]\noutput_dir = "{mount}"\n')
        db_url = f"sqlite:///{tmp_path}/r.sqlite"
        jobs.refresh(str(config), db_url)
        with pytest.raises(OutputError, match=r"digest: cannot write .*No space left on device"):
            jobs.daily_digest(str(config), db_url)
        # Files are whole or absent: no temp files left, nothing cut short.
        assert not [p for p in mount.iterdir() if p.name.startswith(".")]
        for written in mount.glob("digest-*.html"):
            assert written.read_text(encoding="utf-8").rstrip().endswith("</html>")
        (mount / "filler").unlink()
        day = jobs.daily_digest(str(config), db_url)  # the next run writes the same archived digest
        assert (mount / f"digest-{day}.html").exists() and count(db_url, "digests") == 1
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_refresh_reconnects_after_a_postgresql_restart(postgres_url: str, tmp_path: Path, server: TestServer) -> None:
    url = feed(server, "/feed", 2)
    config = make_config(tmp_path, source("beat", url))
    assert jobs.refresh(str(config), postgres_url).new == 2
    name = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(os.environ["AGGREGATOR_TEST_POSTGRES_URL"].replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect() as conn:  # what clients see when the server restarts: every connection is cut
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": name})
        conn.commit()
    admin.dispose()
    server.add("/feed", Reply(body=feedgen.rss20([feedgen.item(i, server.base + "/feed") for i in range(3)])))
    result = jobs.refresh(str(config), postgres_url)
    assert result.skipped is False
    db = Database(postgres_url)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Fetch)) >= 1
        assert session.scalar(select(func.count()).select_from(Item)) >= 2
    db.close()

"""Distributed crawling (issue #16): real RabbitMQ, PostgreSQL and `aggregator worker` processes, loopback feeds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from aggregator.classify.tagging import classifier_dir, train_classifier
from aggregator.classify.topics import load_topics
from aggregator.config.settings import CrawlSettings, Settings, load_settings
from aggregator.distributed.batches import host_of, make_batches
from aggregator.store.database import Database
from tests.crawling import catalog, run, source
from tests.feedgen import item, rss20
from tests.httpserver import Reply, TestServer

REPO = Path(__file__).resolve().parents[1]
BROKER = "amqp://guest:guest@127.0.0.1:5672//"
SHARED = "https://shared.example.org/wire"  # items every host's first feed carries: one item, several sightings


def _broker_up() -> bool:
    try:
        import kombu
    except ImportError:
        return False
    try:
        with kombu.Connection(BROKER, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:  # refused, or not RabbitMQ
        return False


needs_broker = pytest.mark.skipif(not _broker_up(), reason=f"needs RabbitMQ at {BROKER} and celery installed")


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def feed_body(base: str, count: int) -> bytes:
    items = [item(n, base) for n in range(count)] + [item(900, SHARED)]
    return rss20(items)


def slow(body: bytes, seconds: float, parts: int = 10) -> Reply:
    """A feed answered in `parts` pieces over `seconds`: a crawl of it is still running for that long."""
    step = len(body) // parts + 1
    return Reply(body=[body[i : i + step] for i in range(0, len(body), step)], chunk_delay=seconds / parts)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier trained once on the seed examples, copied into each worker's data directory (training it
    in every worker would only slow the tests down)."""
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("clf") / "data"))
    settings.config_dir = REPO / "config"
    train_classifier(settings, load_topics(REPO / "config"))
    return classifier_dir(settings)


def with_classifier(data_dir: Path, trained: Path) -> Path:
    shutil.copytree(trained, data_dir / "classifier", dirs_exist_ok=True)
    return data_dir


class Cluster:
    """A config directory, a PostgreSQL database and a queue of their own; schedulers and workers as processes."""

    def __init__(
        self, tmp_path: Path, db_url: str, sources: list[str], trained: Path, *, batch_size: int = 100
    ) -> None:
        self.tmp = tmp_path
        self.trained = trained
        self.db_url = db_url
        self.queue = f"test.{uuid.uuid4().hex[:10]}"
        self.config = tmp_path / "config"
        self.config.mkdir(exist_ok=True)
        (self.config / "topics.toml").write_text((REPO / "config" / "topics.toml").read_text(encoding="utf-8"))
        (self.config / "sources.toml").write_text("\n".join(sources))
        (self.config / "settings.toml").write_text(
            f'data_dir = "{tmp_path / "data"}"\n'
            '[crawl]\ndownload_delay = 0\nautothrottle = false\nconcurrent_per_host = 16\ntimeout = "30s"\n'
            'retry_times = 0\nallow_networks = ["127.0.0.0/8"]\n'
            '[schedule]\ntick = "1s"\n'
            f'[distributed]\nbroker_url = "{BROKER}"\nqueue = "{self.queue}"\nbatch_size = {batch_size}\n'
            'lock_retry = "1s"\nheartbeat = "1s"\n'
        )
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        data = with_classifier(self.tmp / f"data-{name}", self.trained)
        env = {**os.environ, "AGGREGATOR_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
        env.pop("AGGREGATOR_BROKER_URL", None)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aggregator", "--config", str(self.config), "--db", self.db_url, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.tmp,
            )
        self.procs.append((proc, log))
        return proc

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", "1", name=name)

    def scheduler(self, name: str = "scheduler") -> subprocess.Popen[bytes]:
        return self.start("run", "--distributed", name=name)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def query(self, sql: str) -> list[Any]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql)).all())
        except Exception:  # the schema may not be there yet
            return []
        finally:
            engine.dispose()

    def execute(self, sql: str) -> None:
        engine = create_engine(self.db_url)
        with engine.begin() as conn:
            conn.execute(text(sql))
        engine.dispose()

    def scalar(self, sql: str) -> Any:
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def workers_up(self, n: int) -> bool:
        return (self.scalar("SELECT count(*) FROM workers") or 0) >= n

    def idle(self, batches: int) -> bool:
        """`batches` batches done and no live worker busy (a killed worker's row stays as it was)."""
        live = "last_seen_at > now() - interval '5 seconds'"
        done = self.scalar("SELECT coalesce(sum(batches_done), 0) FROM workers") or 0
        busy = self.scalar(f"SELECT count(*) FROM workers WHERE current IS NOT NULL AND {live}")
        return done >= batches and busy == 0

    def fetched(self, count: int = 1) -> bool:
        """Every source fetched at least `count` times."""
        least = self.scalar(
            "SELECT min(n) FROM (SELECT s.id, count(f.id) AS n FROM sources s "
            "LEFT JOIN fetches f ON f.source_id = s.id GROUP BY s.id) t"
        )
        return least is not None and least >= count

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        try:
            import kombu

            with kombu.Connection(BROKER, connect_timeout=2) as conn:
                conn.default_channel.queue_delete(self.queue)
        except Exception:  # already gone
            pass


@pytest.fixture
def cluster_factory(tmp_path: Path, postgres_url: str, trained: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(sources: list[str], **kwargs: Any) -> Cluster:
        cluster = Cluster(tmp_path, postgres_url, sources, trained, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


def stored(db_url: str) -> tuple[set[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Items (guid, url, title) as a set, and sightings (item url, source, guid) as a sorted list: a list, so that a
    sighting stored twice shows. Which source stored an item first depends on which answered first: the
    sightings say who carried it."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        items = {tuple(r) for r in conn.execute(text("SELECT guid, url, title FROM items"))}
        sightings = sorted(
            tuple(r)
            for r in conn.execute(
                text("SELECT i.url, s.source_id, s.guid FROM sightings s JOIN items i ON i.id = s.item_id")
            )
        )
        assert conn.execute(text("SELECT count(*) FROM items")).scalar() == len(items)  # none stored twice
    engine.dispose()
    return items, sightings


def test_batches_keep_each_host_together() -> None:
    due = [("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c"), ("b2", "b"), ("a3", "a")]
    batches = make_batches(due, size=4)
    assert [b.sources for b in batches] == [["a1", "a2", "a3"], ["b1", "b2", "c1"]]
    assert [b.hosts for b in batches] == [["a"], ["b", "c"]]
    big = make_batches([(f"x{i}", "x") for i in range(5)] + [("y1", "y")], size=2)
    assert [b.sources for b in big] == [["x0", "x1", "x2", "x3", "x4"], ["y1"]]  # one host is never split
    assert host_of("http://Feeds.Example.org:8080/rss") == "feeds.example.org"


def test_broker_url_comes_from_settings_and_the_environment_wins(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "settings.toml").write_text('[distributed]\nbroker_url = "amqp://u:p@mq.lan:5672//"\nqueue = "q1"\n')
    monkeypatch.delenv("AGGREGATOR_BROKER_URL", raising=False)
    settings = load_settings(tmp_path)
    assert settings.distributed.resolved_broker_url == "amqp://u:p@mq.lan:5672//"
    monkeypatch.setenv("AGGREGATOR_BROKER_URL", "amqp://other:5672//")
    assert settings.distributed.resolved_broker_url == "amqp://other:5672//"
    (tmp_path / "settings.toml").write_text("[distributed]\nbatch_size = 0\n")
    with pytest.raises(Exception, match=r"\[distributed\] batch_size must be at least 1, got 0"):
        load_settings(tmp_path)


def _blocked(*argv: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`aggregator ARGV` in a Python where `import celery` fails, as it does without the extra."""
    code = (
        "import sys; sys.modules['celery'] = None; sys.modules['kombu'] = None\n"
        "from aggregator.cli.main import main; sys.argv = ['aggregator', *sys.argv[1:]]; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "--db", f"sqlite:///{tmp_path}/x.sqlite", *argv],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize("argv", [("worker",), ("run", "--distributed")])
def test_without_the_extra_it_says_what_to_install(tmp_path: Path, argv: tuple[str, ...]) -> None:
    done = _blocked(*argv, tmp_path=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'beat-aggregator[distributed]'" in lines[0]
    assert "Traceback" not in done.stderr


def test_distributed_mode_on_sqlite_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aggregator", "--db", f"sqlite:///{tmp_path}/x.sqlite", "run", "--distributed"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: distributed: needs PostgreSQL, the database is sqlite; set database_url in settings.toml or "
        "AGGREGATOR_DATABASE_URL (or --db) to a postgresql+psycopg:// URL"
    ]


def test_a_host_in_flight_waits_until_its_sources_are_fetched_and_not_for_requeue_after() -> None:
    from datetime import UTC, datetime, timedelta

    from aggregator.distributed.batches import Batch
    from aggregator.distributed.scheduler import Queued

    queued = Queued(requeue_after=1800)
    at = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    queued.add(Batch(["a", "b"], ["wire.example"]), {"wire.example": {"a", "b"}}, 100.0, at)
    due = {"a", "b"}
    assert queued.sources() == {"a", "b"}
    assert queued.pending(due, 101.0, {"a": None, "b": None}) == {"wire.example"}  # not fetched yet
    before = at - timedelta(minutes=5)
    assert queued.pending(due, 102.0, {"a": at + timedelta(seconds=3), "b": before}) == {"wire.example"}  # one of two
    # Both fetched since it was queued, and due again at once (a tick never saw them not due): no longer in flight.
    assert queued.pending(due, 103.0, {"a": at + timedelta(seconds=3), "b": at + timedelta(seconds=4)}) == set()
    queued.add(Batch(["a"], ["wire.example"]), {"wire.example": {"a"}}, 200.0, at)
    assert queued.pending(set(), 201.0, {}) == set()  # not due any more
    queued.add(Batch(["a"], ["wire.example"]), {"wire.example": {"a"}}, 300.0, at)
    assert queued.pending({"a"}, 300.0 + 1800, {}) == set()  # requeue_after passed


@needs_broker
@pytest.mark.slow
def test_two_workers_store_exactly_what_one_process_stores(
    tmp_path: Path, cluster_factory: Callable[..., Cluster], trained: Path
) -> None:
    servers = [TestServer(host=f"127.0.0.{n}") for n in range(1, 3)]
    try:
        tables = []
        for h, srv in enumerate(servers):
            srv.__enter__()
            for f in range(3):
                body = feed_body(srv.url(f"/f{f}"), 6)
                tables.append(source(f"h{h}f{f}", srv.add(f"/f{f}.xml", slow(body, 0.5))))
        cluster = cluster_factory(tables, batch_size=3)  # one host per batch: two batches, one per worker
        cluster.worker("w1")
        cluster.worker("w2")
        wait_for(lambda: cluster.workers_up(2), 90, "two workers")
        cluster.scheduler()
        wait_for(lambda: cluster.fetched() and cluster.idle(2), 150, "the two batches")
        per_worker = cluster.query("SELECT id, batches_done FROM workers ORDER BY id")
        assert len(per_worker) == 2 and all(done >= 1 for _, done in per_worker), per_worker  # both took work
        assert cluster.scalar("SELECT count(*) FROM fetches") == 6  # every source once: no batch ran twice

        status = subprocess.run(
            [sys.executable, "-m", "aggregator", "--config", str(cluster.config), "--db", cluster.db_url, "status"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert "workers seen in the last 5 min: 2" in status.stdout
        assert f"queue {cluster.queue}: 0 batch(es) waiting" in status.stdout
        assert "oldest due source: none" in status.stdout

        single = tmp_path / "single"
        single.mkdir()
        settings = Settings(
            data_dir=str(single / "data"),
            crawl=CrawlSettings(download_delay=0, autothrottle=False, timeout=30, allow_networks=["127.0.0.0/8"]),
        )
        settings.config_dir = single
        with_classifier(single / "data", trained)
        one = Database(f"sqlite:///{single / 'one.sqlite'}")
        run(one, settings, catalog(*tables))
        one.close()
        many_items, many_sightings = stored(cluster.db_url)
        one_items, one_sightings = stored(f"sqlite:///{single / 'one.sqlite'}")
        assert len(one_items) == 2 * 3 * 6 + 1  # the shared item is one item...
        assert len(one_sightings) == 2 * 3 * 6 + 6  # ...seen in all six feeds
        assert many_items == one_items
        assert many_sightings == one_sightings
        stories = cluster.scalar("SELECT count(*) FROM items WHERE story_id IS NULL")
        assert stories == 0  # grouped into stories on the workers
    finally:
        for srv in servers:
            srv.__exit__(None, None, None)


@needs_broker
@pytest.mark.slow
def test_a_worker_killed_mid_batch_has_its_batch_redone_without_duplicates(
    cluster_factory: Callable[..., Cluster], server: TestServer
) -> None:
    tables = [source(f"fast{n}", server.add(f"/fast{n}.xml", Reply(body=feed_body(server.url(f"/a{n}"), 5))))
              for n in range(3)]  # fmt: skip
    slow_url = server.add("/slow.xml", slow(feed_body(server.url("/s"), 5), 10.0))
    tables.append(source("slow", slow_url))
    cluster = cluster_factory(tables)
    first = cluster.worker("w1")
    wait_for(lambda: cluster.workers_up(1), 90, "the first worker")
    cluster.scheduler()
    # The slow feed trickles in for ten seconds: kill the worker while its crawl is reading it.
    wait_for(lambda: server.hits("/slow.xml"), 120, "the first worker to start on the slow feed")
    time.sleep(1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert cluster.scalar("SELECT count(*) FROM fetches WHERE source_id = 'slow'") == 0
    cluster.worker("w2")
    wait_for(lambda: cluster.fetched(), 150, "the batch, redone by the second worker")
    wait_for(lambda: cluster.idle(1), 60, "the second worker to finish the batch")
    assert len(server.hits("/slow.xml")) == 2  # asked again by the second worker
    items, sightings = stored(cluster.db_url)
    assert len(items) == 4 * 5 + 1  # nothing lost
    assert len(sightings) == 4 * 5 + 4  # nothing twice
    assert cluster.scalar("SELECT count(*) FROM fetches WHERE source_id = 'slow'") == 1
    assert "crawled" in cluster.log("w2")


@needs_broker
@pytest.mark.slow
def test_broker_restart_mid_run_scheduler_and_workers_carry_on(
    cluster_factory: Callable[..., Cluster], server: TestServer
) -> None:
    tables = [
        source(f"s{n}", server.add(f"/s{n}.xml", Reply(body=feed_body(server.url(f"/s{n}"), 4), etag=True)))
        for n in range(4)
    ]
    cluster = cluster_factory(tables)
    scheduler = cluster.scheduler()
    worker = cluster.worker("w1")
    wait_for(lambda: cluster.fetched(1), 120, "the first round")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=60)
    try:
        # Due again while the broker is away: the scheduler cannot queue them until it is back. The broker stays
        # away until the scheduler has tried (a fixed sleep could end before its next tick on a loaded machine).
        cluster.execute("UPDATE sources SET next_check_at = NULL")
        try:
            wait_for(lambda: "broker" in cluster.log("scheduler"), 90, "the scheduler to find the broker away")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log:\n{cluster.log('scheduler')}\nworker:\n{cluster.log('w1')}") from None
    finally:
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    wait_for(lambda: cluster.fetched(2), 150, "the second round, after the broker came back")
    assert scheduler.poll() is None and worker.poll() is None
    assert "trying again next tick" in cluster.log("scheduler")  # it noticed, and carried on
    items, sightings = stored(cluster.db_url)
    assert len(items) == 4 * 4 + 1 and len(sightings) == 4 * 4 + 4
    not_modified = cluster.scalar("SELECT count(*) FROM fetches WHERE http_status = 304")
    assert not_modified == 4  # the second round asked with the stored ETags


@needs_broker
@pytest.mark.slow
def test_two_schedulers_one_leads_the_other_waits_then_takes_over(
    cluster_factory: Callable[..., Cluster], server: TestServer
) -> None:
    cluster = cluster_factory([source("beat", server.add("/f.xml", Reply(body=feed_body(server.url("/f"), 2))))])
    first = cluster.scheduler("first")
    wait_for(lambda: "scheduler: leading" in cluster.log("first"), 90, "the first scheduler to lead")
    cluster.scheduler("second")
    wait_for(lambda: "waiting to take over" in cluster.log("second"), 90, "the second scheduler to wait")
    assert "queued" in cluster.log("first") and "queued" not in cluster.log("second")
    first.send_signal(signal.SIGKILL)
    first.wait()
    wait_for(lambda: "leading (took over)" in cluster.log("second"), 60, "the second scheduler to take over")

"""Scale benchmark (issue #16): N feeds x M items on N loopback hosts, one process against 1 and 2 workers.

    python bench/scale.py [--feeds 10000] [--items 20] [--batch 250] [--pg URL] [--broker URL]

Serves N generated feeds, each on a host of its own (127.1.x.y: all of 127.0.0.0/8 is loopback on Linux, so every
feed has its own politeness slot and host lock) from one asyncio server in a process of its own, answering
If-None-Match with 304. In the same run it crawls them into PostgreSQL with the single-process `aggregator crawl`,
then with `aggregator run --distributed` and 1, then 2, `aggregator worker` processes (a fresh database each), and
re-crawls every feed once more in single-process and 2-worker mode when all answer 304. It prints seconds,
feeds/minute and items/second for each, with the ratio to the single-process crawl. Needs PostgreSQL (--pg, else
$AGGREGATOR_TEST_POSTGRES_URL) and RabbitMQ (--broker, default amqp://guest:guest@127.0.0.1:5672//).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aggregator.classify.tagging import train_classifier  # noqa: E402
from aggregator.classify.topics import load_topics  # noqa: E402
from aggregator.config.settings import Settings  # noqa: E402
from tests import feedgen  # noqa: E402


def host(n: int) -> str:
    """Feed n's own loopback address, skipping .0 and .255."""
    return f"127.1.{n // 254}.{n % 254 + 1}"


def feed(n: int, items: int) -> bytes:
    base = f"https://outlet{n}.example.org/news"
    return feedgen.rss20([feedgen.item(i, base) for i in range(items)], title=f"Outlet {n}")


def serve(feeds: int, items: int, port: int, ready: Any) -> None:
    """One event loop, one listening socket per host: a small HTTP/1.1 server with keep-alive and ETags."""
    bodies = [feed(n, items) for n in range(feeds)]
    tags = [b'"' + hashlib.sha1(b).hexdigest()[:16].encode() + b'"' for b in bodies]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1]
                match = next(
                    (h.split(b":", 1)[1].strip() for h in lines[1:] if h.lower().startswith(b"if-none-match:")), None
                )
                n = int(path[2:-4]) if path.startswith(b"/f") and path.endswith(b".xml") else -1
                if not 0 <= n < feeds:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                elif match == tags[n]:
                    writer.write(b"HTTP/1.1 304 Not Modified\r\nETag: " + tags[n] + b"\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: " + tags[n]
                        + b"\r\nContent-Length: " + str(len(bodies[n])).encode() + b"\r\n\r\n" + bodies[n]
                    )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, host=[host(n) for n in range(feeds)], port=port, backlog=256)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host(0), 0))
        return int(sock.getsockname()[1])


class Bench:
    def __init__(self, args: argparse.Namespace, port: int, work: Path) -> None:
        self.args = args
        self.work = work
        self.admin = make_url(args.pg).set(drivername="postgresql+psycopg")
        self.queue = f"bench.{uuid.uuid4().hex[:8]}"
        self.config = work / "config"
        self.config.mkdir()
        shutil.copy(REPO / "config" / "topics.toml", self.config / "topics.toml")
        (self.config / "sources.toml").write_text(
            "".join(
                f'[[source]]\nid = "f{n}"\nname = "Outlet {n}"\nkind = "feed"\nurl = "http://{host(n)}:{port}/f{n}.xml"\n'
                'language = "en"\ntier = "news"\n\n'
                for n in range(args.feeds)
            )
        )
        (self.config / "settings.toml").write_text(
            f'data_dir = "{work / "data"}"\n'
            "[crawl]\ndownload_delay = 0\nautothrottle = false\nconcurrent_requests = 64\nconcurrent_per_host = 2\n"
            'timeout = "60s"\nretry_times = 1\nallow_networks = ["127.0.0.0/8"]\n'
            '[schedule]\ntick = "1s"\n'
            f'[distributed]\nbroker_url = "{args.broker}"\nqueue = "{self.queue}"\nbatch_size = {args.batch}\n'
            'heartbeat = "2s"\n'
        )
        settings = Settings(data_dir=str(work / "data"))
        settings.config_dir = self.config
        train_classifier(settings, load_topics(self.config))  # once, before any clock starts
        self.databases: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def database(self) -> str:
        name = f"bench_scale_{uuid.uuid4().hex[:8]}"
        engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.databases.append(name)
        url = self.admin.set(database=name).render_as_string(hide_password=False)
        from aggregator.store.database import Database

        Database(url).close()  # migrated before the clock starts
        return url

    def aggregator(self, db: str, *args: str, log: str) -> subprocess.Popen[bytes]:
        with open(self.work / f"{log}.log", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aggregator", "--config", str(self.config), "--db", db, *args],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.work,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    @staticmethod
    def scalar(db: str, sql: str) -> int:
        engine = create_engine(db)
        with engine.connect() as conn:
            value = conn.execute(text(sql)).scalar()
        engine.dispose()
        return int(value or 0)

    @staticmethod
    def execute(db: str, sql: str) -> None:
        engine = create_engine(db)
        with engine.begin() as conn:
            conn.execute(text(sql))
        engine.dispose()

    def single(self, db: str) -> float:
        start = time.perf_counter()
        proc = self.aggregator(db, "crawl", "-q", log="single")
        proc.wait()
        return time.perf_counter() - start

    def wait_fetched(self, db: str, rounds: int, start: float) -> float:
        """Until every feed has been fetched `rounds` times and the workers have finished (tagged, grouped) every
        batch of those rounds."""
        want = self.args.feeds * rounds
        batches = -(-self.args.feeds // self.args.batch) * rounds  # one host per feed: batches are full
        while (
            self.scalar(db, "SELECT count(*) FROM fetches") < want
            or self.scalar(db, "SELECT coalesce(sum(batches_done), 0) FROM workers") < batches
        ):
            time.sleep(0.5)
        return time.perf_counter() - start

    def distributed(self, db: str, workers: int, *, recrawl: bool) -> tuple[float, float | None]:
        started = [
            self.aggregator(db, "worker", "--concurrency", "1", log=f"worker{workers}-{i}") for i in range(workers)
        ]
        while self.scalar(db, "SELECT count(*) FROM workers") < workers:
            time.sleep(0.5)
        start = time.perf_counter()
        scheduler = self.aggregator(db, "run", "--distributed", log=f"scheduler{workers}")
        first = self.wait_fetched(db, 1, start)
        again = None
        if recrawl:
            start = time.perf_counter()
            self.execute(db, "UPDATE sources SET next_check_at = NULL")
            again = self.wait_fetched(db, 2, start)
        for proc in [scheduler, *started]:
            proc.send_signal(signal.SIGTERM)
        for proc in [scheduler, *started]:
            proc.wait()
        return first, again

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self.databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
        try:
            import kombu

            with kombu.Connection(self.args.broker, connect_timeout=3) as conn:
                conn.default_channel.queue_delete(self.queue)
        except Exception:  # never declared, or the broker is gone: nothing to tidy
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--batch", type=int, default=250, help="sources per distributed batch")
    parser.add_argument("--pg", default=os.environ.get("AGGREGATOR_TEST_POSTGRES_URL"))
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    args = parser.parse_args()
    if not args.pg:
        sys.exit("bench/scale.py needs PostgreSQL: --pg URL or $AGGREGATOR_TEST_POSTGRES_URL")
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.feeds, args.items, port, ready), daemon=True)
    server.start()
    if not ready.wait(120):
        sys.exit("the feed server did not start")
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    bench = Bench(args, port, work)
    items = args.feeds * args.items
    rows: list[tuple[str, float]] = []
    try:
        db = bench.database()
        rows.append(("single process", bench.single(db)))
        stored = bench.scalar(db, "SELECT count(*) FROM items")
        bench.execute(db, "UPDATE sources SET next_check_at = NULL")
        rows.append(("single process, all 304", bench.single(db)))
        one, _ = bench.distributed(bench.database(), 1, recrawl=False)
        rows.append(("1 worker", one))
        two, two_again = bench.distributed(bench.database(), 2, recrawl=True)
        rows.append(("2 workers", two))
        rows.append(("2 workers, all 304", two_again or 0.0))
    finally:
        bench.close()
        server.terminate()
    print(f"{args.feeds} feeds x {args.items} items on {args.feeds} loopback hosts, batches of {args.batch}; "
          f"{stored} items stored by the single-process crawl ({os.cpu_count()} cores)")  # fmt: skip
    base = {"single process": rows[0][1], "single process, all 304": rows[1][1]}
    print(f"{'mode':<26}{'seconds':>9}{'feeds/min':>11}{'items/s':>9}  ratio to one process")
    for name, seconds in rows:
        baseline = base["single process, all 304"] if "304" in name else base["single process"]
        rate = "-" if "304" in name else f"{items / seconds:,.0f}"
        print(f"{name:<26}{seconds:>9.1f}{args.feeds / seconds * 60:>11,.0f}{rate:>9}  {baseline / seconds:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Capture benchmark: the crawl's cost per item with WARC capture on against off, in the same run.

    python bench/capture.py [--feeds 50] [--items 20] [--rounds 2]

N local full-text feeds x M items, each item's article page fetched: every crawl fetches N feeds and N x M
pages into a fresh SQLite database, alternately with [capture] enabled = false (the baseline) and true. Prints
wall and CPU seconds per 1,000 items for each (the best of the rounds), the ratio, and the WARC bytes written
per item against the bytes served.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.config.settings import CaptureSettings, CrawlSettings, Settings  # noqa: E402
from aggregator.config.sources import parse_sources  # noqa: E402
from aggregator.spiders.process import crawl_sources  # noqa: E402
from aggregator.store.database import Database  # noqa: E402
from aggregator.store.warc import CAPTURE_DIR  # noqa: E402
from tests import feedgen  # noqa: E402
from tests.httpserver import Reply, TestServer  # noqa: E402

WORDS = (
    "the cartel border patrol officials said on tuesday that agents seized fentanyl at the port of entry near "
    "Nogales while federal prosecutors announced an indictment against a smuggling network in Sonora and the "
    "state police reported arrests after an attack on a checkpoint outside the town last week"
).split()


def paragraphs(rng: random.Random) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 70))) + "." for _ in range(rng.randint(5, 9))]


def serve(server: TestServer, feeds: int, items: int) -> int:
    """Add the feeds and their pages to the server; returns the bytes it will serve."""
    rng = random.Random(11)
    served = 0
    for f in range(feeds):
        entries = [feedgen.item(n, f"{server.base}/s{f}", summary="<p>A teaser.</p>") for n in range(items)]
        for entry in entries:
            page = feedgen.article_page(entry["title"], paragraphs(rng))
            server.add(entry["link"].removeprefix(server.base), Reply(body=page, content_type="text/html"))
            served += len(page)
        body = feedgen.rss20(entries, title=f"Bench feed {f}")
        server.add(f"/feed/{f}", Reply(body=body))
        served += len(body)
    return served


def crawl(tmp: str, name: str, server: TestServer, feeds: int, capture: bool) -> tuple[float, float, int]:
    """One first crawl of every feed and page; (wall s, CPU s, WARC bytes written)."""
    crawl_settings = CrawlSettings(
        download_delay=0,
        autothrottle=False,
        concurrent_requests=32,
        concurrent_per_host=32,
        retry_times=0,
        timeout=60,
        obey_robots_txt=False,
        fulltext_per_source=10_000,
        allow_networks=["127.0.0.1/32"],  # the bench's own server
    )
    settings = Settings(data_dir=f"{tmp}/{name}", crawl=crawl_settings, capture=CaptureSettings(enabled=capture))
    settings.config_dir = Path(tmp) / "config"
    toml = "".join(
        f'[[source]]\nid = "f{n}"\nname = "F{n}"\nkind = "feed"\nurl = "{server.base}/feed/{n}"\n'
        'language = "en"\ntier = "news"\nfulltext = true\n'
        for n in range(feeds)
    )
    db = Database(f"sqlite:///{tmp}/{name}.sqlite")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    outcome = crawl_sources(db, settings, parse_sources(toml, Path("bench.toml")))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    db.close()
    if outcome.exit_code != 0:
        raise SystemExit(f"crawl failed, see {outcome.log_path}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    written = sum(p.stat().st_size for p in (settings.data_path / CAPTURE_DIR).glob("*.warc.gz"))
    return wall, cpu, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    total = args.feeds * args.items
    best: dict[bool, tuple[float, float, int]] = {}
    with TestServer() as server, tempfile.TemporaryDirectory() as tmp:
        served = serve(server, args.feeds, args.items)
        print(
            f"{args.feeds} feeds x {args.items} items = {total:,} items and pages, {served / 1024 / 1024:.1f} MB served"
        )
        for n in range(args.rounds):
            for capture in (False, True):  # alternated, so a slower moment of the machine hits both
                wall, cpu, written = crawl(tmp, f"r{n}-{capture}", server, args.feeds, capture)
                kept = best.get(capture)
                best[capture] = (min(wall, kept[0]), min(cpu, kept[1]), written) if kept else (wall, cpu, written)
    for capture in (False, True):
        wall, cpu, written = best[capture]
        label = "capture on " if capture else "capture off"
        print(
            f"{label}: {wall:6.1f} s wall, {wall / total * 1000:6.2f} s and {cpu / total * 1000:5.2f} CPU s per "
            f"1,000 items" + (f", {written / total / 1024:.1f} KB of WARC per item" if capture else " (baseline)")
        )
    (off_wall, off_cpu, _), (on_wall, on_cpu, written) = best[False], best[True]
    print(
        f"capture costs {on_wall / off_wall:.2f}x the wall time and {on_cpu / off_cpu:.2f}x the CPU of the same crawl "
        f"without it; WARC files hold {written / served:.2f}x the bytes served (gzip records, request records too)"
    )


if __name__ == "__main__":
    main()

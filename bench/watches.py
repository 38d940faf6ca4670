"""Watches benchmark: the crawl's CPU per item with 50 watches on (matched and delivered) against off, same run.

    python bench/watches.py [--feeds 100] [--items 50] [--watches 50]

Crawls the same local feeds into two fresh SQLite databases; the second also runs every watch over what the
crawl stored (search-engine matching, the delivery log, an Atom feed per watch). Prints CPU seconds per 1,000
items (crawl process + this process) for each, and the ratio (target: under 1.20 with entities on too).
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.services.context import Context  # noqa: E402
from aggregator.services.watching import run_watches, watch_mark  # noqa: E402
from aggregator.spiders.process import crawl_sources  # noqa: E402
from aggregator.store.database import Database  # noqa: E402
from bench.crawl import build_feeds  # noqa: E402
from bench.items import WORDS  # noqa: E402
from tests.httpserver import Reply, TestServer  # noqa: E402

SETTINGS = (
    'data_dir = "data"\n[crawl]\ndownload_delay = 0\nautothrottle = false\nconcurrent_requests = 32\n'
    'concurrent_per_host = 32\nretry_times = 0\ntimeout = "60s"\nallow_networks = ["127.0.0.1/32"]\n'
)


def watch_queries(count: int) -> list[str]:
    """Queries of the shapes reporters write: words, OR, phrases, prefixes, NOT, filters."""
    rng = random.Random(11)
    # The bench's beat words are in most items (a watch on any one of them alerts on ~40% of a crawl), so the
    # shapes combine them, as real watches on a name or a phrase are rare; `matched` says how many alerts.
    shapes = (
        lambda a, b: f'"{a} {b}"',
        lambda a, b: f"{a} {b} {a[:3]}*",
        lambda a, b: f'"{a} {b}" OR "{b} {a}"',
        lambda a, b: f"{a} {b} -cartel lang:en",
        lambda a, b: f'("{a} {b}" OR "{b} {a}") since:2020',
    )
    return [shapes[n % len(shapes)](rng.choice(WORDS).lower(), rng.choice(WORDS).lower()) for n in range(count)]


def config_dir(root: Path, base: str, feeds: int, queries: list[str]) -> Path:
    config = root / "config"
    config.mkdir(parents=True)
    (config / "settings.toml").write_text(SETTINGS, encoding="utf-8")
    shutil.copy(Path(__file__).resolve().parents[1] / "config" / "topics.toml", config / "topics.toml")
    sources = "".join(
        f'[[source]]\nid = "s{n}"\nname = "S{n}"\nkind = "feed"\nurl = "{base}/f/{n}"\nlanguage = "en"\ntier = "news"\n'
        for n in range(feeds)
    )
    (config / "sources.toml").write_text(sources, encoding="utf-8")
    watches = "".join(f'[[watch]]\nid = "w{n}"\nquery = \'{q}\'\ndeliver = ["atom"]\n' for n, q in enumerate(queries))
    (config / "watches.toml").write_text(watches, encoding="utf-8")
    return config


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(config: Path, *, watches: bool) -> tuple[float, float, int]:
    """(CPU seconds of the crawl process, CPU seconds here for the watches, alerts queued)."""
    ctx = Context(config)
    db = Database(f"sqlite:///{config.parent / 'bench.sqlite'}")
    mark = watch_mark(db)
    before = cpu(resource.RUSAGE_CHILDREN)
    outcome = crawl_sources(db, ctx.settings, ctx.catalog())
    if outcome.exit_code != 0:
        raise SystemExit(f"crawl failed, see {outcome.log_path}")
    crawl_cpu = cpu(resource.RUSAGE_CHILDREN) - before
    here, matched = cpu(resource.RUSAGE_SELF), 0
    if watches:
        run = run_watches(ctx, db, start_after=mark)
        if run.problems:
            raise SystemExit("; ".join(run.problems))
        matched = sum(run.matched.values())
    watch_cpu = cpu(resource.RUSAGE_SELF) - here if watches else 0.0
    db.close()
    return crawl_cpu, watch_cpu, matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--watches", type=int, default=50)
    args = parser.parse_args()
    total = args.feeds * args.items
    queries = watch_queries(args.watches)
    with TestServer() as server, tempfile.TemporaryDirectory() as tmp:
        for n, body in enumerate(build_feeds(server.base, args.feeds, args.items)):
            server.add(f"/f/{n}", Reply(body=body))
        print(f"{args.feeds} feeds x {args.items} items = {total:,} items; {args.watches} watches")
        results = {}
        for variant in ("off", "on"):
            config = config_dir(Path(tmp) / variant, server.base, args.feeds, queries)
            started = time.perf_counter()
            results[variant] = measure(config, watches=variant == "on")
            crawl_cpu, watch_cpu, matched = results[variant]
            per = (crawl_cpu + watch_cpu) / total * 1000
            wall = time.perf_counter() - started
            print(f"watches {variant:3}: crawl {crawl_cpu:6.2f} s CPU + watches {watch_cpu:5.2f} s CPU = "
                  f"{per:6.3f} s per 1,000 items ({matched:,} alerts; {wall:.1f} s wall)")  # fmt: skip
        off, on = (sum(results[v][:2]) for v in ("off", "on"))
        print(f"ratio on/off: {on / off:.3f} (CPU per item; target < 1.20 with entities too)")


if __name__ == "__main__":
    main()

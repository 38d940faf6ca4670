"""Crawl benchmark: N local feeds x M items through the whole crawl into SQLite, against bare feedparser.

    python bench/crawl.py [--feeds 500] [--items 50] [--rounds 1] [--entities [--watches 50]]

Prints items/s end to end, CPU seconds per 1,000 items and peak memory of the crawl process, the time to
re-crawl every feed when nothing changed (304, and same body without validators), and in the same run the
throughput of bare `feedparser.parse` on the same bytes (the baseline), and what tagging costs the crawl per item
(the CPU of the crawl's tagging step, as the crawl process reports it) against bench/classify.py's figure for
crawl-length items measured in the same run (issue #13's target: no more) and the classifier alone on the same
stored items; as a cross-check, the tagging crawl's CPU less that of a crawl without tagging. With
--entities, it also crawls the same feeds four times more, tagging topics in each: without entities and watches,
then with the shipped entities.toml matched in the crawl and 50 watches of the kinds reporters write run after it
(as `aggregator crawl` does), and again; it prints the CPU per item of each and their ratio (issue #14's budget: under
1.2x).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.config.settings import CrawlSettings, Settings  # noqa: E402
from aggregator.config.sources import parse_sources  # noqa: E402
from aggregator.parse.feeds import parse_feed  # noqa: E402
from aggregator.spiders.process import crawl_sources  # noqa: E402
from aggregator.store.database import Database  # noqa: E402
from bench.classify import batched, crawl_length_cost, median_time  # noqa: E402
from bench.items import WORDS, crawl_length_items, summary, title  # noqa: E402
from tests import feedgen  # noqa: E402
from tests.httpserver import Reply, TestServer  # noqa: E402


def build_feeds(base: str, feeds: int, items: int) -> list[bytes]:
    rng = random.Random(7)
    out = []
    for f in range(feeds):
        entries = [feedgen.item(n, f"{base}/s{f}", title=title(rng), summary=summary(rng)) for n in range(items)]
        out.append(feedgen.rss20(entries, title=f"Bench feed {f}"))
    return out


def baseline(bodies: list[bytes], items: int) -> tuple[float, float, float]:
    """items/s of feedparser defaults, of feedparser without its sanitiser, and of our parse_feed."""
    sample = bodies[: max(1, min(len(bodies), 40))]
    rates = []
    for fn in (
        lambda b: feedparser.parse(b),
        lambda b: feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False),
        lambda b: parse_feed(b, source_id="x", url="http://127.0.0.1/feed"),
    ):
        started = time.perf_counter()
        for body in sample:
            fn(body)
        rates.append(len(sample) * items / (time.perf_counter() - started))
    return rates[0], rates[1], rates[2]


def crawl_once(
    db: Database, settings: Settings, catalog: object, wanted: list[str] | None
) -> tuple[float, float, tuple[int, float]]:
    """Wall and CPU seconds of the crawl process, and what it says its tagging cost: (items, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    outcome = crawl_sources(db, settings, catalog, wanted=wanted)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if outcome.exit_code != 0:
        raise SystemExit(f"crawl failed, see {outcome.log_path}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, (outcome.tagged, outcome.tagging_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument(
        "--entities", action="store_true", help="Also measure entity matching and watches, on against off."
    )
    parser.add_argument("--watches", type=int, default=50, help="Watches run after the crawl with --entities.")
    parser.add_argument(
        "--rounds", type=int, default=1, help="Crawl with and without tagging this many times, taking turns; the "
        "tagging cost is the median of the rounds' differences (this machine's speed swings over minutes)."
    )  # fmt: skip
    args = parser.parse_args()
    total = args.feeds * args.items
    with TestServer() as server, tempfile.TemporaryDirectory() as tmp:
        bodies = build_feeds(server.base, args.feeds, args.items)
        for n, body in enumerate(bodies):
            server.add(f"/etag/{n}", Reply(body=body, etag=True))
            server.add(f"/plain/{n}", Reply(body=body))
        mean_kb = sum(len(b) for b in bodies) / total / 1024
        print(f"{args.feeds} feeds x {args.items} items = {total:,} items, {mean_kb:.1f} KB per item (RSS bytes)")
        fp_default, fp_fast, ours = baseline(bodies, args.items)
        print(f"baseline  feedparser.parse, defaults:              {fp_default:8,.0f} items/s")
        print(f"          feedparser.parse, no sanitise/resolve:   {fp_fast:8,.0f} items/s")
        print(f"          aggregator parse_feed (+ nh3 sanitise):  {ours:8,.0f} items/s")

        repo_config = Path(__file__).resolve().parents[1] / "config"
        crawl = CrawlSettings(
            download_delay=0,
            autothrottle=False,
            concurrent_requests=32,
            concurrent_per_host=32,
            retry_times=0,
            timeout=60,
            allow_networks=["127.0.0.1/32"],  # the bench's own feed server
        )
        costs: list[float] = []
        steps: list[float] = []
        alone: list[float] = []
        classify_bench: list[float] = []
        for round_no in range(args.rounds):
            first_cpu: dict[str, float] = {}
            for variant in ("etag", "plain"):
                # The first variant tags items by topic in the crawl (as `aggregator crawl` does); the second not.
                tagging = variant == "etag"
                settings = Settings(data_dir=f"{tmp}/{round_no}/{variant}", crawl=crawl)
                settings.config_dir = repo_config
                if tagging:
                    from aggregator.classify.tagging import load_classifier
                    from aggregator.classify.topics import load_topics

                    load_classifier(settings, load_topics(repo_config))
                toml = "".join(
                    f'[[source]]\nid = "{variant}{n}"\nname = "B{n}"\nkind = "feed"\n'
                    f'url = "{server.base}/{variant}/{n}"\nlanguage = "en"\ntier = "news"\n'
                    for n in range(args.feeds)
                )
                catalog = parse_sources(toml, Path("bench.toml"))
                db = Database(f"sqlite:///{tmp}/{round_no}-{variant}.sqlite")
                wall, cpu, (tagged, tagging_cpu) = crawl_once(db, settings, catalog, None)
                # The kernel keeps one figure for all children: the largest crawl process's peak so far.
                peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
                what = "first crawl, tagging topics" if tagging else "first crawl, no tagging   "
                print(
                    f"{what}: {wall:5.1f} s wall, {total / wall:6,.0f} items/s end to end "
                    f"({total / wall / fp_default:.1f}x bare feedparser), {cpu / total * 1000:.2f} CPU s per "
                    f"1,000 items, peak RSS of the largest crawl process so far {peak_mb:.0f} MB"
                )
                first_cpu[variant] = cpu
                if tagging:
                    if tagged != total:
                        raise SystemExit(f"the crawl says it tagged {tagged:,} items of {total:,}")
                    steps.append(tagging_cpu / tagged * 1000)
                    on_stored, on_made = classifier_alone(db, settings, repo_config)
                    alone.append(on_stored)
                    classify_bench.append(on_made)
                if round_no == 0:
                    ids = [s.id for s in catalog.sources]
                    wall, cpu, _ = crawl_once(db, settings, catalog, ids)
                    how = "304 Not Modified" if variant == "etag" else "same body, no validators"
                    print(f"re-crawl ({how}): {wall:5.2f} s wall for {args.feeds} feeds, {cpu:.2f} CPU s")
                db.close()
            costs.append((first_cpu["etag"] - first_cpu["plain"]) / total * 1000)
        step, by_itself = statistics.median(steps), statistics.median(alone)
        difference, bench = statistics.median(costs), statistics.median(classify_bench)
        rounds = ", ".join(f"{c:.3f}" for c in steps)
        print(
            f"tagging in the crawl, as the crawl process timed it (CPU of its tagging step: classifier load, "
            f"predict, tags stored), median of {args.rounds}: {step:.3f} ms per item ({rounds})"
        )
        print(
            f"  against bench/classify.py's figure for crawl-length items, measured here: {bench:.3f} ms "
            f"({step / bench:.2f}x, target <= 1.00); the classifier alone on the same stored items: "
            f"{by_itself:.3f} ms ({step / by_itself:.2f}x)"
        )
        rounds = ", ".join(f"{c:.3f}" for c in costs)
        print(
            f"  cross-check, the tagging crawl's CPU less the other's: {difference:.3f} ms per item ({rounds}; "
            "this also counts what tagging costs the rest of the crawl, and the machine's swings)"
        )
        if args.entities:
            entity_cost(server.base, Path(tmp), args.feeds, total, crawl, repo_config, args.watches)


def classifier_alone(db: Database, settings: Settings, repo_config: Path) -> tuple[float, float]:
    """CPU ms per item of the crawl's classifier predicting in batches, in this process: on its stored items, and
    bench/classify.py's figure for crawl-length items (its own code, measured here in the same run)."""
    from sqlalchemy import select

    from aggregator.classify.rules import RuleEngine
    from aggregator.classify.tagging import BATCH, load_classifier
    from aggregator.classify.topics import load_topics
    from aggregator.models import Item

    topics = load_topics(repo_config)
    clf = load_classifier(settings, topics)
    with db.session() as session:
        rows = session.execute(select(Item.title, Item.summary_text, Item.text, Item.language)).all()
    stored = [r._asdict() for r in rows]
    clf.predict(stored[:BATCH])  # the crawl's process has warmed its caches by then too
    on_stored = median_time(batched(clf, stored), runs=1) / len(stored) * 1000
    _, made = crawl_length_cost(clf, RuleEngine(topics), crawl_length_items(1000, random.Random(7)), runs=5)
    return on_stored, made


def realistic_watches(count: int, entity_ids: list[str]) -> list[str]:
    """Watches as a reporter writes them: mostly a name (entity:ID), some narrowed by topic or language, a few
    phrases of the beat. bench/watches.py keeps the stress case (broad word watches, several alerts per item)."""
    rng = random.Random(5)
    shapes = (
        lambda e, a, b: f"entity:{e}",
        lambda e, a, b: f"entity:{e} topic:cartels",
        lambda e, a, b: f'"{a} {b}"',
        lambda e, a, b: f"entity:{e} lang:en",
        lambda e, a, b: f'"{a} {b}" OR "{b} {a}"',
    )
    return [
        shapes[n % len(shapes)](entity_ids[n % len(entity_ids)], rng.choice(WORDS).lower(), rng.choice(WORDS).lower())
        for n in range(count)
    ]


def entity_cost(base: str, tmp: Path, feeds: int, total: int, crawl: CrawlSettings, repo_config: Path,
                watches: int) -> None:  # fmt: skip
    """CPU per item of a tagging crawl with no entities (an empty entities.toml) and no watches, against the same
    crawl with the shipped entities matched in it and `watches` watches run after it (matched, queued, delivered
    to their Atom feeds), as `aggregator crawl` does; in turn, twice each."""
    import shutil

    from sqlalchemy import func, select

    from aggregator.classify.tagging import load_classifier
    from aggregator.config.entities import load_entities
    from aggregator.models import EntityMention
    from aggregator.services.context import Context
    from aggregator.services.watching import run_watches, watch_mark

    queries = realistic_watches(watches, [e.id for e in load_entities(repo_config).entities])
    configs = {}
    for label in ("off", "on"):
        config = configs[label] = tmp / f"config-{label}"
        config.mkdir()
        (config / "settings.toml").write_text(
            f'data_dir = "{tmp}/data-{label}"\n[crawl]\ndownload_delay = 0\nautothrottle = false\n'
            'concurrent_requests = 32\nconcurrent_per_host = 32\nretry_times = 0\ntimeout = "60s"\n'
            'allow_networks = ["127.0.0.1/32"]\n',
            encoding="utf-8",
        )
        shutil.copyfile(repo_config / "topics.toml", config / "topics.toml")
        if label == "off":
            (config / "entities.toml").write_text("", encoding="utf-8")
        else:
            shutil.copyfile(repo_config / "entities.toml", config / "entities.toml")
            tables = (f'[[watch]]\nid = "w{n}"\nquery = \'{q}\'\ndeliver = ["atom"]\n' for n, q in enumerate(queries))
            (config / "watches.toml").write_text("".join(tables), encoding="utf-8")
    toml = "".join(
        f'[[source]]\nid = "p{n}"\nname = "B{n}"\nkind = "feed"\nurl = "{base}/plain/{n}"\n'
        'language = "en"\ntier = "news"\n'
        for n in range(feeds)
    )
    cost, alerts = {}, 0
    for label in ("off", "on", "off again", "on again"):
        ctx = Context(configs[label.split()[0]])
        load_classifier(ctx.settings, ctx.topics())
        db = Database(f"sqlite:///{tmp}/ent-{label.replace(' ', '-')}.sqlite")
        mark = watch_mark(db)
        _, cpu, _ = crawl_once(db, ctx.settings, parse_sources(toml, Path("bench.toml")), None)
        here = resource.getrusage(resource.RUSAGE_SELF)
        if label.startswith("on"):
            run = run_watches(ctx, db, start_after=mark)
            if run.problems:
                raise SystemExit("; ".join(run.problems))
            alerts = sum(run.matched.values())
        after = resource.getrusage(resource.RUSAGE_SELF)
        watch_cpu = (after.ru_utime - here.ru_utime) + (after.ru_stime - here.ru_stime)
        with db.session() as session:  # proof that the crawl matched: mentions it stored
            mentions = session.scalar(select(func.count()).select_from(EntityMention)) or 0
        db.close()
        cost[label] = (cpu + watch_cpu) / total * 1000
        print(f"tagging crawl, entities and watches {label:9}: {cost[label]:.2f} CPU s per 1,000 items "
              f"(of which watches {watch_cpu / total * 1000:.2f}; {mentions:,} entity mentions stored)")  # fmt: skip
    off_cpu, on_cpu = (cost["off"] + cost["off again"]) / 2, (cost["on"] + cost["on again"]) / 2
    print(
        f"every shipped entity and {watches} watches ({alerts:,} alerts, {alerts / total:.2f} per item) cost "
        f"{on_cpu - off_cpu:+.2f} CPU s per 1,000 items: {on_cpu / off_cpu:.3f}x the crawl without them "
        "(target < 1.20; mean of two runs each, interleaved)"
    )


if __name__ == "__main__":
    main()

"""Trace benchmark: a generated 1,000-word text traced against N generated items on SQLite, next to a plain search.

    python bench/trace.py [--items 1000000] [--db PATH] [--runs 3]

The collection is bench/search.py's (the same generator: 300 sources in English and Spanish, beat vocabulary with
a long tail of names), built once into --db (default /tmp/bench-trace-N.sqlite) and reused. The text has about
50 claims drawn from the same vocabulary, common words included, some naming an outlet. The baseline is the plain
full-text search a reporter would otherwise run: each claim's own content words OR-ed, the first page of 5 hits by
relevance (aggregator.search.hits.search). Prints the median time of each over --runs runs and their ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from aggregator.config.sources import parse_sources  # noqa: E402
from aggregator.models import Item  # noqa: E402
from aggregator.search.hits import search  # noqa: E402
from aggregator.store.database import Database  # noqa: E402
from aggregator.text import fold_for_index  # noqa: E402
from aggregator.trace.claims import split_claims  # noqa: E402
from aggregator.trace.terms import claim_terms  # noqa: E402
from aggregator.trace.tracing import trace_text  # noqa: E402

FILLER = (
    "the cartel has been moving more than before and officials say that the trend continues across the region "
    "while analysts warn about new routes"
).split()


def _generator():  # type: ignore[no-untyped-def]
    """bench/search.py as a module: its collection generator and vocabulary (one implementation of both)."""
    spec = importlib.util.spec_from_file_location("bench_search", Path(__file__).with_name("search.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text_of(words: int, seed: int = 7) -> str:
    """About `words` words of claims in the collection's vocabulary, a few of them naming an outlet."""
    gen = _generator()
    rng = random.Random(seed)
    names = gen._names(random.Random(1), 50_000)
    sentences, count = [], 0
    while count < words:
        picked = rng.sample(gen.COMMON_EN, 3) + rng.sample(gen.BEAT_EN, 3) + rng.sample(gen.PLACES, 1)
        picked += [rng.choice(gen.GROUPS), rng.choice(names)] + rng.sample(FILLER, 8)
        rng.shuffle(picked)
        lead = f"According to Outlet {rng.randrange(300)}, " if rng.random() < 0.2 else ""
        sentence = lead + " ".join(picked) + "."
        sentences.append(sentence[0].upper() + sentence[1:])
        count += len(sentence.split())
    return "\n\n".join(" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4))


def _plain_query(claim: str) -> str:
    """The search a reporter would type for a claim: its own content words (no stop words), OR-ed."""
    words = {fold_for_index(w) for w in re.findall(r"[^\W_]+", claim)}
    return " OR ".join(t.key for t in claim_terms(claim) if not t.text.prefix and t.key in words)


def _catalog():  # type: ignore[no-untyped-def]
    tables = "\n".join(
        f'[[source]]\nid = "s{i}"\nname = "Outlet {i}"\nkind = "feed"\nurl = "https://o{i}.example/feed"\n'
        f'language = "{"es" if i % 2 else "en"}"\ntier = "news"\n'
        for i in range(300)
    )
    return parse_sources(tables, Path("sources.toml")).sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="Cache of the generated collection (default /tmp/...).")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = Path(args.db or f"/tmp/bench-trace-{args.items}.sqlite")
    db = Database(f"sqlite:///{path}")
    with db.session() as session:
        have = session.scalar(select(Item.id).order_by(Item.id.desc()).limit(1)) or 0
    if have != args.items:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = Database(f"sqlite:///{path}")
        started = time.perf_counter()
        _generator().generate(db, args.items)
        print(f"generated and indexed {args.items:,} items in {time.perf_counter() - started:.0f} s")
    text = text_of(1000)
    claims = split_claims(text)
    sources = _catalog()
    queries = [_plain_query(c.text) for c in claims]
    print(f"collection: {args.items:,} items in {path} ({path.stat().st_size / 2**20:,.0f} MB)")
    print(f"text: {len(text.split()):,} words, {len(claims)} claims")
    with db.session() as session:  # warm-up: imports (sentence splitter, stop words) and the page cache
        trace_text(session, text[:2000], sources)
        search(session, queries[0], limit=5)
    traced, searched = [], []
    for _ in range(args.runs):
        with db.session() as session:
            start = time.perf_counter()
            result = trace_text(session, text, sources)
            traced.append(time.perf_counter() - start)
        with db.session() as session:
            start = time.perf_counter()
            for query in queries:
                search(session, query, limit=5)
            searched.append(time.perf_counter() - start)
    matched = sum(1 for c in result.claims if c.matches)
    trace_s, search_s = statistics.median(traced), statistics.median(searched)
    print(f"trace:  {trace_s:6.2f} s for the whole text ({trace_s / len(claims) * 1000:.0f} ms a claim; "
          f"{matched}/{len(result.claims)} claims matched)")  # fmt: skip
    print(f"search: {search_s:6.2f} s for the same claims as plain OR queries, first page of 5 by relevance")
    print(f"ratio trace / search: {trace_s / search_s:.2f}  (median of {args.runs} runs)")
    db.close()


if __name__ == "__main__":
    main()

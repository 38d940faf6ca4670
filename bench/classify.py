"""Topic classifier benchmark: tagging throughput, training time on 10,000 examples, classifier memory.

    python bench/classify.py [--items 5000] [--train 10000] [--runs 5]

Prints, as medians of several runs (the machine is shared and noisy):
  * tagging throughput (items/s, title + summary) of the full classifier (rules + model, with explanations),
    in batches and one item per call, against the rules alone measured in the same run (the baseline); the runs
    take turns (rules, batches, one by one, again), so a slow spell of the machine hits them all alike;
  * the same for crawl-length items, made as bench/crawl.py makes them (9-word title, 3-6 paragraphs of HTML,
    about 1 KB), in CPU ms per item: the figure bench/crawl.py compares the crawl's tagging cost with;
  * training time on N examples made by combining seed examples (each: one example's title and text plus
    another's text, labels the union), against the cold-start training on the seed alone;
  * the classifier's size: arrays and vocabulary in memory, and on disk as saved.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.classify.classifier import Classifier  # noqa: E402
from aggregator.classify.examples import SEED_PATH, examples_from_records, load_records  # noqa: E402
from aggregator.classify.rules import RuleEngine  # noqa: E402
from aggregator.classify.topics import load_topics  # noqa: E402
from bench.items import crawl_length_items  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def median_time(fn: Callable[[], object], runs: int) -> float:
    return taking_turns([fn], runs)[0]


def taking_turns(fns: list[Callable[[], object]], runs: int) -> list[float]:
    """Each function's median CPU time over `runs` rounds, one call of each per round.

    CPU time, not wall time: on a shared machine the wall clock also counts the time other guests ran.
    """
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, spent in zip(fns, times, strict=True):
            start = time.process_time()
            fn()
            spent.append(time.process_time() - start)
    return [statistics.median(spent) for spent in times]


def rules_only(engine: RuleEngine, batch: list[dict]) -> Callable[[], object]:
    return lambda: [engine.score(it["title"], it["summary"], it["lang"]) for it in batch]


def batched(clf: Classifier, batch: list[dict]) -> Callable[[], object]:
    return lambda: [clf.predict(batch[start : start + 256]) for start in range(0, len(batch), 256)]


def crawl_length_cost(clf: Classifier, engine: RuleEngine, items: list[dict], runs: int) -> tuple[float, float]:
    """CPU ms per crawl-length item of the rules alone and of the classifier in batches, taking turns: the figure
    this bench prints for them, and the one bench/crawl.py measures in its own run to compare the crawl with."""
    clf.predict(items[:500])  # warm the word caches, as a running crawler would have them
    t_rules, t_clf = taking_turns([rules_only(engine, items), batched(clf, items)], runs)
    return t_rules / len(items) * 1000, t_clf / len(items) * 1000


def synthetic(records: list[dict], n: int, rng: random.Random) -> list[dict]:
    """N distinct labelled examples built from pairs of seed examples."""
    out = []
    for i in range(n):
        a, b = rng.choice(records), rng.choice(records)
        out.append({"title": f"{a['title']} ({i})", "text": f"{a['text']} {b['text']}", "lang": a["lang"],
                    "labels": sorted(set(a["labels"]) | set(b["labels"]))})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    topics = load_topics(REPO / "config")
    seed = load_records(SEED_PATH)
    pool = seed + load_records(REPO / "tests" / "data" / "eval_dev.jsonl")
    items = [{"title": r["title"], "summary": r["text"], "lang": r.get("lang")} for r in pool]
    items = [items[i % len(items)] for i in range(args.items)]
    rng.shuffle(items)

    cold = median_time(lambda: Classifier.train(examples_from_records(seed), topics), args.runs)
    clf = Classifier.train(examples_from_records(seed), topics)
    engine = RuleEngine(topics)
    clf.predict(items[:500])  # warm the word caches, as a running crawler would have them

    def one_by_one() -> None:
        for it in items[:1000]:
            clf.predict([it])

    t_rules, t_batch, t_single = taking_turns([rules_only(engine, items), batched(clf, items), one_by_one], args.runs)
    long_items = crawl_length_items(args.items // 5, rng)
    long_rules, long_clf = crawl_length_cost(clf, engine, long_items, args.runs)
    print(f"tagging, {args.items} items (title + summary), items per CPU second, median of {args.runs} runs:")
    base = args.items / t_rules
    print(f"  rules alone (baseline)          {base:9,.0f} items/s")
    batch = args.items / t_batch
    print(f"  classifier, batches of 256      {batch:9,.0f} items/s  ({batch / base:.2f}x)")
    print(f"  classifier, one item per call   {1000 / t_single:9,.0f} items/s  ({1000 / t_single / base:.2f}x)")
    n_long = len(long_items)
    size = sum(len(it["title"]) + len(it["summary"]) for it in long_items) / n_long / 1024
    print(f"tagging, {n_long} crawl-length items ({size:.1f} KB each, as bench/crawl.py makes them), CPU per item:")
    print(f"  rules alone (baseline)          {long_rules:9.3f} ms")
    print(f"  classifier, batches of 256      {long_clf:9.3f} ms  ({long_clf / long_rules:.2f}x)")

    big = examples_from_records(synthetic(seed, args.train, rng), covered=topics.ids)
    runs = max(1, min(args.runs, 3))
    t_big = median_time(lambda: Classifier.train(big, topics), runs)
    print(f"training, median of {runs} runs (5-fold calibration included):")
    print(f"  seed alone ({len(seed)} examples, baseline) {cold:7.2f} s")
    print(f"  {args.train} examples                {t_big:7.2f} s  ({t_big / cold:.1f}x baseline)")

    big_clf = Classifier.train(big, topics)
    for name, c in (("seed", clf), (f"{args.train} examples", big_clf)):
        with tempfile.TemporaryDirectory() as tmp:
            c.save(tmp)
            disk = sum(p.stat().st_size for p in Path(tmp).iterdir())
            tracemalloc.start()
            loaded = Classifier.load(tmp, topics)
            current, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            del loaded
        assert c.model is not None
        weights = c.model.coef.nbytes / 1e6
        print(
            f"classifier trained on {name}: {len(c.model.vocabulary):,} features; {current / 1e6:.1f} MB in "
            f"memory once loaded (rules included; weights {weights:.1f} MB), {disk / 1e6:.2f} MB on disk"
        )


if __name__ == "__main__":
    main()

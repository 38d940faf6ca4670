"""Labelled examples and training rows; measuring: per-topic precision/recall/F1, micro/macro F1, `--cv K`."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator.classify.rules import normalise
from aggregator.errors import ConfigError

if TYPE_CHECKING:
    from aggregator.classify.classifier import Classifier
    from aggregator.classify.topics import TopicSet

logger = logging.getLogger(__name__)

SEED_PATH = Path(__file__).parent / "data" / "seed.jsonl"
MAX_AUGMENTED = 2500  # long copies of short examples (see `augment`), weighted AUG_WEIGHT
AUG_WEIGHT = 0.5
INCIDENTAL = 0.3  # share of no-topic copies that also get a passing topical mention after the lead

Row = tuple[str, str, str | None, dict[str, bool], float]  # a training row: title, text, lang, labels, weight


@dataclass(frozen=True, slots=True)
class Example:
    """A labelled item. `labels` maps topic id to yes/no; a topic left out is unknown, not a no."""

    title: str
    text: str = ""
    lang: str | None = None
    labels: Mapping[str, bool] = field(default_factory=dict)
    feedback: bool = False

    @classmethod
    def label(cls, title: str, text: str, topic: str, yes: bool, lang: str | None = None) -> Example:
        """A reporter's verdict on one item and one topic ("this is / is NOT about T")."""
        return cls(title, text, lang, {topic: yes}, feedback=True)


def examples_from_records(
    records: Iterable[Mapping[str, Any]], covered: Iterable[str] | None = None, feedback: bool = False
) -> list[Example]:
    """Examples from `{"title","text","lang","labels":[...]}` records; listed topics are yes, other `covered` no.

    `covered` defaults to every topic the records mention, so a topic added later is unknown, not negative.
    """
    rows = list(records)
    known = set(covered) if covered is not None else {t for r in rows for t in r.get("labels") or ()}
    out = []
    for r in rows:
        yes = set(r.get("labels") or ())
        labels = {t: t in yes for t in known | yes}
        out.append(Example(str(r.get("title") or ""), str(r.get("text") or ""), r.get("lang"), labels, feedback))
    return out


def merge_examples(
    examples: Sequence[Example], topic_ids: Sequence[str], feedback_weight: float
) -> tuple[list[Row], int]:
    """One row per distinct item; labels for unknown topics are skipped (and counted), feedback applied last."""
    rows: dict[str, Row] = {}
    skipped = 0
    for ex in sorted(examples, key=lambda e: e.feedback):
        labels = {t: bool(v) for t, v in ex.labels.items() if t in topic_ids}
        skipped += len(ex.labels) - len(labels)
        key = normalise(f"{ex.title} {ex.text}")
        weight = feedback_weight if ex.feedback else 1.0
        if not labels:
            continue
        if key in rows:
            title, text, lang, old, w = rows[key]
            rows[key] = (title, text, lang, {**old, **labels}, max(w, weight))
        else:
            rows[key] = (ex.title, ex.text, ex.lang, labels, weight)
    if skipped:
        logger.warning("training: %d labels name topics that topics.toml does not define; ignored", skipped)
    return list(rows.values()), skipped


def augment(rows: list[Row], topic_ids: Sequence[str]) -> tuple[list[Row], list[int]]:
    """Long copies of the (short) examples, so the model sees news-length text before it meets any.

    Each copy appends unrelated sentences from examples that are about no topic; a share of the no-topic
    copies also carry a passing topical mention after the lead (a "related stories" line), still no topic.
    """
    rng = random.Random(0)
    neutral = [f"{r[0]}. {r[1]}" for r in rows if len(r[3]) == len(topic_ids) and not any(r[3].values())]
    topical = [r[0] for r in rows if any(r[3].values())]
    if len(neutral) < 20 or not topical:
        return [], []
    share = min(1.0, MAX_AUGMENTED / len(rows))  # a large training set needs fewer copies (training time)
    extra, groups = [], []
    for i, (title, text, lang, labels, weight) in enumerate(rows):
        if rng.random() > share:
            continue
        filler = " ".join(rng.sample(neutral, rng.randint(4, 9)))
        body = f"{text} {filler}"
        if not any(labels.values()) and rng.random() < INCIDENTAL:
            body += f" {rng.choice(topical)}. {' '.join(rng.sample(neutral, rng.randint(0, 2)))}"
        extra.append((title, body, lang, labels, weight * AUG_WEIGHT))
        groups.append(i)
    return extra, groups


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file of `{"title","text","lang","labels"}` objects; a bad line is named by number."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"evaluate: {path}: cannot read: {exc}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"evaluate: {path} line {number}: not JSON: {exc}") from None
        labels = record.get("labels") if isinstance(record, dict) else None
        if not isinstance(labels, list) or not all(isinstance(t, str) for t in labels):
            raise ConfigError(f"evaluate: {path} line {number}: field 'labels' must be a list of topic ids")
        if not isinstance(record.get("title", ""), str) or not isinstance(record.get("text", ""), str):
            raise ConfigError(f"evaluate: {path} line {number}: fields 'title' and 'text' must be strings")
        records.append(record)
    return records


def check_labels(records: Sequence[Mapping[str, Any]], topics: TopicSet) -> list[str]:
    """Topic ids the records use, in topics.toml order; an unknown id raises UnknownTopicError."""
    used: set[str] = set()
    for number, record in enumerate(records, start=1):
        for label in record.get("labels") or ():
            try:
                used.add(topics.check_label(label))
            except ConfigError as exc:
                raise type(exc)(f"{exc} (record #{number})") from None
    return [t for t in topics.ids if t in used]


def metrics(gold: Mapping[str, Sequence[bool]], predicted: Mapping[str, Sequence[bool]]) -> dict[str, Any]:
    """`{"per_topic": {t: {precision, recall, f1, support}}, "macro_f1", "micro_f1"}` from yes/no lists."""
    per_topic: dict[str, dict[str, float]] = {}
    total = [0, 0, 0]  # tp, fp, fn
    for topic, truth in gold.items():
        guess = predicted[topic]
        if len(guess) != len(truth):
            raise ValueError(f"topic {topic!r}: {len(truth)} gold labels but {len(guess)} predictions")
        tp = sum(1 for g, p in zip(truth, guess, strict=True) if g and p)
        fp = sum(1 for g, p in zip(truth, guess, strict=True) if p and not g)
        fn = sum(1 for g, p in zip(truth, guess, strict=True) if g and not p)
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
        precision, recall, f1 = _prf(tp, fp, fn)
        per_topic[topic] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    macro = round(sum(v["f1"] for v in per_topic.values()) / len(per_topic), 4) if per_topic else 0.0
    return {"per_topic": per_topic, "macro_f1": macro, "micro_f1": _prf(*total)[2]}


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return round(precision, 4), round(recall, 4), round(f1, 4)


def evaluate(classifier: Classifier, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Score `records` with a trained classifier (never trained on them) on the topics they label."""
    covered = check_labels(records, classifier.topics)
    results = classifier.predict(records)
    gold = {t: [t in (r.get("labels") or ()) for r in records] for t in covered}
    predicted = {t: [res[t].passed for res in results] for t in covered}
    return metrics(gold, predicted)


def folds(records: Sequence[Mapping[str, Any]], k: int, seed: int = 0) -> list[list[int]]:
    """K folds of record indices, each with a similar mix of label sets (deterministic for a seed)."""
    if not 2 <= k <= len(records):
        raise ValueError(f"--cv needs 2 <= K <= {len(records)} (number of records), got {k}")
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: sorted(records[i].get("labels") or ()))
    out: list[list[int]] = [[] for _ in range(k)]
    for position, index in enumerate(order):
        out[position % k].append(index)
    return [sorted(f) for f in out]


def cross_validate(
    records: Sequence[Mapping[str, Any]], topics: TopicSet, seed_examples: Iterable[Example], k: int = 5
) -> dict[str, Any]:
    """Simulate feedback: per fold, train on the seed plus the other folds as labels, score the held-out fold."""
    from aggregator.classify.classifier import Classifier

    covered = check_labels(records, topics)
    seed = list(seed_examples)
    predicted: dict[int, dict[str, bool]] = {}
    for held_out in folds(records, k):
        held = set(held_out)
        rest = [r for i, r in enumerate(records) if i not in held]
        feedback = examples_from_records(rest, covered, feedback=True)
        classifier = Classifier.train(seed + feedback, topics)
        for index, result in zip(held_out, classifier.predict([records[i] for i in held_out]), strict=True):
            predicted[index] = {t: result[t].passed for t in covered}
    gold = {t: [t in (r.get("labels") or ()) for r in records] for t in covered}
    return metrics(gold, {t: [predicted[i][t] for i in range(len(records))] for t in covered})


def seed_examples(path: str | Path = SEED_PATH) -> list[Example]:
    """The shipped cold-start examples (labels complete for the topics they mention)."""
    return examples_from_records(load_records(path))

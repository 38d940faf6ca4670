"""Labelled examples: the shipped seed set, JSONL label files, and the training rows made from them."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.classify.rules import normalise
from aggregator.errors import ConfigError

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


def seed_examples(path: str | Path = SEED_PATH) -> list[Example]:
    """The shipped cold-start examples (labels complete for the topics they mention)."""
    return examples_from_records(load_records(path))

"""Per-topic precision, recall and F1, and micro and macro F1, from gold and predicted yes/no lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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

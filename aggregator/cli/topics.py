"""Command-line verbs for topics: label, train, tag, explain, evaluate, topics."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aggregator.classify.evaluation import (
    CURVE_LABELS,
    CURVE_STEP,
    cross_validate,
    known_labels,
    label_problems,
    learning_curve,
)
from aggregator.classify.evaluation import evaluate as run_evaluation
from aggregator.classify.examples import load_records, seed_examples
from aggregator.classify.suggest import suggest_labels
from aggregator.classify.tagging import (
    add_label,
    classifier_dir,
    feedback_examples,
    load_classifier,
    tag_items,
    train_classifier,
    untagged_ids,
)
from aggregator.cli.options import pass_ctx
from aggregator.cli.output import table, terminal_safe
from aggregator.errors import AggregatorError
from aggregator.models import Item
from aggregator.services.context import Context
from aggregator.store.tags import item_labels, item_topics


@click.command()
@pass_ctx
def topics(obj: Context) -> None:
    """List the topics of topics.toml (and check the file)."""
    topic_set = obj.topics()
    rows = [[t.id, t.label, str(t.threshold), str(len(t.rules)), str(len(t.aliases))] for t in topic_set.topics]
    click.echo(table(rows, ["id", "label", "threshold", "rules", "aliases"]))
    for cross in topic_set.cross_topics:
        click.echo(f"cross-topic {cross.id}: {cross.label} = {' + '.join(cross.requires_all)}")


@click.command()
@click.argument("item_id", type=int, required=False)
@click.option("--topic", "-t", help="Topic id from topics.toml.")
@click.option("--yes/--no", "value", default=None, help="The item is / is not about the topic (one is required).")
@click.option(
    "--suggest",
    type=click.IntRange(1, 500),
    metavar="N",
    help="List the N items whose labels would teach the classifier most (with --topic: for that topic).",
)
@pass_ctx
def label(obj: Context, item_id: int | None, topic: str | None, value: bool | None, suggest: int | None) -> None:
    """Record whether ITEM_ID is about a topic; its tag follows at once, and `aggregator train` learns from it.

    With --suggest N, list the items the classifier is least sure of instead, across topics and languages.
    """
    if suggest is not None:
        _suggest(obj, suggest, topic)
        return
    if item_id is None or topic is None:
        raise click.UsageError("give ITEM_ID and --topic (or --suggest N for items worth labelling)")
    if value is None:  # click would name only --yes as missing
        raise click.UsageError(f"say --yes or --no: is item {item_id} about {topic}?")
    topic_set = obj.topics()
    db = obj.database()
    with db.session() as session:
        add_label(session, topic_set, item_id, topic, value, now=datetime.now(UTC))
    db.close()
    click.echo(
        f"item {item_id}: {'is' if value else 'is not'} about {topic}; its tag now says so "
        "(run `aggregator train` to learn from it)"
    )


@click.command()
@pass_ctx
def train(obj: Context) -> None:
    """Retrain the classifier on the seed examples plus every stored label, and save it."""
    topic_set = obj.topics()
    db = obj.database()
    with db.session() as session:
        clf = train_classifier(obj.settings, topic_set, session=session)
    db.close()
    meta = clf.metadata
    counts = meta.get("training_counts", {})
    cv = meta.get("cv_metrics", {})
    click.echo(
        f"trained on {counts.get('items', '?')} examples ({counts.get('feedback_items', 0)} from labels) in "
        f"{meta.get('training_seconds', '?')} s; cross-validated macro-F1 {cv.get('macro_f1', float('nan')):.3f}; "
        f"saved to {classifier_dir(obj.settings)}"
    )
    click.echo("run `aggregator tag --all` to re-tag stored items with it")


@click.command()
@click.option("--all", "everything", is_flag=True, help="Re-tag every item, not only untagged ones.")
@pass_ctx
def tag(obj: Context, everything: bool) -> None:
    """Tag stored items by topic (untagged ones, or --all after a retrain)."""
    topic_set = obj.topics()
    db = obj.database()
    with db.session() as session:
        clf = load_classifier(obj.settings, topic_set, session=session)
        chunks = list(untagged_ids(session, everything=everything))
    done = 0
    for ids in chunks:
        with db.session() as session:
            done += tag_items(session, clf, ids, now=datetime.now(UTC))
    db.close()
    click.echo(f"tagged {done} item(s)")


@click.command()
@click.argument("item_id", type=int)
@pass_ctx
def explain(obj: Context, item_id: int) -> None:
    """Show why ITEM_ID has (or lacks) each topic: score, method, rule matches and model words."""
    topic_set = obj.topics()
    db = obj.database()
    with db.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise AggregatorError(f"explain: no item with id {item_id}")
        clf = load_classifier(obj.settings, topic_set, session=session)
        fresh = clf.predict([{"title": item.title, "summary_text": item.summary_text, "text": item.text,
                              "language": item.language}], all_features=True)[0]  # fmt: skip
        stored = {t.topic: t for t in item_topics(session, item_id)}
        labels = item_labels(session, item_id)
    db.close()
    title, url, lang = (terminal_safe(v) for v in (item.title, item.url, item.language or "?"))  # from a feed
    click.echo(f"[{item.id}] {title}\n    {url}  ({item.source_id}, {lang})")
    for topic in topic_set.topics:
        result = fresh[topic.id]
        mine = labels.get(topic.id)
        passed = result.passed if mine is None else mine  # the reporter's label is the verdict, as in the stored tag
        decided = f"decided by {result.method}"
        if mine is not None:
            decided = f"decided by your label (the model says {'yes' if result.passed else 'no'}, {decided})"
        line = f"  {'YES' if passed else 'no '} {topic.id:<18} score {result.score:.2f}  {decided}"
        if topic.id in stored and stored[topic.id].passed != passed:
            line += f"  (stored tag says {'yes' if stored[topic.id].passed else 'no'}: run `aggregator tag --all`)"
        if mine is not None:
            line += f"  [your label: {'yes' if mine else 'no'}]"
        click.echo(line)
        for line in _reasons(result.explanation):
            click.echo("      " + terminal_safe(line))  # matched words are quoted from the item


def _reasons(why: Any) -> list[str]:
    """The explanation in words: what the rules matched, what they ignored, which words moved the model."""
    lines = [f"rules: score {why.rule_score:.2f} of {why.rule_threshold:.2f} needed"
             + (" (passed)" if why.rule_passed else "")]  # fmt: skip
    if why.hits:
        matched = "; ".join(f"{h.term!r} in {h.field} {h.weight:+.2f}" for h in why.hits[:8])
        lines.append(f"matched: {matched}" + (f" (+{len(why.hits) - 8} more)" if len(why.hits) > 8 else ""))
    if why.ignored:
        lines.append("not counted: " + "; ".join(why.ignored[:4]) + (" ..." if len(why.ignored) > 4 else ""))
    if why.features:
        lines.append("model words: " + ", ".join(f"{w} {c:+.2f}" for w, c in why.features)
                     + f"  (model threshold {why.threshold:.2f})")  # fmt: skip
    return lines


@click.command()
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON lines: {"title", "text", "lang", "labels": [topic, ...]} per line.',
)
@click.option("--cv", "folds", type=click.IntRange(2, 20), help="Simulate feedback: K folds, the others as labels.")
@click.option(
    "--curve",
    "curve",
    type=click.IntRange(0, 5000),
    default=CURVE_LABELS,
    show_default=True,
    help=f"With --cv: macro-F1 per {CURVE_STEP} simulated labels up to this many (suggested vs random; 0: none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def evaluate(obj: Context, data_path: Path, folds: int | None, curve: int, as_json: bool) -> None:
    """Measure the classifier on labelled data: per-topic precision, recall, F1; micro and macro F1."""
    topic_set = obj.topics()
    records = load_records(data_path)
    for problem in label_problems(records, topic_set):
        click.echo(f"warning: {data_path}: {problem}", err=True)
    records = known_labels(records, topic_set)
    db = obj.database()
    with db.session() as session:
        if folds:
            feedback, _ = feedback_examples(session, topic_set)
            report = cross_validate(records, topic_set, seed_examples() + feedback, folds)
            if curve >= CURVE_STEP and records:
                report["learning_curve"] = learning_curve(records, topic_set, seed_examples() + feedback, folds,
                                                          most=curve)  # fmt: skip
        else:
            report = run_evaluation(load_classifier(obj.settings, topic_set, session=session), records)
    db.close()
    if as_json:
        click.echo(json.dumps(report))
        return
    rows = [[t, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])]
            for t, m in report["per_topic"].items()]  # fmt: skip
    click.echo(table(rows, ["topic", "precision", "recall", "f1", "support"]))
    click.echo(
        f"macro-F1 {report['macro_f1']:.3f}   micro-F1 {report['micro_f1']:.3f}   ({len(records)} items"
        + (f", {folds}-fold feedback simulation)" if folds else ")")
    )
    if "learning_curve" in report:
        _show_curve(report["learning_curve"])
    if not records:
        sys.exit(1)


def _show_curve(curve: dict[str, Any]) -> None:
    """The feedback simulation's learning curve: labels the reporter gave, macro-F1 with them, gain over the seed."""
    start = curve["points"][0]
    rows = [[str(p["labels"]), f"{p['uncertainty']:.3f}", f"{p['uncertainty'] - start['uncertainty']:+.3f}",
             f"{p['random']:.3f}", f"{p['random'] - start['random']:+.3f}"] for p in curve["points"]]  # fmt: skip
    click.echo(f"\nlearning curve ({curve['folds']}-fold, the seed plus simulated labels):")
    click.echo(table(rows, ["labels", "suggested", "gain", "random", "gain"]))
    ends = curve["points"][-1]
    per = curve["step"] / max(1, ends["labels"])
    click.echo(
        f"gain per {curve['step']} labels: {(ends['uncertainty'] - start['uncertainty']) * per:+.3f} macro-F1 as "
        f"`label --suggest` picks them, {(ends['random'] - start['random']) * per:+.3f} at random"
    )


def _suggest(obj: Context, n: int, topic: str | None) -> None:
    topic_set = obj.topics()
    wanted = [topic] if topic else [t.id for t in topic_set.topics]
    unknown = [t for t in wanted if t not in topic_set.ids]
    if unknown:
        raise click.UsageError(f"unknown topic {unknown[0]!r} (topics.toml has {', '.join(topic_set.ids)})")
    db = obj.database()
    with db.session() as session:
        found = suggest_labels(session, wanted, n)
    db.close()
    if not found:
        click.echo("nothing to suggest: no tagged item is waiting for a label")
        return
    rows = [
        [
            str(s.item_id),
            s.topic,
            f"{s.score:.2f}",
            f"{s.threshold:.2f}",
            s.language or "?",
            terminal_safe(s.title)[:70],
        ]
        for s in found
    ]
    click.echo(table(rows, ["item", "topic", "score", "threshold", "lang", "title"]))
    first = found[0]
    click.echo(f"answer with: aggregator label {first.item_id} --topic {first.topic} --yes (or --no)")

"""Command-line verbs for topics: label, train, tag, explain, evaluate, topics."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aggregator.cli.main import Context, _table, cli, pass_ctx
from aggregator.errors import AggregatorError


def _topics(obj: Context) -> Any:
    from aggregator.classify.topics import load_topics

    return load_topics(obj.config_dir)


def ensure_classifier(obj: Context, db: Any, *, quiet: bool = False) -> bool:
    """Make sure a saved classifier fits topics.toml before a crawl (training one on first use), so the crawl
    process only reads it. False, with a warning, when it cannot be had: items are then stored untagged."""
    from aggregator.classify.tagging import classifier_dir, load_classifier

    try:
        topics = _topics(obj)
        saved = classifier_dir(obj.settings) / "classifier.json"
        if saved.exists() and json.loads(saved.read_text(encoding="utf-8")).get("topics_fingerprint") == (
            topics.fingerprint
        ):
            return True  # current: loading it here would only slow down a crawl that may bring nothing new
        with db.session() as session:
            load_classifier(obj.settings, topics, session=session)
        return True
    except (AggregatorError, OSError, ValueError) as exc:
        if not quiet:
            click.echo(f"warning: items will not be tagged: {' '.join(str(exc).split())}", err=True)
        return False


def tag_untagged(obj: Context, db: Any) -> int:
    """Tag whatever the crawl left untagged (a failed or killed tagging step); loads the classifier only then."""
    from aggregator.classify.tagging import load_classifier, tag_items, untagged_ids

    with db.session() as session:
        chunks = list(untagged_ids(session))
    if not chunks:
        return 0
    with db.session() as session:
        clf = load_classifier(obj.settings, _topics(obj), session=session)
    done = 0
    for ids in chunks:
        with db.session() as session:
            done += tag_items(session, clf, ids, now=datetime.now(UTC))
    return done


@cli.command()
@pass_ctx
def topics(obj: Context) -> None:
    """List the topics of topics.toml (and check the file)."""
    topic_set = _topics(obj)
    rows = [[t.id, t.label, str(t.threshold), str(len(t.rules)), str(len(t.aliases))] for t in topic_set.topics]
    click.echo(_table(rows, ["id", "label", "threshold", "rules", "aliases"]))
    for cross in topic_set.cross_topics:
        click.echo(f"cross-topic {cross.id}: {cross.label} = {' + '.join(cross.requires_all)}")


@cli.command()
@click.argument("item_id", type=int)
@click.option("--topic", "-t", required=True, help="Topic id from topics.toml.")
@click.option("--yes/--no", "value", required=True, help="The item is / is not about the topic.")
@pass_ctx
def label(obj: Context, item_id: int, topic: str, value: bool) -> None:
    """Record whether ITEM_ID is about a topic; `aggregator train` learns from it."""
    from aggregator.classify.tagging import add_label

    topic_set = _topics(obj)
    db = obj.database()
    with db.session() as session:
        add_label(session, topic_set, item_id, topic, value, now=datetime.now(UTC))
    db.close()
    click.echo(f"item {item_id}: {'is' if value else 'is not'} about {topic} (run `aggregator train` to learn it)")


@cli.command()
@pass_ctx
def train(obj: Context) -> None:
    """Retrain the classifier on the seed examples plus every stored label, and save it."""
    from aggregator.classify.tagging import classifier_dir, train_classifier

    topic_set = _topics(obj)
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


@cli.command()
@click.option("--all", "everything", is_flag=True, help="Re-tag every item, not only untagged ones.")
@pass_ctx
def tag(obj: Context, everything: bool) -> None:
    """Tag stored items by topic (untagged ones, or --all after a retrain)."""
    from aggregator.classify.tagging import load_classifier, tag_items, untagged_ids

    topic_set = _topics(obj)
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


@cli.command()
@click.argument("item_id", type=int)
@pass_ctx
def explain(obj: Context, item_id: int) -> None:
    """Show why ITEM_ID has (or lacks) each topic: score, method, rule matches and model words."""
    from sqlalchemy import select

    from aggregator.classify.tagging import load_classifier
    from aggregator.models import Item, ItemTopic, Label

    topic_set = _topics(obj)
    db = obj.database()
    with db.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise AggregatorError(f"explain: no item with id {item_id}")
        clf = load_classifier(obj.settings, topic_set, session=session)
        fresh = clf.predict([{"title": item.title, "summary_text": item.summary_text, "text": item.text,
                              "language": item.language}], all_features=True)[0]  # fmt: skip
        stored = {t.topic: t for t in session.scalars(select(ItemTopic).where(ItemTopic.item_id == item_id))}
        labels = {lb.topic: lb.value for lb in session.scalars(select(Label).where(Label.item_id == item_id))}
    db.close()
    click.echo(f"[{item.id}] {item.title}\n    {item.url}  ({item.source_id}, {item.language or '?'})")
    for topic in topic_set.topics:
        result = fresh[topic.id]
        verdict = "YES" if result.passed else "no "
        line = f"  {verdict} {topic.id:<18} score {result.score:.2f}  decided by {result.method}"
        if topic.id in stored and stored[topic.id].passed != result.passed:
            line += f"  (stored tag says {'yes' if stored[topic.id].passed else 'no'}: run `aggregator tag --all`)"
        if topic.id in labels:
            line += f"  [your label: {'yes' if labels[topic.id] else 'no'}]"
        click.echo(line)
        for line in _reasons(result.explanation):
            click.echo("      " + line)


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


@cli.command()
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON lines: {"title", "text", "lang", "labels": [topic, ...]} per line.',
)
@click.option("--cv", "folds", type=click.IntRange(2, 20), help="Simulate feedback: K folds, the others as labels.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def evaluate(obj: Context, data_path: Path, folds: int | None, as_json: bool) -> None:
    """Measure the classifier on labelled data: per-topic precision, recall, F1; micro and macro F1."""
    from aggregator.classify.evaluation import check_labels, cross_validate, load_records
    from aggregator.classify.evaluation import evaluate as run_evaluation
    from aggregator.classify.tagging import feedback_examples, load_classifier

    topic_set = _topics(obj)
    records = load_records(data_path)
    problems = check_labels(records, topic_set)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    db = obj.database()
    with db.session() as session:
        if folds:
            from aggregator.classify.evaluation import seed_examples

            feedback, _ = feedback_examples(session, topic_set)
            report = cross_validate(records, topic_set, seed_examples() + feedback, folds)
        else:
            report = run_evaluation(load_classifier(obj.settings, topic_set, session=session), records)
    db.close()
    if as_json:
        click.echo(json.dumps(report))
        return
    rows = [[t, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])]
            for t, m in report["per_topic"].items()]  # fmt: skip
    click.echo(_table(rows, ["topic", "precision", "recall", "f1", "support"]))
    click.echo(
        f"macro-F1 {report['macro_f1']:.3f}   micro-F1 {report['micro_f1']:.3f}   ({len(records)} items"
        + (f", {folds}-fold feedback simulation)" if folds else ")")
    )
    if not records:
        sys.exit(1)

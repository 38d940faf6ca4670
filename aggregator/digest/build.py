"""Build the daily digest: the stories first seen since the previous digest, by section, ranked and summarised."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.classify.rules import guess_lang, normalise
from aggregator.classify.topics import TopicSet
from aggregator.digest.summarize import Source as SummarySource
from aggregator.digest.summarize import primary_language, summarize
from aggregator.errors import DigestError
from aggregator.models import Digest, Item, ItemTopic
from aggregator.models import Source as SourceRow
from aggregator.parse.dates import SAFE_MAX, SAFE_MIN
from aggregator.parse.sanitize import html_to_text
from aggregator.store.digests import digest_on
from aggregator.store.entities import entity_rows, story_entity_ids
from aggregator.stories.store import event_time, item_body

FORMAT_VERSION = 1
TIER_WEIGHT = {"research": 1.0, "government": 0.9, "news": 0.8, "blog": 0.5}
BODY_CHARS = 6000  # enough of each text for the summary's lead sentences


@dataclass(frozen=True)
class DigestOptions:
    """What the reporter configured under [digest] in settings.toml."""

    zone: ZoneInfo
    cutoff: time  # local time at which each day's digest closes
    languages: tuple[str, ...] = ("en", "es")  # summary language preference
    per_section: int = 20  # stories shown in full per section; the rest are counted as left out
    summary_sentences: int = 3
    include_untagged: bool = False


@dataclass(frozen=True)
class Period:
    local_date: date
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


def closing_time(local_date: date, opts: DigestOptions) -> datetime:
    """When the digest of `local_date` closes, in UTC (the wall-clock cutoff in the reporter's zone, DST included)."""
    return datetime.combine(local_date, opts.cutoff, tzinfo=opts.zone).astimezone(UTC)


def latest_closed_date(now: datetime, opts: DigestOptions) -> date:
    """The newest local date whose digest has closed by `now`."""
    today = now.astimezone(opts.zone).date()
    return today if closing_time(today, opts) <= now else today - timedelta(days=1)


def plan_period(
    session: Session, local_date: date, opts: DigestOptions, *, now: datetime, end: datetime | None = None
) -> Period:
    """The period a digest for `local_date` covers: from the end of the previous digest to this one's closing time.

    A digest already built keeps its period. The first digest ever covers the day before its closing time. A date
    whose digest has not closed yet, or one older than a digest already built, is refused: either would make two
    digests overlap or leave a gap. `end` replaces the closing time (the demo closes its digest at once).
    """
    if not SAFE_MIN.date() < local_date < SAFE_MAX.date():  # the day before and the closing time must exist
        raise DigestError(f"digest: {local_date} is outside the dates a digest can cover")
    stored = digest_on(session, local_date.isoformat())
    if stored is not None:
        return Period(local_date, stored.period_start, stored.period_end)
    end = end or closing_time(local_date, opts)
    if end > now:
        local_end = end.astimezone(opts.zone)
        raise DigestError(
            f"digest: the digest for {local_date} closes at {local_end:%H:%M %Z} ({opts.zone.key}); "
            "build it after that, or use --preview to see what it holds so far"
        )
    later = session.scalar(select(func.max(Digest.period_end)))
    if later is not None and later > end:
        archived = list(session.scalars(select(Digest.local_date).order_by(Digest.period_end.desc()).limit(8)))
        raise DigestError(
            f"digest: no digest for {local_date} in the archive, and none can be built now: a newer digest "
            f"({archived[0]}) already covers the time after it; archived: {', '.join(archived)}"
            " (aggregator digest --list shows them all)"
        )
    start = later if later is not None else closing_time(local_date - timedelta(days=1), opts)
    return Period(local_date, start, end)


@dataclass
class _Item:
    id: int
    story_id: int
    source_id: str
    url: str
    title: str
    body: str
    language: str
    when: datetime  # event time: publication date, or first sighting when undated
    first_seen_at: datetime


def _safe_url(url: str | None) -> str:
    """Only web links reach a digest; anything else (javascript:, data:) is dropped."""
    return url if url and url.lower().startswith(("http://", "https://")) else ""


def _plain(text: str | None) -> str:
    text = text or ""
    return " ".join((html_to_text(text) if "<" in text or "&" in text else text).split())


def _language(declared: str | None, title: str, body: str) -> str:
    """The item's language from its text when the text is clear about it; sources can mislabel items."""
    guessed = guess_lang(normalise(f"{title} {body[:1500]}").split())
    return guessed or primary_language(declared) or ""


def _load_items(session: Session, story_ids: Sequence[int], end: datetime) -> list[_Item]:
    body = item_body()
    out: list[_Item] = []
    for start in range(0, len(story_ids), 500):
        rows = session.execute(
            select(
                Item.id, Item.story_id, Item.source_id, Item.canonical_url, Item.url, Item.title,
                func.substr(body, 1, BODY_CHARS), Item.language, Item.published_at, Item.first_seen_at,
            ).where(Item.story_id.in_(story_ids[start : start + 500]), Item.first_seen_at < end)
        )  # fmt: skip
        for r in rows:
            title, text = _plain(r[5]), r[6] or ""
            out.append(
                _Item(
                    r[0], r[1], r[2], _safe_url(r[3]) or _safe_url(r[4]), title, text,
                    _language(r[7], title, text), event_time(r[8], r[9]), r[9],
                )
            )  # fmt: skip
    return out


def _topic_rows(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, tuple[float, bool, Any]]]:
    out: dict[int, dict[str, tuple[float, bool, Any]]] = {}
    for start in range(0, len(item_ids), 500):
        rows = session.execute(
            select(ItemTopic.item_id, ItemTopic.topic, ItemTopic.score, ItemTopic.passed, ItemTopic.explanation).where(
                ItemTopic.item_id.in_(item_ids[start : start + 500])
            )
        )
        for item_id, topic, score, passed, why in rows:
            out.setdefault(item_id, {})[topic] = (score, passed, why)
    return out


def _reasons(why: Any) -> list[str]:
    """The words that made the classifier say yes, for the reporter to judge."""
    if not isinstance(why, dict):
        return []
    terms: list[str] = []
    for hit in why.get("hits") or []:
        term = str(hit.get("term", ""))
        if term and term not in terms:
            terms.append(term)
    if terms:
        return terms[:4]
    return [str(f[0]) for f in (why.get("features") or [])[:3] if isinstance(f, list | tuple) and f]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Story:
    id: int
    items: list[_Item]
    topics: dict[str, tuple[float, int]]  # topic -> (best passed score, item id that scored it)
    new_items: int
    first_seen_at: datetime

    def outlets(self) -> list[str]:
        seen: list[str] = []
        for item in self.items:
            if item.source_id not in seen:
                seen.append(item.source_id)
        return seen


def build_content(
    session: Session, period: Period, topics: TopicSet, opts: DigestOptions, *, built_at: datetime
) -> dict[str, Any]:
    """Everything a digest shows, as JSON-ready data; every format is rendered from this."""
    in_period = session.execute(
        select(Item.id, Item.story_id).where(Item.first_seen_at >= period.start, Item.first_seen_at < period.end)
    ).all()
    period_ids = {r[0] for r in in_period}
    missing = sum(1 for r in in_period if r[1] is None)
    story_ids = sorted({r[1] for r in in_period if r[1] is not None})
    items = _load_items(session, story_ids, period.end)
    tags = _topic_rows(session, [i.id for i in items])
    sources = {
        r[0]: {"name": r[1], "tier": r[2]}
        for r in session.execute(select(SourceRow.id, SourceRow.name, SourceRow.tier))
    }
    stories: dict[int, _Story] = {}
    for item in sorted(items, key=lambda i: (i.when, i.id)):
        story = stories.setdefault(item.story_id, _Story(item.story_id, [], {}, 0, item.first_seen_at))
        story.items.append(item)
        story.first_seen_at = min(story.first_seen_at, item.first_seen_at)
        story.new_items += item.id in period_ids
        for topic, (score, passed, _why) in tags.get(item.id, {}).items():
            if passed and score > story.topics.get(topic, (-1.0, 0))[0]:
                story.topics[topic] = (score, item.id)

    labels = {t.id: t.label or t.id for t in topics.topics}
    sections: list[dict[str, Any]] = []
    for cross in topics.cross_topics:
        sections.append(
            {"id": cross.id, "label": cross.label or cross.id, "kind": "cross", "needs": cross.requires_all}
        )
    for topic_id, label in labels.items():
        sections.append({"id": topic_id, "label": label, "kind": "topic", "needs": (topic_id,)})
    if opts.include_untagged:
        sections.append({"id": "other", "label": "Matched no topic", "kind": "other", "needs": ()})

    shown: dict[int, dict[str, Any]] = {}
    out_sections = []
    over_limit = 0
    for section in sections:
        needs = section.pop("needs")
        if section["kind"] == "other":
            members = [s for s in stories.values() if not s.topics]
        else:
            members = [s for s in stories.values() if all(t in s.topics for t in needs)]
        ranked = sorted(
            ((_rank(s, needs, sources, period), s) for s in members), key=lambda pair: (-pair[0], pair[1].id)
        )
        limit = opts.per_section if opts.per_section > 0 and section["kind"] != "other" else len(ranked)
        entries = []
        for rank, story in ranked[:limit]:
            first_here = story.id not in shown
            if first_here:
                shown[story.id] = _story_entry(story, sources, labels, tags, period, opts)
            entries.append({"story": story.id, "rank": round(rank, 4), "full": first_here})
        over_limit += sum(1 for _, s in ranked[limit:] if s.id not in shown)
        out_sections.append({**section, "stories": entries, "left_out": max(0, len(ranked) - limit)})
    _add_entities(session, shown)
    untagged = [s for s in stories.values() if not s.topics]
    # Stories cut by a section's limit and shown in no other section are left out too.
    left_out_ids = {s.id for s in stories.values() if s.id not in shown}
    return {
        "format": FORMAT_VERSION,
        "date": period.local_date.isoformat(),
        "timezone": opts.zone.key,
        "period": {"start": _iso(period.start), "end": _iso(period.end)},
        "built_at": _iso(built_at),
        "sections": out_sections,
        "stories": {str(k): v for k, v in shown.items()},
        "counts": {
            "new_items": len(period_ids),
            "stories": len(stories),
            "shown": len(shown),
            "updates": sum(1 for v in shown.values() if v["is_update"]),
            "left_out_stories": len(left_out_ids),
            "left_out_items": sum(stories[i].new_items for i in left_out_ids) + missing,
            "untagged_stories": len(untagged),
            "over_limit": over_limit,
        },
        "see_all": f"aggregator digest --date {period.local_date.isoformat()} --all --format txt",
    }


def _add_entities(session: Session, shown: dict[int, dict[str, Any]]) -> None:
    """Each shown story's entities (entities.toml), the most named first: id and name."""
    named = story_entity_ids(session, list(shown))
    known = entity_rows(session)
    for story_id, entry in shown.items():
        entry["entities"] = [{"id": e, "name": known[e].name if e in known else e} for e in named.get(story_id, [])]


def _rank(story: _Story, needs: Sequence[str], sources: dict[str, dict[str, str]], period: Period) -> float:
    """Topic score, then how many and how strong the outlets are, then how recent: 0.5 / 0.35 / 0.15."""
    topic = min((story.topics[t][0] for t in needs), default=0.0)
    weight = sum(TIER_WEIGHT.get(sources.get(o, {}).get("tier", ""), 0.6) for o in story.outlets())
    coverage = min(1.0, math.log1p(weight) / math.log(16))
    latest = max(i.first_seen_at for i in story.items)
    hours = max(0.0, (period.end - latest).total_seconds() / 3600)
    return 0.5 * topic + 0.35 * coverage + 0.15 * math.exp(-hours / 24)


def _story_entry(
    story: _Story,
    sources: dict[str, dict[str, str]],
    labels: dict[str, str],
    tags: dict[int, dict[str, tuple[float, bool, Any]]],
    period: Period,
    opts: DigestOptions,
) -> dict[str, Any]:
    def name(source_id: str) -> str:
        return sources.get(source_id, {}).get("name") or source_id

    def weight(source_id: str) -> float:
        return TIER_WEIGHT.get(sources.get(source_id, {}).get("tier", ""), 0.6)

    pieces = [
        SummarySource(i.id, i.url, name(i.source_id), i.language, i.title, i.body, weight(i.source_id))
        for i in story.items
    ]
    sentences = summarize(pieces, preferred=opts.languages, limit=opts.summary_sentences)
    summary_lang = _lang_of(story, sentences[0].item_id) if sentences else ""
    # The headline is the earliest report in the summary's language from an outlet above blog tier.
    same_lang = [i for i in story.items if i.language == summary_lang] or story.items
    lead = next((i for i in same_lang if weight(i.source_id) >= 0.8), same_lang[0])
    first = story.items[0]
    outlets = []
    for source_id in story.outlets():
        outlets.append(
            {
                "source_id": source_id,
                "name": name(source_id),
                "tier": sources.get(source_id, {}).get("tier", ""),
                "items": [
                    {
                        "item_id": i.id,
                        "title": i.title,
                        "url": i.url,
                        "language": i.language,
                        "seen_at": _iso(i.first_seen_at),
                        "new": period.start <= i.first_seen_at < period.end,
                    }
                    for i in story.items
                    if i.source_id == source_id
                ],
            }
        )
    topic_list = [
        {"id": t, "label": labels.get(t, t), "score": round(score, 3), "reasons": _reasons(tags[item_id][t][2])}
        for t, (score, item_id) in sorted(story.topics.items(), key=lambda kv: -kv[1][0])
    ]
    is_update = story.first_seen_at < period.start
    return {
        "id": story.id,
        "headline": lead.title or first.title,
        "url": lead.url,
        "is_update": is_update,
        "first_seen_at": _iso(story.first_seen_at),
        "first_reported": {
            "source_id": first.source_id,
            "name": name(first.source_id),
            "at": _iso(first.when),
            "url": first.url,
        },  # fmt: skip
        "topics": topic_list,
        "outlets": outlets,
        "summary": [{"text": s.text, "item_id": s.item_id, "url": s.url, "source": s.source_name} for s in sentences],
        "why": _why(story, topic_list, outlets, is_update),
        "items_new": story.new_items,
        "items_total": len(story.items),
    }


def _lang_of(story: _Story, item_id: int) -> str:
    return next((i.language for i in story.items if i.id == item_id), "")


def _why(story: _Story, topic_list: list[dict[str, Any]], outlets: list[dict[str, Any]], is_update: bool) -> str:
    parts = []
    for topic in topic_list[:3]:
        reason = f"{topic['label']} {topic['score']:.2f}"
        if topic["reasons"]:
            reason += " (" + ", ".join(f"“{r}”" for r in topic["reasons"][:3]) + ")"
        parts.append(reason)
    tiers: dict[str, int] = {}
    for outlet in outlets:
        tiers[outlet["tier"] or "other"] = tiers.get(outlet["tier"] or "other", 0) + 1
    mix = ", ".join(f"{n} {tier}" for tier, n in sorted(tiers.items(), key=lambda kv: -kv[1]))
    count = f"{len(outlets)} outlet{'s' if len(outlets) != 1 else ''} ({mix})"
    tagged = "tagged " + "; ".join(parts) if parts else "matched no topic"
    update = f"; update: {story.new_items} new report(s) on a story first seen earlier" if is_update else ""
    return f"{tagged}; {count}{update}"

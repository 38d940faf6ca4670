"""The API's response models keep the fields of the domain objects they copy (dataclasses and ORM rows)."""

from __future__ import annotations

import dataclasses
import inspect as pyinspect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import inspect

from aggregator.crawl.health import SourceHealth
from aggregator.models import Digest, Item, Story
from aggregator.search.hits import Hit
from aggregator.store.entities import ItemEntity
from aggregator.web import schemas
from aggregator.web.item_view import Seen, Sibling, TopicVerdict
from aggregator.web.schemas import (
    ApiError,
    DigestOut,
    DigestSummaryOut,
    EntityOut,
    HitOut,
    ItemOut,
    OutletItemOut,
    SearchOut,
    SightingOut,
    SourceOut,
    StoryOut,
    TopicOut,
    VolumeOut,
)


@dataclass(frozen=True)
class Mirror:
    """A response model and the object it copies: which of the object's fields it leaves out, renames, or adds."""

    model: type[BaseModel]
    source: type
    hidden: frozenset[str] = frozenset()
    renamed: dict[str, str] = field(default_factory=dict)
    added: frozenset[str] = frozenset()


def source_fields(source: type) -> set[str]:
    """A dataclass's fields, or an ORM class's mapped columns (relationships are not columns)."""
    if dataclasses.is_dataclass(source):
        return {f.name for f in dataclasses.fields(source)}
    return {attr.key for attr in inspect(source).column_attrs}


def mismatch(mirror: Mirror, fields: set[str]) -> dict[str, set[str]]:
    """What the model has that the object's fields do not explain, and the other way round; empty when in step."""
    stale = (mirror.hidden | set(mirror.renamed)) - fields  # a declared difference that names no field any more
    shown = {mirror.renamed.get(name, name) for name in fields - mirror.hidden}
    expected = shown | mirror.added
    got = set(mirror.model.model_fields)
    problems = {"only in the model": got - expected, "only in the object": expected - got, "stale": stale}
    return {what: names for what, names in problems.items() if names}


# Item columns the API keeps to itself: dedupe keys, the raw entry, full-text bookkeeping.
ITEM_INTERNALS = frozenset({
    "guid", "url_key", "content_hash", "summary", "fetched_at", "updated_at", "fulltext_state", "fulltext_attempts",
    "fulltext_error", "raw", "story_id",
})  # fmt: skip
MIRRORS = [
    Mirror(HitOut, Hit, added=frozenset({"snippet_html"})),
    Mirror(OutletItemOut, Sibling),
    Mirror(SightingOut, Seen),
    Mirror(EntityOut, ItemEntity),
    Mirror(SourceOut, SourceHealth),
    Mirror(
        TopicOut,
        TopicVerdict,
        hidden=frozenset({"rule_score", "rule_threshold", "hits", "ignored", "model_words", "threshold"}),
        renamed={"label": "your_label"},  # the verdict's label is the reporter's answer
        added=frozenset({"label"}),  # the topic's name from topics.toml
    ),
    Mirror(StoryOut, Story, hidden=frozenset({"first_item_id", "updated_at"}), added=frozenset({"other_items"})),
    Mirror(
        ItemOut,
        Item,
        hidden=ITEM_INTERNALS,
        added=frozenset({"source_name", "topics", "story", "sightings", "entities"}),
    ),
    Mirror(DigestSummaryOut, Digest, hidden=frozenset({"id", "content", "message_id", "sent_to"})),
    Mirror(DigestOut, Digest, hidden=frozenset({"id", "message_id", "sent_to"})),
]
# Shapes of the API's own (search pages, errors, chart series), copied from no single object.
OWN_SHAPES = {ApiError, SearchOut, VolumeOut}


@pytest.mark.parametrize("mirror", MIRRORS, ids=lambda m: m.model.__name__)
def test_a_response_model_has_the_fields_of_the_object_it_copies(mirror: Mirror) -> None:
    assert mismatch(mirror, source_fields(mirror.source)) == {}


def test_every_response_model_is_checked() -> None:
    models = {
        obj for obj in vars(schemas).values()
        if pyinspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == schemas.__name__
    }  # fmt: skip
    assert models == {m.model for m in MIRRORS} | OWN_SHAPES


def test_a_field_dropped_from_the_object_is_reported() -> None:
    mirror = next(m for m in MIRRORS if m.model is SourceOut)
    assert mismatch(mirror, source_fields(SourceHealth) - {"items_7d"}) == {"only in the model": {"items_7d"}}
    hit = next(m for m in MIRRORS if m.model is HitOut)
    assert mismatch(hit, source_fields(Hit) | {"rank"}) == {"only in the object": {"rank"}}
    topic = next(m for m in MIRRORS if m.model is TopicOut)
    assert mismatch(topic, source_fields(TopicVerdict) - {"hits"}) == {"stale": {"hits"}}


def _values(obj: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in model.model_fields}


def test_models_validate_from_the_objects_they_copy() -> None:
    when = datetime(2026, 6, 3, 12, 30, tzinfo=UTC)
    health = SourceHealth("wire", "Wire", "feed", True, "failing", None, "HTTP 503", 3, 4, 10, 120, when)
    seen = Seen("wire", "Wire", "https://wire.example/a", when)
    sibling = Sibling(7, "Ambush", "https://insight.example/b", "insight", "Insight", None, when)
    for obj, model in ((health, SourceOut), (seen, SightingOut), (sibling, OutletItemOut)):
        assert model.model_validate(obj).model_dump() == dataclasses.asdict(obj)
    digest = Digest(
        id=1, local_date="2026-06-03", timezone="America/Mexico_City", period_start=when, period_end=when,
        built_at=when, story_count=2, item_count=5, content={"date": "2026-06-03"}, message_id="<m@x>",
        sent_at=None, sent_to=None,
    )  # fmt: skip
    assert DigestOut.model_validate(digest).model_dump() == _values(digest, DigestOut)
    summary = DigestSummaryOut.model_validate(digest).model_dump()
    assert summary == _values(digest, DigestSummaryOut) and "content" not in summary

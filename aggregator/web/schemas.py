"""The JSON API's response shapes; FastAPI turns them into the OpenAPI description at /openapi.json."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# A model that copies a domain object (a dataclass or an ORM row) validates from it, `Model.model_validate(obj)`,
# and tests/test_schemas.py holds its fields to the object's: a field dropped on one side fails there, not in a 500.


class ApiError(BaseModel):
    error: str = Field(description="What is wrong, in one line.")
    pointer: str | None = Field(None, description="For a malformed query: the query and a caret under the problem.")
    parameter: str | None = Field(None, description="The request parameter at fault, where one is (since, until).")


class HitOut(BaseModel):
    item_id: int
    title: str
    url: str
    source_id: str
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime
    story_id: int | None
    topics: dict[str, float] = Field(description="Topics the item has, with their scores in [0, 1].")
    score: float | None = Field(description="Relevance (higher is better); null when sorted by date.")
    snippet: str = Field(description="Plain text around the first match.")
    snippet_html: str = Field(description="The snippet escaped for HTML, matches wrapped in <mark>.")
    entities: list[str] = Field(description="Ids of the entities (entities.toml) the item names.")


class SearchOut(BaseModel):
    query: str = Field(description="The query that ran: the q parameter with the filter parameters added.")
    total: int
    total_exact: bool = Field(description="False when there are more matches than `total` (counting stops).")
    ranked: int | None = Field(description="Set when relevance ranked only the newest `ranked` matches.")
    offset: int
    hits: list[HitOut]


class TopicOut(BaseModel):
    topic: str
    label: str
    score: float
    passed: bool = Field(description="The verdict: the reporter's label where there is one, else the model's.")
    method: str
    model_passed: bool | None = Field(description="The model's own verdict (null: not scored yet).")
    explanation: dict[str, Any] = Field(description="Rule hits, ignored matches and model words, as stored.")
    your_label: bool | None = Field(description="The reporter's answer for this topic, if any.")


class OutletItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: int
    title: str
    url: str
    source_id: str
    source_name: str
    published_at: datetime | None
    first_seen_at: datetime


class StoryOut(BaseModel):
    id: int
    title: str
    first_seen_at: datetime
    last_seen_at: datetime
    item_count: int
    source_count: int
    first_source_id: str | None
    other_items: list[OutletItemOut]


class SightingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    source_id: str
    source_name: str
    url: str
    seen_at: datetime


class EntityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entity_id: str
    name: str
    kind: str = Field(description="organisation, person, place, vessel or other.")
    fields: list[str] = Field(description="Where the item names it: title, summary, text.")
    surfaces: list[str] = Field(description="The words the item names it by, most frequent first.")
    count: int = Field(description="How often the item names it.")


class ItemOut(BaseModel):
    id: int
    title: str
    url: str
    canonical_url: str | None
    source_id: str
    source_name: str
    language: str | None
    authors: str
    published_at: datetime | None
    first_seen_at: datetime
    summary_text: str
    text: str
    topics: list[TopicOut]
    story: StoryOut | None
    sightings: list[SightingOut] = Field(description="Every source whose feed carried the item, and when.")
    entities: list[EntityOut] = Field(description="The entities of entities.toml the item names.")


class DigestSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    local_date: str
    timezone: str
    period_start: datetime
    period_end: datetime
    built_at: datetime
    story_count: int
    item_count: int
    sent_at: datetime | None


class DigestOut(DigestSummaryOut):
    content: dict[str, Any] = Field(description="The stored digest, from which every format is rendered.")


class VolumeOut(BaseModel):
    query: str | None
    by: str
    per: str | None
    timezone: str
    periods: list[str]
    series: dict[str, list[int]] = Field(description="One count per period for each series.")


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    source_id: str
    name: str
    kind: str
    enabled: bool
    status: str = Field(description="failing, stale, never, warning, ok or disabled.")
    last_success_at: datetime | None
    last_error: str | None
    error_streak: int
    items_7d: int
    items_total: int
    avg_latency_ms: int | None
    next_check_at: datetime | None
    warning: str | None = Field(description="What looks wrong while fetches succeed (guid churn).")

"""Load and validate config/topics.toml into frozen topic, rule, alias and exclusion objects."""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aggregator.config.settings import describe_validation_error, read_config_file
from aggregator.errors import ConfigError, UnknownTopicError
from aggregator.text import words_for_rules

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LANG = re.compile(r"^(any|[a-z]{2,3})$")
MAX_NEAR_WINDOW = 100
MIN_PREFIX = 3


@dataclass(frozen=True, slots=True)
class Term:
    """One term as written (`text`) and as matched: normalised words, '*' prefix flags, '=' case flag."""

    text: str
    words: tuple[str, ...]
    prefix: tuple[bool, ...]
    case_sensitive: bool


@dataclass(frozen=True, slots=True)
class Rule:
    """A `[[topic.rules]]` block; `index` is 1-based as in error messages."""

    index: int
    terms: tuple[Term, ...]
    weight: float
    max_hits: int = 2
    lang: str = "any"
    requires: tuple[tuple[Term, ...], ...] = ()
    near: tuple[Term, ...] = ()
    unless_near: tuple[Term, ...] = ()
    near_window: int = 10


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A `[[topic.exclude]]` block: a one-off weight <= 0 and, when `mask`, words hidden from the topic."""

    index: int
    terms: tuple[Term, ...]
    weight: float = 0.0
    mask: bool = True
    lang: str = "any"


@dataclass(frozen=True, slots=True)
class Alias:
    """A canonical name and its variants; found once per item however many variants match."""

    name: str
    variants: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Topic:
    """One `[[topic]]`: what it means, its threshold and its rules."""

    id: str
    label: str
    description: str
    threshold: float
    alias_weight: float
    title_boost: float
    aliases: tuple[Alias, ...]
    rules: tuple[Rule, ...]
    exclusions: tuple[Exclusion, ...]


@dataclass(frozen=True, slots=True)
class CrossTopic:
    """A derived label attached when every topic in `requires_all` matched."""

    id: str
    label: str
    requires_all: tuple[str, ...]


@dataclass(frozen=True)
class TopicSet:
    """Every topic of a topics file, in file order, plus cross-topic labels and a fingerprint of the rules."""

    path: Path
    topics: tuple[Topic, ...]
    cross_topics: tuple[CrossTopic, ...] = ()
    fingerprint: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    @property
    def all_ids(self) -> tuple[str, ...]:
        """The topic ids, then the cross-topic ids: every id a search, an export or a count may name."""
        return self.ids + tuple(c.id for c in self.cross_topics)

    def get(self, topic_id: str) -> Topic:
        """The topic called `topic_id`; raises UnknownTopicError otherwise."""
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        raise UnknownTopicError(f"topics: unknown topic {topic_id!r} (known: {', '.join(self.ids) or 'none'})")

    def check_label(self, topic_id: str) -> str:
        """Return `topic_id` if topics.toml defines it, else raise UnknownTopicError naming the file."""
        if topic_id not in self.ids:
            raise UnknownTopicError(
                f"topics: {self.path}: unknown topic {topic_id!r} (known: {', '.join(self.ids) or 'none'})"
            )
        return topic_id

    def cross_labels(self, matched: set[str] | frozenset[str]) -> list[str]:
        """Cross-topic ids whose required topics all matched."""
        return [c.id for c in self.cross_topics if set(c.requires_all) <= matched]


def parse_term(raw: str) -> Term:
    """Parse term syntax: '=' case-sensitive prefix, '*' ending a word, several words = a phrase."""
    if not isinstance(raw, str):
        raise ValueError(f"a term must be a string, got {raw!r}")
    body = raw.strip()
    case_sensitive = body.startswith("=")
    if case_sensitive:
        body = body[1:]
    if "=" in body:
        raise ValueError(f"term {raw!r}: '=' may only start a term")
    words: list[str] = []
    prefix: list[bool] = []
    for chunk in body.split():
        star = chunk.endswith("*")
        stem = chunk[:-1] if star else chunk
        if "*" in stem:
            raise ValueError(f"term {raw!r}: '*' may only end a word")
        parts = words_for_rules(stem)
        if star and (not parts or not stem[-1].isalnum()):
            raise ValueError(f"term {raw!r}: '*' must follow a letter or digit")
        if star and len(parts[-1]) < MIN_PREFIX:
            raise ValueError(f"term {raw!r}: a '*' prefix needs at least {MIN_PREFIX} letters")
        words.extend(parts)
        prefix.extend([False] * (len(parts) - 1) + ([star] if parts else []))
    if not words:
        raise ValueError(f"term {raw!r} has no letters or digits")
    if not case_sensitive:
        words = [w.lower() for w in words]
    return Term(raw, tuple(words), tuple(prefix), case_sensitive)


def _terms(values: list[str], where: str, field: str) -> tuple[Term, ...]:
    out = []
    for i, raw in enumerate(values, start=1):
        try:
            out.append(parse_term(raw))
        except ValueError as exc:
            raise ConfigError(f"{where}: field '{field}' item #{i}: {exc}") from None
    return tuple(out)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _lang(value: str) -> str:
    if not _LANG.match(value):
        raise ValueError(f"must be 'any' or a language code such as 'en', got {value!r}")
    return value


class _RuleModel(_Strict):
    terms: list[str] = Field(min_length=1)
    weight: float = Field(gt=0)
    max_hits: int = Field(2, ge=1)
    lang: str = "any"
    requires: list[list[str]] = []
    near: list[str] = []
    unless_near: list[str] = []
    near_window: int = Field(10, ge=1, le=MAX_NEAR_WINDOW)

    _w = field_validator("weight")(_finite)
    _l = field_validator("lang")(_lang)


class _ExcludeModel(_Strict):
    terms: list[str] = Field(min_length=1)
    weight: float = Field(0.0, le=0)
    mask: bool = True
    lang: str = "any"

    _w = field_validator("weight")(_finite)
    _l = field_validator("lang")(_lang)


class _TopicModel(_Strict):
    id: str
    label: str = ""
    description: str = ""
    threshold: float = Field(1.0, gt=0)
    alias_weight: float = Field(1.0, ge=0)
    title_boost: float = Field(1.5, gt=0)
    aliases: dict[str, list[str]] = {}
    rules: list[Any] = []
    exclude: list[Any] = []

    _f = field_validator("threshold", "alias_weight", "title_boost")(_finite)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must start with a lowercase letter; then lowercase letters, digits or '_' (at most 64)")
        return value


class _CrossModel(_Strict):
    id: str
    label: str = ""
    requires_all: list[str] = Field(min_length=1)


def _validate(model: type[BaseModel], raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, where)) from None


def _topic(raw: Any, index: int, path: Path) -> Topic:
    tid = raw.get("id") if isinstance(raw, dict) else None
    where = f"{path}: " + (f"topic {tid!r}" if isinstance(tid, str) and tid else f"topic #{index}")
    head: _TopicModel = _validate(_TopicModel, raw, where)
    where = f"{path}: topic {head.id!r}"
    rules = []
    for i, raw_rule in enumerate(head.rules, start=1):
        w = f"{where} rule #{i}"
        r: _RuleModel = _validate(_RuleModel, raw_rule, w)
        groups = tuple(_terms(g, w, f"requires[{n}]") for n, g in enumerate(r.requires, start=1))
        if any(not g for g in groups):
            raise ConfigError(f"{w}: field 'requires': every group needs at least one term")
        rules.append(
            Rule(i, _terms(r.terms, w, "terms"), r.weight, r.max_hits, r.lang, groups,
                 _terms(r.near, w, "near"), _terms(r.unless_near, w, "unless_near"), r.near_window)
        )  # fmt: skip
    exclusions = []
    for i, raw_ex in enumerate(head.exclude, start=1):
        w = f"{where} exclude #{i}"
        e: _ExcludeModel = _validate(_ExcludeModel, raw_ex, w)
        exclusions.append(Exclusion(i, _terms(e.terms, w, "terms"), e.weight, e.mask, e.lang))
    aliases = []
    for name, variants in head.aliases.items():
        w = f"{where} alias {name!r}"
        if not variants:
            raise ConfigError(f"{w}: needs at least one variant")
        aliases.append(Alias(name, _terms(variants, w, "variants")))
    if not rules and not aliases:
        raise ConfigError(f"{where}: needs at least one rule or alias")
    return Topic(head.id, head.label or head.id, head.description.strip(), head.threshold, head.alias_weight,
                 head.title_boost, tuple(aliases), tuple(rules), tuple(exclusions))  # fmt: skip


def parse_topics(text: str, path: Path) -> TopicSet:
    """Validate a topics file; the first problem raises ConfigError naming file, topic, rule and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"topic", "cross_topic"}
    if unknown:
        raise ConfigError(f"config: {path}: unknown top-level keys {sorted(unknown)}")
    raw_topics, raw_cross = data.get("topic", []), data.get("cross_topic", [])
    if not isinstance(raw_topics, list) or not isinstance(raw_cross, list):
        raise ConfigError(f"config: {path}: 'topic' and 'cross_topic' must be arrays of tables ([[topic]])")
    topics: list[Topic] = []
    for index, raw in enumerate(raw_topics, start=1):
        try:
            topic = _topic(raw, index, path)
        except ConfigError as exc:
            raise ConfigError(f"config: {exc}") from None
        if topic.id in {t.id for t in topics}:
            raise ConfigError(f"config: {path}: topic {topic.id!r}: field 'id': duplicate id")
        topics.append(topic)
    ids = {t.id for t in topics}
    cross: list[CrossTopic] = []
    for index, raw in enumerate(raw_cross, start=1):
        where = f"{path}: cross_topic #{index}"
        try:
            c: _CrossModel = _validate(_CrossModel, raw, where)
        except ConfigError as exc:
            raise ConfigError(f"config: {exc}") from None
        missing = [t for t in c.requires_all if t not in ids]
        if missing:
            raise ConfigError(f"config: {where} {c.id!r}: field 'requires_all': unknown topics {missing}")
        if c.id in ids:
            raise ConfigError(f"config: {where} {c.id!r}: field 'id': already a topic id")
        cross.append(CrossTopic(c.id, c.label or c.id, tuple(c.requires_all)))
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return TopicSet(path, tuple(topics), tuple(cross), digest)


def load_topics(config_dir: Path, filename: str = "topics.toml") -> TopicSet:
    """Read and validate `topics.toml` from `config_dir`."""
    path = config_dir / filename
    return parse_topics(read_config_file(path), path)

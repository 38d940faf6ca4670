"""Load and validate config/entities.toml: one bad entity is reported and skipped, never fatal."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aggregator.config.settings import PACKAGED_CONFIG, describe_validation_error, read_config_file
from aggregator.errors import ConfigError
from aggregator.text import words_for_rules

FILENAME = "entities.toml"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_WINDOW = 200
# Part of every fingerprint: bump it when aggregator.classify.entities matches differently, so stored items are
# matched again.
MATCHER_VERSION = 1


class EntityKind(StrEnum):
    ORGANISATION = "organisation"
    PERSON = "person"
    PLACE = "place"
    VESSEL = "vessel"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Name:
    """An alias (or context word, or `not` phrase) as written, and as matched: folded words, and whether case counts."""

    text: str
    words: tuple[str, ...]
    case_sensitive: bool = False


def parse_name(raw: str) -> Name:
    """ "=CDG" is case-sensitive; anything else matches whatever the case and accents. Raises ValueError."""
    body = raw.strip()
    case_sensitive = body.startswith("=")
    if case_sensitive:
        body = body[1:]
    words = tuple(words_for_rules(body))
    if not words:
        raise ValueError(f"{raw!r} has no letters or digits")
    return Name(raw, words if case_sensitive else tuple(w.lower() for w in words), case_sensitive)


def fold_key(text: str) -> str:
    """How an alias typed in a query is compared to the file's: words only, lower-case, accents off."""
    return " ".join(w.lower() for w in words_for_rules(text))


@dataclass(frozen=True)
class Entity:
    """One `[[entity]]`."""

    id: str
    name: str
    kind: str
    aliases: tuple[Name, ...]
    ambiguous: tuple[Name, ...] = ()
    context: tuple[Name, ...] = ()
    context_window: int = 40
    exclude: tuple[Name, ...] = ()  # the file's `not`
    parent: str | None = None
    tags: tuple[str, ...] = ()

    def as_row(self) -> dict[str, Any]:
        """What the database keeps of it (the `entities` table): enough to name, list and resolve it."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "parent": self.parent,
            "tags": list(self.tags),
            "aliases": [n.text.lstrip("=") for n in (*self.aliases, *self.ambiguous)],
        }


@dataclass(frozen=True)
class EntityProblem:
    """An entity entry that could not be loaded (or a part of it that was dropped), and why: one line."""

    index: int
    entity_id: str | None
    message: str


@dataclass(frozen=True)
class EntitySet:
    """The valid entities of a file, the problems found in it, and a fingerprint of what matching depends on."""

    path: Path
    entities: tuple[Entity, ...]
    problems: tuple[EntityProblem, ...] = ()
    fingerprint: str = ""

    def by_id(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}


class _EntityModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    id: str
    name: str = Field(min_length=1)
    kind: EntityKind
    aliases: list[str] = []
    ambiguous: list[str] = []
    context: list[str] = []
    context_window: int = Field(40, ge=1, le=MAX_WINDOW)
    not_: list[str] = Field([], alias="not")
    parent: str | None = None
    tags: list[str] = []

    @field_validator("id", "parent")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not _ID.match(value):
            raise ValueError("must be lowercase letters, digits or '-' (at most 64)")
        return value

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        return EntityKind(value) if isinstance(value, str) and value in EntityKind._value2member_map_ else value


def _names(values: list[str], label: str, field: str) -> tuple[Name, ...]:
    out = []
    for i, raw in enumerate(values, start=1):
        try:
            out.append(parse_name(raw))
        except ValueError as exc:
            raise ValueError(f"{label}: field '{field}' item #{i}: {exc}") from None
    return tuple(out)


def _entity(model: _EntityModel, label: str) -> Entity:
    aliases = _names(model.aliases, label, "aliases")
    ambiguous = _names(model.ambiguous, label, "ambiguous")
    context = _names(model.context, label, "context")
    if not aliases and not ambiguous:
        raise ValueError(f"{label}: field 'aliases': needs at least one alias")
    if ambiguous and not context:
        raise ValueError(f"{label}: field 'context': ambiguous aliases need context words to be recognised by")
    return Entity(model.id, model.name, model.kind.value, aliases, ambiguous, context, model.context_window,
                  _names(model.not_, label, "not"), model.parent, tuple(model.tags))  # fmt: skip


def parse_entities(text: str, path: Path) -> EntitySet:
    """Validate each `[[entity]]` on its own; collect one-line problems instead of stopping at the first.

    Raises ConfigError only when the file as a whole cannot be read (not TOML, `entity` not a list of tables).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: not valid TOML: {exc}") from exc
    problems: list[EntityProblem] = []
    unknown = set(data) - {"entity"}
    if unknown:
        problems.append(EntityProblem(0, None, f"config: {path}: unknown top-level keys {sorted(unknown)}"))
    raw_entities = data.get("entity", [])
    if not isinstance(raw_entities, list):
        raise ConfigError(f"config: {path}: 'entity' must be an array of tables ([[entity]])")
    entities: list[Entity] = []
    for index, raw in enumerate(raw_entities, start=1):
        eid = raw.get("id") if isinstance(raw, dict) else None
        label = f"config: {path}: entity #{index}" + (f" '{eid}'" if isinstance(eid, str) and eid else "")
        if not isinstance(raw, dict):
            problems.append(EntityProblem(index, None, f"{label}: must be a table"))
            continue
        try:
            entity = _entity(_EntityModel.model_validate(raw), label)
        except ValidationError as exc:
            problems.append(EntityProblem(index, eid, describe_validation_error(exc, label)))
            continue
        except ValueError as exc:
            problems.append(EntityProblem(index, eid, str(exc)))
            continue
        if entity.id in {e.id for e in entities}:
            problems.append(EntityProblem(index, eid, f"{label}: field 'id': duplicate id"))
            continue
        entities.append(entity)
    ids = {e.id for e in entities}
    checked = []
    for index, entity in enumerate(entities, start=1):
        if entity.parent is not None and (entity.parent not in ids or entity.parent == entity.id):
            problems.append(EntityProblem(index, entity.id, f"config: {path}: entity '{entity.id}': field 'parent': "
                                          f"no entity '{entity.parent}' (parent dropped)"))  # fmt: skip
            entity = Entity(**{**entity.__dict__, "parent": None})
        checked.append(entity)
    return EntitySet(path, tuple(checked), tuple(problems), _fingerprint(checked))


def _fingerprint(entities: list[Entity]) -> str:
    """Changes whenever what matching finds could: any entity's names, words, window or parent."""
    data = [e.__dict__ for e in entities]
    text = json.dumps([MATCHER_VERSION, data], sort_keys=True, default=lambda o: getattr(o, "__dict__", str(o)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def entities_path(config_dir: Path) -> Path:
    """The config directory's entities.toml, else the shipped one: a config written before entities existed
    (`aggregator init` of an older version) still gets the beat's default set."""
    own = config_dir / FILENAME
    return own if own.exists() else PACKAGED_CONFIG / FILENAME


def load_entities(config_dir: Path) -> EntitySet:
    """Read and validate entities.toml from `config_dir` (or the shipped one when it has none)."""
    path = entities_path(config_dir)
    return parse_entities(read_config_file(path), path)

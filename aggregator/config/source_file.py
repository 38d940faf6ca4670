"""Edit config/sources.toml in place (append a source, enable or disable one), keeping its comments and layout."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import ValidationError
from tomlkit.items import AoT, Item, Table
from tomlkit.toml_document import TOMLDocument

from aggregator.config.settings import describe_validation_error
from aggregator.config.sources import SourceConfig, parse_sources
from aggregator.config.toml_edit import parse_config, read_config, write_config
from aggregator.errors import ConfigError
from aggregator.store.urls import feed_key

_FIELD_ORDER = tuple(SourceConfig.model_fields)


def append_source(path: Path, entry: Mapping[str, object]) -> None:
    """Append one `[[source]]` table at the end of `path`, after a blank line, keys in the file's usual order.

    Raises ConfigError when the entry is invalid, its id is taken, or its feed is already there under another URL
    form (same `feed_key`). Every existing byte is kept; the file is replaced atomically.
    """
    text = read_config(path)
    tables = _source_tables(parse_config(text, path), path)
    label = f"{path}: new source '{entry.get('id')}'"
    try:
        new = SourceConfig.model_validate(dict(entry))
    except ValidationError as exc:
        raise ConfigError(f"config: {describe_validation_error(exc, label)}") from exc
    new_key = feed_key(new.url)
    for index, table in enumerate(tables, start=1):
        other_id, other_url = table.get("id"), table.get("url")
        if other_id == new.id:
            raise ConfigError(
                f"config: {path}: source id '{new.id}' already exists (source #{index}, '{table.get('name')}')"
            )
        if isinstance(other_url, str) and new_key is not None and feed_key(other_url) == new_key:
            raise ConfigError(
                f"config: {label}: {new.url} is the same feed as source '{other_id}' (source #{index}, {other_url})"
            )
    newline = "\r\n" if "\r\n" in text else "\n"
    if not text.strip():
        separator = ""
    elif not text.endswith(newline):
        separator = newline * 2
    else:
        separator = "" if text.endswith(newline * 2) else newline
    updated = text + separator + _render(entry, _key_order(tables), newline)
    _check_appended(text, updated, path, new.id)
    write_config(path, updated)


def set_enabled(path: Path, source_id: str, enabled: bool) -> None:
    """Set (or add) `enabled = true|false` on source `source_id`; every other byte of the file stays as it was.

    Raises ConfigError when no source has that id. Does not rewrite the file when the value is already there.
    """
    text = read_config(path)
    doc = parse_config(text, path)
    tables = _source_tables(doc, path)
    index = next((i for i, table in enumerate(tables) if table.get("id") == source_id), None)
    if index is None:
        raise ConfigError(f"config: {path}: no source with id '{source_id}'")
    table = tables[index]
    if "enabled" in table:
        current = table["enabled"]
        if isinstance(current, bool) and current == enabled:
            return
        table["enabled"] = enabled  # tomlkit keeps the line's indentation and trailing comment
    else:
        _insert_key(table, "enabled", tomlkit.item(enabled), _key_order(tables))
    updated = tomlkit.dumps(doc)
    expected = tomllib.loads(text)
    expected["source"][index]["enabled"] = enabled
    if _load(updated, path) != expected:
        raise ConfigError(f"config: {path}: editing source '{source_id}' would change other values; file left as is")
    write_config(path, updated)


def _load(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: the edit would not be valid TOML ({exc}); file left as is") from exc


def _source_tables(doc: TOMLDocument, path: Path) -> list[Table]:
    if "source" not in doc:
        return []
    sources = doc["source"]
    if not isinstance(sources, AoT):
        raise ConfigError(f"config: {path}: 'source' must be an array of tables ([[source]])")
    return list(sources)


def _key_order(tables: list[Table]) -> list[str]:
    """The key order the file's entries follow, completed with the model's field order for keys none of them use."""
    order: list[str] = []
    for table in tables:
        previous: str | None = None
        for key in table:
            if key not in order:
                order.insert(order.index(previous) + 1 if previous is not None else 0, key)
            previous = key
    for position, name in enumerate(_FIELD_ORDER):
        if name in order:
            continue
        before = [known for known in _FIELD_ORDER[:position] if known in order]
        order.insert(max((order.index(known) for known in before), default=-1) + 1, name)
    return order


def _insert_key(table: Table, key: str, item: Item, order: list[str]) -> None:
    """Insert `key` after the last key of `table` that precedes it in `order` (tomlkit's `add` appends at the end,
    which would also put a blank line before a `[source.options]` sub-table)."""
    rank = order.index(key) if key in order else len(order)
    earlier = [name for name in table if name in order and order.index(name) < rank and name != "options"]
    container = table.value
    try:
        if earlier:
            container._insert_after(earlier[-1], key, item)
        else:
            container._insert_at(0, key, item)
    except AttributeError:  # a tomlkit without these internals: fall back to the public, less tidy append
        table.add(key, item)


def _render(entry: Mapping[str, object], order: list[str], newline: str) -> str:
    keys = sorted(entry, key=lambda name: order.index(name) if name in order else len(order))
    lines = ["[[source]]"]
    tables: list[tuple[str, Mapping[str, object]]] = []
    for key in keys:
        value = entry[key]
        if value is None:
            continue  # TOML has no null: leaving the key out means the default
        if isinstance(value, Mapping):
            if value:
                tables.append((key, value))
            continue
        lines.append(f"{tomlkit.key(key).as_string()} = {_toml_value(value).as_string()}")
    for key, values in tables:
        lines.append(f"[source.{tomlkit.key(key).as_string()}]")
        lines.extend(
            f"{tomlkit.key(str(name)).as_string()} = {_toml_value(value).as_string()}"
            for name, value in values.items()
            if value is not None
        )
    return newline.join(lines) + newline


def _toml_value(value: object) -> Item:
    if isinstance(value, Enum):
        return tomlkit.item(value.value)
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        inline.update({str(k): _toml_value(v) for k, v in value.items() if v is not None})
        return inline
    if isinstance(value, list | tuple | set | frozenset):
        array = tomlkit.array()
        array.extend(_toml_value(v) for v in value)
        return array
    return tomlkit.item(value)


def _check_appended(text: str, updated: str, path: Path, source_id: str) -> None:
    """Refuse to write unless the old content reads back unchanged and the new source loads cleanly."""
    before, after = _load(text, path), _load(updated, path)
    old_sources, new_sources = before.pop("source", []), after.pop("source", [])
    if before != after or new_sources[:-1] != old_sources or not new_sources or new_sources[-1].get("id") != source_id:
        raise ConfigError(f"config: {path}: appending source '{source_id}' would change other values; file left as is")
    catalog = parse_sources(updated, path)
    if source_id not in catalog.by_id():
        why = "; ".join(p.message for p in catalog.problems if p.source_id == source_id) or "it does not load"
        raise ConfigError(f"config: {path}: new source '{source_id}' would not load: {why}; file left as is")

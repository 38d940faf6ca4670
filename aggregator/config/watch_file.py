"""Edit config/watches.toml in place (add a watch, remove one), keeping its comments and layout."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

import tomlkit
from pydantic import ValidationError
from tomlkit.items import AoT

from aggregator.config.settings import describe_validation_error
from aggregator.config.toml_edit import parse_config, read_config, write_config
from aggregator.config.watches import FILENAME, WatchConfig, packaged_text, parse_watches
from aggregator.errors import ConfigError

_ORDER = tuple(WatchConfig.model_fields)


def add_watch(config_dir: Path, entry: Mapping[str, object]) -> WatchConfig:
    """Append one `[[watch]]` table to watches.toml (made, with its documentation, when missing).

    Raises ConfigError when the entry is invalid or its id is taken; the file is replaced atomically.
    """
    path = config_dir / FILENAME
    text = read_config(path) if path.exists() else packaged_text()
    try:
        new = WatchConfig.model_validate(dict(entry))
    except ValidationError as exc:
        raise ConfigError(f"config: {describe_validation_error(exc, f'{path}: new watch')}") from exc
    catalog = parse_watches(text, path)
    if new.id in catalog.by_id() or any(p.watch_id == new.id for p in catalog.problems):
        raise ConfigError(f"config: {path}: watch id '{new.id}' already exists")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = ["[[watch]]"]
    for key in sorted(entry, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER)):
        value = entry[key]
        if value is None or value == "" or value == ():
            continue
        item = tomlkit.item(list(value) if isinstance(value, tuple) else value)
        lines.append(f"{tomlkit.key(key).as_string()} = {item.as_string()}")
    if not text.strip() or text.endswith(newline * 2):
        separator = ""
    else:
        separator = newline if text.endswith(newline) else newline * 2
    updated = text + separator + newline.join(lines) + newline
    after = parse_watches(updated, path)
    if new.id not in after.by_id() or len(after.watches) != len(catalog.watches) + 1:
        raise ConfigError(f"config: {path}: adding watch '{new.id}' would not load; file left as is")
    write_config(path, updated)
    return new


def remove_watch(config_dir: Path, watch_id: str) -> None:
    """Remove watch `watch_id`; every other watch and comment stays. Raises ConfigError when there is none."""
    path = config_dir / FILENAME
    text = read_config(path)
    doc = parse_config(text, path)
    tables = doc.get("watch")
    if not isinstance(tables, AoT):
        raise ConfigError(f"config: {path}: no watch with id '{watch_id}'")
    index = next((i for i, table in enumerate(tables) if table.get("id") == watch_id), None)
    if index is None:
        raise ConfigError(f"config: {path}: no watch with id '{watch_id}'")
    del tables[index]
    updated = tomlkit.dumps(doc)
    expected = tomllib.loads(text)
    del expected["watch"][index]
    if not expected["watch"]:
        del expected["watch"]
    if tomllib.loads(updated) != expected:
        raise ConfigError(f"config: {path}: removing watch '{watch_id}' would change other values; file left as is")
    write_config(path, updated)

"""Load and validate config/watches.toml: a bad watch is reported with its line and skipped, the others load."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aggregator.config.durations import parse_duration
from aggregator.config.settings import PACKAGED_CONFIG, read_config_file
from aggregator.config.sources import checked_id
from aggregator.errors import ConfigError, QueryError
from aggregator.search.query import parse

FILENAME = "watches.toml"
Channel = Literal["mail", "webhook", "atom", "notify"]
CHANNELS: tuple[Channel, ...] = ("mail", "webhook", "atom", "notify")
_QUIET = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
# An Apprise URL as far as it can be checked without Apprise (an optional extra): service://something, with no
# space or control character. Whether Apprise knows the service is found out when it sends.
_APPRISE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s\x00-\x1f\x7f-\x9f]+")


class WatchConfig(BaseModel):
    """One `[[watch]]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    query: str
    deliver: tuple[Channel, ...] = ("atom",)
    webhook: str = ""
    notify: tuple[str, ...] = Field(default=(), repr=False)  # Apprise URLs carry tokens: never in a repr
    every: str = "now"
    quiet: str = ""
    max_per_message: int = Field(default=50, ge=1, le=1000)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        return checked_id(value)

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        try:
            parse(value)
        except QueryError as exc:
            raise ValueError(f"{value!r}: {str(exc).removeprefix('query: ')}") from None
        return value

    @field_validator("deliver")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"name at least one of {', '.join(CHANNELS)}")
        if len(set(value)) != len(value):
            raise ValueError("names a channel twice")
        return value

    @field_validator("notify")
    @classmethod
    def _apprise_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Problems name the entry's position, not its text: an Apprise URL carries the service's token.
        bad = [str(n) for n, url in enumerate(value, start=1) if not _APPRISE_URL.fullmatch(url)]
        if bad:
            which = f"entry {bad[0]} is" if len(bad) == 1 else f"entries {', '.join(bad)} are"
            raise ValueError(f"{which} not an Apprise URL (service://..., such as ntfy://ntfy.sh/TOPIC)")
        if len(set(value)) != len(value):
            raise ValueError("lists a URL twice")
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        if value.strip().lower() == "now":
            return "now"
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ValueError(f'must be "now" or a period such as "1h": {exc}') from None
        if seconds < 60:
            raise ValueError(f'a batch period must be at least 1m, got {value!r} (or say "now")')
        return value

    @field_validator("quiet")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value:
            quiet_hours(value)
        return value

    @model_validator(mode="after")
    def _channel_targets(self) -> WatchConfig:
        if "webhook" in self.deliver:
            parts = urlsplit(self.webhook)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"deliver has 'webhook': 'webhook' must be an http(s) URL, got {self.webhook!r}")
        elif self.webhook:
            raise ValueError("'webhook' is set but deliver does not name 'webhook'")
        if "notify" in self.deliver and not self.notify:
            raise ValueError("deliver has 'notify': 'notify' must list at least one Apprise URL")
        if self.notify and "notify" not in self.deliver:
            raise ValueError("'notify' is set but deliver does not name 'notify'")
        return self

    @property
    def period(self) -> float:
        """Seconds between two messages of a batch; 0 for "now"."""
        return 0.0 if self.every == "now" else parse_duration(self.every)

    @property
    def quiet_hours(self) -> tuple[dt.time, dt.time] | None:
        return quiet_hours(self.quiet) if self.quiet else None


def quiet_hours(text: str) -> tuple[dt.time, dt.time]:
    """ "22:00-07:00" as (start, end), local times; raises ValueError saying what is wrong."""
    found = _QUIET.match(text)
    if found is None:
        raise ValueError(f'must be "HH:MM-HH:MM" such as "22:00-07:00", got {text!r}')
    try:
        start, end = (dt.time.fromisoformat(part.zfill(5)) for part in found.groups())
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return start, end


@dataclass(frozen=True)
class WatchProblem:
    index: int  # 1-based position among the [[watch]] tables; 0 for the file itself
    watch_id: str | None
    line: int
    message: str


@dataclass(frozen=True)
class WatchCatalog:
    """The valid watches plus the problems found in the file."""

    path: Path
    watches: tuple[WatchConfig, ...]
    problems: tuple[WatchProblem, ...] = ()

    def by_id(self) -> dict[str, WatchConfig]:
        return {w.id: w for w in self.watches}


_HEADER = re.compile(r"^\s*\[\[\s*watch\s*\]\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _key_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """Per [[watch]] table, in order: its header's line and the line of each key (1-based)."""
    tables: list[tuple[int, dict[str, int]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if _HEADER.match(line):
            tables.append((number, {}))
        elif line.lstrip().startswith("["):
            tables.append((0, {}))  # another table: keys below it are not the watch's
        elif tables and (key := _KEY.match(line)):
            tables[-1][1].setdefault(key.group(1), number)
    return [t for t in tables if t[0]]


def parse_watches(text: str, path: Path) -> WatchCatalog:
    """Validate each `[[watch]]` on its own; a problem names the file, the line, the watch and the field."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: not valid TOML: {exc}") from exc
    problems: list[WatchProblem] = []
    unknown = set(data) - {"watch"}
    if unknown:
        problems.append(WatchProblem(0, None, 1, f"{path}: unknown top-level keys {sorted(unknown)}"))
    tables = data.get("watch", [])
    if not isinstance(tables, list):
        raise ConfigError(f"config: {path}: 'watch' must be an array of tables ([[watch]])")
    lines = _key_lines(text)
    watches: list[WatchConfig] = []
    seen: set[str] = set()
    for index, raw in enumerate(tables, start=1):
        header, keys = lines[index - 1] if index <= len(lines) else (0, {})
        wid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        label = f"watch #{index}" + (f" '{wid}'" if wid else "")
        try:
            watch = WatchConfig.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else ""
                line = keys.get(field, header)
                where = f"field '{field}': " if field else ""
                message = err["msg"].removeprefix("Value error, ")
                problems.append(WatchProblem(index, wid, line, f"{path}:{line}: {label}: {where}{message}"))
            continue
        if watch.id in seen:
            line = keys.get("id", header)
            problems.append(WatchProblem(index, wid, line, f"{path}:{line}: {label}: field 'id': duplicate id"))
            continue
        seen.add(watch.id)
        watches.append(watch)
    return WatchCatalog(path, tuple(watches), tuple(problems))


def packaged_text() -> str:
    """The shipped watches.toml (its documentation, no watch), which a new watches.toml starts from."""
    path = PACKAGED_CONFIG / FILENAME
    return path.read_text(encoding="utf-8") if path.exists() else ""


def load_watches(config_dir: Path) -> WatchCatalog:
    """watches.toml of `config_dir`; no file means no watches."""
    path = config_dir / FILENAME
    if not path.exists():
        return WatchCatalog(path, ())
    return parse_watches(read_config_file(path), path)

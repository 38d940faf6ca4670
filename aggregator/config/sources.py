"""Load and validate config/sources.toml: one bad source is reported and skipped, never fatal."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator

from aggregator.config.durations import parse_duration
from aggregator.config.settings import describe_validation_error, read_config_file
from aggregator.errors import ConfigError
from aggregator.network import registrable_domain
from aggregator.text import fold_for_rules

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def checked_id(value: str) -> str:
    """`value` if it is an id of the config files (a source's, a watch's), else ValueError saying what one is."""
    if not _ID.match(value):
        raise ValueError("must be lowercase letters, digits, '-' or '_' (at most 64)")
    return value


_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
# What a source's `language` may say instead of a code: every item's language is then detected from its text.
AUTO = "auto"


class Kind(StrEnum):
    FEED = "feed"
    SITEMAP = "sitemap"
    LISTING = "listing"
    SPIDER = "spider"


class Tier(StrEnum):
    RESEARCH = "research"
    NEWS = "news"
    GOVERNMENT = "government"
    BLOG = "blog"
    PUBLISHER = "publisher"


class Confidence(StrEnum):
    """How sure we are that the URL is the outlet's live feed (no live check was possible when shipped)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    LOCAL = "local"


OptionalSeconds = Annotated[float | None, BeforeValidator(lambda v: None if v is None else parse_duration(v))]


class SourceConfig(BaseModel):
    """One `[[source]]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    kind: Kind
    url: str
    language: str
    tier: Tier
    fulltext: bool = False
    poll_interval: OptionalSeconds = None
    enabled: bool = True
    confidence: Confidence = Confidence.HIGH
    notes: str = ""
    tags: tuple[str, ...] = ()
    options: dict[str, Any] = {}
    aliases: tuple[str, ...] = ()  # other names texts give the outlet ("InSight", "GI-TOC"): `aggregator trace`

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        return checked_id(value)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @field_validator("language")
    @classmethod
    def _lang(cls, value: str) -> str:
        if value.strip().lower() == AUTO:  # each item's language is detected from its text, with no prior
            return AUTO
        if not _LANG.match(value):
            raise ValueError(f"must be a language code such as 'en' or 'es-MX', or 'auto', got {value!r}")
        return value.split("-")[0].lower()

    @field_validator("aliases")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(" ".join(alias.split()) for alias in value)
        if any(not alias or len(alias) > 120 for alias in cleaned):
            raise ValueError("each alias must be a name of 1 to 120 characters")
        return cleaned

    @model_validator(mode="after")
    def _options_fit_kind(self) -> SourceConfig:
        opts = self.options
        if self.kind is Kind.LISTING:
            if not opts.get("link_selector") and not opts.get("item_selector"):
                raise ValueError("a listing source needs options.item_selector or options.link_selector")
            # Here, not at the top: only a listing source needs its selectors checked, and the parser brings parsel.
            from aggregator.parse.listings import check_selectors

            try:
                check_selectors(opts)
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        if self.kind is Kind.SPIDER and not isinstance(opts.get("spider"), str):
            raise ValueError("a spider source needs options.spider = 'module:Class'")
        for key in ("include", "exclude"):
            if key in opts and not (isinstance(opts[key], list) and all(isinstance(v, str) for v in opts[key])):
                raise ValueError(f"options.{key} must be a list of strings")
        return self


@dataclass(frozen=True)
class SourceProblem:
    """A source entry that could not be loaded, and why."""

    index: int
    source_id: str | None
    message: str


@dataclass(frozen=True)
class SourceCatalog:
    """The valid sources plus the problems found in the file."""

    path: Path
    sources: tuple[SourceConfig, ...]
    problems: tuple[SourceProblem, ...]

    def by_id(self) -> dict[str, SourceConfig]:
        return {s.id: s for s in self.sources}


def parse_sources(text: str, path: Path) -> SourceCatalog:
    """Validate each `[[source]]` on its own; collect problems instead of stopping at the first."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"source"}
    problems: list[SourceProblem] = []
    if unknown:
        problems.append(SourceProblem(0, None, f"{path}: unknown top-level keys {sorted(unknown)}"))
    raw_sources = data.get("source", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"config: {path}: 'source' must be an array of tables ([[source]])")
    sources: list[SourceConfig] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_sources, start=1):
        sid = raw.get("id") if isinstance(raw, dict) else None
        label = f"{path}: source #{index}" + (f" '{sid}'" if sid else "")
        try:
            source = SourceConfig.model_validate(raw)
        except ValidationError as exc:
            problems.append(SourceProblem(index, sid, describe_validation_error(exc, label)))
            continue
        if source.id in seen:
            problems.append(SourceProblem(index, sid, f"{label}: field 'id': duplicate id"))
            continue
        seen.add(source.id)
        sources.append(source)
    return SourceCatalog(path, tuple(sources), tuple(problems))


def load_sources(config_dir: Path, filename: str = "sources.toml") -> SourceCatalog:
    """Read `sources.toml` from `config_dir`."""
    path = config_dir / filename
    return parse_sources(read_config_file(path), path)


# Host prefixes that name a server, not the outlet: www.elpais.com and feeds.elpais.com are both "elpais".
_SERVER_LABELS = {"www", "www2", "m", "mobile", "amp", "feeds", "feed", "rss"}


def source_id_for(url: str, taken: Iterable[str] = (), *, title: str | None = None) -> str:
    """A source id from the URL's host, unique among `taken`: `borderreport` for https://www.borderreport.com/,
    `insightcrime-es` for es.insightcrime.org, then `borderreport-2` and so on. A host that names no outlet (an
    IP address, a bare name such as localhost) gives way to the feed's `title` when there is one."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    labels = host.split(".")
    if re.fullmatch(r"[\d.]+|[0-9a-f:]+", host) or len(labels) < 2:
        # Nothing in the host to go by: "Frontera Report" says more than "127-0-0-1".
        slug = fold_for_rules(title).lower() if title and title.strip() else host
    else:
        domain = registrable_domain(host)
        subdomains = host.removesuffix(domain).split(".")[:-1]  # the labels left of the domain
        slug = "-".join([domain.split(".")[0], *(s for s in reversed(subdomains) if s not in _SERVER_LABELS)])
    slug = re.sub(r"[^a-z0-9_-]+", "-", slug).strip("-_")[:60] or "source"
    used = set(taken)
    candidate, n = slug, 2
    while candidate in used:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def source_ids(catalog: SourceCatalog) -> set[str]:
    """Every id in sources.toml, including those of entries that failed validation: the file still holds them."""
    return {s.id for s in catalog.sources} | {p.source_id for p in catalog.problems if p.source_id}


def language_code(code: str | None) -> str | None:
    """The primary subtag sources.toml wants, from what feeds and OPML files say: en-US, EN, en_us."""
    primary = re.split(r"[-_]", code.strip())[0].lower() if code else ""
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None

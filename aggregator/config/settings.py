"""Load config/settings.toml: database, data directory, crawl politeness, timezone."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from aggregator.config.durations import parse_duration
from aggregator.digest.mail import MailSettings
from aggregator.errors import ConfigError

Seconds = Annotated[float, BeforeValidator(parse_duration)]

DEFAULT_USER_AGENT = "beat-aggregator/0.1 (+https://github.com/beat-aggregator/beat-aggregator; news monitoring)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CrawlSettings(_Strict):
    """Politeness and robustness limits shared by every request (feeds, pages, sitemaps, listings)."""

    user_agent: str = DEFAULT_USER_AGENT
    obey_robots_txt: bool = True
    concurrent_requests: int = 16
    concurrent_per_host: int = 2
    download_delay: Seconds = 1.0
    autothrottle: bool = True
    timeout: Seconds = 30.0
    max_response_bytes: int = 20 * 1024 * 1024
    retry_times: int = 2
    max_redirects: int = 5
    default_interval: Seconds = 1800.0
    min_interval: Seconds = 300.0
    max_interval: Seconds = 86400.0
    fulltext_attempts: int = 3
    fulltext_per_source: int = 50
    stale_after: Seconds = 14 * 86400.0  # a source with nothing new for this long is flagged as stale


class DigestSettings(_Strict):
    """When the daily digest closes, how it reads, where it is written."""

    time: str = "07:00"  # local time (settings.timezone) at which each day's digest closes
    languages: list[str] = ["en", "es"]  # summary language preference, first one the story has
    per_section: int = Field(default=20, ge=0)  # stories in full per section; 0 = no limit
    summary_sentences: int = Field(default=3, ge=1, le=6)
    story_window: Seconds = 72 * 3600.0  # an item joins a story whose items lie within this time of it
    output_dir: str = "digests"  # relative to the data directory
    title: str = "Beat digest"
    feed_entries: int = Field(default=30, ge=1)  # digests (and stories per topic) kept in the Atom feeds

    @field_validator("time")
    @classmethod
    def _clock(cls, value: str) -> str:
        try:
            clock = dt.time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"time must be HH:MM, got {value!r}") from exc
        return clock.strftime("%H:%M")

    @property
    def cutoff(self) -> dt.time:
        return dt.time.fromisoformat(self.time)


class ScheduleSettings(_Strict):
    """What `aggregator run` does on its own, and how often."""

    tick: Seconds = Field(default=60.0, ge=1.0)  # how often due sources are looked for (each has its own pace)
    retrain_every: Seconds = Field(default=3600.0, ge=60.0)  # look for new feedback this often
    maintenance_time: str = "04:30"  # local time of the daily database upkeep
    log_format: str = Field(default="plain", pattern="^(plain|json)$")

    @field_validator("maintenance_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        return DigestSettings._clock(value)


class WebSettings(_Strict):
    """`aggregator serve`: the token that lets the web app store feedback (env AGGREGATOR_WEB_TOKEN wins)."""

    token: str = Field(default="", repr=False)


class Settings(_Strict):
    """Everything in settings.toml, with defaults for whatever it leaves out."""

    data_dir: str = "data"
    database_url: str = ""
    timezone: str = "UTC"
    crawl: CrawlSettings = CrawlSettings()
    digest: DigestSettings = DigestSettings()
    mail: MailSettings = MailSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    web: WebSettings = WebSettings()

    # Filled in by load_settings, not read from the file.
    config_dir: Path = Path("config")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def data_path(self) -> Path:
        """Data directory; a relative path is taken from the config directory's parent."""
        path = Path(os.environ.get("AGGREGATOR_DATA_DIR") or self.data_dir)
        return path if path.is_absolute() else (self.config_dir.resolve().parent / path)

    @property
    def stale_after(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.crawl.stale_after)

    @property
    def digest_dir(self) -> Path:
        path = Path(self.digest.output_dir)
        return path if path.is_absolute() else self.data_path / path

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def resolved_database_url(self, override: str | None = None) -> str:
        """--db beats AGGREGATOR_DATABASE_URL beats settings.toml beats the SQLite default."""
        url = override or os.environ.get("AGGREGATOR_DATABASE_URL") or self.database_url
        if url:
            return url
        return f"sqlite:///{self.data_path / 'aggregator.sqlite'}"


def describe_validation_error(exc: ValidationError, where: str) -> str:
    """One line per problem: `where: field.path: message`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{where}: field '{loc}': {err['msg']}")
    return "; ".join(lines)


def read_config_file(path: Path) -> str:
    """The text of a required config file, or a ConfigError naming it."""
    if not path.exists():
        raise ConfigError(f"config: {path}: file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config: {path}: not UTF-8: {exc}") from exc


def load_settings(config_dir: Path) -> Settings:
    """Read settings.toml from `config_dir`; a missing file means all defaults."""
    path = config_dir / "settings.toml"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config: {path}: not valid TOML: {exc}") from exc
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config: {describe_validation_error(exc, str(path))}") from exc
    settings.config_dir = config_dir
    return settings

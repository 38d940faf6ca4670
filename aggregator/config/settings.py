"""Load config/settings.toml: database, data directory, crawl politeness, timezone."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from aggregator.config.durations import format_duration, parse_duration
from aggregator.digest.mail import MailSettings
from aggregator.errors import ConfigError

Seconds = Annotated[float, BeforeValidator(parse_duration)]

# The default configuration, shipped in the package (a link to the repository's config/ folder in a checkout).
PACKAGED_CONFIG = Path(__file__).resolve().parent / "defaults"
DEFAULT_USER_AGENT = "beat-aggregator/0.1 (+https://github.com/beat-aggregator/beat-aggregator; news monitoring)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CrawlSettings(_Strict):
    """Politeness and robustness limits shared by every request (feeds, pages, sitemaps, listings)."""

    user_agent: str = DEFAULT_USER_AGENT
    obey_robots_txt: bool = True
    concurrent_requests: int = Field(default=16, ge=1)  # 0 would never send a request: the crawl would hang
    concurrent_per_host: int = Field(default=2, ge=1)
    download_delay: Seconds = Field(default=1.0, ge=0)
    autothrottle: bool = True
    timeout: Seconds = Field(default=30.0, gt=0)
    # Scrapy reads 0 as "no limit", which would also turn off the guard against gzip bombs.
    max_response_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    retry_times: int = Field(default=2, ge=0)
    max_redirects: int = Field(default=5, ge=0)
    default_interval: Seconds = Field(default=1800.0, gt=0)
    min_interval: Seconds = Field(default=300.0, gt=0)
    max_interval: Seconds = Field(default=86400.0, gt=0)
    fulltext_attempts: int = Field(default=3, ge=1)
    fulltext_per_source: int = Field(default=50, ge=0)  # 0 = no article pages fetched
    # Entries one fetch takes from a feed, sitemap or listing (those not stored yet first, newest first); the rest
    # wait for later fetches. Bounds the crawl's memory and time on a feed of 100,000 entries.
    max_entries_per_fetch: int = Field(default=1000, ge=1)
    stale_after: Seconds = Field(default=14 * 86400.0, gt=0)  # a source with nothing new this long is flagged stale
    # Loopback, private, link-local, metadata... addresses are refused unless allowed here (see crawl.addresses).
    allow_private_networks: bool = False
    allow_networks: list[str] = []  # CIDR networks ("10.1.2.0/24", "127.0.0.1/32") or exact host names

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        canonical, problems = [], []
        for entry in entries:
            try:
                canonical.append(_network_entry(entry))
            except ValueError as exc:
                problems.append(str(exc))
        if problems:  # every bad entry at once, each named
            raise _problem("; ".join(problems))
        return canonical

    @model_validator(mode="after")
    def _interval_order(self) -> CrawlSettings:
        # A default_interval outside the bounds is clamped to them when used, like every other interval.
        if self.min_interval > self.max_interval:
            low, high = format_duration(self.min_interval), format_duration(self.max_interval)
            raise _problem(f"min_interval ({low}) must not be longer than max_interval ({high})")
        return self


def _problem(message: str) -> PydanticCustomError:
    """A validation error whose message is shown as is, after the key it is about (see describe_settings_error)."""
    return PydanticCustomError("setting", message)  # no context: braces in the message stay literal


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


def _network_entry(entry: str) -> str:
    """An allow_networks entry in canonical form: "10.0.0.0/8" (a bare address gets /32 or /128) or a host name.
    Raises ValueError naming the entry."""
    text = entry.strip()
    if "/" in text or ":" in text or re.fullmatch(r"[0-9.]+", text):
        try:
            return str(ipaddress.ip_network(text.strip("[]")))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not a CIDR network: {exc}") from None
    name = text.rstrip(".").lower()
    if not _HOST_NAME.fullmatch(name):
        raise ValueError(f"{entry!r} is neither a CIDR network (such as 10.0.0.0/8) nor a host name")
    return name


class DigestSettings(_Strict):
    """When the daily digest closes, how it reads, where it is written."""

    time: str = "07:00"  # local time (settings.timezone) at which each day's digest closes
    languages: list[str] = ["en", "es"]  # summary language preference, first one the story has
    per_section: int = Field(default=20, ge=0)  # stories in full per section; 0 = no limit
    summary_sentences: int = Field(default=3, ge=1, le=6)
    # An item joins a story whose items lie within this time of it.
    story_window: Seconds = Field(default=72 * 3600.0, gt=0)
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


class CaptureSettings(_Strict):
    """Every fetched feed body and article page kept as captured, in WARC files under data_dir/captures."""

    enabled: bool = True
    max_file_mb: float = Field(default=100.0, gt=0)  # a WARC file past this size is closed and a new one begun
    max_total_mb: float = Field(default=0.0, ge=0)  # 0 = no limit; past it the oldest files are removed
    keep_days: float = Field(default=0.0, ge=0)  # 0 = keep forever; older files are removed


WEBHOOK_SECRET_ENV = "AGGREGATOR_WEBHOOK_SECRET"


class WatchSettings(_Strict):
    """Watches (watches.toml): the webhook signing secret (env AGGREGATOR_WEBHOOK_SECRET wins) and delivery limits."""

    webhook_secret: str = Field(default="", repr=False)
    webhook_timeout: Seconds = Field(default=10.0, gt=0)
    retry_max: Seconds = Field(default=6 * 3600.0, ge=60.0)  # the longest wait between two tries of a channel
    feed_entries: int = Field(default=100, ge=1)  # alerts kept in each watch's Atom feed

    def secret(self) -> str:
        """The secret webhooks are signed with: the environment's, else settings.toml's ("" when neither)."""
        return os.environ.get(WEBHOOK_SECRET_ENV) or self.webhook_secret


class DistributedSettings(_Strict):
    """`aggregator run --distributed` and `aggregator worker`: the broker, the queue, how sources are batched."""

    broker_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672//", repr=False)  # AGGREGATOR_BROKER_URL wins
    queue: str = Field(default="aggregator.crawl", pattern=r"^[A-Za-z0-9_.:-]{1,200}$")
    batch_size: int = Field(default=100, ge=1)  # sources per task (all of a host's due sources stay in one batch)
    lock_retry: Seconds = Field(default=30.0, ge=0.1)  # a batch whose host another worker crawls waits this long
    requeue_after: Seconds = Field(default=1800.0, ge=1.0)  # a source queued this long ago may be queued again
    heartbeat: Seconds = Field(default=15.0, ge=0.5)  # how often a worker records that it is alive
    worker_seen: Seconds = Field(default=300.0, ge=1.0)  # `status` lists workers heard from within this time

    @property
    def resolved_broker_url(self) -> str:
        return os.environ.get("AGGREGATOR_BROKER_URL") or self.broker_url


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
    capture: CaptureSettings = CaptureSettings()
    watches: WatchSettings = WatchSettings()
    distributed: DistributedSettings = DistributedSettings()

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
        """Data directory; a relative path is taken from the config directory's parent (from the working directory
        when the configuration is the one shipped in the package)."""
        path = Path(os.environ.get("AGGREGATOR_DATA_DIR") or self.data_dir)
        if path.is_absolute():
            return path
        if self.config_dir == PACKAGED_CONFIG:
            return Path.cwd().resolve() / path
        return self.config_dir.resolve().parent / path

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


# The tables of settings.toml, by name, for error messages.
_TABLES: dict[str, type[BaseModel]] = {
    "crawl": CrawlSettings,
    "digest": DigestSettings,
    "mail": MailSettings,
    "schedule": ScheduleSettings,
    "web": WebSettings,
    "capture": CaptureSettings,
    "watches": WatchSettings,
    "distributed": DistributedSettings,
}


def describe_validation_error(exc: ValidationError, where: str) -> str:
    """One line per problem: `where: field.path: message`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{where}: field '{loc}': {err['msg']}")
    return "; ".join(lines)


_RANGE_WORDS = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
_RANGE_TYPES = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt"}


def describe_settings_error(exc: ValidationError, where: str) -> str:
    """One line per problem in settings.toml. Out-of-range values and the checks above read
    `where: [crawl] concurrent_per_host must be at least 1, got 0`; anything else as describe_validation_error."""
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        table = loc[0] if loc and loc[0] in _TABLES else None
        key = ".".join(loc[1:] if table else loc)
        name = " ".join(part for part in (f"[{table}]" if table else "", key) if part)
        bound = _RANGE_TYPES.get(err["type"])
        if bound is not None:
            seconds = _is_duration(table, key)
            limit, value = _number(err["ctx"][bound], seconds), _number(err["input"], seconds)
            lines.append(f"{where}: {name} must be {_RANGE_WORDS[bound]} {limit}, got {value}")
        elif err["type"] == "setting":
            lines.append(f"{where}: {name}{': ' if key else ' '}{err['msg']}")
        else:
            lines.append(f"{where}: field '{'.'.join(loc) or '(top level)'}': {err['msg']}")
    return "; ".join(lines)


def _number(value: Any, seconds: bool) -> str:
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return f"{text} second{'' if text == '1' else 's'}" if seconds else text


def _is_duration(table: str | None, key: str) -> bool:
    """Whether settings.toml's `[table] key` is read as a duration ("30s", "2h"): its bounds are in seconds."""
    model = _TABLES.get(table or "", Settings)
    field = model.model_fields.get(key)
    return field is not None and any(getattr(meta, "func", None) is parse_duration for meta in field.metadata)


def find_config_dir(given: Path | None) -> Path:
    """The config directory to use: `given` (--config or $AGGREGATOR_CONFIG), else ./config when it exists, else the
    configuration shipped in the package (what `aggregator init` copies for editing)."""
    if given is not None:
        return given
    local = Path("config")
    return local if local.is_dir() else PACKAGED_CONFIG


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
        raise ConfigError(f"config: {describe_settings_error(exc, str(path))}") from exc
    settings.config_dir = config_dir
    return settings

"""What every entry point opens: the config directory's settings, sources and topics, and the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aggregator.classify.topics import TopicSet, load_topics
from aggregator.config.settings import Settings, load_settings
from aggregator.config.sources import SourceCatalog, load_sources
from aggregator.store.database import Database


@dataclass
class Context:
    """A config directory and an optional database URL; settings are read once, sources and topics on each call."""

    config_dir: Path
    db_url: str | None = None
    verbose: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_dir)
        return self._settings

    def catalog(self) -> SourceCatalog:
        return load_sources(self.config_dir)

    def topics(self) -> TopicSet:
        return load_topics(self.config_dir)

    def database(self) -> Database:
        return Database(self.settings.resolved_database_url(self.db_url))

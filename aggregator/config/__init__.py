"""Configuration: settings.toml, sources.toml (loading, editing in place, OPML), durations; imports only errors."""

"""Topic-monitoring news aggregator for the cartel, terrorism and border-security beat."""

__version__ = "0.1.0"

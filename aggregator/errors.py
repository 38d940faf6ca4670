"""The project's exception tree; every message names the stage that failed.

AggregatorError
├── ConfigError        a settings, sources or topics file is invalid (names file, entry and field)
├── StorageError       the database cannot be opened or migrated
├── FetchError         a source could not be fetched (network, HTTP status, size limit)
├── ParseError         a response could not be turned into entries (not a feed, malformed beyond repair)
└── defined where they are raised:
    QueryError (query)          a malformed search query, with the column of the problem
    DigestError (digest)        a digest period that would overlap another or has not closed
    OutputError (digest_archive) a digest file that cannot be written (full disk, permissions)
    MailError (mail)            the SMTP server refused or could not be reached
    Busy (jobs)                 another process holds the crawl lock
"""


class AggregatorError(Exception):
    """Base class: one clear line for the user, no traceback needed."""


class ConfigError(AggregatorError):
    """A configuration file or value is invalid."""


class StorageError(AggregatorError):
    """The database cannot be reached, opened or migrated."""


class FetchError(AggregatorError):
    """A network fetch failed."""


class ParseError(AggregatorError):
    """A response body could not be parsed into entries."""

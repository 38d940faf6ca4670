"""The project's one exception tree; every message names the stage that failed.

AggregatorError                 one clear line for the user, no traceback needed
├── ConfigError                 a settings, sources or topics file is invalid (names file, entry and field)
│   └── UnknownTopicError       a label, feedback or evaluation file names a topic topics.toml lacks
├── StorageError                the database cannot be opened or migrated
├── FetchError                  a fetch process failed or a trial fetch got no usable response
├── ParseError                  a response could not be turned into entries (not a feed, malformed beyond repair)
├── ClassifierError             a saved classifier cannot be read (missing, corrupt, unknown or newer format)
├── QueryError                  a malformed search query, with the column of the problem
├── DigestError                 a digest period that would overlap another or has not closed
├── OutputError                 a digest file that cannot be written (full disk, permissions)
├── MailError                   the SMTP server refused or could not be reached
├── CaptureError                a WARC capture cannot be written (full disk) or read (file removed or damaged)
├── DeliveryError               a watch's alert could not be delivered (webhook refused, failed or unreachable)
│   └── NotDelivered            some notify URLs did not take it; says which did, so the retry skips them
├── DistributedError            distributed mode cannot run: Celery missing, SQLite, broker unreachable
└── Busy                        another process holds the crawl lock

Inside the crawl process, failures are data, not exceptions: they are stored on the source's row and in the
fetch log (aggregator.spiders.failures); tests/test_errors.py keeps this tree and the classes in step.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


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


class DistributedError(AggregatorError):
    """Distributed crawling cannot run: the extra is not installed, the database is SQLite, the broker is down."""


class Busy(AggregatorError):
    """Another process holds the crawl lock."""


class UnknownTopicError(ConfigError):
    """A label, feedback entry or evaluation file names a topic that topics.toml does not define."""


class ClassifierError(AggregatorError):
    """A saved classifier cannot be read (missing, corrupt, unknown or newer format)."""


class QueryError(AggregatorError):
    """A query that cannot be parsed; `column` (1-based) points at the problem, `pointer()` draws it."""

    def __init__(self, problem: str, query: str, column: int, hint: str = "") -> None:
        super().__init__(f"query: {problem} at column {column}" + (f" ({hint})" if hint else ""))
        self.problem = problem
        self.query = query
        self.column = column

    def pointer(self, width: int = 72) -> str:
        """Two lines: the query (a window of it when long) and a caret under the problem."""
        flat = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in self.query)
        start = max(0, min(self.column - 1 - width // 2, len(flat) - width))
        shown = flat[start : start + width]
        lead = "…" if start > 0 else ""
        tail = "…" if start + width < len(flat) else ""
        return f"{lead}{shown}{tail}\n{' ' * (len(lead) + self.column - 1 - start)}^"


class MailError(AggregatorError):
    """The digest could not be mailed: bad mail settings, or the SMTP server failed or refused us."""


class DeliveryError(AggregatorError):
    """A watch's alert could not be delivered: a webhook refused, failed, unreachable, or a private address."""


class NotDelivered(DeliveryError):
    """Some notify URLs did not take the notification; `reached` are those that did (none when the check stopped
    it before sending)."""

    def __init__(self, message: str, reached: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reached = list(reached)


class DigestError(AggregatorError):
    """A digest cannot be built for the asked period."""


class OutputError(AggregatorError):
    """The digest could not be written to its output directory."""


class CaptureError(AggregatorError):
    """A page or feed body could not be written to its WARC file, or a stored capture cannot be read back."""

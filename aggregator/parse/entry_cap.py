"""Cap the entries one fetch takes from a document: entries not yet stored first, newest first when all are dated."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from aggregator.parse.entry import Entry

T = TypeVar("T")

# Given the guids (or, for an entry without one, the links) of a document's entries, the ones its source already
# has. The crawl answers from the database; without it every entry counts as not stored yet.
StoredGuids = Callable[[list[str]], Collection[str]]


@dataclass
class EntryCap:
    """How many entries one fetch may take, and (filled in by `cap_entries`) what it left in the document."""

    limit: int
    stored: StoredGuids | None = None
    total: int = 0  # entries the document had
    skipped: int = 0  # entries this fetch did not take
    left: int = 0  # of those, entries not stored yet: a later fetch takes them while they stay in the document

    def warning(self) -> str | None:
        """What the fetch log says about the cap, or None when it took every entry."""
        if not self.skipped:
            return None
        later = f"{self.left} of them not stored yet, left for later fetches" if self.left else "all already stored"
        return f"{self.total} entries, more than max_entries_per_fetch ({self.limit}): {self.skipped} skipped ({later})"


def cap_entries(
    entries: Sequence[T],
    cap: EntryCap | None,
    *,
    key: Callable[[T], str],
    date: Callable[[T], datetime | None],
) -> list[T]:
    """The entries one fetch takes, in document order, and `cap` filled in.

    Over the limit, entries whose `key` the source has not stored yet come first, then stored ones (whose edits
    are still seen); within each, the newest first when every entry has a date, else in document order. So a
    document with more entries than the limit is taken in over several fetches, newest first, while its older
    entries stay in it; the crawl must then fetch it again even if it has not changed (see the spider).
    """
    if cap is None or len(entries) <= cap.limit:
        if cap is not None:
            cap.total, cap.skipped, cap.left = len(entries), 0, 0
        return list(entries)
    order = list(range(len(entries)))
    dates = [d for d in (date(e) for e in entries) if d is not None]
    if len(dates) == len(entries):
        order.sort(key=dates.__getitem__, reverse=True)  # stable: entries of one date keep their document order
    keys = [key(e) for e in entries]
    stored = set(cap.stored([k for k in keys if k])) if cap.stored is not None else set()
    fresh = [i for i in order if not keys[i] or keys[i] not in stored]
    known = [i for i in order if keys[i] and keys[i] in stored]
    taken = sorted((fresh + known)[: cap.limit])
    cap.total, cap.skipped = len(entries), len(entries) - len(taken)
    cap.left = max(0, len(fresh) - cap.limit)
    return [entries[i] for i in taken]


def cap_entry_list(entries: Sequence[Entry], cap: EntryCap | None) -> list[Entry]:
    """`cap_entries` for finished entries (JSON Feed, sitemaps, listings): keyed by guid, dated by publication."""
    return cap_entries(entries, cap, key=lambda e: e.guid or e.url, date=lambda e: e.published_at or e.updated_at)

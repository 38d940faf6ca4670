"""Store entries once: dedupe by guid within a source, canonical URL across sources, then content hash and title."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from aggregator.errors import StorageError
from aggregator.models import Capture, Item, Sighting
from aggregator.parse.entry import Article, Entry
from aggregator.parse.language import item_language, primary
from aggregator.parse.sanitize import clean_html_to_text
from aggregator.store.sizes import FIELD_LIMITS, FieldLimits, cut_entry, cut_note, cut_text, cut_title, with_notes
from aggregator.store.urls import guid_key, url_key

# Shorter bodies (a one-line teaser, "Read more") are too common to prove two items are one.
MIN_HASHED_CHARS = 300
# A feed that already carries this much text needs no article fetch.
FULLTEXT_ENOUGH_CHARS = 1200
_WORDS = re.compile(r"\w+", re.UNICODE)

# What no text column may hold: NUL (PostgreSQL refuses it in text and JSONB, and so the whole batch), the other
# C0 controls but tab, newline and carriage return (kept: both databases store them and every reader takes them
# for whitespace; rewriting CRLF would make every such item look edited on its next fetch), DEL, the C1 controls
# and lone surrogates (a JSON feed's "\ud800": no driver can encode them). None of them is text a reader sees.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Those that str.split() takes for whitespace become a space, so the words either side stay two words.
_UNSTORABLE_MAP: dict[int, str | None] = {
    c: (" " if chr(c).isspace() else None)
    for c in [*range(0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000)]
    if chr(c) not in "\t\n\r"
}


@dataclass
class IngestResult:
    """What storing one batch of entries did."""

    # The new items' rows as stored, each with its id: what the crawl classifies, without reading them back.
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0

    @property
    def new_ids(self) -> list[int]:
        return [row["id"] for row in self.new_rows]

    @property
    def new(self) -> int:
        return len(self.new_rows)


def storable_text(value: str) -> str:
    """`value` without the control characters and lone surrogates that a database refuses or a reader never sees."""
    if _UNSTORABLE.search(value) is None:
        return value
    return value.translate(_UNSTORABLE_MAP)


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, Mapping):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_storable(v) for v in value)
    return value


def storable(record: Any) -> Any:
    """A copy of an Entry or Article whose every text (titles, bodies, URLs, authors, raw provenance) is storable."""
    changes = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        clean = _storable(value)
        if clean is not value and clean != value:
            changes[f.name] = clean
    return dataclasses.replace(record, **changes) if changes else record


def content_hash(text: str) -> str | None:
    """Hash of the words of `text`, or None when it is too short to identify an article.

    Equal hashes make two items one only when their titles have the same words too (`title_words`): one channel's
    videos, or one author's posts, often share a long description and are still different items.
    """
    words = _WORDS.findall(text.lower())
    joined = " ".join(words)
    if len(joined) < MIN_HASHED_CHARS:
        return None
    return hashlib.sha256(joined.encode()).hexdigest()


def title_words(title: str) -> str:
    """The words of a title, lower-cased: two items with one content hash are one when these are equal too."""
    return " ".join(_WORDS.findall(title.lower()))


def _body(entry: Entry, summary_text: str) -> str:
    return entry.text if len(entry.text) > len(summary_text) else summary_text


def _key_of(entry: Entry) -> str | None:
    if entry.raw.get("no_link"):
        return None
    return url_key(entry.canonical_url or entry.url)


def store_entries(
    session: Session,
    source_id: str,
    entries: Sequence[Entry],
    *,
    now: datetime,
    fulltext: bool = False,
    limits: FieldLimits = FIELD_LIMITS,
) -> IngestResult:
    """Insert new entries, update changed ones in place, record duplicates as sightings.

    Fields longer than `limits` are cut, and the item's raw notes say so (`sizes.cut_warning` words it for the
    fetch log).
    """
    result = IngestResult()
    if not entries:
        return result
    prepared = [_prepare(e, limits) for e in entries]
    guids = [p["guid"] for p in prepared]
    known_guid = dict(
        session.execute(
            select(Sighting.guid, Sighting.item_id).where(Sighting.source_id == source_id, Sighting.guid.in_(guids))
        ).all()
    )
    keys = {p["url_key"] for p in prepared if p["url_key"] and p["guid"] not in known_guid}
    hashes = {p["content_hash"] for p in prepared if p["content_hash"] and p["guid"] not in known_guid}
    by_key = _lookup(session, Item.url_key, keys)
    by_hash = _lookup_hashes(session, hashes)

    to_update = [p for p in prepared if p["guid"] in known_guid]
    _update_changed(session, source_id, to_update, known_guid, now, result)

    new_rows: list[dict[str, Any]] = []
    sightings: list[dict[str, Any]] = []
    pending_new: dict[int, list[dict[str, Any]]] = {}  # index in new_rows -> sightings waiting for its id
    for p in prepared:
        if p["guid"] in known_guid:
            continue
        existing = (p["url_key"] and by_key.get(p["url_key"])) or _same_text_and_title(by_hash, p)
        sighting = {"source_id": source_id, "guid": p["guid"], "url": p["row"]["url"], "seen_at": now}
        if isinstance(existing, int):
            sighting["item_id"] = existing
            sightings.append(sighting)
            result.duplicates += 1
            continue
        if isinstance(existing, str):  # another new entry of this batch already claimed it
            pending_new[int(existing[1:])].append(sighting)
            result.duplicates += 1
            continue
        row = dict(p["row"], source_id=source_id, first_seen_at=now, fetched_at=now)
        long_enough = len(row["text"]) >= FULLTEXT_ENOUGH_CHARS
        row["fulltext_state"] = "pending" if fulltext and not long_enough and row["url_key"] else "none"
        marker = f"#{len(new_rows)}"
        if p["url_key"]:
            by_key[p["url_key"]] = marker
        if p["content_hash"]:
            by_hash.setdefault(p["content_hash"], []).append((marker, p["title_words"]))
        pending_new[len(new_rows)] = [sighting]
        new_rows.append(row)

    if new_rows:
        for index, item_id in enumerate(_insert_items(session, new_rows)):
            new_rows[index]["id"] = item_id
            result.new_rows.append(new_rows[index])
            for s in pending_new[index]:
                s["item_id"] = item_id
                sightings.append(s)
    if sightings:
        session.execute(insert(Sighting.__table__), sightings)  # type: ignore[arg-type]
    return result


def _insert_items(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert item rows (Core, not the ORM's bulk bookkeeping) and return their ids in row order."""
    items: Table = Item.__table__  # type: ignore[assignment]
    if session.get_bind().dialect.name != "sqlite":
        returned = session.execute(insert(items).returning(items.c.id, sort_by_parameter_order=True), rows)
        return [item_id for (item_id,) in returned]
    # SQLite can only keep RETURNING in parameter order one row per statement. One executemany is far
    # cheaper, and the ids are known: each new row gets the largest rowid plus one, and this transaction
    # holds the database's only write lock. The count check below guards that reasoning.
    session.execute(insert(items), rows)
    last = int(session.execute(text("SELECT last_insert_rowid()")).scalar_one())
    first = last - len(rows) + 1
    placed = session.scalar(select(func.count()).select_from(items).where(items.c.id.between(first, last)))
    if placed != len(rows):
        raise StorageError(f"store: expected {len(rows)} new items with ids {first}..{last}, found {placed}")
    return list(range(first, last + 1))


def _same_text_and_title(by_hash: dict[str, list[tuple[int | str, str]]], prepared: dict[str, Any]) -> int | str | None:
    """The item (or pending new row) with the entry's content hash and title words, if any."""
    if not prepared["content_hash"]:
        return None
    for item_id, title in by_hash.get(prepared["content_hash"], ()):
        if title == prepared["title_words"]:
            return item_id
    return None


def _lookup_hashes(session: Session, hashes: set[str]) -> dict[str, list[tuple[int | str, str]]]:
    """Stored items by content hash, each with its title words."""
    found: dict[str, list[tuple[int | str, str]]] = {}
    chunk = list(hashes)
    for start in range(0, len(chunk), 500):
        rows = session.execute(
            select(Item.content_hash, Item.id, Item.title)
            .where(Item.content_hash.in_(chunk[start : start + 500]))
            .order_by(Item.id)
        )
        for value, item_id, title in rows:
            if value is not None:
                found.setdefault(value, []).append((item_id, title_words(title or "")))
    return found


def stored_guids(session: Session, source_id: str, guids: list[str]) -> set[str]:
    """Those of `guids` (as an entry carries them) that `source_id` has already brought."""
    keyed = {guid_key(g): g for g in guids}
    found: set[str] = set()
    chunk = list(keyed)
    for start in range(0, len(chunk), 500):
        rows = session.scalars(
            select(Sighting.guid).where(Sighting.source_id == source_id, Sighting.guid.in_(chunk[start : start + 500]))
        )
        found.update(keyed[g] for g in rows)
    return found


def _lookup(session: Session, column: Any, values: set[str]) -> dict[str, int | str]:
    if not values:
        return {}
    found: dict[str, int | str] = {}
    chunk = list(values)
    for start in range(0, len(chunk), 500):
        rows = session.execute(select(column, Item.id).where(column.in_(chunk[start : start + 500])))
        found.update({value: item_id for value, item_id in rows})
    return found


def _prepare(entry: Entry, limits: FieldLimits) -> dict[str, Any]:
    entry = storable(entry)  # every entry passes here on its way into the database
    entry, notes = cut_entry(entry, limits)
    summary_text = clean_html_to_text(entry.summary_html)
    body = _body(entry, summary_text)
    key = _key_of(entry)
    row: dict[str, Any] = {
        "guid": entry.guid,
        "url": entry.url or str(entry.raw.get("feed_url", "")),
        "canonical_url": entry.canonical_url,
        "url_key": key,
        "content_hash": content_hash(body),
        "title": entry.title,
        "summary": entry.summary_html,
        "summary_text": summary_text,
        "text": entry.text,
        "authors": "; ".join(entry.authors),
        # The entry's language (its own, its feed's or its source's) is the prior: an English blog's Spanish post is es.
        "language": item_language(entry.title, body, entry.language),
        "published_at": entry.published_at,
        "updated_at": entry.updated_at,
        "raw": with_notes(entry.raw, notes),
    }
    return {
        "guid": guid_key(entry.guid or row["url"]),
        "url_key": key,
        "content_hash": row["content_hash"],
        "title_words": title_words(entry.title),
        "row": row,
    }


def _update_changed(
    session: Session,
    source_id: str,
    prepared: list[dict[str, Any]],
    known_guid: dict[str, int],
    now: datetime,
    result: IngestResult,
) -> None:
    if not prepared:
        return
    ids = [known_guid[p["guid"]] for p in prepared]
    current = {
        row.id: row
        for row in session.execute(
            select(Item.id, Item.source_id, Item.title, Item.summary, Item.text, Item.language).where(Item.id.in_(ids))
        )
    }
    for p in prepared:
        item_id = known_guid[p["guid"]]
        old = current.get(item_id)
        new = p["row"]
        if old is None:
            continue
        changes: dict[str, Any] = {}
        if new["title"] and new["title"] != old.title:
            changes["title"] = new["title"]
        if new["summary"] and new["summary"] != old.summary:
            changes["summary"] = new["summary"]
            changes["summary_text"] = new["summary_text"]
        if new["text"] and len(new["text"]) > len(old.text or "") * 0.5 and new["text"] != old.text:
            changes["text"] = new["text"]
        if not changes:
            result.unchanged += 1
            continue
        # Only the source that first brought the item may rewrite it; another outlet's copy is not an edit.
        if old.source_id != source_id:
            result.unchanged += 1
            continue
        changes["updated_at"] = now
        if new["language"] != old.language:  # an edited text may be in another language (a translation replaced)
            changes["language"] = new["language"]
        changes["content_hash"] = content_hash(changes.get("text") or new["text"] or new["summary_text"])
        session.execute(update(Item).where(Item.id == item_id).values(**changes))
        result.updated += 1
        result.updated_ids.append(item_id)


def store_article(
    session: Session,
    item_id: int,
    article: Article,
    *,
    now: datetime,
    limits: FieldLimits = FIELD_LIMITS,
    refetch: bool = False,
) -> int:
    """Add extracted page data to an item. Returns the id the item lives under afterwards.

    When the page's canonical URL, or its text and the item's title, show the item is a copy of another stored
    item, the two are merged into the older one (its sightings move, so no provenance is lost). Page text longer
    than `limits.text` is cut, and the item's raw notes say so. On a `refetch` (the page read again because its
    feed entry changed), a changed text replaces the stored one even when shorter, and the item is marked updated.
    """
    item = session.get(Item, item_id)
    if item is None:
        return item_id
    article = storable(article)
    changes: dict[str, Any] = {"fulltext_state": "done", "fetched_at": now, "fulltext_error": None}
    text = cut_text(article.text, limits.text)
    edited = refetch and bool(text) and text != item.text
    if edited:
        changes["updated_at"] = now
    if text and (len(text) > len(item.text) or edited):
        changes["text"] = text
        changes["content_hash"] = content_hash(text)
        if len(text) < len(article.text):
            changes["raw"] = with_notes(item.raw or {}, [cut_note("page text", len(article.text), len(text))])
    if article.authors and not item.authors:
        changes["authors"] = "; ".join(article.authors)
    if article.published_at and not item.published_at:
        changes["published_at"] = min(article.published_at, now)
    if text and (len(text) > len(item.text) or edited):
        # The page's whole text says more than the feed's teaser did; the item's language so far is the prior.
        language = item_language(item.title or "", text, item.language or article.language)
        if language != item.language:
            changes["language"] = language
    elif article.language and not item.language:
        changes["language"] = primary(article.language)
    if article.title and not item.title:
        changes["title"] = cut_title(article.title, limits.title)
    target = None
    if article.canonical_url:
        key = url_key(article.canonical_url)
        if key and key != item.url_key:
            target = session.scalar(select(Item.id).where(Item.url_key == key, Item.id != item_id))
            if target is None:
                changes["canonical_url"] = article.canonical_url
                changes["url_key"] = key
    if target is None and changes.get("content_hash"):
        title = title_words(changes.get("title") or item.title or "")
        copies = session.execute(
            select(Item.id, Item.title)
            .where(Item.content_hash == changes["content_hash"], Item.id != item_id)
            .order_by(Item.id)
        )
        target = next((other for other, other_title in copies if title_words(other_title or "") == title), None)
    if target is not None:
        _merge_into(session, item_id, target)
        return target
    session.execute(update(Item).where(Item.id == item_id).values(**changes))
    return item_id


def _merge_into(session: Session, duplicate_id: int, keep_id: int) -> None:
    session.execute(update(Sighting).where(Sighting.item_id == duplicate_id).values(item_id=keep_id))
    session.execute(update(Capture).where(Capture.item_id == duplicate_id).values(item_id=keep_id))
    session.execute(delete(Item).where(Item.id == duplicate_id))


def mark_fulltext_failed(session: Session, item_id: int, error: str, *, max_attempts: int, now: datetime) -> None:
    """Count a failed article fetch; after `max_attempts` the item keeps its feed summary for good."""
    item = session.get(Item, item_id)
    if item is None:
        return
    item.fulltext_attempts += 1
    item.fulltext_error = storable_text(error)[:1000]
    item.fulltext_state = "failed" if item.fulltext_attempts >= max_attempts else "pending"


def pending_articles(
    session: Session, source_ids: Iterable[str], *, limit_per_source: int
) -> dict[str, list[tuple[int, str]]]:
    """Items still waiting for their article page, per source (oldest first)."""
    out: dict[str, list[tuple[int, str]]] = {}
    for sid in source_ids:
        rows = session.execute(
            select(Item.id, Item.url)
            .where(Item.source_id == sid, Item.fulltext_state == "pending")
            .order_by(Item.id)
            .limit(limit_per_source)
        ).all()
        if rows:
            out[sid] = [(r.id, r.url) for r in rows]
    return out

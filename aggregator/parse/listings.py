"""Read a listing page (a site's list of new articles) into entries, using CSS selectors from config."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from parsel import Selector
from parsel.csstranslator import css2xpath

from aggregator.errors import ConfigError, ParseError
from aggregator.parse.dates import checked, parse_date
from aggregator.parse.entry import Entry
from aggregator.parse.sanitize import clean_html, html_to_text

SELECTOR_KEYS = ("item_selector", "link_selector", "title_selector", "date_selector", "summary_selector")


def check_selectors(options: dict[str, Any]) -> None:
    """Raise ConfigError naming the option whose CSS selector does not compile."""
    for key in SELECTOR_KEYS:
        value = options.get(key)
        if value is None:
            continue
        try:
            css2xpath(str(value).split("::")[0])
        except Exception as exc:  # cssselect raises several unrelated types
            raise ConfigError(f"options.{key}: invalid CSS selector {value!r}: {exc}") from exc


def parse_listing(
    html: str,
    *,
    source_id: str,
    url: str,
    options: dict[str, Any],
    language: str | None = None,
    now: datetime | None = None,
) -> list[Entry]:
    """Entries for each item on the page. Raises ParseError when the item selector matches nothing,
    which usually means the site changed its layout. `now` is the fetch time, for the plausible-date check."""
    now = now or datetime.now(UTC)
    page = Selector(text=html)
    item_css = options.get("item_selector")
    link_css = options.get("link_selector", "a")
    include = options.get("include") or []
    exclude = options.get("exclude") or []
    blocks = page.css(item_css) if item_css else [page]
    if item_css and not blocks:
        raise ParseError(f"parse: listing selector {item_css!r} matched nothing on {url}")
    entries: list[Entry] = []
    seen: set[str] = set()
    for block in blocks:
        for anchor in block.css(link_css)[:1] if item_css else block.css(link_css):
            href = anchor.attrib.get("href") or anchor.css("::attr(href)").get()
            if not href:
                continue
            link = urljoin(url, href.strip())
            if not link.startswith(("http://", "https://")) or link in seen:
                continue
            if (include and not any(p in link for p in include)) or any(p in link for p in exclude):
                continue
            seen.add(link)
            title = _text(block, options.get("title_selector")) or html_to_text(anchor.get())
            summary = block.css(options["summary_selector"]).get() if options.get("summary_selector") else None
            raw: dict[str, Any] = {"feed_url": url, "listing": True}
            published, note = _when(block, options.get("date_selector"), now)
            if note:
                raw["notes"] = [note]
            entries.append(
                Entry(
                    source_id=source_id,
                    url=link,
                    title=title,
                    guid=link,
                    summary_html=clean_html(summary or "", link),
                    published_at=published,
                    language=language,
                    raw=raw,
                )
            )
    if link_css and not entries and not item_css:
        raise ParseError(f"parse: listing link selector {link_css!r} found no links on {url}")
    return entries


def _text(block: Selector, css: str | None) -> str:
    if not css:
        return ""
    found = block.css(css).get()
    return html_to_text(found) if found else ""


def _when(block: Selector, css: str | None, now: datetime) -> tuple[datetime | None, str | None]:
    """The item's date, when it has one and it is plausible, and the provenance note when one is dropped."""
    if not css:
        return None, None
    node = block.css(css)
    value = node.attrib.get("datetime") if node else None
    value = value or html_to_text(node.get() or "")
    parsed = parse_date(value)
    if parsed is None and value:
        import dateparser  # here: it costs 0.5 s to import, and only listings with free-text dates need it

        try:
            guess = dateparser.parse(value, settings={"TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True})
            parsed = guess.astimezone(UTC) if guess else None
        except (ValueError, OverflowError):  # a page's "31/02/2026" or year 0001 is that item's problem only
            parsed = None
    return checked("published", parsed, value, now)

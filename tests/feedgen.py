"""Build small feed documents for tests (RSS 0.91/1.0/2.0, Atom, JSON Feed) from plain item dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any

NOW = datetime.now(UTC).replace(microsecond=0)


def item(n: int, base: str, **extra: Any) -> dict[str, Any]:
    data = {
        "title": f"Item {n}: security forces report arrests in Sonora",
        "link": f"{base}/articles/{n}.html",
        "guid": f"{base}/guid/{n}",
        "summary": f"<p>Summary {n} about <b>border</b> enforcement &amp; checkpoints.</p>",
        "date": NOW - timedelta(hours=n),
    }
    data.update(extra)
    return data


def rss20(
    items: list[dict[str, Any]], *, title: str = "Test feed", extra_channel: str = "", encoding: str = "utf-8"
) -> bytes:
    parts = [
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>http://example.invalid/</link>{extra_channel}"
    ]
    for it in items:
        parts.append("<item>")
        if it.get("title") is not None:
            parts.append(f"<title>{escape(it['title'])}</title>")
        if it.get("link"):
            parts.append(f"<link>{escape(it['link'])}</link>")
        if it.get("guid"):
            parts.append(f'<guid isPermaLink="false">{escape(it["guid"])}</guid>')
        if it.get("date"):
            parts.append(f"<pubDate>{format_datetime(it['date'], usegmt=True)}</pubDate>")
        if it.get("summary"):
            parts.append(f"<description>{escape(it['summary'])}</description>")
        if it.get("content"):
            parts.append(f"<content:encoded><![CDATA[{it['content']}]]></content:encoded>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode(encoding, "xmlcharrefreplace")


def rss091(items: list[dict[str, Any]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(i['title'])}</title><link>{escape(i['link'])}</link>"
        f"<description>{escape(i['summary'])}</description></item>"
        for i in items
    )
    return (
        f'<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title><link>http://x.invalid/</link>'
        f"<description>d</description><language>en-us</language>{body}</channel></rss>"
    ).encode()


def rdf(items: list[dict[str, Any]]) -> bytes:
    seq = "".join(f'<rdf:li rdf:resource="{escape(i["link"])}"/>' for i in items)
    body = "".join(
        f'<item rdf:about="{escape(i["link"])}"><title>{escape(i["title"])}</title><link>{escape(i["link"])}</link>'
        f"<description>{escape(i['summary'])}</description><dc:date>{i['date'].isoformat()}</dc:date></item>"
        for i in items
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="http://x.invalid/"><title>RDF</title><link>http://x.invalid/</link>'
        f"<description>d</description><items><rdf:Seq>{seq}</rdf:Seq></items></channel>{body}</rdf:RDF>"
    ).encode()


def atom(items: list[dict[str, Any]], *, lang: str = "es") -> bytes:
    body = "".join(
        f"<entry><id>{escape(i['guid'])}</id><title>{escape(i['title'])}</title>"
        f'<link rel="alternate" href="{escape(i["link"])}"/><updated>{i["date"].isoformat()}</updated>'
        f'<author><name>Redacción</name></author><summary type="html">{escape(i["summary"])}</summary></entry>'
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">'
        f"<id>urn:test</id><title>Atom</title><updated>{NOW.isoformat()}</updated>{body}</feed>"
    ).encode()


def jsonfeed(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "JSON",
            "items": [
                {
                    "id": i["guid"],
                    "url": i["link"],
                    "title": i["title"],
                    "content_html": i["summary"],
                    "date_published": i["date"].isoformat(),
                }
                for i in items
            ],
        }
    ).encode()


def article_page(title: str, paragraphs: list[str], *, canonical: str | None = None, lang: str = "en") -> bytes:
    canon = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>{canon}'
        '<meta name="author" content="Ana Reyes"></head><body><nav><a href="/">Home</a> <a href="/world">World</a>'
        f"</nav><article><h1>{escape(title)}</h1>{body}</article>"
        "<footer>Copyright Example Media. All rights reserved. Subscribe to our newsletter.</footer></body></html>"
    ).encode()

"""Read OPML subscription lists (tolerating the many broken ones) and write our sources as OPML 2.0 (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import unescape
from html.entities import html5
from typing import Protocol
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HTMLParser

from aggregator.errors import ParseError
from aggregator.store.urls import feed_key, http_url
from aggregator.text import BOMS


@dataclass(frozen=True)
class OpmlFeed:
    """One feed outline: `tags` are the names of the folder outlines around it, outermost first."""

    url: str
    title: str
    html_url: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None


@dataclass
class OpmlResult:
    """The feeds read from an OPML file, plus one line per outline skipped or repaired (naming file and line)."""

    feeds: list[OpmlFeed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    title: str | None = None


class ExportSource(Protocol):
    """What `export_opml` reads from a source (SourceConfig fits); `tags` and `html_url` are optional attributes."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def tier(self) -> str: ...


_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.IGNORECASE)
_UTF8_NAMES = {"utf-8", "utf8", "us-ascii", "ascii"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BARE_AMP = re.compile(r"&(?!#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
_NAMED_REF = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_REFS = {"amp", "lt", "gt", "quot", "apos"}
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_FLAGS = re.IGNORECASE | re.DOTALL
_OPML_START = re.compile(r"<opml\b", re.IGNORECASE)
_OPEN_FEED_OUTLINE = re.compile(r"(<outline\b[^<>]*?\bxmlurl\s*=[^<>]*?)\s*(?<!/)>", re.IGNORECASE)
_QUOTED_VALUE = re.compile(r"\s[\w:.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_OUTLINE_LINE = re.compile(r"^(\s*)<outline\b(.*?)/>\s*$", _FLAGS)
_PREFIXED_ATTR = re.compile(r"\s[\w.-]+:[\w.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_REBUILT = ("text", "title", "type", "xmlUrl", "htmlUrl", "language", "url")


def parse_opml(data: bytes, where: str) -> OpmlResult:
    """Feeds of an OPML file, deduplicated by `feed_key`; raises ParseError only when no outline can be read.

    Broken files are common (unescaped '&', HTML entities, wrong encoding declarations, unclosed tags): they are
    decoded and repaired, then read with lxml's recovering parser, then as HTML; each step taken is a problem line.
    """
    result = OpmlResult()
    root = _read_tree(data, where, result.problems)
    for node in root.iter():
        if isinstance(node.tag, str) and _local(node) == "title" and _local(node.getparent()) == "head":
            result.title = _clean(node.text)
            break
    seen: dict[str, tuple[int | None, str]] = {}
    for node, attrs, tags in _outlines(root):
        _read_outline(node, attrs, tags, where, seen, result)
    if not seen and not result.problems:
        result.problems.append(f"{where}: no feed outlines")
    return result


def _read_tree(data: bytes, where: str, problems: list[str]) -> etree._Element:
    if not data.strip():
        raise ParseError(f"parse: {where}: empty file, not OPML")
    text = _decode(data, where, problems)
    # The declaration may name an encoding the text is no longer in; keep its newlines so line numbers hold.
    text = _DECLARATION.sub(lambda m: "\n" * m.group(0).count("\n"), text, count=1)
    strict = etree.XMLParser(encoding="utf-8", resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=strict)
        if _usable(root):
            return root
        first_error = "no <opml> or <outline> elements"
    except etree.XMLSyntaxError as exc:
        first_error = _syntax_message(exc)
    repaired, rebuilt = _repair(text, where)
    broken = f"{where}: not well-formed XML ({first_error})"
    attempts: list[tuple[etree._BaseParser, str]] = [
        (strict, f"{broken}; repaired"),
        (
            etree.XMLParser(encoding="utf-8", recover=True, resolve_entities=False, no_network=True, huge_tree=False),
            f"{broken}; read with a recovering parser",
        ),
        # The HTML parser survives junk before the root element and tags that never close, at the cost of nesting.
        (HTMLParser(encoding="utf-8", no_network=True), f"{broken}; read as HTML, folders may be wrong"),
    ]
    for parser, note in attempts:
        try:
            root = etree.fromstring(repaired.encode("utf-8"), parser=parser)
        except (etree.XMLSyntaxError, etree.ParserError, ValueError):
            continue
        if _usable(root):
            problems.append(note)
            problems.extend(rebuilt)
            return root
    raise ParseError(f"parse: {where}: not an OPML file ({first_error})")


def _decode(data: bytes, where: str, problems: list[str]) -> str:
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    if data[:2] in (b"<\x00", b"\x00<"):
        return data.decode("utf-16-le" if data[:1] == b"<" else "utf-16-be", "replace")
    found = _DECLARED.match(data[:512])
    declared = found.group(1).decode("ascii").lower() if found else None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Valid UTF-8 with non-ASCII bytes is UTF-8 whatever the declaration says; read as Latin-1 it is mojibake.
        if declared and declared not in _UTF8_NAMES and not declared.startswith("utf-") and not data.isascii():
            problems.append(f"{where}: declares encoding {declared} but is UTF-8; read as UTF-8")
        return text
    if declared and declared not in _UTF8_NAMES:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    problems.append(f"{where}: not valid {declared or 'UTF-8'}; read as Windows-1252")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails: cp1252 leaves five bytes undefined


def _repair(text: str, where: str) -> tuple[str, list[str]]:
    """Drop junk before <opml> and control characters, escape stray '&' and '<' in values, turn HTML-only entities
    (&nbsp;) into character references, and rebuild one-line outlines still garbled; the notes name those lines."""
    text = _CONTROL.sub("", text)
    root = _OPML_START.search(text)
    if root is not None and text[: root.start()].strip():  # a PHP warning or a stray second declaration
        text = "\n" * text.count("\n", 0, root.start()) + text[root.start() :]
    text = _BARE_AMP.sub("&amp;", text)
    text = _NAMED_REF.sub(_named_ref, text)
    # HTML in a value (description="... <br>") is legal once its '<' is escaped.
    text = _QUOTED_VALUE.sub(lambda m: m.group(0).replace("<", "&lt;"), text)
    if "</outline" not in text.lower():
        # Nothing is ever closed: feed outlines are leaves, else each would nest in the one before, and libxml2
        # gives up 256 levels down.
        text = _OPEN_FEED_OUTLINE.sub(r"\1/>", text)
    lines = text.split("\n")
    notes: list[str] = []
    for index, line in enumerate(lines):
        fixed = _rebuild_outline(line)
        if fixed is not None:
            lines[index], label = fixed
            why = "attributes garbled (a quote or '<' inside a value); rebuilt from text, title, xmlUrl, htmlUrl"
            notes.append(f"{where}: line {index + 1}: outline '{_short(label)}': {why}")
    return "\n".join(lines), notes


def _rebuild_outline(line: str) -> tuple[str, str] | None:
    """A well-formed copy of a self-closing one-line outline that does not parse on its own, with its label.

    Real exports put HTML in `description` unescaped (`description="by <a href="...">me</a>"`): the quotes end the
    value early and a recovering parser drops the rest of the tag, xmlUrl included, and can lose the folder nesting.
    """
    found = _OUTLINE_LINE.match(line)
    if found is None or line.lower().count("<outline") != 1:
        return None
    try:
        # Namespaced attributes (rssguard:icon) would fail here for want of the declaration, not for being garbled.
        etree.fromstring(_PREFIXED_ATTR.sub("", line.strip()))
        return None
    except etree.XMLSyntaxError:
        pass
    attrs: dict[str, str] = {}
    for name in _REBUILT:
        value = re.search(rf"(?:^|\s){name}\s*=\s*([\"'])(.*?)\1(?=\s+[\w:.-]+\s*=|\s*$)", found.group(2), _FLAGS)
        if value is not None:
            attrs[name] = unescape(value.group(2))
    if not _raw_url({key.lower(): value for key, value in attrs.items()}):
        return None
    tag = etree.tostring(etree.Element("outline", {key: _xml_text(value) for key, value in attrs.items()}))
    label = attrs.get("title") or attrs.get("text") or attrs.get("xmlUrl") or "(untitled)"
    return found.group(1) + tag.decode("utf-8"), label


def _named_ref(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _XML_REFS:
        return match.group(0)
    value = html5.get(name + ";")
    if value is None:
        return "&amp;" + name + ";"  # not an entity at all: keep the text as written
    return "".join(f"&#{ord(char)};" for char in value)


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    message = str(exc.msg or exc).split(" (<string>")[0]
    return message if "line" in message else f"line {exc.lineno}: {message}"


def _local(node: etree._Element | None) -> str:
    if node is None or not isinstance(node.tag, str):
        return ""
    return etree.QName(node).localname.lower()


def _usable(root: etree._Element | None) -> bool:
    if root is None:
        return False
    return _local(root) == "opml" or any(_local(node) == "outline" for node in root.iter())


def _outlines(root: etree._Element) -> Iterator[tuple[etree._Element, dict[str, str], tuple[str, ...]]]:
    """Every outline in document order with its lower-cased attributes and its folder names.

    Iterative, not recursive: an OPML file whose outlines never close nests thousands deep.
    """
    stack: list[tuple[etree._Element, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, tags = stack.pop()
        name = _local(node)
        if name == "head":
            continue
        if name == "outline":
            attrs = {str(key).lower(): value for key, value in node.attrib.items()}
            yield node, attrs, tags
            # Only an outline without a feed URL is a folder; a feed outline left unclosed must not become one.
            label = _clean(attrs.get("text") or attrs.get("title"))
            if _raw_url(attrs) is None and label:
                tags = (*tags, label)
        stack.extend((child, tags) for child in reversed(node) if isinstance(child.tag, str))


def _raw_url(attrs: dict[str, str]) -> str | None:
    raw = attrs.get("xmlurl")
    if raw is None and attrs.get("type", "").lower() in ("rss", "atom", "feed"):
        raw = attrs.get("url")  # some old exporters used `url` for the feed
    return raw.strip() if raw and raw.strip() else None


def _read_outline(
    node: etree._Element,
    attrs: dict[str, str],
    tags: tuple[str, ...],
    where: str,
    seen: dict[str, tuple[int | None, str]],
    result: OpmlResult,
) -> None:
    line = node.sourceline
    label = _clean(attrs.get("title") or attrs.get("text"))
    raw = _raw_url(attrs)
    is_folder = any(_local(child) == "outline" for child in node)
    here = f"{where}: line {line or '?'}: outline '{_short(label or raw or '(untitled)')}'"
    if raw is None:
        if is_folder:
            return
        if attrs.get("type", "").lower() == "include":
            result.problems.append(f"{here} includes another OPML file ({attrs.get('url', '')}); not followed")
            return
        result.problems.append(f"{here} has no xmlUrl; skipped")
        return
    url = http_url(raw)
    key = feed_key(url) if url else None
    if url is None or key is None:
        result.problems.append(f"{here}: not an http(s) feed URL ({_short(raw)}); skipped")
        return
    if key in seen:
        first_line, first_title = seen[key]
        result.problems.append(
            f"{here}: duplicate of '{_short(first_title)}' (line {first_line or '?'}) for {_short(url)}; skipped"
        )
        return
    title = label or _host(url)
    seen[key] = (line, title)
    language = _clean(attrs.get("language"))
    result.feeds.append(
        OpmlFeed(
            url=url,
            title=title,
            html_url=http_url(attrs.get("htmlurl")),
            tags=tags,
            language=language if language and _LANGUAGE.match(language) else None,
        )
    )


def _clean(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    return text or None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _host(url: str) -> str:
    host = urlsplit(url).hostname or url
    return host[4:] if host.startswith("www.") else host


def export_opml(
    sources: Iterable[ExportSource],
    title: str,
    *,
    folder: Callable[[ExportSource], str | None] | None = None,
    created: datetime | None = None,
) -> bytes:
    """OPML 2.0 (UTF-8) with one outline per feed source, in folders named by `folder(source)`.

    The default folder is the source's first tag, else its tier. Sources of other kinds (sitemap, listing, spider)
    are left out: feed readers, the audience of an OPML file, cannot follow them.
    """
    pick = folder or _default_folder
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_text(title)
    if created is not None:
        etree.SubElement(head, "dateCreated").text = format_datetime(created)
    body = etree.SubElement(root, "body")
    folders: dict[str, etree._Element] = {}
    for source in sources:
        if str(source.kind) != "feed":
            continue
        name = pick(source)
        parent = body
        if name:
            name = _xml_text(name)
            if name not in folders:
                folders[name] = etree.SubElement(body, "outline", {"text": name, "title": name})
            parent = folders[name]
        attrs = {
            "text": _xml_text(source.name),
            "title": _xml_text(source.name),
            "type": "rss",
            "xmlUrl": _xml_text(source.url),
        }
        html_url = getattr(source, "html_url", None)
        if isinstance(html_url, str) and html_url:
            attrs["htmlUrl"] = _xml_text(html_url)
        if source.language and _LANGUAGE.match(str(source.language)):  # not "auto": OPML wants a language tag
            attrs["language"] = _xml_text(str(source.language))
        etree.SubElement(parent, "outline", attrs)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _default_folder(source: ExportSource) -> str | None:
    tags = getattr(source, "tags", ())
    if tags:
        return str(tags[0])
    return str(source.tier) if source.tier else None


def _xml_text(text: str) -> str:
    # lxml refuses control characters; they cannot appear in XML 1.0 at all, escaped or not.
    return _NOT_XML_CHAR.sub("", text)

"""parse_feed on real publisher feeds and on the feedparser test corpus from /work/shared/fixtures."""

from __future__ import annotations

import ast
import codecs
import functools
import html
import random
import re
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest

from aggregator.errors import ParseError
from aggregator.parse.feeds import FeedResult, parse_feed
from aggregator.parse.sanitize import html_to_text
from aggregator.store.urls import url_key
from tests.shared_fixtures import fixtures_root

ROOT = fixtures_root()
if ROOT is None:
    pytest.skip("shared fixtures not found (set AGGREGATOR_SHARED_FIXTURES)", allow_module_level=True)
assert ROOT is not None
# feeds.py reads `updated_parsed`, which feedparser 6 maps to the published date with a warning on every entry.
pytestmark = pytest.mark.filterwarnings("ignore:To avoid breaking existing software:DeprecationWarning")
REAL = ROOT / "real-feeds"
CORPUS = ROOT / "feedparser-tests"
URL = "https://example.com/feed"
REAL_FILES = sorted(p.name for p in REAL.glob("*") if p.is_file() and p.suffix != ".md") if REAL.is_dir() else []
ENCODING_FILES = sorted(p.name for p in (CORPUS / "encoding").glob("*.xml"))
CORPUS_DIRS = ["illformed", "wellformed/rss", "wellformed/atom10", "wellformed/rdf", "wellformed/sanitize", "json"]
UNSAFE = re.compile(r"<script|javascript:|\son\w+\s*=|<iframe|<object|<embed|<style", re.IGNORECASE)
# Known bug (reported, not fixed here): RFC 822 dates with Portuguese day/month names are dropped.
# Feeds whose dates we know we cannot read yet (none at the moment: Portuguese/Spanish names are handled).
DATE_XFAIL: dict[str, str] = {}


def _parse(body: bytes, content_type: str | None = None) -> FeedResult:
    headers = {"content-type": content_type} if content_type else None
    return parse_feed(body, source_id="fixture", url=URL, headers=headers)


def _require(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"fixture folder {folder} not found")
    return folder


@functools.cache
def _real(name: str) -> FeedResult:
    return _parse((REAL / name).read_bytes())


@functools.cache
def _sources_counts() -> dict[str, int]:
    """Entry counts from the 'feedparser 6.0.14' column of real-feeds/SOURCES.md."""
    lines = (REAL / "SOURCES.md").read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("| file"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    column = cells.index("feedparser 6.0.14")
    counts: dict[str, int] = {}
    for line in lines:
        row = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(row) != len(cells) or not row[0].startswith("`"):
            continue
        found = re.search(r"(\d+) (?:entries|items)", row[column])
        if found:
            counts[row[0].strip("`")] = int(found.group(1))
    return counts


def _empty_entries(body: bytes) -> int:
    """Entries feedparser returns that have no title, no summary and no content."""
    entries = feedparser.parse(body).entries
    return sum(
        not (e.get("title") or e.get("summary") or any(c.get("value") for c in e.get("content", []))) for e in entries
    )


def test_sources_table_lists_every_real_feed() -> None:
    _require(REAL)
    assert len(REAL_FILES) == 49
    assert set(_sources_counts()) == set(REAL_FILES)


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_feed_entries(name: str) -> None:
    try:
        result = _real(name)
    except ParseError as exc:
        pytest.fail(f"{name}: ParseError {exc}")
    entries, theirs, ours = result.entries, _sources_counts()[name], len(result.entries)
    assert entries, f"{name}: no entries"
    assert 0.9 * theirs <= ours <= theirs, f"{name}: {ours} entries, feedparser 6.0.14 found {theirs}"
    if ours + result.duplicate_guids != theirs:
        assert ours + result.duplicate_guids == theirs - _empty_entries((REAL / name).read_bytes()), name
    assert len({e.guid for e in entries}) == ours, f"{name}: duplicate guids survived"
    for e in entries:
        assert e.guid and e.guid.strip(), f"{name}: empty guid"
        if e.raw.get("no_link"):
            assert e.url == ""
        else:
            assert e.url.startswith(("http://", "https://")), f"{name}: bad url {e.url!r}"
            assert url_key(e.url), f"{name}: no dedupe key for {e.url!r}"
        assert e.title or e.summary_html, f"{name}: entry without title and summary"
        assert "<script" not in e.summary_html.lower(), f"{name}: script in {e.guid}"


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_feed_dates_are_utc(name: str, request: pytest.FixtureRequest) -> None:
    if name in DATE_XFAIL:
        request.applymarker(pytest.mark.xfail(strict=True, reason=DATE_XFAIL[name]))
    entries = _real(name).entries
    for e in entries:
        assert all(d.utcoffset() == timedelta(0) for d in (e.published_at, e.updated_at) if d), f"{name}: not UTC"
    dated = [e for e in entries if any(e.raw.get(k) for k in ("published", "updated", "date_published"))]
    missing = [dict(e.raw) for e in dated if e.published_at is None]
    assert not missing, f"{name}: {len(missing)} dates not parsed, e.g. {missing[0]}"
    if re.search(rb"<(pubDate|dc:date|published|updated)>|\"date_published\"", (REAL / name).read_bytes()):
        assert dated, f"{name}: the feed has dates but no entry recorded one"


def test_json_feed_npr() -> None:
    result = _real("npr-technology-1.json")
    assert result.format.startswith("json")
    assert len(result.entries) == 25
    assert all(e.url.startswith("https://") and e.title for e in result.entries)


def _comment_text(body: bytes) -> str:
    """The file decoded just well enough to read its Description/Expect/Header comment."""
    boms = [(codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
            (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]  # fmt: skip
    for bom, encoding in boms:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, "replace")
    sniff = {b"<\0\0\0": "utf-32-le", b"\0\0\0<": "utf-32-be"}
    encoding = sniff.get(body[:4]) or {b"<\0": "utf-16-le", b"\0<": "utf-16-be"}.get(body[:2], "latin-1")
    return body.decode(encoding, "replace")


def _content_type(comment: str) -> str | None:
    found = re.search(r"^Header:\s*Content-type:\s*(.+?)\s*$", comment, re.IGNORECASE | re.MULTILINE)
    return found.group(1) if found else None


@pytest.mark.parametrize("name", ENCODING_FILES)
def test_encoding_corpus_parses(name: str) -> None:
    body = (CORPUS / "encoding" / name).read_bytes()
    try:
        _parse(body, _content_type(_comment_text(body)))
    except ParseError:
        assert name.startswith("bozo_"), f"{name}: a well-formed feed was rejected"


_EXPECT_TEXT = re.compile(
    r"(entries\[0\](?:\[['\"](?:title|summary|description)['\"]\]|\.(?:title|summary|description))|feed\[['\"]title['\"]\])"
    r"\s*==\s*(u?'(?:[^'\\]|\\.)*'|u?\"(?:[^\"\\]|\\.)*\")"
)
_EXPECT_ORD = re.compile(r"ord\((entries\[0\]\[['\"](?:title|summary|description)['\"]\])\)\s*==\s*(\d+)")


def _expected_text(comment: str) -> tuple[str, str] | None:
    """(target, expected unicode) from an Expect line comparing feed/entry text with a literal."""
    expect = re.search(r"^Expect:\s*(.+)$", comment, re.MULTILINE)
    if not expect:
        return None
    if found := _EXPECT_TEXT.search(expect.group(1)):
        return found.group(1), ast.literal_eval(found.group(2))
    if found := _EXPECT_ORD.search(expect.group(1)):
        return found.group(1), chr(int(found.group(2)))
    return None


def test_encoding_corpus_decodes_expected_text() -> None:
    _require(CORPUS / "encoding")
    checked: list[str] = []
    failures: list[str] = []
    for name in ENCODING_FILES:
        body = (CORPUS / "encoding" / name).read_bytes()
        comment = _comment_text(body)
        expected = None if name.startswith("bozo_") else _expected_text(comment)
        if expected is None:
            continue
        target, literal = expected
        checked.append(name)
        result = _parse(body, _content_type(comment))
        if target.startswith("feed"):
            haystack = html.unescape(result.title or "")
        else:
            haystack = html.unescape(" ".join(f"{e.title} {e.summary_html} {e.text}" for e in result.entries))
        needles = [html_to_text(literal)] + re.findall(r"\w+=\"([^\"]*)\"", literal)
        needles = [n for n in needles if n]
        if not needles or not all(n in haystack for n in needles):
            failures.append(f"{name}: expected {literal!r} in {haystack!r}")
    print(f"\nencoding corpus text checks: {len(checked) - len(failures)}/{len(checked)} pass", *failures, sep="\n")
    assert len(checked) >= 8, f"too few Expect lines with text literals recognised: {checked}"
    assert len(checked) - len(failures) >= 0.9 * len(checked), failures


@pytest.mark.parametrize("folder", CORPUS_DIRS)
def test_feedparser_corpus_only_parse_errors(folder: str) -> None:
    files = sorted(p for p in _require(CORPUS / folder).rglob("*") if p.is_file())
    crashes: list[str] = []
    rejected: list[str] = []
    for path in files:
        try:
            _parse(path.read_bytes())
        except ParseError:
            rejected.append(path.name)
        except Exception as exc:  # anything but ParseError is a failure
            crashes.append(f"{path.relative_to(CORPUS)}: {type(exc).__name__}: {exc}")
    assert not crashes, "\n".join(crashes)
    if folder.startswith("wellformed"):
        assert not rejected, f"well-formed feeds rejected: {rejected}"


def test_sanitize_corpus_output_is_safe() -> None:
    files = sorted(_require(CORPUS / "wellformed" / "sanitize").glob("*.xml"))
    unsafe: list[str] = []
    exercised = 0
    for path in files:
        body = path.read_bytes()
        result = _parse(body)
        if UNSAFE.search(body.decode("utf-8", "replace")) and any(e.summary_html for e in result.entries):
            exercised += 1
        for e in result.entries:
            for field_name, value in (("summary_html", e.summary_html), ("text", e.text)):
                if found := UNSAFE.search(value):
                    unsafe.append(f"{path.name} {field_name}: {value[max(0, found.start() - 40) : found.end() + 40]!r}")
    print(f"\nsanitize corpus: {len(files)} files, {exercised} with unsafe markup reaching summary_html")
    assert len(files) > 700
    assert exercised >= 100, "the sanitizer corpus no longer exercises summary_html"
    assert not unsafe, "\n".join(unsafe)


def test_truncated_real_feeds_only_raise_parse_error() -> None:
    rng = random.Random(20240601)
    small = [n for n in REAL_FILES if (_require(REAL) / n).stat().st_size < 500_000]
    assert len(small) >= 20
    crashes: list[str] = []
    for name in rng.sample(small, min(20, len(small))):
        body = (REAL / name).read_bytes()
        for cut in [rng.randrange(1, len(body)) for _ in range(4)] + [1, 40]:
            try:
                _parse(body[:cut])
            except ParseError:
                pass
            except Exception as exc:
                crashes.append(f"{name}[:{cut}]: {type(exc).__name__}: {exc}")
    assert not crashes, "\n".join(crashes)

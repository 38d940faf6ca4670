"""extract_article on annotated real article pages (trafilatura eval corpus and Fundus test data)."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from w3lib.encoding import html_to_unicode

from aggregator.errors import ParseError
from aggregator.parse.entry import Article
from aggregator.parse.extract import extract_article
from tests.shared_fixtures import fixtures_root

ROOT = fixtures_root()
if ROOT is None:
    pytest.skip("shared fixtures not found (set AGGREGATOR_SHARED_FIXTURES)", allow_module_level=True)
assert ROOT is not None
TRAFILATURA = ROOT / "article-html" / "trafilatura"
FUNDUS = ROOT / "article-html" / "fundus"
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Page:
    """One annotated page and what extract_article made of it (None when it raised ParseError)."""

    name: str
    expected: dict[str, Any]
    article: Article | None
    error: str | None = None


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _extract(body: bytes, url: str) -> tuple[Article | None, str | None]:
    _, text = html_to_unicode(None, body)
    try:
        return extract_article(text, url), None
    except ParseError as exc:
        return None, str(exc)


def _require(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"fixture folder {folder} not found")
    return folder


@pytest.fixture(scope="module")
def trafilatura_pages() -> list[Page]:
    annotations = json.loads((_require(TRAFILATURA) / "annotations.json").read_bytes())
    pages = []
    for key, expected in annotations.items():
        url = key if key.startswith("http") else "https://example.com/"
        article, error = _extract((TRAFILATURA / "html" / expected["file"]).read_bytes(), url)
        pages.append(Page(expected["file"], expected, article, error))
    return pages


def test_trafilatura_corpus_is_complete(trafilatura_pages: list[Page]) -> None:
    assert len(trafilatura_pages) == 70
    failed = [f"{p.name}: {p.error}" for p in trafilatura_pages if p.article is None]
    assert len(failed) <= 2, failed


def test_trafilatura_with_recall(trafilatura_pages: list[Page]) -> None:
    found = total = 0
    for page in trafilatura_pages:
        text = _ws(page.article.text) if page.article else ""
        for segment in page.expected["with"]:
            total += 1
            if _ws(segment) in text:
                found += 1
            else:
                print(f"missing from {page.name}: {segment[:70]!r}")
    print(f"\ntrafilatura 'with' recall: {found}/{total} = {found / total:.3f}")
    assert total >= 200
    assert found / total >= 0.95


def test_trafilatura_without_precision(trafilatura_pages: list[Page]) -> None:
    absent = total = 0
    for page in trafilatura_pages:
        text = _ws(page.article.text) if page.article else ""
        for segment in page.expected["without"]:
            total += 1
            if _ws(segment) not in text:
                absent += 1
            else:
                print(f"boilerplate kept in {page.name}: {segment[:70]!r}")
    print(f"\ntrafilatura 'without' kept out: {absent}/{total} = {absent / total:.3f}")
    assert total >= 200
    assert absent / total >= 0.85


def test_trafilatura_titles_reported(trafilatura_pages: list[Page]) -> None:
    expected = [p for p in trafilatura_pages if p.expected.get("title")]
    same = [p for p in expected if p.article and _ws(p.article.title or "") == _ws(p.expected["title"])]
    print(f"\ntrafilatura titles equal to annotation: {len(same)}/{len(expected)}")
    assert all(p.article.title for p in expected if p.article), "pages with an annotated title lost their title"


def _fundus_versions() -> list[tuple[Path, dict[str, Any], str]]:
    """(html.gz path, expected version dict, url): versions map to HTML files in chronological order."""
    triples = []
    for expected_file in sorted(_require(FUNDUS).glob("*/*.json")):
        publisher, folder = expected_file.stem, expected_file.parent
        meta = json.loads((folder / "meta.info").read_bytes())
        pattern = re.compile(re.escape(publisher) + r"_\d{4}_\d{2}_\d{2}\.html\.gz")
        pages = sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))  # same prefix: sorted by date
        versions = json.loads(expected_file.read_bytes())
        assert len(pages) == len(versions), f"{expected_file}: {len(pages)} pages for {len(versions)} versions"
        for page, version in zip(pages, versions.values(), strict=True):
            triples.append((page, version, meta.get(page.name, {}).get("url") or "https://example.com/"))
    return triples


@pytest.fixture(scope="module")
def fundus_pages() -> list[Page]:
    pages = []
    for path, version, url in _fundus_versions():
        article, error = _extract(gzip.decompress(path.read_bytes()), url)
        pages.append(Page(path.name, version, article, error))
    return pages


def _paragraphs(version: dict[str, Any]) -> list[str]:
    body = version.get("body") or {}
    paragraphs = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        paragraphs += section.get("paragraphs") or []
    return [p for p in (_ws(p)[:60] for p in paragraphs) if p]


def test_fundus_paragraph_recall(fundus_pages: list[Page]) -> None:
    found = total = 0
    for page in fundus_pages:
        text = _ws(page.article.text) if page.article else ""
        expected = _paragraphs(page.expected)
        hits = sum(p in text for p in expected)
        found, total = found + hits, total + len(expected)
        if hits < len(expected):
            print(f"{page.name}: {hits}/{len(expected)} paragraphs")
    print(f"\nfundus paragraph recall: {found}/{total} = {found / total:.3f} on {len(fundus_pages)} pages")
    assert len(fundus_pages) >= 80 and total >= 2000
    assert found / total >= 0.9


def _title_key(title: str) -> str:
    folded = title.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
    return _ws(folded).casefold()


def test_fundus_titles(fundus_pages: list[Page]) -> None:
    expected = [p for p in fundus_pages if p.expected.get("title")]
    matched = 0
    for page in expected:
        want = _title_key(page.expected["title"])
        got = _title_key(page.article.title or "") if page.article else ""
        # A site name appended or prepended to the headline ("... | TechCrunch") still counts as a match.
        if want and want in got:
            matched += 1
        else:
            print(f"{page.name}: got {got!r}, expected {want!r}")
    print(f"\nfundus titles matched: {matched}/{len(expected)} = {matched / len(expected):.3f}")
    assert len(expected) >= 80
    assert matched / len(expected) >= 0.8


def test_publication_dates(trafilatura_pages: list[Page], fundus_pages: list[Page]) -> None:
    """Annotated publication day (trafilatura `date`, Fundus `publishing_date`) equals Article.published_at's day."""
    pairs = [(p, p.expected.get("date") or p.expected.get("publishing_date")) for p in trafilatura_pages + fundus_pages]
    dated = [(p, want[:10]) for p, want in pairs if want]
    same = [
        p
        for p, day in dated
        if p.article and p.article.published_at and p.article.published_at.date().isoformat() == day
    ]
    print(f"\npublication day matches annotation: {len(same)}/{len(dated)} = {len(same) / len(dated):.3f}")
    assert len(dated) >= 120
    assert len(same) / len(dated) >= 0.85

"""OPML import (tolerant of broken files) and export, on own small fixtures and the real files in ../shared."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from aggregator.config.opml import OpmlFeed, export_opml, parse_opml
from aggregator.config.sources import load_sources
from aggregator.errors import ParseError
from aggregator.store.urls import feed_key
from tests.shared_fixtures import fixtures_root

DATA = Path(__file__).parent / "data" / "opml"
CONFIG = Path(__file__).resolve().parents[1] / "config"
ROOT = fixtures_root()
OPML_DIR = ROOT / "opml" if ROOT is not None else None
REAL_FILES = sorted(OPML_DIR.rglob("*.opml")) if OPML_DIR is not None and OPML_DIR.is_dir() else []
NO_FIXTURES = "../shared/fixtures/opml not present (set AGGREGATOR_SHARED_FIXTURES)"


def _opml(body: str, head: str = "") -> bytes:
    start = '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">'
    return f"{start}<head>{head}</head><body>\n{body}\n</body></opml>".encode()


def _real(relative: str) -> Path:
    if OPML_DIR is None or not (OPML_DIR / relative).is_file():
        pytest.skip(NO_FIXTURES)
    return OPML_DIR / relative


# --- small files of our own ---------------------------------------------------------------------------------


def test_nested_folders_become_tags() -> None:
    data = _opml(
        '<outline text="News"><outline text="Mexico">'
        '<outline text="Riodoce" title="Ríodoce" type="rss" xmlUrl="https://riodoce.mx/feed/" htmlUrl="https://riodoce.mx/"'
        ' language="es-MX"/>'
        "</outline></outline>"
        '<outline text="Top" xmlUrl="https://example.com/feed"/>',
        head="<title>My feeds</title>",
    )
    result = parse_opml(data, "mine.opml")
    assert result.title == "My feeds"
    assert result.problems == []
    assert result.feeds == [
        OpmlFeed("https://riodoce.mx/feed/", "Ríodoce", "https://riodoce.mx/", ("News", "Mexico"), "es-MX"),
        OpmlFeed("https://example.com/feed", "Top"),
    ]


def test_attribute_case_variants_and_missing_type() -> None:
    data = _opml(
        '<outline TEXT="Upper" XMLURL="https://a.example/feed" HTMLURL="https://a.example/"/>'
        '<OUTLINE text="Lower" xmlurl="https://b.example/rss"/>'
        '<outline text="Old exporter" type="rss" url="https://c.example/atom.xml"/>'
    )
    feeds = parse_opml(data, "case.opml").feeds
    assert [(f.title, f.url, f.html_url) for f in feeds] == [
        ("Upper", "https://a.example/feed", "https://a.example/"),
        ("Lower", "https://b.example/rss", None),
        ("Old exporter", "https://c.example/atom.xml", None),
    ]


def test_unsafe_and_non_http_urls_are_skipped_with_a_problem_line() -> None:
    data = _opml(
        '<outline text="Script" xmlUrl="javascript:alert(1)"/>\n'
        '<outline text="Data" xmlUrl="data:application/rss+xml,&lt;rss/&gt;"/>\n'
        '<outline text="File" xmlUrl="file:///etc/passwd"/>\n'
        '<outline text="Relative" xmlUrl="/feed.xml"/>\n'
        '<outline text="Gopher" xmlUrl="gopher://example.com/1"/>\n'
        '<outline text="Subscribe scheme" xmlUrl="feed://example.com/rss.xml"/>\n'
        '<outline text="Empty" xmlUrl=""/>\n'
        '<outline text="Include" type="include" url="https://example.com/more.opml"/>'
    )
    result = parse_opml(data, "unsafe.opml")
    assert [f.url for f in result.feeds] == ["http://example.com/rss.xml"]
    assert len(result.problems) == 7
    assert all(line.startswith("unsafe.opml: line ") and "\n" not in line for line in result.problems)
    assert "outline 'Script': not an http(s) feed URL (javascript:alert(1)); skipped" in result.problems[0]
    assert "'Empty' has no xmlUrl" in result.problems[5]
    assert "includes another OPML file" in result.problems[6]


def test_duplicates_by_feed_key_keep_the_first() -> None:
    data = _opml(
        '<outline text="A" xmlUrl="https://www.example.com/feed/"/>\n'
        '<outline text="B" xmlUrl="http://example.com/feed"/>\n'
        '<outline text="C" xmlUrl="https://example.com/feed/?utm_source=x"/>\n'
        # A query that chooses the feed is not a duplicate (url_key alone would drop it).
        '<outline text="D" xmlUrl="https://example.com/?feed=rss2"/>\n'
        '<outline text="E" xmlUrl="https://example.com/?feed=comments-rss2"/>'
    )
    result = parse_opml(data, "dups.opml")
    assert [f.title for f in result.feeds] == ["A", "D", "E"]
    assert len(result.problems) == 2
    assert "outline 'B': duplicate of 'A' (line 3)" in result.problems[0]


def test_untitled_outline_is_named_after_its_host() -> None:
    feeds = parse_opml(_opml('<outline text="" title="" xmlUrl="https://www.eluniversal.com.mx/rss.xml"/>'), "x").feeds
    assert feeds[0].title == "eluniversal.com.mx"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'<opml><body><outline text="R&D" xmlUrl="https://a.example/feed?x=1&y=2"/></body></opml>', "repaired"),
        (b'<opml><body><outline text="A&nbsp;B &eacute;" xmlUrl="https://a.example/feed"/></body></opml>', "repaired"),
        (
            b'\xef\xbb\xbf<?xml version="1.0"?><opml><body><outline text="A" xmlUrl="https://a.example/feed"/>',
            "recover",
        ),
        (
            b'PHP Warning: oops\n<?xml version="1.0"?><opml><body><outline xmlUrl="https://a.example/feed"/></body></opml>',
            "repaired",
        ),
    ],  # fmt: skip
)
def test_malformed_files_are_repaired(data: bytes, fragment: str) -> None:
    result = parse_opml(data, "bad.opml")
    assert [f.url.split("?")[0] for f in result.feeds] == ["https://a.example/feed"]
    assert any(fragment in line for line in result.problems), result.problems


def test_repairs_keep_the_text() -> None:
    data = b'<opml><body><outline text="R&D &amp; A&nbsp;B &eacute; &bogus;" xmlUrl="https://a.example/f?x=1&y=2"/>'
    feed = parse_opml(data, "bad.opml").feeds[0]
    assert feed.title == "R&D & A B é &bogus;"
    assert feed.url == "https://a.example/f?x=1&y=2"


@pytest.mark.parametrize(
    ("data", "note"),
    [
        (
            '<?xml version="1.0" encoding="UTF-8"?><opml><body><outline text="Crónica" xmlUrl="https://a.example/f"/>'
            "</body></opml>".encode("cp1252"),
            "read as Windows-1252",
        ),
        (
            '<?xml version="1.0" encoding="ISO-8859-1"?><opml><body><outline text="Crónica" xmlUrl="https://a.example/f"/>'
            "</body></opml>".encode(),
            "declares encoding iso-8859-1 but is UTF-8",
        ),
        (
            '<?xml version="1.0" encoding="UTF-16"?><opml><body><outline text="Crónica" xmlUrl="https://a.example/f"/>'
            "</body></opml>".encode("utf-16"),
            None,
        ),
        (
            '<?xml version="1.0" encoding="windows-1252"?><opml><body><outline text="Crónica" xmlUrl="https://a.example/f"/>'
            "</body></opml>".encode("cp1252"),
            None,
        ),
    ],  # fmt: skip
)
def test_encodings(data: bytes, note: str | None) -> None:
    result = parse_opml(data, "enc.opml")
    assert [f.title for f in result.feeds] == ["Crónica"]
    if note is None:
        assert result.problems == []
    else:
        assert any(note in line for line in result.problems), result.problems


def test_unclosed_feed_outlines_do_not_become_folders() -> None:
    data = b'<opml><body><outline text="F"><outline text="A" xmlUrl="https://a.example/feed"><outline text="B" xmlUrl="https://b.example/feed">'
    feeds = parse_opml(data, "open.opml").feeds
    assert [(f.title, f.tags) for f in feeds] == [("A", ("F",)), ("B", ("F",))]


def test_many_unclosed_feed_outlines_stay_leaves() -> None:
    # Each would nest in the one before; libxml2 stops at 256 levels.
    body = "\n".join(f'<outline text="f{i}" xmlUrl="https://example.com/{i}.xml">' for i in range(1000))
    feeds = parse_opml(f'<opml><body><outline text="Folder">\n{body}'.encode(), "deep.opml").feeds
    assert len(feeds) == 1000 and {f.tags for f in feeds} == {("Folder",)}


def test_own_broken_export_fixture() -> None:
    result = parse_opml((DATA / "broken-export.opml").read_bytes(), "broken-export.opml")
    assert result.title == "Crónica & friends"
    by_title = {f.title: f for f in result.feeds}
    assert set(by_title) == {"Río Doce", "Zeta Tijuana", "Signal", "Búsqueda", "Búsqueda 2", "Blog"}
    assert by_title["Río Doce"].html_url == "https://riodoce.mx/"
    assert by_title["Río Doce"].tags == ("Noticias de México",)
    assert by_title["Signal"].url == "https://signal.example.com/feed/"  # rebuilt from the garbled line
    assert by_title["Búsqueda"].url == "https://news.example.com/rss/search?q=cártel&hl=es"
    assert by_title["Blog"].tags == ("Seguridad", "Abierta")
    problems = "\n".join(result.problems)
    for expected in ("Windows-1252", "line 10: outline 'Signal': attributes garbled", "'Zeta again': duplicate",
                     "'Sin URL' has no xmlUrl", "'Script': not an http(s)", "'Local': not an http(s)"):  # fmt: skip
        assert expected in problems


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"\x00\x01\x02 binary",
        b"<html><body><p>Not OPML</p></body></html>",
        b"<rss><channel/></rss>",
        b'{"version": "https://jsonfeed.org/version/1.1"}',
    ],  # fmt: skip
)
def test_nothing_usable_raises_one_line_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_opml(data, "junk.opml")
    message = str(caught.value)
    assert message.startswith("parse: junk.opml: ") and "\n" not in message


def test_an_empty_subscription_list_is_not_an_error() -> None:
    result = parse_opml(_opml(""), "empty.opml")
    assert result.feeds == [] and result.problems == ["empty.opml: no feed outlines"]


# --- export --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    id: str
    name: str
    url: str
    kind: str = "feed"
    language: str = "en"
    tier: str = "news"
    tags: tuple[str, ...] = ()
    html_url: str | None = None


def test_export_is_well_formed_opml_2_with_escaping() -> None:
    sources = [
        _Source("a", 'Tom & Jerry <"news"> \x0b', "https://a.example/feed?x=1&y=2", tags=("Cartoons & co",)),
        _Source("b", "Crónica", "https://b.example/rss", language="es", html_url="https://b.example/"),
        _Source("c", "A sitemap", "https://c.example/sitemap.xml", kind="sitemap"),
    ]
    data = export_opml(sources, "Beat & co")
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(data)  # strict parser: must be well-formed
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "Beat & co"
    outlines = [o for o in root.iter("outline") if o.get("xmlUrl")]
    assert [o.get("xmlUrl") for o in outlines] == ["https://a.example/feed?x=1&y=2", "https://b.example/rss"]
    first = outlines[0]
    assert list(first.attrib) == ["text", "title", "type", "xmlUrl", "language"]
    assert first.get("title") == 'Tom & Jerry <"news"> ' and first.get("type") == "rss"
    assert outlines[1].get("htmlUrl") == "https://b.example/"
    assert first.getparent().get("text") == "Cartoons & co"
    assert outlines[1].getparent().get("text") == "news"  # no tags: grouped by tier


def test_export_then_parse_round_trips_our_sources() -> None:
    catalog = load_sources(CONFIG)
    feeds = [s for s in catalog.sources if s.kind == "feed"]
    result = parse_opml(export_opml(catalog.sources, "Beat sources"), "export.opml")
    assert result.problems == []
    assert result.title == "Beat sources"
    tiers = list(dict.fromkeys(str(s.tier) for s in feeds))  # folders come in order of first appearance
    expected = [(s.url, s.name, (tier,), s.language) for tier in tiers for s in feeds if str(s.tier) == tier]
    assert [(f.url, f.title, f.tags, f.language) for f in result.feeds] == expected


def test_export_custom_folders_round_trip() -> None:
    sources = [_Source(f"s{i}", f"Source {i} & more", f"https://s{i}.example/feed") for i in range(5)]
    data = export_opml(sources, "t", folder=lambda s: None if s.id == "s0" else f"Group {int(s.id[1:]) % 2}")
    parsed = parse_opml(data, "t.opml").feeds
    assert {(f.url, f.title, f.tags) for f in parsed} == {
        (s.url, s.name, () if s.id == "s0" else (f"Group {int(s.id[1:]) % 2}",)) for s in sources
    }


# --- the real files in ../shared/fixtures/opml ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    REAL_FILES or [pytest.param(None, marks=pytest.mark.skip(reason=NO_FIXTURES))],
    ids=lambda p: p.name if isinstance(p, Path) else "absent",
)
def test_real_opml_files(path: Path) -> None:
    data = path.read_bytes()
    result = parse_opml(data, path.name)
    assert result.feeds, result.problems
    keys = [feed_key(f.url) for f in result.feeds]
    assert None not in keys and len(set(keys)) == len(keys)
    assert all(f.url.startswith(("http://", "https://")) and f.title for f in result.feeds)
    assert all(line.startswith(path.name + ": ") and "\n" not in line for line in result.problems)
    # Every feed outline in the raw bytes is either read or reported as a duplicate: nothing is lost silently.
    duplicates = sum("duplicate of" in line for line in result.problems)
    assert len(re.findall(rb"xmlurl\s*=", data, re.IGNORECASE)) == len(result.feeds) + duplicates


def test_real_mexico_list_with_unescaped_ampersand() -> None:
    result = parse_opml(_real("awesome-rss-feeds/countries/Mexico.opml").read_bytes(), "Mexico.opml")
    assert len(result.feeds) == 15
    assert {f.tags for f in result.feeds} == {("Mexico",)}
    titles = {f.title: f.url for f in result.feeds}
    assert titles["El Informador :: Noticias de Jalisco, México, Deportes & Entretenimiento"].endswith(
        "ultimas-noticias.xml"
    )
    assert titles["eluniversal.com.mx"] == "https://www.eluniversal.com.mx/seccion/1671/rss.xml"  # untitled outline
    assert "repaired" in result.problems[0]


def test_real_unescaped_html_in_description_keeps_the_feed_and_the_folder() -> None:
    result = parse_opml(_real("awesome-rss-feeds/recommended/Programming.opml").read_bytes(), "Programming.opml")
    signal = [f for f in result.feeds if f.title == "Signal v. Noise"]
    assert signal and signal[0].url == "https://m.signalvnoise.com/feed/"
    assert {f.tags for f in result.feeds} == {("Programming",)}


def test_real_quotes_inside_a_title() -> None:
    result = parse_opml(_real("awesome-rss-feeds/countries/Russia.opml").read_bytes(), "Russia.opml")
    kommersant = [f for f in result.feeds if "kommersant" in f.url]
    assert kommersant and kommersant[0].title == 'Газета "Коммерсантъ". Главное'


def test_real_reader_exports() -> None:
    flym = parse_opml(_real("reader-exports/feeder-Flym_auto_backup.opml").read_bytes(), "flym")
    assert len(flym.feeds) == 11 and flym.problems == []
    assert {f.tags for f in flym.feeds} == {("black humor",), ("comics",), ("Tech",), ("Political humour",)}
    guard = parse_opml(_real("reader-exports/feeder-rssguard_1.opml").read_bytes(), "rssguard")
    assert len(guard.feeds) == 30 and guard.problems == []  # custom namespace, version="version"
    pods = parse_opml(_real("reader-exports/feeder-antennapod-feeds.opml").read_bytes(), "antennapod")
    assert len(pods.feeds) == 8 and all(f.html_url for f in pods.feeds)


def test_real_netnewswire_with_and_without_title_attributes() -> None:
    subs = parse_opml(_real("reader-exports/netnewswire-Subs.opml").read_bytes(), "Subs.opml")
    bare = parse_opml(_real("reader-exports/netnewswire-SubsNoTitleAttributes.opml").read_bytes(), "Bare.opml")
    assert len(subs.feeds) == 205  # 207 outlines, two listed twice under other URL forms or folders
    assert sum("duplicate of" in line for line in subs.problems) == 2
    assert [(f.url, f.title, f.tags) for f in subs.feeds] == [(f.url, f.title, f.tags) for f in bare.feeds]
    assert {"Macintosh", "Programming", "Weblogs"} <= {tag for f in subs.feeds for tag in f.tags}

"""Editing a copy of config/sources.toml: appends and enable/disable keep every other byte, and still load."""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from aggregator.config import toml_edit
from aggregator.config.source_file import append_source, set_enabled
from aggregator.config.sources import load_sources
from aggregator.errors import ConfigError

CONFIG = Path(__file__).resolve().parents[1] / "config" / "sources.toml"

NEW = {
    "id": "elsiglo",
    "name": 'El Siglo de Torreón "Portada"',
    "kind": "feed",
    "url": "https://www.elsiglodetorreon.com.mx/index.xml",
    "language": "es",
    "tier": "news",
    "fulltext": True,
    "poll_interval": "1h",
    "confidence": "medium",
    "notes": "Found in an OPML list; not checked yet.",
}


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    shutil.copyfile(CONFIG, path)
    return path


def _diff(before: str, after: str) -> list[str]:
    """Changed lines only, as '+line' / '-line'."""
    changes = difflib.ndiff(before.splitlines(True), after.splitlines(True))
    return [line[0] + line[2:].rstrip("\n") for line in changes if line[:2] in ("+ ", "- ")]


# --- append_source ---------------------------------------------------------------------------------------------


def test_append_adds_one_block_at_the_end_in_the_files_key_order(sources: Path) -> None:
    before = sources.read_bytes()
    count = len(load_sources(sources.parent).sources)
    # Keys given out of order: the block follows the order the existing entries use.
    append_source(sources, dict(reversed(list(NEW.items()))))
    after = sources.read_bytes()
    assert after.startswith(before)
    assert after[len(before) :].decode() == (
        "\n"
        "[[source]]\n"
        'id = "elsiglo"\n'
        'name = "El Siglo de Torreón \\"Portada\\""\n'
        'kind = "feed"\n'
        'url = "https://www.elsiglodetorreon.com.mx/index.xml"\n'
        'language = "es"\n'
        'tier = "news"\n'
        "fulltext = true\n"
        'poll_interval = "1h"\n'
        'confidence = "medium"\n'
        'notes = "Found in an OPML list; not checked yet."\n'
    )
    catalog = load_sources(sources.parent)
    assert catalog.problems == ()
    assert len(catalog.sources) == count + 1
    added = catalog.by_id()["elsiglo"]
    assert added.name == 'El Siglo de Torreón "Portada"' and added.poll_interval == 3600


def test_append_with_options_tags_and_enabled(sources: Path) -> None:
    entry = {
        **NEW,
        "kind": "sitemap",
        "url": "https://www.elsiglodetorreon.com.mx/sitemap-news.xml",
        "enabled": False,
        "tags": ["coahuila", "durango"],
        "options": {"include": ["/noticia/"], "max_age_days": 2},
    }
    before = sources.read_text(encoding="utf-8")
    append_source(sources, entry)
    block = sources.read_text(encoding="utf-8")[len(before) :]
    assert block.splitlines()[9:] == [
        'poll_interval = "1h"',
        "enabled = false",  # where the model puts it: the file has no example to follow
        'confidence = "medium"',
        'notes = "Found in an OPML list; not checked yet."',
        'tags = ["coahuila", "durango"]',
        "[source.options]",  # no blank line before, as in the file
        'include = ["/noticia/"]',
        "max_age_days = 2",
    ]
    added = load_sources(sources.parent).by_id()["elsiglo"]
    assert added.enabled is False and added.tags == ("coahuila", "durango")
    assert added.options == {"include": ["/noticia/"], "max_age_days": 2}


def test_append_twice_keeps_one_blank_line_between_blocks(sources: Path) -> None:
    append_source(sources, NEW)
    append_source(sources, {**NEW, "id": "elsiglo-2", "url": "https://www.elsiglodetorreon.com.mx/rss/ultimas.xml"})
    text = sources.read_text(encoding="utf-8")
    assert 'not checked yet."\n\n[[source]]\nid = "elsiglo-2"\n' in text
    assert {"elsiglo", "elsiglo-2"} <= set(load_sources(sources.parent).by_id())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "proceso"}, "source id 'proceso' already exists (source #"),
        ({"url": "http://proceso.com.mx/rss"}, "is the same feed as source 'proceso'"),
        ({"url": "https://www.riodoce.mx/feed"}, "is the same feed as source 'riodoce'"),
        ({"url": "https://m.riodoce.mx/feed/?utm_source=opml"}, "is the same feed as source 'riodoce'"),
        ({"id": "Not A Slug"}, "field 'id'"),
        ({"url": "ftp://example.com/feed"}, "field 'url'"),
        ({"tier": "tabloid"}, "field 'tier'"),
        ({"colour": "red"}, "field 'colour'"),
    ],
)
def test_append_refuses_duplicates_and_invalid_entries(sources: Path, changes: dict[str, object], message: str) -> None:
    before = sources.read_bytes()
    with pytest.raises(ConfigError) as caught:
        append_source(sources, {**NEW, **changes})
    assert message in str(caught.value)
    assert str(sources) in str(caught.value) and "\n" not in str(caught.value)
    assert sources.read_bytes() == before


def test_a_query_that_selects_the_feed_is_not_a_duplicate(sources: Path) -> None:
    # url_key alone would drop the query and call these the same feed.
    append_source(sources, {**NEW, "id": "doj-speeches", "url": "https://www.justice.gov/news/rss?type=speech"})
    assert "doj-speeches" in load_sources(sources.parent).by_id()


def test_append_keeps_crlf_files_crlf(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    original = CONFIG.read_bytes().replace(b"\n", b"\r\n")
    path.write_bytes(original)
    append_source(path, NEW)
    after = path.read_bytes()
    assert after.startswith(original)
    assert b"\n" not in after[len(original) :].replace(b"\r\n", b"")
    assert "elsiglo" in load_sources(tmp_path).by_id()


def test_append_to_a_file_without_sources_or_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text("# no sources yet", encoding="utf-8")
    append_source(path, NEW)
    assert path.read_text(encoding="utf-8").startswith('# no sources yet\n\n[[source]]\nid = "elsiglo"\n')
    assert list(load_sources(tmp_path).by_id()) == ["elsiglo"]


def test_a_crash_while_writing_leaves_the_old_file(sources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = sources.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(toml_edit.os, "replace", crash)
    with pytest.raises(ConfigError, match="cannot write: disk full"):
        append_source(sources, NEW)
    assert sources.read_bytes() == before
    assert sorted(p.name for p in sources.parent.iterdir()) == ["sources.toml"]  # no temp file left behind


def test_writes_go_through_a_symlink_and_keep_the_mode(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    shutil.copyfile(CONFIG, real)
    real.chmod(0o640)
    link = tmp_path / "sources.toml"
    link.symlink_to(real)
    append_source(link, NEW)
    assert link.is_symlink() and "elsiglo" in real.read_text(encoding="utf-8")
    assert real.stat().st_mode & 0o777 == 0o640


def test_missing_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        append_source(tmp_path / "nope.toml", NEW)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[source]\nid = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        set_enabled(broken, "x", False)
    inline = tmp_path / "inline.toml"
    inline.write_text('source = [{ id = "a" }]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"array of tables"):
        append_source(inline, NEW)


# --- set_enabled -----------------------------------------------------------------------------------------------


def test_disable_adds_one_line_in_key_order(sources: Path) -> None:
    before = sources.read_text(encoding="utf-8")
    set_enabled(sources, "proceso", False)
    after = sources.read_text(encoding="utf-8")
    assert _diff(before, after) == ["+enabled = false"]
    assert 'poll_interval = "30m"\nenabled = false\nconfidence = "medium"' in after.split('id = "proceso"')[1]
    catalog = load_sources(sources.parent)
    assert catalog.problems == ()
    assert catalog.by_id()["proceso"].enabled is False
    assert sum(not s.enabled for s in catalog.sources) == 1


def test_disable_then_enable_changes_only_that_line(sources: Path) -> None:
    original = sources.read_text(encoding="utf-8")
    set_enabled(sources, "uapress-author-news", False)  # the last source, which has a [source.options] table
    disabled = sources.read_text(encoding="utf-8")
    assert _diff(original, disabled) == ["+enabled = false"]
    set_enabled(sources, "uapress-author-news", True)
    enabled = sources.read_text(encoding="utf-8")
    assert _diff(disabled, enabled) == ["-enabled = false", "+enabled = true"]
    assert load_sources(sources.parent).by_id()["uapress-author-news"].enabled is True


def test_existing_enabled_line_keeps_its_comment(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    text = CONFIG.read_text(encoding="utf-8").replace(
        'id = "milenio"\n', 'id = "milenio"\nenabled   = true   # back since March\n', 1
    )
    path.write_text(text, encoding="utf-8")
    set_enabled(path, "milenio", False)
    assert _diff(text, path.read_text(encoding="utf-8")) == [
        "-enabled   = true   # back since March",
        "+enabled   = false   # back since March",
    ]
    assert load_sources(tmp_path).by_id()["milenio"].enabled is False


def test_setting_the_current_value_does_not_rewrite(sources: Path) -> None:
    set_enabled(sources, "wola", False)
    inode, mtime = sources.stat().st_ino, sources.stat().st_mtime_ns
    set_enabled(sources, "wola", False)
    assert (sources.stat().st_ino, sources.stat().st_mtime_ns) == (inode, mtime)


def test_unknown_id(sources: Path) -> None:
    before = sources.read_bytes()
    with pytest.raises(ConfigError, match="no source with id 'nope'"):
        set_enabled(sources, "nope", False)
    assert sources.read_bytes() == before


def test_every_source_can_be_toggled_without_touching_the_rest(sources: Path) -> None:
    ids = [s.id for s in load_sources(sources.parent).sources]
    before = sources.read_text(encoding="utf-8")
    for source_id in ids:
        set_enabled(sources, source_id, False)
    after = sources.read_text(encoding="utf-8")
    assert _diff(before, after) == ["+enabled = false"] * len(ids)
    assert not any(s.enabled for s in load_sources(sources.parent).sources)
    assert os.listdir(sources.parent) == ["sources.toml"]


def test_a_watch_added_to_a_config_without_watches_toml_creates_it_readable(tmp_path: Path) -> None:
    from aggregator.config.watch_file import add_watch
    from aggregator.config.watches import load_watches

    config = tmp_path / "config"
    config.mkdir()
    old = os.umask(0o022)
    try:
        add_watch(config, {"id": "gulf", "query": "entity:gulf-cartel", "deliver": ["atom"]})
    finally:
        os.umask(old)
    created = config / "watches.toml"
    assert created.stat().st_mode & 0o777 == 0o644  # as any new file here, not mkstemp's private 0o600
    assert [w.id for w in load_watches(config).watches] == ["gulf"]
    assert not [p for p in config.iterdir() if p.name.endswith(".tmp")]

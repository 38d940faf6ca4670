"""settings.toml: every numeric setting is range-checked and allow_networks entries are parsed, each problem one
clear ConfigError naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config.settings import CrawlSettings, load_settings
from aggregator.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str) -> CrawlSettings:
    (tmp_path / "settings.toml").write_text(text, encoding="utf-8")
    return load_settings(tmp_path).crawl


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[crawl]\nconcurrent_requests = 0", "[crawl] concurrent_requests must be at least 1, got 0"),
        ("[crawl]\nconcurrent_per_host = 0", "[crawl] concurrent_per_host must be at least 1, got 0"),
        ("[crawl]\ntimeout = 0", "[crawl] timeout must be more than 0 seconds, got 0 seconds"),
        ('[crawl]\ntimeout = "0s"', "[crawl] timeout must be more than 0 seconds, got 0 seconds"),
        ("[crawl]\nmax_response_bytes = 0", "[crawl] max_response_bytes must be at least 1024, got 0"),
        ("[crawl]\nmax_response_bytes = -5", "[crawl] max_response_bytes must be at least 1024, got -5"),
        ("[crawl]\nretry_times = -1", "[crawl] retry_times must be at least 0, got -1"),
        ("[crawl]\nmax_redirects = -1", "[crawl] max_redirects must be at least 0, got -1"),
        ("[crawl]\ndefault_interval = 0", "[crawl] default_interval must be more than 0 seconds, got 0 seconds"),
        ("[crawl]\nmin_interval = 0", "[crawl] min_interval must be more than 0 seconds, got 0 seconds"),
        ('[crawl]\nmax_interval = "0m"', "[crawl] max_interval must be more than 0 seconds, got 0 seconds"),
        (
            '[crawl]\nmin_interval = "2h"\nmax_interval = "1h"',
            "[crawl] min_interval (2h) must not be longer than max_interval (1h)",
        ),
        ("[crawl]\nfulltext_attempts = 0", "[crawl] fulltext_attempts must be at least 1, got 0"),
        ("[crawl]\nfulltext_per_source = -1", "[crawl] fulltext_per_source must be at least 0, got -1"),
        ("[crawl]\nstale_after = 0", "[crawl] stale_after must be more than 0 seconds, got 0 seconds"),
        ("[crawl]\ndownload_delay = -1", "field 'crawl.download_delay': Value error, negative duration: -1"),
        ("[digest]\nstory_window = 0", "[digest] story_window must be more than 0 seconds, got 0 seconds"),
        ("[digest]\nper_section = -1", "[digest] per_section must be at least 0, got -1"),
        ("[digest]\nsummary_sentences = 7", "[digest] summary_sentences must be at most 6, got 7"),
        ("[digest]\nfeed_entries = 0", "[digest] feed_entries must be at least 1, got 0"),
        ("[schedule]\ntick = 0.5", "[schedule] tick must be at least 1 second, got 0.5 seconds"),
        ('[schedule]\nretrain_every = "10s"', "[schedule] retrain_every must be at least 60 seconds, got 10 seconds"),
        ("[mail]\nport = 0", "[mail] port must be at least 1, got 0"),
        ("[mail]\nport = 70000", "[mail] port must be at most 65535, got 70000"),
        ("[mail]\ntimeout = 0", "[mail] timeout must be more than 0 seconds, got 0 seconds"),
    ],
)
def test_out_of_range_values_name_the_file_and_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, toml + "\n")
    assert str(info.value) == f"config: {tmp_path / 'settings.toml'}: {message}"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "[crawl]\nconcurrent_per_host = 0\nmax_response_bytes = 0\nretry_times = -2\n")
    text = str(info.value)
    assert text.startswith("config: ") and text.count(str(tmp_path / "settings.toml")) == 3
    for part in ("concurrent_per_host must be at least 1", "max_response_bytes must be at least 1024",
                 "retry_times must be at least 0, got -2"):  # fmt: skip
        assert part in text


def test_the_smallest_allowed_values_load(tmp_path: Path) -> None:
    crawl = _load(
        tmp_path,
        "[crawl]\nconcurrent_requests = 1\nconcurrent_per_host = 1\ndownload_delay = 0\nretry_times = 0\n"
        'max_redirects = 0\nfulltext_per_source = 0\nmax_response_bytes = 1024\nmin_interval = "1h"\n'
        'max_interval = "1h"\n',
    )
    assert (crawl.concurrent_per_host, crawl.retry_times, crawl.max_redirects, crawl.max_response_bytes) == (
        1, 0, 0, 1024)  # fmt: skip
    assert crawl.min_interval == crawl.max_interval == 3600


def test_allow_networks_entries_are_parsed_and_written_canonically(tmp_path: Path) -> None:
    crawl = _load(
        tmp_path,
        '[crawl]\nallow_networks = ["127.0.0.1", "10.20.0.0/16", "[::1]", "fd00::/8", " Intranet.Example. "]\n',
    )
    assert crawl.allow_networks == ["127.0.0.1/32", "10.20.0.0/16", "::1/128", "fd00::/8", "intranet.example"]
    assert crawl.allow_private_networks is False
    assert _load(tmp_path, "[crawl]\nallow_private_networks = true\n").allow_private_networks is True


def test_bad_allow_networks_entries_are_each_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, '[crawl]\nallow_networks = ["127.0.0.1/32", "10.0.0.0/33", "10.0.0.5/8", "not a host!"]\n')
    text = str(info.value)
    assert text.startswith(f"config: {tmp_path / 'settings.toml'}: [crawl] allow_networks: '10.0.0.0/33' is not a CIDR")
    assert "'10.0.0.5/8' is not a CIDR network: 10.0.0.5/8 has host bits set" in text
    assert "'not a host!' is neither a CIDR network (such as 10.0.0.0/8) nor a host name" in text
    assert "127.0.0.1/32" not in text
    with pytest.raises(ConfigError, match=r"\[crawl\] allow_networks: '300\.1\.1\.1' is not a CIDR network"):
        _load(tmp_path, '[crawl]\nallow_networks = ["300.1.1.1"]\n')
    with pytest.raises(ConfigError, match=r"field 'crawl\.allow_networks'"):
        _load(tmp_path, '[crawl]\nallow_networks = "127.0.0.1/32"\n')  # a list, not a string


def test_shipped_settings_load_and_refuse_private_networks() -> None:
    crawl = load_settings(REPO / "config").crawl
    assert crawl.allow_private_networks is False and crawl.allow_networks == []
    assert crawl.concurrent_per_host >= 1 and crawl.max_response_bytes >= 1024

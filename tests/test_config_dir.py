"""Which configuration a command uses: --config, $AGGREGATOR_CONFIG, ./config, else the one shipped in the package."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from aggregator.config.settings import PACKAGED_CONFIG, find_config_dir, load_settings

REPO = Path(__file__).resolve().parents[1]


def agg(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "aggregator", *args], capture_output=True, text=True, cwd=cwd,
                          env=environ, timeout=300)  # fmt: skip


def test_the_shipped_configuration_is_the_repositorys() -> None:
    for name in ("settings.toml", "sources.toml", "topics.toml"):
        assert (PACKAGED_CONFIG / name).read_bytes() == (REPO / "config" / name).read_bytes()


def test_without_a_config_directory_the_shipped_one_is_used_and_data_goes_here(tmp_path: Path) -> None:
    result = agg("sources", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "insightcrime" in result.stdout
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        chosen = find_config_dir(None)
        assert chosen == PACKAGED_CONFIG
        assert load_settings(chosen).data_path == tmp_path.resolve() / "data"  # not inside the installed package
        (tmp_path / "config").mkdir()
        assert find_config_dir(None) == Path("config")
    finally:
        os.chdir(old)


def test_init_writes_an_editable_copy_and_never_overwrites(tmp_path: Path) -> None:
    first = agg("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for name in ("settings.toml", "sources.toml", "topics.toml"):
        assert (tmp_path / "config" / name).read_bytes() == (PACKAGED_CONFIG / name).read_bytes()
    assert "edit first" in first.stdout and "timezone" in first.stdout
    (tmp_path / "config" / "sources.toml").write_text("# mine\n", encoding="utf-8")
    again = agg("init", cwd=tmp_path)
    assert again.returncode == 1 and "already exist" in again.stderr
    assert (tmp_path / "config" / "sources.toml").read_text(encoding="utf-8") == "# mine\n"
    forced = agg("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "# mine" not in (tmp_path / "config" / "sources.toml").read_text()
    listed = agg("sources", "list", cwd=tmp_path)  # ./config now exists and is the one used
    assert listed.returncode == 0 and "insightcrime" in listed.stdout


def test_the_environment_names_the_config(tmp_path: Path) -> None:
    mine = tmp_path / "elsewhere"
    assert agg("init", str(mine), cwd=tmp_path).returncode == 0
    (mine / "sources.toml").write_text(
        '[[source]]\nid = "only-one"\nname = "Only"\nkind = "feed"\nurl = "https://example.org/feed"\n'
        'language = "en"\ntier = "news"\n',
        encoding="utf-8",
    )
    result = agg("sources", "list", cwd=tmp_path, env={"AGGREGATOR_CONFIG": str(mine)})
    assert result.returncode == 0, result.stderr
    assert "only-one" in result.stdout and "insightcrime" not in result.stdout


def test_the_demo_in_an_empty_directory_prints_commands_that_work(tmp_path: Path) -> None:
    demo = agg("demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert f"the demo writes under {tmp_path.resolve() / 'data'}" in demo.stdout
    hint = next(line for line in demo.stdout.splitlines() if line.startswith("try:"))
    check = agg(*shlex.split(hint.removeprefix("try:").strip())[1:], cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "demo-reporter-blog" in check.stdout and "insightcrime" not in check.stdout
    assert "7 source(s), 0 failing" in check.stdout
    (tmp_path / "data" / "demo.sqlite").touch()
    again = agg("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "kept the previous demo database as" in again.stdout
    assert len(list((tmp_path / "data").glob("demo-*.sqlite"))) == 1

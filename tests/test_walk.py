"""A newcomer's walk: the built wheel installed (not editable) in a fresh venv, the demo run in an empty directory,
then every README example that reads the collection run against the demo's database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_docs import Example, readme_examples
from tests.test_packaging import REPO, _ignore

pytestmark = pytest.mark.slow

# The README's examples name real outlets and dates; on the demo's collection they run with a demo outlet and the
# demo digest's date in their place (the substitution is the only change made to a line).
OUTLETS = {"insightcrime-es": "demo-noticias-frontera"}  # inside queries too
ITEM_IDS = {"123": "1"}
# What a walk runs: commands that read the collection (or write only into the walk's own directory). Crawling real
# outlets (no network here), serving, the scheduler, mailing and editing sources.toml are left to their own tests.
READS = {"digest", "export", "explain", "search", "stats", "status", "topics", "init", ("sources", "export-opml")}


@dataclass
class Walk:
    home: Path  # the empty directory the newcomer works in
    aggregator: Path  # the venv's console script
    demo: subprocess.CompletedProcess[str]
    digest_date: str


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    base = tmp_path_factory.mktemp("walk")
    src = base / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_ignore)
    wheels = base / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", wheels, src],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("*.whl")
    # The venv sees this machine's packages (the registry is not for every test run) but installs ours itself,
    # plainly: nothing of the checkout is on its path.
    env_dir = base / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--force-reinstall", "--disable-pip-version-check", "-q", wheel],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    home = base / "home"
    home.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    where = subprocess.run([python, "-c", "import aggregator; print(aggregator.__file__)"], capture_output=True,
                           text=True, cwd=home, env=environ, timeout=60)  # fmt: skip
    assert str(env_dir) in where.stdout and str(REPO) not in where.stdout, where.stdout
    aggregator = env_dir / "bin" / "aggregator"
    demo = subprocess.run([aggregator, "demo"], capture_output=True, text=True, cwd=home, env=environ, timeout=600)
    digest_date = next(line for line in demo.stdout.splitlines() if "digest --date" in line).split("--date ")[1][:10]
    yield Walk(home, aggregator, demo, digest_date)


def test_the_demo_runs_from_the_installed_wheel_in_an_empty_directory(walk: Walk) -> None:
    assert walk.demo.returncode == 0, walk.demo.stderr
    assert "== the digest" in walk.demo.stdout
    html = Path(walk.demo.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert html.is_file() and html.is_relative_to(walk.home)
    assert (walk.home / "data" / "demo.sqlite").is_file()
    assert "config/topics.toml: file not found" not in walk.demo.stderr


def _runs(example: Example) -> bool:
    first = example.commands[0]
    return first[0] in READS or tuple(first[:2]) in READS


EXAMPLES = [e for e in readme_examples() if _runs(e)]


def test_the_walk_covers_the_readers_examples() -> None:
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"README:{e.lineno}")
def test_readme_example_runs_on_the_demo(walk: Walk, example: Example) -> None:
    config, db = walk.home / "data" / "demo-config", f"sqlite:///{walk.home / 'data' / 'demo.sqlite'}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    for command in example.commands:
        args = [ITEM_IDS.get(a, a) for a in command]
        for real, demo in OUTLETS.items():
            args = [a.replace(real, demo) for a in args]
        args = [walk.digest_date if a == "2026-11-24" else a for a in args]
        if "--send" in args:
            continue  # mail has its own tests, against a real SMTP server
        prefix = [] if args[0] == "init" else ["--config", str(config), "--db", db]
        result = subprocess.run([walk.aggregator, *prefix, *args], capture_output=True, text=True, cwd=walk.home,
                                env=environ, timeout=300)  # fmt: skip
        assert result.returncode == 0, f"README line {example.lineno}: {example.line}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        if "--format" in args and args[args.index("--format") + 1] == "json" and "--out" not in args:
            json.loads(result.stdout)

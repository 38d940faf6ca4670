"""The wheel: aggregator/ with its models and spiders, every template, migration and data file, and nothing stray."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Caches, build output and the local data directory are not part of a checkout; a fresh clone has none of them.
TOP_LEVEL_SKIP = {".git", "build", "dist", "data", ".benchmarks", ".venv"}
ANYWHERE_SKIP = shutil.ignore_patterns(".mypy_cache", ".pytest_cache", ".ruff_cache", "*.egg-info")
# Files the package reads at run time, besides its modules (relative to aggregator/).
DATA_DIRS = ["digest/templates", "web/templates", "classify/data", "demo/site", "config/defaults"]
DATA_FILES = ["demo/sources.toml", "models/migrations/script.py.mako"]
STRAYS = [
    "aggregator/__pycache__/junk.pyc",
    "aggregator/.x.py.swp",
    "aggregator/web/templates/.item.html.j2.swp",
    "aggregator/digest/templates/digest.html.j2.orig",
    "aggregator/demo/site/index.html.orig",
    "aggregator/demo/site/borderwire/feed.xml~",
    "aggregator/demo/site/borderwire/.feed.xml.swp",
    "aggregator/demo/site/__pycache__/server.cpython-311.pyc",
    "aggregator/models/migrations/versions/__pycache__/0001_initial_schema.cpython-311.pyc",
    "aggregator/models/migrations/versions/0001_initial_schema.py.orig",
]

pytestmark = pytest.mark.slow


def _ignore(directory: str, names: list[str]) -> set[str]:
    skipped = set(ANYWHERE_SKIP(directory, names))
    if Path(directory) == REPO:
        skipped |= TOP_LEVEL_SKIP & set(names)
    return skipped


def is_stray(relative: str) -> bool:
    """Bytecode, editor swap and backup files, merge leftovers and dot files: never package contents."""
    parts = relative.split("/")
    name = parts[-1]
    return (
        "__pycache__" in parts
        or any(part.startswith(".") for part in parts)
        or name.endswith((".pyc", ".pyo", ".swp", ".swo", ".orig", ".rej", "~"))
    )


def expected_files(root: Path) -> set[str]:
    """What the wheel must hold under aggregator/: every module (through the models/spiders links) and data file."""
    package = root / "aggregator"
    wanted: set[str] = set()
    for directory, _, files in os.walk(package, followlinks=True):
        for name in files:
            relative = (Path(directory) / name).relative_to(package).as_posix()
            if is_stray(relative):
                continue
            in_data_dir = any(relative.startswith(f"{data}/") for data in DATA_DIRS)
            if name.endswith(".py") or in_data_dir or relative in DATA_FILES:
                wanted.add(f"aggregator/{relative}")
    return wanted


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, zipfile.ZipFile]]:
    """Build a wheel from a copy of the checkout with stray files planted in it; (copy, wheel)."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    # symlinks=True keeps aggregator/models -> ../models a link, as in a checkout, so the build must follow it.
    shutil.copytree(REPO, src, symlinks=True, ignore=_ignore)
    assert (src / "aggregator" / "models").is_symlink() and (src / "aggregator" / "spiders").is_symlink()
    for stray in STRAYS:
        path = src / stray
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stray\n")
    out = base / "wheel"
    # Build isolation installs the declared build-system requirements (from the registry or pip's local cache), so
    # this tests what `pip install .` and `python -m build` do rather than whatever setuptools is installed here.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", out, src],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"wheel build failed:\n{result.stdout}\n{result.stderr}"
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        yield src, archive


def package_names(archive: zipfile.ZipFile) -> set[str]:
    return {name for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}


def test_only_the_aggregator_package_is_installed(built: tuple[Path, zipfile.ZipFile]) -> None:
    _, archive = built
    # Top-level models/ or spiders/ would shadow (or be shadowed by) any other distribution's of that name.
    assert {name.split("/")[0] for name in package_names(archive)} == {"aggregator"}
    (top_level,) = [name for name in archive.namelist() if name.endswith(".dist-info/top_level.txt")]
    assert archive.read(top_level).decode().split() == ["aggregator"]


def test_no_stray_files(built: tuple[Path, zipfile.ZipFile]) -> None:
    _, archive = built
    assert not [name for name in archive.namelist() if is_stray(name)]
    assert not set(STRAYS) & set(archive.namelist())


def test_the_wheel_holds_exactly_the_modules_and_data(built: tuple[Path, zipfile.ZipFile]) -> None:
    src, archive = built
    wanted = expected_files(src)
    names = package_names(archive)
    assert not wanted - names, f"missing from the wheel: {sorted(wanted - names)}"
    assert not names - wanted, f"shipped but not asked for: {sorted(names - wanted)}"


def test_what_the_code_reads_at_run_time_is_there(built: tuple[Path, zipfile.ZipFile]) -> None:
    # Spelled out, so an emptied data directory cannot make the comparison above vacuous.
    _, archive = built
    names = set(archive.namelist())
    repo = REPO / "aggregator"
    migrations = "aggregator/models/migrations"
    required = {
        f"{migrations}/env.py",
        f"{migrations}/script.py.mako",
        "aggregator/models/item.py",
        "aggregator/spiders/pipelines.py",
        "aggregator/classify/data/seed.jsonl",
        "aggregator/demo/sources.toml",
        "aggregator/demo/site/index.html",
        "aggregator/demo/site/robots.txt",
        "aggregator/demo/site/reporter-blog/feeds/posts/default",
        "aggregator/config/defaults/settings.toml",
        "aggregator/config/defaults/sources.toml",
        "aggregator/config/defaults/topics.toml",
    }
    required |= {f"{migrations}/versions/{path.name}" for path in (repo / "models/migrations/versions").glob("*.py")}
    for kind in ("digest", "web"):
        templates = {f"aggregator/{kind}/templates/{p.name}" for p in (repo / kind / "templates").glob("*.j2")}
        assert templates, f"no {kind} templates in the repository?"
        required |= templates
    assert len([name for name in required if "/versions/" in name]) >= 5
    assert not required - names, sorted(required - names)


def _distribution(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return _normalise(match.group())


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_distribution_is_declared(built: tuple[Path, zipfile.ZipFile]) -> None:
    _, archive = built
    imported: set[str] = set()
    for name in package_names(archive):
        if name.endswith(".py"):
            for node in ast.walk(ast.parse(archive.read(name), filename=name)):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"aggregator", "__future__"}
    (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist:").strip()
        for line in archive.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    declared = {_distribution(req) for req in requires if "extra ==" not in req}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(third_party):
        dists = {_normalise(dist) for dist in providers.get(module, [module])}
        if not dists & declared:
            undeclared[module] = sorted(dists)
    # Relying on a dependency's dependency breaks the day it drops it.
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"

"""The import graph of the package: no circles between modules, and the upper layers are imported by nobody below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aggregator"
# Who may import these packages: each is imported only from the listed packages (and from inside itself).
UPPER = {
    "aggregator.cli": {"aggregator.__main__"},
    "aggregator.web": {"aggregator.cli"},
    "aggregator.schedule": {"aggregator.cli"},
    "aggregator.demo": {"aggregator.cli"},
    "aggregator.services": {"aggregator.cli", "aggregator.web", "aggregator.schedule", "aggregator.distributed"},
    "aggregator.distributed": {"aggregator.cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (functions and TYPE_CHECKING included)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py") if ".migrations" not in _module_name(p)}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in files else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert len(graph) > 80
    assert "aggregator.store.database" in graph["aggregator.services.context"]


def test_no_import_circles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("package", sorted(UPPER))
def test_upper_layers_are_imported_only_from_above(package: str) -> None:
    allowed = UPPER[package]
    offenders = [
        f"{importer} imports {target}"
        for importer, targets in _graph().items()
        for target in targets
        if (target == package or target.startswith(package + "."))
        and not (importer == package or importer.startswith(package + "."))
        and not any(importer == a or importer.startswith(a + ".") for a in allowed)
    ]
    assert not offenders, offenders

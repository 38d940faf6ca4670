"""Every exception of the project is in aggregator.errors, and its docstring draws each one in the tree."""

from __future__ import annotations

import importlib
import pkgutil

import aggregator
from aggregator import errors


def _all_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(aggregator.__path__, "aggregator."):
        if info.name.endswith("__main__") or ".migrations" in info.name:
            continue  # running the CLI, and alembic's env.py, are not imports
        names.append(info.name)
    return names


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_every_project_exception_lives_in_errors_and_is_drawn() -> None:
    for name in _all_modules():
        importlib.import_module(name)
    classes = {errors.AggregatorError, *_subclasses(errors.AggregatorError)}
    assert len(classes) >= 10
    tree = errors.__doc__ or ""
    for cls in classes:
        assert cls.__module__ == "aggregator.errors", f"{cls.__qualname__} is defined in {cls.__module__}"
    drawn = {line.split("── ")[-1].split()[0] for line in tree.splitlines() if "── " in line}
    assert "\nAggregatorError " in tree
    assert drawn == {c.__name__ for c in classes} - {errors.AggregatorError.__name__}

"""The root command lists its commands without importing them, and each listing matches the command it names."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from aggregator.cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_listed_help_is_the_start_of_the_commands_own_help(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert isinstance(command, click.Command)
    assert command.name == name
    first_line = " ".join((command.help or "").split())
    assert first_line.startswith(COMMANDS[name][2].rstrip(".")), (name, first_line)


HEAVY = ("sqlalchemy", "scrapy", "sklearn", "pydantic", "fastapi", "twisted", "numpy")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["no-such-command"], ["--no-such-option"]])
def test_help_version_and_argument_errors_import_nothing_heavy(args: list[str]) -> None:
    probe = (
        "import sys\n"
        "from aggregator.cli.main import cli\n"
        "try:\n"
        f"    cli.main({args!r}, standalone_mode=False)\n"
        "except BaseException:\n"
        "    pass\n"
        f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    marker = [line for line in result.stdout.splitlines() if line.startswith("LOADED=")]
    assert marker, result.stdout
    assert marker[-1] == "LOADED=", f"{args} imported {marker[-1].removeprefix('LOADED=')}"

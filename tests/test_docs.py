"""The docs match the CLI: every command answers --help with a help text, and every README example parses."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aggregator.cli.main import cli

README = Path(__file__).resolve().parents[1] / "README.md"
SHELL_FENCES = {"", "sh", "bash", "shell"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Operators that end one command of a line (`a && b`, `a | jq`) and redirections that end its arguments (`> f`).
SEPARATORS = {"&&", "||", ";", "|", "&", "|&"}
REDIRECTS = {">", ">>", "<", "<<", ">&", "<&", "&>", "&>>", ">|"}

# README lines (as in the test ids) that do not parse with the current CLI: README.md needs fixing, and the
# strict xfail turns into a failure once it is, so an entry cannot outlive its bug.
KNOWN_BROKEN: dict[str, str] = {}


def walk(
    command: click.Command, path: tuple[str, ...] = (), parent: click.Context | None = None
) -> Iterator[tuple[tuple[str, ...], click.Command | str]]:
    """Yield (path below `aggregator`, command) for the command and, recursively, every subcommand of a group.

    Groups are asked through list_commands/get_command, as click does, since the root group imports its command
    modules lazily. A command whose module fails to import is yielded as the error text, so that one case fails.
    """
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "aggregator", parent=parent)
        for name in command.list_commands(ctx):
            try:
                sub = command.get_command(ctx, name)
            except Exception as exc:  # an import error: reported by the test case of that command
                yield (*path, name), f"{type(exc).__name__}: {exc}"
                continue
            if sub is None:
                yield (*path, name), "listed by list_commands but get_command returns None"
            else:
                yield from walk(sub, (*path, name), ctx)


COMMANDS = list(walk(cli))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(("aggregator", *p)) for p, _ in COMMANDS])
def test_every_command_has_help(path: tuple[str, ...], command: click.Command | str) -> None:
    assert isinstance(command, click.Command), f"aggregator {' '.join(path)}: {command}"
    assert (command.help or "").strip(), f"aggregator {' '.join(path)} has no help text (give it a docstring)"
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="aggregator")
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert result.output.startswith(f"Usage: {' '.join(('aggregator', *path))} "), result.output


def test_the_walk_reaches_nested_commands() -> None:
    # The README leans on subcommands of groups; a walk that stopped at the top would check almost nothing.
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"sources", "sources add", "sources import-opml"} <= names


@dataclass(frozen=True)
class Example:
    """One logical shell line of a README code block and the `aggregator` commands on it."""

    line: str
    lineno: int
    commands: tuple[tuple[str, ...], ...]


def strip_comment(line: str) -> str:
    """Drop a trailing `# comment`: a # that starts a word outside quotes, as the shell reads it (not `a#b`)."""
    quote = ""
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def shell_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, logical line) inside ```sh and bare ``` blocks, with `\\` continuations joined."""
    fence: str | None = None
    pending, start = "", 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = stripped[3:].strip() if fence is None else None
            pending = ""
            continue
        if fence not in SHELL_FENCES:
            continue
        if not pending:
            start = lineno
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        yield start, strip_comment(pending + raw).strip()
        pending = ""


def aggregator_commands(line: str) -> tuple[tuple[str, ...], ...]:
    """The argument lists of every `aggregator` command on a shell line, without pipes, redirections and env."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    found: list[tuple[str, ...]] = []
    words: list[str] = []
    redirected = False
    for token in [*lexer, ";"]:
        if token in SEPARATORS:
            while words and ASSIGNMENT.match(words[0]):
                words.pop(0)
            if words and words[0] == "aggregator":
                found.append(tuple(words[1:]))
            words, redirected = [], False
        elif token in REDIRECTS:
            redirected = True
        elif not redirected:
            words.append(token)
    return tuple(found)


def readme_examples() -> list[Example]:
    """Every README shell line that runs `aggregator`; one per distinct line."""
    examples: dict[str, Example] = {}
    for lineno, line in shell_lines(README.read_text(encoding="utf-8")):
        # Cheap filter first: `data/aggregator.sqlite "SELECT ...` spans lines and is not ours to tokenise.
        if not re.search(r"(^|[\s;&|])aggregator(\s|$)", line) or line in examples:
            continue
        examples[line] = Example(line, lineno, aggregator_commands(line))
    return list(examples.values())


EXAMPLES = readme_examples()


def resolve(args: tuple[str, ...]) -> click.Context:
    """Parse `aggregator ARGS` down to the leaf command, as click would, without invoking anything."""
    command: click.Command = cli
    ctx = cli.make_context("aggregator", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        # Click 8.2+ keeps the subcommand name in _protected_args (its public alias is deprecated; 9.0 folds it
        # into args); getattr keeps this working on both sides of that change.
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            if not command.invoke_without_command:
                ctx.fail("Missing command.")
            break
        name, sub, rest = command.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        command = sub
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
    return ctx


def example_params() -> list[object]:
    params: list[object] = []
    for example in EXAMPLES:
        marks = []
        if example.line in KNOWN_BROKEN:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[example.line]))
        params.append(pytest.param(example, id=example.line, marks=marks))
    return params


@pytest.mark.parametrize("example", example_params())
def test_readme_example_parses(example: Example) -> None:
    assert example.commands, f"README.md:{example.lineno}: no aggregator command found in {example.line!r}"
    for args in example.commands:
        where = f"README.md:{example.lineno}: {example.line}\n  aggregator {shlex.join(args)}"
        try:
            ctx = resolve(args)
        except click.exceptions.Exit as exc:
            # --help, --version or a command that shows its help when called bare: fine if it exits 0.
            assert exc.exit_code == 0, f"{where}: exits {exc.exit_code}"
            continue
        except click.BadParameter as exc:
            # A file the example names lives on the reader's machine, not here; anything else is a README bug.
            if exc.param is not None and isinstance(exc.param.type, click.Path | click.File):
                continue
            pytest.fail(f"{where}: {exc.format_message()}")
        except click.ClickException as exc:
            pytest.fail(f"{where}: {exc.format_message()}")
        assert not ctx.args, f"{where}: unexpected arguments {ctx.args}"


def test_readme_examples_were_found() -> None:
    # A changed fence style or a broken block parser would otherwise leave nothing to check and pass.
    assert len(EXAMPLES) >= 20
    assert any(args[:2] == ("sources", "add") for example in EXAMPLES for args in example.commands)


def test_known_broken_lines_are_still_in_the_readme() -> None:
    lines = {example.line for example in EXAMPLES}
    assert not set(KNOWN_BROKEN) - lines, "README line fixed or reworded: drop it from KNOWN_BROKEN"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("aggregator crawl -s x    # fetch one", (("crawl", "-s", "x"),)),
        ("aggregator export -q x | jq -r 'select(.a == \"b\") | .t'", (("export", "-q", "x"),)),
        ("aggregator stats --format csv > volume.csv", (("stats", "--format", "csv"),)),
        ("pip install -e . && aggregator demo", (("demo",),)),
        ("aggregator train && aggregator tag --all", (("train",), ("tag", "--all"))),
        ("TOKEN=s aggregator serve", (("serve",),)),
        ("aggregator sources add https://x.org/#top", (("sources", "add", "https://x.org/#top"),)),
    ],
)
def test_shell_line_splitting(line: str, expected: tuple[tuple[str, ...], ...]) -> None:
    assert aggregator_commands(strip_comment(line)) == expected


def test_resolve_rejects_what_click_rejects() -> None:
    # The README check is only as strict as resolve(): each of these must fail as the real CLI would.
    for args in (("no-such-command",), ("digest", "--no-such-option"), ("digest", "--format", "docx"), ("sources",)):
        with pytest.raises(click.UsageError):
            resolve(args)
    assert resolve(("sources", "add", "https://example.org/")).command.name == "add"

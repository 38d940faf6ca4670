"""The `init` command: write an editable copy of the shipped configuration and say what to edit first."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from aggregator.config.settings import PACKAGED_CONFIG
from aggregator.errors import ConfigError

FILES: tuple[str, ...] = ("settings.toml", "sources.toml", "topics.toml")
FILES += ("watches.toml",)  # documented, with no watch: `aggregator watch add` fills it


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path), default="config")
@click.option("--force", is_flag=True, help="Replace files that already exist there.")
def init(directory: Path, force: bool) -> None:
    """Write settings.toml, sources.toml and topics.toml to DIRECTORY (default ./config) to edit."""
    existing = [directory / name for name in FILES if (directory / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"init: {', '.join(str(p) for p in existing)} already exist(s); nothing written (--force replaces them)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(PACKAGED_CONFIG / name, directory / name)
    click.echo(f"wrote {', '.join(str(directory / name) for name in FILES)}")
    click.echo("edit first:")
    click.echo(f"  {directory / 'settings.toml'}: timezone (yours), [digest] time and [mail] (where the digest goes)")
    click.echo(f"  {directory / 'sources.toml'}: the outlets you follow (or: aggregator sources add URL)")
    click.echo(f"  {directory / 'topics.toml'}: the topics of your beat and their words, in each language")
    hint = "" if directory == Path("config") else f"--config {directory} "
    click.echo(f"then: aggregator {hint}crawl   (data goes to {(directory.resolve().parent / 'data')})")

"""The `aggregator` command line: the root group, every command group added to it, one clear line on any error."""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from pathlib import Path

import click

from aggregator.errors import AggregatorError

# Each command: (module, attribute, short help). The module is imported only when the command runs or its own
# --help is asked for, so `aggregator --help` and argument errors import no database, Scrapy or scikit-learn
# (tests/test_cli_lazy.py holds the short help to the command's docstring).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "crawl": ("aggregator.cli.crawl", "crawl", "Crawl the sources that are due (or the named ones) once."),
    "demo": ("aggregator.cli.demo", "demo", "Run the whole pipeline offline on sample outlets served from 127.0.0.1."),
    "digest": ("aggregator.cli.digest", "digest", "Build the digest of the stories first seen since the previous one."),
    "entities": ("aggregator.cli.entities", "entities", "List the most mentioned entities, with their item counts."),
    "evaluate": ("aggregator.cli.topics", "evaluate", "Measure the classifier on labelled data."),
    "explain": ("aggregator.cli.topics", "explain", "Show why ITEM_ID has (or lacks) each topic."),
    "export": ("aggregator.cli.export", "export", "Export every stored item, or those matching QUERY."),
    "init": ("aggregator.cli.init", "init", "Write settings.toml, sources.toml and topics.toml to DIRECTORY."),
    "label": ("aggregator.cli.topics", "label", "Record whether ITEM_ID is about a topic."),
    "run": ("aggregator.cli.run", "run", "Run unattended: poll due sources, build (and mail) the daily digest."),
    "search": ("aggregator.cli.search", "search", "Search the stored items with the query language."),
    "serve": ("aggregator.cli.serve", "serve", "Serve the web app."),
    "snapshot": ("aggregator.cli.snapshot", "snapshot", "Show ITEM_ID's captured versions and where they are."),
    "sources": ("aggregator.cli.sources", "sources", "Inspect, add, test, enable and disable sources."),
    "stats": ("aggregator.cli.stats", "stats", "Count items, or those matching QUERY, per period in your timezone."),
    "status": ("aggregator.cli.run", "status", "The scheduler's jobs and next runs, the last crawl, the last digest."),
    "tag": ("aggregator.cli.topics", "tag", "Tag stored items by topic (untagged ones, or --all after a retrain)."),
    "topics": ("aggregator.cli.topics", "topics", "List the topics of topics.toml (and check the file)."),
    "trace": ("aggregator.cli.trace", "trace", "Trace a text to the stored items its claims could rest on."),
    "train": ("aggregator.cli.topics", "train", "Retrain the classifier on the seed examples plus every stored label."),
    "watch": ("aggregator.cli.watch", "watch", "Add, list, test and remove watches: alerts on new matches."),
    "worker": ("aggregator.cli.worker", "worker", "Crawl batches of due sources from the distributed queue."),
}


class LazyGroup(click.Group):
    """The root group: commands are listed from COMMANDS and imported on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGGREGATOR_CONFIG",
    show_default="$AGGREGATOR_CONFIG, else ./config if it exists, else the configuration shipped in the package",
    help="Directory holding settings.toml, sources.toml and topics.toml (`aggregator init` writes one).",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (default: $AGGREGATOR_DATABASE_URL, "
    "then settings.toml, then an SQLite file in the data directory).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more, and show tracebacks on errors.")
@click.version_option(package_name="beat-aggregator")
@click.pass_context
def cli(ctx: click.Context, config_dir: Path | None, db_url: str | None, verbose: bool) -> None:
    """Follow the cartel, terrorism and border-security beat across outlets, in English and Spanish."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    # Here, not at the top: start-up (see COMMANDS).
    from aggregator.config.settings import find_config_dir
    from aggregator.services.context import Context

    ctx.obj = Context(config_dir=find_config_dir(config_dir), db_url=db_url, verbose=verbose)


def main() -> None:
    """Entry point: run the CLI, turning errors into one line and an exit code."""
    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except AggregatorError as exc:
        if verbose:
            traceback.print_exc()
        click.echo("error: " + " ".join(str(exc).split()), err=True)  # always one line
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, traceback only on request
        if verbose:
            traceback.print_exc()
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run with --verbose for details)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

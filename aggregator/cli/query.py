"""Commands that take a QUERY: it may begin with "-", and a malformed one is shown with a caret under the problem."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import click

from aggregator.classify.topics import TopicSet
from aggregator.search.query import QueryError
from aggregator.services.context import Context

QUERY_ERROR_EXIT = 2


class QueryCommand(click.Command):
    """A command whose QUERY may begin with "-", the query language's NOT ('-topic:nexus cartel').

    Click would take such a QUERY for an unknown option; an argument that starts with "-" and is none of the
    command's options is moved behind a "--" instead, so it reaches QUERY as typed.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._query_last(ctx, args))

    def _query_last(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:  # the user already said where the options end
            return args
        takes_value: set[str] = set()
        known: set[str] = set()
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                names = [*param.opts, *param.secondary_opts]
                known.update(names)
                if not param.is_flag and not param.count:
                    takes_value.update(names)
        out: list[str] = []
        query: str | None = None
        values = iter(args)
        for arg in values:
            if arg in takes_value:
                out.append(arg)
                value = next(values, None)
                if value is not None:
                    out.append(value)
            elif query is None and arg.startswith("-") and len(arg) > 1 and arg.split("=", 1)[0] not in known:
                query = arg
            else:
                out.append(arg)
        return out if query is None else [*out, "--", query]


def query_topics(obj: Context) -> TopicSet | None:
    """The topics a QUERY may name besides the stored tags (cross-topics such as nexus): None without topics.toml."""
    return obj.topics() if (obj.config_dir / "topics.toml").exists() else None


@contextmanager
def query_errors() -> Iterator[None]:
    """Turn a QueryError into the query, a caret under the problem and the message on stderr, and exit 2."""
    try:
        yield
    except QueryError as exc:
        pointer = textwrap.indent(exc.pointer(), "  ")
        click.echo(f"{pointer}\nerror: {' '.join(str(exc).split())}", err=True)
        sys.exit(QUERY_ERROR_EXIT)

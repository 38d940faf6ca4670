"""What commands share on the way in: the service context they are handed and the local-day option."""

from __future__ import annotations

from datetime import date

import click

from aggregator.services.context import Context

pass_ctx = click.make_pass_decorator(Context)


def parse_day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Click callback for options that take a local day (YYYY-MM-DD)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-25") from exc

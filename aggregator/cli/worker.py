"""The `worker` command: crawl batches from the distributed queue (Celery over RabbitMQ) into PostgreSQL."""

from __future__ import annotations

import click

from aggregator.cli.options import pass_ctx
from aggregator.distributed.worker import run as run_worker
from aggregator.schedule.scheduler import configure_logging
from aggregator.services.context import Context


@click.command()
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Batches crawled at once (each in a crawl process of its own).")  # fmt: skip
@click.option("--log-format", type=click.Choice(["plain", "json"]), help="Log lines as text or JSON objects.")
@pass_ctx
def worker(obj: Context, concurrency: int, log_format: str | None) -> None:
    """Crawl batches of due sources from the distributed queue; run one or more on any machine with the same
    config, database URL and broker URL (see `aggregator run --distributed`)."""
    configure_logging(log_format or obj.settings.schedule.log_format, verbose=obj.verbose, zone=obj.settings.zone)
    run_worker(obj, concurrency, loglevel="DEBUG" if obj.verbose else "INFO")

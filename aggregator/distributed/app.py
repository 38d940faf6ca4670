"""The Celery application, built from settings; Celery is imported here only, and only when distributed mode runs."""

from __future__ import annotations

import importlib
from typing import Any

from aggregator.config.settings import Settings
from aggregator.errors import DistributedError
from aggregator.store.database import Database

INSTALL = "pip install 'beat-aggregator[distributed]'"
TASK_NAME = "aggregator.crawl_batch"


def require_celery() -> Any:
    """The celery module, or a DistributedError that says in one line what to install."""
    try:
        celery = importlib.import_module("celery")
        importlib.import_module("kombu")
    except ImportError as exc:
        raise DistributedError(f"distributed: Celery is not installed ({exc.name or exc}); run: {INSTALL}") from None
    return celery


def require_postgresql(db_url: str) -> None:
    """Workers and the scheduler share one database and lock hosts in it: SQLite cannot be that database."""
    if not db_url.startswith("postgresql"):
        scheme = db_url.split(":", 1)[0] or "sqlite"
        raise DistributedError(
            f"distributed: needs PostgreSQL, the database is {scheme}; set database_url in settings.toml or "
            "AGGREGATOR_DATABASE_URL (or --db) to a postgresql+psycopg:// URL"
        )


def open_database(db_url: str) -> Database:
    require_postgresql(db_url)
    return Database(db_url)


def make_app(settings: Settings) -> Any:
    """A Celery app for the `[distributed]` settings: no result backend (tasks write to the database themselves),
    acknowledged late and one message prefetched at a time, so a killed worker's batch is delivered again."""
    celery = require_celery()
    dist = settings.distributed
    app = celery.Celery("aggregator", broker=dist.resolved_broker_url, set_as_current=False)
    app.conf.update(
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=dist.queue,
        task_serializer="json",
        accept_content=["json"],
        # Keep trying the broker for ever: a RabbitMQ restart must not end a worker.
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,  # the CLI configured logging (plain or JSON) already
        worker_redirect_stdouts=False,
        enable_utc=True,
    )
    return app

"""The `workers` table: one row per distributed crawl worker process, with its last heartbeat (issue #16)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class Worker(Base):
    """A worker process (`aggregator worker`): where it runs, when it was last heard from, what it has done."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # host name and pid: "crawler-3:4121"
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    concurrency: Mapped[int]
    queue: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
    batches_done: Mapped[int] = mapped_column(default=0)
    batches_retried: Mapped[int] = mapped_column(default=0)  # put back because another worker held a host
    current: Mapped[str | None] = mapped_column(Text)  # the batch it is crawling now, if any

"""The `captures` table: where each fetched feed body and article page lies in the WARC files, as captured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.models.base import Base


class Capture(Base):
    """One response record (or the failure to write it): its WARC file, offset and length, digest and time.

    `item_id` is set for article pages; a feed body is found through its source and time. `warc_file` is relative
    to the data directory, and None (with `error` set) when the record could not be written (a full disk).
    """

    __tablename__ = "captures"
    __table_args__ = (
        Index("ix_captures_item_id", "item_id"),
        Index("ix_captures_source_captured", "source_id", "captured_at"),
        Index("ix_captures_warc_file", "warc_file"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "feed" (feed, sitemap or listing body) or "page"
    source_id: Mapped[str | None] = mapped_column(ForeignKey("sources.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(Text)
    captured_at: Mapped[datetime]
    http_status: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(Text)
    warc_file: Mapped[str | None] = mapped_column(String(255))
    offset: Mapped[int | None] = mapped_column(BigInteger)
    length: Mapped[int | None] = mapped_column(BigInteger)
    digest: Mapped[str | None] = mapped_column(String(80))  # the WARC-Payload-Digest, "sha1:BASE32"
    error: Mapped[str | None] = mapped_column(Text)

"""WARC files of captured HTTP exchanges: writing records (gzip, rotated by size), pruning old files, reading back."""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import secrets
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from aggregator.config.settings import CaptureSettings
from aggregator.errors import CaptureError

CAPTURE_DIR = "captures"  # under the data directory; index rows name files relative to the data directory
SOFTWARE = "beat-aggregator"
MB = 1024 * 1024
# Scrapy hands over the body de-chunked: a stored Transfer-Encoding would make readers de-chunk it again.
_DROPPED_HEADERS = {"transfer-encoding"}


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its response, as the crawler sent and received them (the body still content-encoded)."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    protocol: str
    response_headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Written:
    """Where a response record went: its file (relative to the data directory), offset and length, and digest."""

    warc_file: str
    offset: int
    length: int
    digest: str


@dataclass(frozen=True)
class Captured:
    """A response record read back: status, headers and the body decoded as a browser would (gzip undone)."""

    url: str
    date: str
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def content_type(self) -> str:
        return next((value for name, value in self.headers if name.lower() == "content-type"), "")


def payload_digest(body: bytes) -> str:
    """The WARC-Payload-Digest of a body, as web archives write it: "sha1:" and the base32 SHA-1."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def describe_os_error(exc: OSError) -> str:
    """ "No space left on device (ENOSPC)": the system's words and the error's name."""
    name = errno.errorcode.get(exc.errno or 0)
    words = exc.strerror or str(exc) or type(exc).__name__
    return f"{words} ({name})" if name else words


class WarcWriter:
    """Appends gzip-compressed response and request records to WARC files under `data_path`/captures.

    A file is begun with a warcinfo record and closed once the next exchange would take it past
    `max_file_mb`. A write that fails (a full disk, a file-size limit) is cut off the file again, so the file
    stays readable, and raises CaptureError with one line; the next write tries again.
    """

    def __init__(self, data_path: Path, settings: CaptureSettings, *, now: datetime | None = None) -> None:
        self.data_path = data_path
        self.directory = data_path / CAPTURE_DIR
        self.max_bytes = max(1, int(settings.max_file_mb * MB))
        # The time first, so names sort oldest first; then a token of this writer's own (a crawl process runs one
        # per spider, and two must never append to one file).
        self.stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        self.sequence = 0
        self.current: str | None = None  # relative to the data directory
        self._fd: int | None = None
        self._size = 0

    def write(self, exchange: Exchange, captured_at: datetime) -> Written:
        """Write the exchange's response (then request) record; returns where the response record lies."""
        digest = payload_digest(exchange.body)
        response, request = _records(exchange, captured_at, digest)
        if self._fd is None or (self._size > 0 and self._size + len(response) + len(request) > self.max_bytes):
            self._begin_file(captured_at)
        assert self._fd is not None and self.current is not None
        offset = self._size
        self._append(response + request)
        return Written(self.current, offset, len(response), digest)

    def files_written(self) -> set[str]:
        return {self.current} if self.current else set()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._size = None, 0

    def _begin_file(self, now: datetime) -> None:
        self.close()
        self.sequence += 1
        name = f"capture-{self.stamp}-{self.sequence:05d}.warc.gz"
        path = self.directory / name
        self.current = f"{CAPTURE_DIR}/{name}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            self._fd = None
            raise CaptureError(f"capture: cannot open {self.current}: {describe_os_error(exc)}") from exc
        self._size = os.fstat(self._fd).st_size
        buffer = BytesIO()
        writer = WARCWriter(buffer, gzip=True, warc_version="1.1")
        info = {"software": SOFTWARE, "format": "WARC File Format 1.1", "isPartOf": "beat-aggregator captures"}
        writer.write_record(writer.create_warcinfo_record(name, info))
        self._append(buffer.getvalue())

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        start, done = self._size, 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            try:
                os.ftruncate(self._fd, start)  # never leave half a record: every later one would be unreadable
            except OSError:
                self.close()  # the file cannot be trusted: the next write begins another one
            raise CaptureError(f"capture: cannot write {self.current}: {describe_os_error(exc)}") from exc
        self._size = start + len(data)


def _records(exchange: Exchange, captured_at: datetime, digest: str) -> tuple[bytes, bytes]:
    """The gzip-compressed response and request records of one exchange."""
    buffer = BytesIO()
    writer = WARCWriter(buffer, gzip=True, warc_version="1.1")
    date = captured_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        reason = HTTPStatus(exchange.status).phrase
    except ValueError:
        reason = "Unknown"
    headers = [(k, v) for k, v in exchange.response_headers if k.lower() not in _DROPPED_HEADERS]
    http_headers = StatusAndHeaders(f"{exchange.status} {reason}", headers, protocol=exchange.protocol)
    response = writer.create_warc_record(
        exchange.url,
        "response",
        payload=BytesIO(exchange.body),
        length=len(exchange.body),
        warc_headers_dict={"WARC-Date": date, "WARC-Payload-Digest": digest},
        http_headers=http_headers,
    )
    writer.write_record(response)
    response_bytes = buffer.getvalue()
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_headers = [("Host", parts.netloc), *[(k, v) for k, v in exchange.request_headers if k.lower() != "host"]]
    request = writer.create_warc_record(
        exchange.url,
        "request",
        warc_headers_dict={
            "WARC-Date": date,
            "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
        },
        http_headers=StatusAndHeaders(
            f"{exchange.method} {target} HTTP/1.1", request_headers, is_http_request=True, protocol=""
        ),
    )
    writer.write_record(request)
    return response_bytes, buffer.getvalue()[len(response_bytes) :]


def prune(
    data_path: Path, settings: CaptureSettings, *, now: datetime, keep: AbstractSet[str] = frozenset()
) -> list[str]:
    """Remove WARC files older than keep_days, then the oldest while the total passes max_total_mb (never those in
    `keep`, the files being written). Returns the removed files, relative to the data directory."""
    directory = data_path / CAPTURE_DIR
    if not directory.is_dir() or not (settings.keep_days or settings.max_total_mb):
        return []
    files = []
    for path in sorted(directory.glob("*.warc.gz")):  # names begin with the UTC time: oldest first
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((f"{CAPTURE_DIR}/{path.name}", path, stat.st_size, stat.st_mtime))
    removed: list[str] = []
    cutoff = (now - timedelta(days=settings.keep_days)).timestamp() if settings.keep_days else None
    total = sum(size for _, _, size, _ in files)
    limit = settings.max_total_mb * MB if settings.max_total_mb else None
    for name, path, size, mtime in files:
        if name in keep:
            continue
        too_old = cutoff is not None and mtime < cutoff
        too_much = limit is not None and total > limit
        if not (too_old or too_much):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(name)
    return removed


def read_record(data_path: Path, warc_file: str, offset: int, length: int) -> Captured:
    """The response record at `offset` of `warc_file`, read with warcio; CaptureError when it is gone or damaged."""
    path = data_path / warc_file
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        for record in ArchiveIterator(BytesIO(data)):
            if record.rec_type != "response":
                break
            status = record.http_headers.statusline if record.http_headers else ""
            headers = list(record.http_headers.headers) if record.http_headers else []
            body = record.content_stream().read()
            return Captured(
                url=record.rec_headers.get_header("WARC-Target-URI") or "",
                date=record.rec_headers.get_header("WARC-Date") or "",
                status_line=status,
                headers=headers,
                body=body,
            )
    except OSError as exc:
        raise CaptureError(f"capture: cannot read {warc_file}: {describe_os_error(exc)}") from exc
    except Exception as exc:  # warcio raises plain exceptions on a damaged record
        raise CaptureError(f"capture: {warc_file} at offset {offset} is not a readable WARC record: {exc}") from exc
    raise CaptureError(f"capture: {warc_file} has no response record at offset {offset}")

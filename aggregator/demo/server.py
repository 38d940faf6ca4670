"""A small static site server on 127.0.0.1 for the demo: fills in placeholders, answers conditional GETs."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_PLACEHOLDER = re.compile(rb"@@(BASE|RFC822|ISO)(?::(-?\d+)([mhd]))?@@")
_UNIT = {b"m": 60, b"h": 3600, b"d": 86400}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/feed+json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
}
NAMED_TYPES = {
    "feed.xml": "application/rss+xml",
    "atom.xml": "application/atom+xml",
    "default": "application/atom+xml; charset=utf-8",
}


def render(body: bytes, base: str, anchor: datetime) -> bytes:
    """Replace @@BASE@@, @@RFC822:-5h@@ and @@ISO:-2d@@ (times relative to `anchor`)."""

    def fill(match: re.Match[bytes]) -> bytes:
        kind = match.group(1)
        if kind == b"BASE":
            return base.encode()
        offset = int(match.group(2) or 0) * _UNIT.get(match.group(3) or b"m", 60)
        when = anchor + timedelta(seconds=offset)
        if kind == b"RFC822":
            return format_datetime(when, usegmt=True).encode()
        return when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()

    return _PLACEHOLDER.sub(fill, body)


class SiteServer:
    """Serves `root` at http://127.0.0.1:PORT in a background thread (`with SiteServer(root) as s:`)."""

    def __init__(self, root: Path, *, anchor: datetime | None = None, port: int = 0) -> None:
        self.root = root.resolve()
        self.anchor = (anchor or datetime.now(UTC)).replace(second=0, microsecond=0)
        self.requests: list[str] = []
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> SiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SiteServer:
        return self.__enter__()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                return

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                server.requests.append(self.path)
                path = unquote(urlsplit(self.path).path).lstrip("/")
                target = (server.root / path).resolve()
                if target.is_dir():
                    target = target / "index.html"
                if server.root not in target.parents or not target.is_file():
                    self._send(404, b"not found", "text/plain")
                    return
                body = render(target.read_bytes(), server.base, server.anchor)
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                modified = format_datetime(server.anchor, usegmt=True)
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", None, etag=etag, modified=modified)
                    return
                ctype = NAMED_TYPES.get(target.name) or CONTENT_TYPES.get(target.suffix, "application/octet-stream")
                self._send(200, body, ctype, etag=etag, modified=modified)

            def _send(
                self,
                status: int,
                body: bytes,
                ctype: str | None,
                *,
                etag: str | None = None,
                modified: str | None = None,
            ) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                if etag:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", modified or "")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        return Handler

"""A scriptable HTTP server on 127.0.0.1 for tests: routes return bodies, statuses, stalls and floods (POSTs logged)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Reply:
    """What a route answers. `body` may be an iterable of chunks (streamed, optionally slowly)."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/rss+xml"
    etag: bool = False  # answer If-None-Match with 304 using a hash of the body
    chunk_delay: float = 0.0
    length: int | None = None  # Content-Length to announce when streaming


Route = Callable[["Request"], Reply]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""  # a POST's


class TestServer:
    """`with TestServer() as srv: srv.add("/feed", Reply(body=...)); srv.url("/feed")`. `host` may be another
    loopback address (127.0.0.2) to stand for a second machine."""

    __test__ = False  # not a pytest test class

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[Request] = []
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, reply: Reply | Route) -> str:
        self.routes[path] = reply if callable(reply) else (lambda _req, r=reply: r)
        return self.url(path)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.log if urlsplit(r.path).path == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802
                self._answer(Request(self.path, {k.lower(): v for k, v in self.headers.items()}))

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, "POST", body))

            def _answer(self, request: Request) -> None:
                server.log.append(request)
                route = server.routes.get(self.path) or server.routes.get(urlsplit(self.path).path)
                if route is None:
                    self._plain(404, b"not found")
                    return
                reply = route(request)
                if reply.status == -1:  # accept the connection, never answer
                    server._stop.wait(60)
                    return
                self._serve(reply, request)

            def _plain(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _serve(self, reply: Reply, request: Request) -> None:
                body = reply.body
                headers = dict(reply.headers)
                if isinstance(body, bytes) and reply.etag:
                    tag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
                    headers["ETag"] = tag
                    if request.headers.get("if-none-match") == tag:
                        self.send_response(304)
                        self.send_header("ETag", tag)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for key, value in headers.items():
                    self.send_header(key, value)
                try:
                    if isinstance(body, bytes):
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    if reply.length is not None:
                        self.send_header("Content-Length", str(reply.length))
                    else:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in body:
                        if server._stop.is_set():
                            return
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    return

        return Handler

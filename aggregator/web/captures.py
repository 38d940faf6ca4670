"""The captured body of a page or feed, as the outlet served it: plain text under a CSP that runs nothing."""

from __future__ import annotations

import codecs
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from starlette.responses import Response

from aggregator.errors import CaptureError
from aggregator.models import Capture
from aggregator.store.warc import Captured, read_record
from aggregator.text import show_controls
from aggregator.web.context import Ctx, Db

router = APIRouter(include_in_schema=False)

# Never the outlet's live HTML: text/plain, sniffing off, and a sandbox in case a browser renders it anyway.
CAPTURE_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
CaptureId = Annotated[int, PathParam(gt=0, le=2**31 - 1)]


@router.get("/captures/{capture_id}")
def captured_body(ctx: Ctx, session: Db, capture_id: CaptureId) -> Response:
    """The capture's response line, headers and body, as text."""
    row = session.get(Capture, capture_id)
    if row is None:
        raise HTTPException(404, f"no capture with id {capture_id}")
    if row.warc_file is None or row.offset is None or row.length is None:
        raise HTTPException(410, f"capture {capture_id} is not available: {row.error}")
    try:
        captured = read_record(ctx.settings.data_path, row.warc_file, row.offset, row.length)
    except CaptureError as exc:
        raise HTTPException(410, str(exc)) from exc
    headers = {
        "Content-Security-Policy": CAPTURE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="capture-{capture_id}.txt"',
    }
    return Response(as_text(captured, row), media_type="text/plain; charset=utf-8", headers=headers)


def as_text(captured: Captured, row: Capture) -> str:
    """A header saying what this is, then the response as received (controls shown as escapes)."""
    lead = [
        f"Captured {row.captured_at:%Y-%m-%d %H:%M:%S} UTC from {captured.url}",
        f"{row.warc_file} offset {row.offset} length {row.length} {row.digest}",
        "",
        captured.status_line,
        *(f"{name}: {value}" for name, value in captured.headers),
        "",
    ]
    body = captured.body.decode(_charset(captured.content_type), errors="replace")
    return show_controls("\n".join(lead)) + "\n" + show_controls(body)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip('"').lower()
            try:
                codecs.lookup(name)
            except LookupError:
                break
            return name
    return "utf-8"

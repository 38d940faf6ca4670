"""A trace as plain text (a terminal), Markdown, an HTML page or JSON; every string from a feed or the text escaped."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined

from aggregator.parse.dates import bounded
from aggregator.text import show_controls, show_controls_in_template
from aggregator.trace.tracing import Cited, ClaimTrace, Match, Trace

FORMATS = ("text", "md", "html", "json")
NOTHING = "nothing in the collection matches this claim"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|!~<>])")


def render_trace(trace: Trace, fmt: str, zone: ZoneInfo) -> str:
    """`trace` in `fmt` (text | md | html | json); times in `zone`, UTC in JSON."""
    if fmt == "json":
        return json.dumps(as_json(trace), ensure_ascii=False, indent=2)
    if fmt == "html":
        return _HTML.render(trace=trace, zone=zone.key, nothing=NOTHING)
    if fmt not in ("text", "md"):
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    md = fmt == "md"
    esc = _md if md else _line
    out = [("# Trace\n\n" if md else "") + esc(_heading(trace))]
    named = ", ".join(_outlet(n.name, n.source_ids, esc) for n in trace.named) or "none"
    out.append(("**Outlets the text names:** " if md else "outlets the text names: ") + named)
    for number, claim in enumerate(trace.claims, start=1):
        out.append(_claim_md(number, claim, zone) if md else _claim_text(number, claim, zone))
    return "\n\n".join(out) + "\n"


def _heading(trace: Trace) -> str:
    scope = f", within {trace.scope}" if trace.scope else ""
    cut = " (the text was cut: only its beginning was traced)" if trace.truncated else ""
    claims = f"{len(trace.claims)} claim{'s' if len(trace.claims) != 1 else ''}"
    return f"{claims} traced against {trace.items:,} stored items{scope}, in English and Spanish{cut}"


def _outlet(name: str, source_ids: tuple[str, ...], esc: Any) -> str:
    return f"{esc(name)} ({esc(', '.join(source_ids)) if source_ids else 'not a configured source'})"


def _cited_verdict(cited: Cited) -> str:
    if cited.own is None:
        return "its items cannot be checked"
    if not cited.own:
        return "none of its items matches this claim"
    ids = ", ".join(str(m.item_id) for m in cited.own)
    return f"its own items match: {ids}"


def _when(match: Match, zone: ZoneInfo) -> str:
    return bounded(match.published_at).astimezone(zone).strftime("%Y-%m-%d %H:%M") if match.published_at else "-"


def _claim_text(number: int, claim: ClaimTrace, zone: ZoneInfo) -> str:
    lines = textwrap.wrap(f"[{number}] {_line(claim.text)}", width=110, subsequent_indent="    ")
    for cited in claim.cited:
        lines.append(f"    cites {_outlet(cited.name, cited.source_ids, _line)}: {_cited_verdict(cited)}")
    if not claim.matches:
        lines.append(f"    {NOTHING}")
    for rank, match in enumerate(claim.matches, start=1):
        head = (
            f"{_when(match, zone)}  {_line(match.source_name)} [{_line(match.language or '?')}]  {_line(match.title)}"
        )
        lines.append(f"    {rank}. {match.score:.2f}  {head}  (item {match.item_id})")
        lines += textwrap.wrap(f"“{_line(match.quote)}”", width=110, initial_indent=" " * 7, subsequent_indent=" " * 8)
        lines.append(f"       {_line(match.url)}")
        if match.captured_at is not None:
            when = bounded(match.captured_at).astimezone(zone).strftime("%Y-%m-%d %H:%M")
            lines.append(f"       as captured on {when}: aggregator snapshot {match.item_id}")
    return "\n".join(lines)


def _claim_md(number: int, claim: ClaimTrace, zone: ZoneInfo) -> str:
    lines = [f"## {number}. {_md(claim.text)}", ""]
    for cited in claim.cited:
        lines.append(f"- cites {_outlet(cited.name, cited.source_ids, _md)}: {_cited_verdict(cited)}")
    if not claim.matches:
        lines.append(f"*{NOTHING}*")
    for rank, match in enumerate(claim.matches, start=1):
        lines.append(
            f"{rank}. [{_md(match.title)}](<{_md_url(match.url)}>) — {_md(match.source_name)}, "
            f"{_md(match.language or '?')}, {_when(match, zone)} ({zone.key}), score {match.score:.2f}  \n"
            f"   > {_md(match.quote)}"
        )
        if match.captured_at is not None:
            when = bounded(match.captured_at).astimezone(zone).strftime("%Y-%m-%d %H:%M")
            lines.append(f"   as captured on {when} (`aggregator snapshot {match.item_id}`)")
    return "\n".join(lines)


def _line(text: str) -> str:
    """One line for a terminal: control characters and bidi overrides shown as escapes, never obeyed."""
    return show_controls(text, breaks=True)


def _md(text: str) -> str:
    """Markdown-escaped: a feed's words never become links, emphasis or HTML."""
    return _MD_SPECIAL.sub(r"\\\1", _line(text))


def _md_url(url: str) -> str:
    return re.sub(r"[\s<>]", lambda m: f"%{ord(m.group()):02X}", _line(url))


# --- JSON ------------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return bounded(value).astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def match_json(match: Match) -> dict[str, Any]:
    return {
        "item_id": match.item_id, "url": match.url, "source_id": match.source_id, "source_name": match.source_name,
        "title": match.title, "published_at": _iso(match.published_at), "language": match.language,
        "score": match.score, "quote": match.quote, "captured_at": _iso(match.captured_at),
        "capture_url": match.capture_url,
    }  # fmt: skip


def as_json(trace: Trace) -> dict[str, Any]:
    """The trace as JSON values: `claims`, each with `text`, `cited` and `matches` (times in UTC)."""
    return {
        "claims": [
            {
                "text": claim.text,
                "paragraph": claim.paragraph,
                "cited": [
                    {
                        "name": c.name,
                        "source_id": c.source_id,
                        "source_ids": list(c.source_ids),
                        "own_matches": None if c.own is None else [match_json(m) for m in c.own],
                    }
                    for c in claim.cited
                ],  # fmt: skip
                "matches": [match_json(m) for m in claim.matches],
            }
            for claim in trace.claims
        ],
        "named": [{"name": n.name, "source_id": n.source_id, "source_ids": list(n.source_ids)} for n in trace.named],
        "scope": trace.scope,
        "items": trace.items,
        "truncated": trace.truncated,
    }


# --- HTML ------------------------------------------------------------------------------------------------------


def _local(value: datetime | None, zone: str) -> str:
    return bounded(value).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z") if value else "-"


def _href(url: str) -> str:
    return url if re.match(r"^https?://", url or "", re.IGNORECASE) else ""


_ENV = Environment(autoescape=True, finalize=show_controls_in_template, undefined=StrictUndefined)
_ENV.filters.update(local=_local, href=_href, verdict=_cited_verdict)
# One page, no scripts, no styles from elsewhere; autoescape on: every value from the text or a feed is escaped.
_HTML = _ENV.from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Trace</title>
<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:1em auto;padding:0 1em;line-height:1.45}
blockquote{margin:.3em 0 .3em 1em;color:#333;border-left:3px solid #ccc;padding-left:.6em}.muted{color:#666}
li{margin-bottom:.6em}</style></head><body>
<h1>Trace</h1>
<p class="muted">{{ trace.claims|length }} claims traced against {{ "{:,}".format(trace.items) }} stored items
{%- if trace.scope %}, within <code>{{ trace.scope }}</code>{% endif %}, in English and Spanish;
times in {{ zone }}.</p>
<p>Outlets the text names:
{% for n in trace.named %}{{ n.name }} ({{ n.source_ids|join(", ") or "not a configured source" }})
{%- if not loop.last %}, {% endif %}{% else %}none{% endfor %}</p>
{% for claim in trace.claims %}
<section class="claim"><h2>{{ loop.index }}. {{ claim.text }}</h2>
{% for c in claim.cited %}
<p class="cited">cites {{ c.name }} ({{ c.source_ids|join(", ") or "not a configured source" }}):
{{ c|verdict }}</p>
{% endfor %}
{% if not claim.matches %}<p class="nothing"><em>{{ nothing }}</em></p>{% else %}<ol>
{% for m in claim.matches %}
<li>{% if m.url|href %}<a href="{{ m.url|href }}" rel="noopener noreferrer nofollow">{{ m.title }}</a>
{%- else %}{{ m.title }}{% endif %}
<span class="muted">{{ m.source_name }} · {{ m.language or "?" }} · {{ m.published_at|local(zone) }}
· score {{ "%.2f"|format(m.score) }}</span>
<blockquote>{{ m.quote }}</blockquote></li>
{% endfor %}</ol>{% endif %}
</section>
{% endfor %}
</body></html>
"""
)

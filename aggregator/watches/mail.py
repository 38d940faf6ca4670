"""The mail channel: one message per batch, listing every match with its outlet, time and link (text + HTML)."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime, tzinfo
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from aggregator.config.watches import WatchConfig
from aggregator.digest.mail import MailSettings, build_message, send_message
from aggregator.text import show_controls
from aggregator.watches.alerts import Alert

ALERT_PREFIX = "[beat alert]"


def subject(watch: WatchConfig, alerts: Sequence[Alert]) -> str:
    if len(alerts) == 1:
        return f"{watch.id}: {show_controls(alerts[0].title, breaks=True)}"
    return f"{watch.id}: {len(alerts)} new matches"


def text_body(watch: WatchConfig, alerts: Sequence[Alert], zone: tzinfo) -> str:
    """Plain text; control characters from feeds are shown as escapes, never passed to the reader's terminal."""
    lines = [f"Watch {watch.id}: {show_controls(watch.query, breaks=True)}", ""]
    for alert in alerts:
        when = alert.when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        lines.append(f"- {show_controls(alert.title, breaks=True)}")
        lines.append(f"  {show_controls(alert.outlet, breaks=True)}, {when}")
        lines.append(f"  {show_controls(alert.url, breaks=True)}")
    return "\n".join(lines) + "\n"


def _link(url: str) -> Markup:
    # Only web links become links: a feed's javascript: or data: URL is shown as text.
    if urlsplit(url).scheme in ("http", "https"):
        return Markup('<a href="{0}">{0}</a>').format(url)
    return escape(url)


def html_body(watch: WatchConfig, alerts: Sequence[Alert], zone: tzinfo) -> str:
    """HTML with inline styles only; every piece of feed text escaped."""
    items = [
        Markup('<li style="margin-bottom:0.8em"><strong>{}</strong><br>{}, {}<br>{}</li>').format(
            alert.title, alert.outlet, alert.when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), _link(alert.url)
        )
        for alert in alerts
    ]
    return str(
        Markup(
            '<!DOCTYPE html><html><body style="font-family:sans-serif"><p>Watch <strong>{}</strong>: <code>{}</code>'
            '</p><ul style="padding-left:1.2em">{}</ul></body></html>'
        ).format(watch.id, watch.query, Markup("").join(items))
    )


def send_alerts(
    settings: MailSettings, watch: WatchConfig, alerts: Sequence[Alert], *, zone: tzinfo, now: datetime, batch: int
) -> None:
    """Mail one batch (`batch`: its first delivery id, which makes the Message-ID of a re-sent batch the same).

    Raises MailError with one line when the server cannot be reached or refuses."""
    settings = settings.model_copy(update={"subject_prefix": ALERT_PREFIX})
    message = build_message(
        settings,
        subject(watch, alerts),
        text_body(watch, alerts, zone),
        html_body(watch, alerts, zone),
        date=now.astimezone(zone),
        message_id=f"<watch-{watch.id}-{batch}.{socket.gethostname() or 'localhost'}@beat-aggregator>",
    )
    send_message(settings, message)

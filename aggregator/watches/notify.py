"""The notify channel: one plain-text notification per batch to each Apprise URL (the optional `notify` extra)."""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from aggregator.config.settings import CrawlSettings
from aggregator.config.watches import WatchConfig
from aggregator.crawl.addresses import ALLOW_HINT, AddressPolicy, host_key, parse_address, resolve
from aggregator.errors import DeliveryError, NotDelivered
from aggregator.text import CONTROL_CHARS
from aggregator.watches.alerts import Alert

INSTALL = "pip install 'beat-aggregator[notify]'"
TITLE_CAP, OUTLET_CAP, LINK_CAP, BODY_CAP = 200, 80, 1000, 6000

# Removed from every field, not escaped as mail and the terminal do: a phone's notification shows no escapes.
# The controls text.show_controls escapes, the line breaks and tabs, and the line and paragraph separators.
_UNSAFE = re.compile(f"[{CONTROL_CHARS}\t\n\r\u2028\u2029]")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _field(text: str, cap: int) -> str:
    flat = " ".join(_UNSAFE.sub(" ", text).split())
    return flat if len(flat) <= cap else flat[: cap - 1].rstrip() + "…"


def title(watch: WatchConfig, alerts: Sequence[Alert]) -> str:
    return f"Watch {watch.id}: {len(alerts)} new item{'' if len(alerts) == 1 else 's'}"


def body(alerts: Sequence[Alert], zone: tzinfo) -> str:
    """One line per item: "outlet, 2026-03-03 07:15 CST: title link"; cut (saying how many more) at BODY_CAP."""
    lines: list[str] = []
    used = 0
    for n, alert in enumerate(alerts):
        when = alert.when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        line = (f"{_field(alert.outlet, OUTLET_CAP)}, {when}: {_field(alert.title, TITLE_CAP)} "
                f"{_field(alert.url, LINK_CAP)}")  # fmt: skip
        if lines and used + len(line) + 40 > BODY_CAP:
            lines.append(f"… and {len(alerts) - n} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _shown_host(host: str) -> str | None:
    """`host` if it is an address or a dotted host name, the form a service's server has; None for anything else
    (tgram://, discord://, ntfy://TOPIC put a token or a topic where a host would be)."""
    address = parse_address(host)
    if address is not None:
        return f"[{address}]" if address.version == 6 else str(address)
    name = host.rstrip(".").lower()
    labels = name.split(".")
    if name == "localhost" or (len(name) <= 253 and len(labels) > 1 and labels[-1].isalpha()
                               and all(_LABEL.fullmatch(label) for label in labels)):  # fmt: skip
        return name
    return None


def masked(url: str) -> str:
    """The form shown anywhere (errors, `watch list`, status): scheme and host, e.g. ntfy://ntfy.example/***, or
    tgram://*** when the host position holds a token; user, password, path and query are never shown."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not _SCHEME.fullmatch(scheme):
        return "***"
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    found = re.fullmatch(r"(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?", netloc)
    host = _shown_host(found.group(1)) if found else None
    if host is None:
        return f"{scheme}://***"
    return f"{scheme}://{host}{':' + found.group(2) if found and found.group(2) else ''}/***"


class _OnlyWhenVerbose(logging.Filter):
    """Apprise logs to the "apprise" logger, with hosts, paths and server answers: at -v (root at DEBUG) only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def require_apprise() -> Any:
    """The apprise module, or a DeliveryError saying what to install (recorded and retried like any failure)."""
    apprise_log = logging.getLogger("apprise")
    if not any(isinstance(f, _OnlyWhenVerbose) for f in apprise_log.filters):
        apprise_log.addFilter(_OnlyWhenVerbose())
    try:
        return importlib.import_module("apprise")  # here: an optional extra, and slow to import
    except ImportError:
        raise DeliveryError(f"notify: Apprise is not installed: {INSTALL}") from None


def _hosts(service: Any) -> list[str]:
    """The hosts a service connects to that its URL chose: a self-hosted server's (json://, ntfy://HOST/,
    gotify://, mmost://...: the plugin has a `host` token) and a mailto:// ?smtp= server. The others (tgram://,
    ntfy://TOPIC...) go to their company's fixed servers."""
    hosts = []
    if "host" in (getattr(type(service), "template_tokens", None) or {}):
        hosts.append(getattr(service, "host", None))
    hosts.append(getattr(service, "smtp_host", None))
    return list(dict.fromkeys(h for h in hosts if isinstance(h, str) and h.strip()))


def _problem(service: Any, policy: AddressPolicy) -> str | None:
    """What stops the service being sent to (a host that resolves nowhere, or to an address the policy refuses:
    every address of every host is checked), or None."""
    if policy.allow_all:
        return None
    for host in _hosts(service):
        try:
            addresses = resolve(host_key(host))
        except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode (a label too long)
            return f"its host cannot be resolved ({getattr(exc, 'strerror', None) or type(exc).__name__})"
        refused = policy.first_refused(host, addresses)
        if refused is not None:
            # The address alone: the host name is in the masked URL, or hidden there as a possible token.
            return f"refused, {policy.refusal(refused[0])}"
    return None


def target_key(url: str) -> str:
    """The key a delivery records for a URL it reached: a hash, never the URL (which may hold a token)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def send(urls: Sequence[str], subject: str, text: str, *, crawl: CrawlSettings) -> None:
    """Notify every URL; raises NotDelivered naming each failed URL (masked) once all were tried, and saying which
    URLs did take it.

    Every URL is checked first (Apprise can read it, its host is not an address the crawler would refuse): one that
    fails the check stops the batch before anything is sent, as a wrong URL would fail again on every retry."""
    apprise = require_apprise()
    asset = apprise.AppriseAsset()
    policy = AddressPolicy.from_settings(crawl.allow_private_networks, crawl.allow_networks)
    services, problems, refused = [], [], False
    for url in urls:
        try:
            service = apprise.Apprise.instantiate(url, asset=asset)
        except Exception as exc:  # a plugin's own error: its message may hold the URL, so only its type is told
            problems.append(f"{masked(url)}: Apprise cannot use it ({type(exc).__name__})")
            continue
        if service is None:
            problems.append(f"{masked(url)}: not a URL Apprise can use (an unknown service, or parts missing)")
            continue
        problem = _problem(service, policy)
        if problem is not None:
            problems.append(f"{masked(url)}: {problem}")
            refused = refused or problem.startswith("refused")
            continue
        service.redirects = False  # Apprise >= 1.11: a 3xx cannot send the alert to a host that was not checked
        services.append((url, service))
    if problems:
        raise NotDelivered("notify: " + "; ".join(problems) + (f"; {ALLOW_HINT}" if refused else ""))
    failed, reached = [], []
    for url, service in services:
        sender = apprise.Apprise(asset=asset)
        sender.add(service)
        try:
            ok = bool(sender.notify(body=text, title=subject, body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # as above: the type only
            failed.append(f"{masked(url)} ({type(exc).__name__})")
            continue
        if not ok:
            failed.append(masked(url))
            continue
        reached.append(url)
    if failed:
        raise NotDelivered(f"notify: not delivered to {', '.join(failed)} (Apprise's log: run with -v)", reached)

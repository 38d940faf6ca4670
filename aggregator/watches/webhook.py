"""The webhook channel: a JSON POST signed with HMAC-SHA256, never to an address the crawler would refuse."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aggregator.config.settings import CrawlSettings, WatchSettings
from aggregator.config.watches import WatchConfig
from aggregator.crawl.addresses import ALLOW_HINT, AddressPolicy, resolve
from aggregator.errors import DeliveryError
from aggregator.watches.alerts import Alert

if TYPE_CHECKING:
    import httpcore

SIGNATURE_HEADER = "X-Aggregator-Signature"
DELIVERY_HEADER = "X-Aggregator-Delivery"  # the batch's first delivery id: a receiver can drop a repeat by it


def payload(watch: WatchConfig, alerts: Sequence[Alert]) -> bytes:
    """The body: {"watch", "query", "items": [{item_id, url, title, source_id, published_at, topics, entities}]}."""
    items = [
        {
            "item_id": a.item_id,
            "url": a.url,
            "title": a.title,
            "source_id": a.source_id,
            "published_at": a.published_at.isoformat().replace("+00:00", "Z") if a.published_at else None,
            "topics": sorted(a.topics),
            "entities": a.entities,
        }
        for a in alerts
    ]
    return json.dumps({"watch": watch.id, "query": watch.query, "items": items}, ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    """The header value: "sha256=" and the hex HMAC-SHA256 of the raw body under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def guarded_backend(policy: AddressPolicy) -> httpcore.SyncBackend:
    """httpcore's network backend, resolving the host itself and connecting only to an address the policy allows,
    so a name that resolves to a private address (or to another address on a second lookup) is refused on the
    address actually used."""
    import httpcore  # here: importing it costs 0.5 s, which every `aggregator run` start would pay

    class GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.NetworkStream:
            try:
                addresses = resolve(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
            refused = policy.first_refused(host, addresses)
            if refused is not None:
                raise Refused(refused[1])
            return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    return GuardedBackend()


class Refused(Exception):
    """The address policy refused the webhook's host."""


def post(
    url: str, body: bytes, *, settings: WatchSettings, crawl: CrawlSettings, delivery: int, user_agent: str
) -> None:
    """POST `body` to `url`, signed; raises DeliveryError with one line (refused address, HTTP status, network)."""
    secret = settings.secret()
    if not secret:
        raise DeliveryError(
            "webhook: no signing secret (set AGGREGATOR_WEBHOOK_SECRET or [watches] webhook_secret in settings.toml)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DeliveryError(f"webhook: {url}: only http and https URLs are posted to")
    policy = AddressPolicy.from_settings(crawl.allow_private_networks, crawl.allow_networks)
    literal = policy.refusal(parts.hostname or "")
    if literal is not None:
        raise DeliveryError(f"webhook: refused {url}: {literal}; {ALLOW_HINT}")
    headers: dict[bytes | str, bytes | str] = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        SIGNATURE_HEADER: signature(secret, body),
        DELIVERY_HEADER: str(delivery),
    }
    timeout = settings.webhook_timeout
    extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
    # No redirects are followed (httpcore does not), so a 3xx cannot send the alert somewhere else.
    import httpcore

    with httpcore.ConnectionPool(network_backend=guarded_backend(policy)) as pool:
        try:
            response = pool.request("POST", url, headers=headers, content=body, extensions=extensions)
        except Refused as exc:
            raise DeliveryError(f"webhook: refused {url}: {exc}; {ALLOW_HINT}") from exc
        except httpcore.TimeoutException as exc:
            raise DeliveryError(f"webhook: {url}: no answer within {timeout:g}s") from exc
        except httpcore.NetworkError as exc:
            raise DeliveryError(f"webhook: {url}: {' '.join(str(exc).split()) or type(exc).__name__}") from exc
        except httpcore.ProtocolError as exc:
            raise DeliveryError(f"webhook: {url}: bad HTTP response: {exc}") from exc
    if not 200 <= response.status < 300:
        raise DeliveryError(f"webhook: {url}: HTTP {response.status}")

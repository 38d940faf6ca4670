"""The `serve` command: the web app (search, items, digests, volume chart, source health, JSON API)."""

from __future__ import annotations

import ipaddress
import socket

import click
import uvicorn

from aggregator.cli.options import pass_ctx
from aggregator.errors import AggregatorError
from aggregator.network import is_loopback
from aggregator.services.context import Context
from aggregator.web import create_app
from aggregator.web.security import TOKEN_ENV, token_from_env

LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> list[str] | None:
    """The Host header values answered when listening on `host` (None: any, when it is not loopback)."""
    if not is_loopback(host):
        return None
    names = [*LOOPBACK_NAMES, *extra]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # "localhost"
        return names
    # The address itself, as given and as usually written; an IPv6 one in brackets, as in "[::1]:8080" (the
    # middleware compares the Host header without its port).
    forms = [host, address.compressed] if address.version == 4 else [f"[{host}]", f"[{address.compressed}]"]
    return [*names, *(f for f in dict.fromkeys(forms) if f not in names)]


def _listen(host: str, port: int) -> socket.socket:
    """A bound listening socket, or one clear line saying why not (uvicorn would log it and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise AggregatorError(f"serve: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback lets others read what is stored.")  # fmt: skip
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (e.g. behind a reverse proxy); repeatable.")  # fmt: skip
@pass_ctx
def serve(obj: Context, host: str, port: int, allow_hosts: tuple[str, ...]) -> None:
    """Serve the web app: search, items with feedback, digests, the volume chart, source health, JSON API."""
    settings = obj.settings
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # "[::1]" as in a URL: the socket wants the bare address
    # On loopback only requests addressed to this machine's own names are answered: a page elsewhere that
    # points its own host name at 127.0.0.1 (DNS rebinding) gets a 400, not the data.
    allowed = allowed_hosts(host, allow_hosts)
    app = create_app(settings, settings.resolved_database_url(obj.db_url), allowed_hosts=allowed)
    sock = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving on http://{shown}:{port}/ (API description: /openapi.json); Ctrl-C stops", err=True)
    if not (token_from_env() or settings.web.token):
        click.echo(f"feedback is off: set [web] token in settings.toml or {TOKEN_ENV} to turn it on", err=True)
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach this port can read what is stored", err=True)
    config = uvicorn.Config(app, log_level="info" if obj.verbose else "warning", access_log=obj.verbose)
    uvicorn.Server(config).run(sockets=[sock])

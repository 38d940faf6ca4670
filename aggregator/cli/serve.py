"""The `serve` command: the web app (search, items, digests, volume chart, source health, JSON API)."""

from __future__ import annotations

import ipaddress
import socket

import click

from aggregator.cli.main import Context, cli, pass_ctx
from aggregator.errors import AggregatorError

LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """A bound listening socket, or one clear line saying why not (uvicorn would log it and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise AggregatorError(f"serve: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback lets others read what is stored.")  # fmt: skip
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (e.g. behind a reverse proxy); repeatable.")  # fmt: skip
@pass_ctx
def serve(obj: Context, host: str, port: int, allow_hosts: tuple[str, ...]) -> None:
    """Serve the web app: search, items with feedback, digests, the volume chart, source health, JSON API."""
    import uvicorn

    from aggregator.web import create_app
    from aggregator.web.security import TOKEN_ENV, token_from_env

    settings = obj.settings
    # On loopback only requests addressed to this machine's own names are answered: a page elsewhere that
    # points its own host name at 127.0.0.1 (DNS rebinding) gets a 400, not the data.
    allowed = [*LOOPBACK_NAMES, *allow_hosts] if _is_loopback(host) else None
    app = create_app(settings, settings.resolved_database_url(obj.db_url), allowed_hosts=allowed)
    sock = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving on http://{shown}:{port}/ (API description: /openapi.json); Ctrl-C stops", err=True)
    if not (token_from_env() or settings.web.token):
        click.echo(f"feedback is off: set [web] token in settings.toml or {TOKEN_ENV} to turn it on", err=True)
    if not _is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach this port can read what is stored", err=True)
    config = uvicorn.Config(app, log_level="info" if obj.verbose else "warning", access_log=obj.verbose)
    uvicorn.Server(config).run(sockets=[sock])

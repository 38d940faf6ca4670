"""Mailing the digest, against a real aiosmtpd server on 127.0.0.1 (plain, AUTH, STARTTLS and implicit TLS)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, cast
from unittest.mock import Mock

import pydantic
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from aggregator.digest.mail import MailError, MailSettings, build_message, send_message

USER = "digest"
PASSWORD = "s3cret-password"
WRONG_PASSWORD = "hunter2-wrong"
SUBJECT = "Cártel y frontera: último informe"
TEXT = "Resumen del día\n\n- Detenido en Tamaulipas: operación «Niño»\n"
# One line far longer than SMTP's 998-character limit, to prove the HTML survives transport unchanged.
HTML = '<html><body><h1>Resumen</h1><p class="x">' + "señal " * 300 + "</p></body></html>\n"
DATE = datetime(2024, 5, 1, 7, 30, tzinfo=timezone(timedelta(hours=-6)))
MESSAGE_ID = "<digest-2024-05-01@beat.example>"
# aiosmtpd warns about AUTH without TLS; the plain-text login tests do that on purpose, on 127.0.0.1 only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@dataclass
class Recorder:
    """aiosmtpd handler that keeps every envelope, with the login and TLS state of its session."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[bytes | None] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        auth = session.auth_data
        self.logins.append(auth.login if session.authenticated and isinstance(auth, LoginPassword) else None)
        # session.ssl is only filled in by STARTTLS; implicit TLS shows on the transport.
        self.tls.append(session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"

    def parsed(self, index: int = 0) -> EmailMessage:
        content = self.envelopes[index].original_content
        return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(cast(bytes, content)))


def authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
    ok = ok and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


StartServer = Callable[..., tuple[Recorder, int]]


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """Start aiosmtpd on 127.0.0.1 with the given Controller/SMTP options; returns its recorder and port."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Recorder, int]:
        recorder, port = Recorder(), free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=5, **options)
        controller.start()
        controllers.append(controller)
        return recorder, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """Server context with a throwaway certificate for 127.0.0.1, and the path of the CA that signed it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return context, str(ca_path)


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGGREGATOR_SMTP_USER", raising=False)
    monkeypatch.delenv("AGGREGATOR_SMTP_PASSWORD", raising=False)


def settings(port: int, **overrides: Any) -> MailSettings:
    values: dict[str, Any] = {
        "port": port, "sender": "beat@example.org", "recipients": ["ana@example.org", "luis@example.mx"], "timeout": 5,
    }  # fmt: skip
    return MailSettings(**(values | overrides))


def send(mail: MailSettings) -> None:
    send_message(mail, build_message(mail, SUBJECT, TEXT, HTML, date=DATE, message_id=MESSAGE_ID))


def test_digest_arrives_with_headers_and_both_parts(smtp_server: StartServer) -> None:
    recorder, port = smtp_server()
    send(settings(port))

    assert len(recorder.envelopes) == 1
    envelope = recorder.envelopes[0]
    assert envelope.mail_from == "beat@example.org"
    assert envelope.rcpt_tos == ["ana@example.org", "luis@example.mx"]
    raw = envelope.original_content
    assert isinstance(raw, bytes)
    assert raw.isascii(), "headers must be RFC 2047-encoded and bodies quoted-printable"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998

    msg = recorder.parsed()
    assert msg["From"] == "beat@example.org"
    assert msg["To"] == "ana@example.org, luis@example.mx"
    assert msg["Subject"] == f"[beat digest] {SUBJECT}"
    assert msg["Message-ID"] == MESSAGE_ID
    assert parsedate_to_datetime(msg["Date"]) == DATE
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML


def test_message_id_gets_angle_brackets_and_subject_stays_one_line() -> None:
    mail = settings(2525, subject_prefix="[test]")
    msg = build_message(mail, "línea uno\nBcc: evil@example.org", TEXT, HTML, date=DATE, message_id="d-1@beat")
    assert msg["Message-ID"] == "<d-1@beat>"
    assert msg["Subject"] == "[test] línea uno Bcc: evil@example.org"
    assert msg["Bcc"] is None
    with pytest.raises(ValueError, match="timezone-aware"):
        build_message(mail, SUBJECT, TEXT, HTML, date=datetime(2024, 5, 1), message_id=MESSAGE_ID)


def test_login_succeeds(smtp_server: StartServer) -> None:
    recorder, port = smtp_server(authenticator=authenticator, auth_require_tls=False)
    send(settings(port, user=USER, password=PASSWORD))
    assert recorder.logins == [USER.encode()]


def test_wrong_password_is_a_clear_error_without_the_password(smtp_server: StartServer) -> None:
    recorder, port = smtp_server(authenticator=authenticator, auth_require_tls=False)
    with pytest.raises(MailError) as caught:
        send(settings(port, user=USER, password=WRONG_PASSWORD))
    message = str(caught.value)
    assert message.startswith(f"mail: 127.0.0.1:{port} refused login for user 'digest': 535")
    assert "\n" not in message and WRONG_PASSWORD not in message
    assert WRONG_PASSWORD not in repr(MailSettings(password=WRONG_PASSWORD))
    assert recorder.envelopes == []


def test_environment_overrides_user_and_password(smtp_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MailSettings().credentials() is None
    mail = settings(2525, user="stale-user", password="stale-password")
    assert mail.credentials() == ("stale-user", "stale-password")
    monkeypatch.setenv("AGGREGATOR_SMTP_USER", USER)
    monkeypatch.setenv("AGGREGATOR_SMTP_PASSWORD", PASSWORD)
    assert mail.credentials() == (USER, PASSWORD)

    recorder, port = smtp_server(authenticator=authenticator, auth_require_tls=False)
    send(settings(port, user="stale-user", password="stale-password"))
    assert recorder.logins == [USER.encode()]


def test_starttls_with_private_ca(smtp_server: StartServer, tls: tuple[ssl.SSLContext, str]) -> None:
    context, ca_file = tls
    recorder, port = smtp_server(tls_context=context, require_starttls=True, authenticator=authenticator)
    send(settings(port, security="starttls", ca_file=ca_file, user=USER, password=PASSWORD))
    assert recorder.tls == [True]
    assert recorder.logins == [USER.encode()]


def test_starttls_rejects_an_untrusted_certificate(smtp_server: StartServer, tls: tuple[ssl.SSLContext, str]) -> None:
    recorder, port = smtp_server(tls_context=tls[0], require_starttls=True)
    with pytest.raises(MailError, match=rf"^mail: STARTTLS failed on 127\.0\.0\.1:{port}: certificate verify failed"):
        send(settings(port, security="starttls"))
    assert recorder.envelopes == []

    send(settings(port, security="starttls", verify_tls=False))  # the explicit opt-out for self-signed servers
    assert recorder.tls == [True]


def test_starttls_not_offered(smtp_server: StartServer) -> None:
    _, port = smtp_server()
    with pytest.raises(MailError, match=rf"^mail: STARTTLS failed on 127\.0\.0\.1:{port}: STARTTLS extension not"):
        send(settings(port, security="starttls"))


def test_implicit_tls(smtp_server: StartServer, tls: tuple[ssl.SSLContext, str]) -> None:
    context, ca_file = tls
    recorder, port = smtp_server(ssl_context=context)
    send(settings(port, security="tls", ca_file=ca_file))
    assert recorder.tls == [True]
    assert recorder.parsed()["Message-ID"] == MESSAGE_ID


def test_server_not_listening_or_silent() -> None:
    port = free_port()
    with pytest.raises(MailError, match=rf"^mail: cannot connect to 127\.0\.0\.1:{port}: Connection refused$"):
        send(settings(port))
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts the connection but never greets
        port = silent.getsockname()[1]
        with pytest.raises(MailError, match=rf"^mail: cannot connect to 127\.0\.0\.1:{port}: no answer within 0.3s$"):
            send(settings(port, timeout=0.3))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"recipients": []}, r"^mail: no recipients configured \(set \[mail\] recipients in settings.toml\)$"),
        ({"sender": ""}, r"^mail: no sender configured"),
        ({"user": USER}, r"^mail: user 'digest' has no password \(set AGGREGATOR_SMTP_PASSWORD"),
        ({"user": USER, "password": "contraseña"}, "non-ASCII characters, which smtplib cannot send"),
        ({"security": "starttls", "ca_file": "/nonexistent/ca.pem"}, "cannot load CA file '/nonexistent/ca.pem'"),
        ({"host": "smtp.example.org", "user": USER, "password": PASSWORD}, "refusing to send the password for"),
    ],
)
def test_config_errors_are_caught_before_connecting(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any], error: str
) -> None:
    # Nothing here may touch the network, least of all smtp.example.org.
    monkeypatch.setattr(smtplib, "SMTP", Mock(side_effect=AssertionError("must not connect")))
    monkeypatch.setattr(smtplib, "SMTP_SSL", Mock(side_effect=AssertionError("must not connect")))
    mail = settings(2525, **overrides)
    with pytest.raises(MailError, match=error) as caught:
        send_message(mail, build_message(settings(2525), SUBJECT, TEXT, HTML, date=DATE, message_id=MESSAGE_ID))
    assert "\n" not in str(caught.value)
    assert PASSWORD not in str(caught.value) and "contraseña" not in str(caught.value)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"recipients": ["ana@example.org\nBcc: evil@example.org"]}, "contains a line break"),
        ({"recipients": ["ana@example.org\r"]}, "contains a line break"),
        ({"sender": "beat@example.org\r\nBcc: evil@example.org"}, "contains a line break"),
        ({"subject_prefix": "[x]\nBcc: evil@example.org"}, "contains a line break"),
        ({"recipients": ["no-at-sign"]}, "exactly one @"),
        ({"recipients": ["two@@example.org"]}, "exactly one @"),
        ({"recipients": ["@example.org"]}, "exactly one @"),
        ({"recipients": ["a@b, c@d"]}, "must be a bare address"),
        ({"sender": "Beat <beat@example.org>"}, "must be a bare address"),
        ({"recipients": ["josé@example.org"]}, "must be ASCII"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(values: dict[str, Any], error: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=error):
        MailSettings(**values)

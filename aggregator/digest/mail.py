"""Mail the daily digest over SMTP: settings, a multipart text + HTML message, and delivery with smtplib."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from aggregator.config.durations import parse_duration
from aggregator.errors import MailError
from aggregator.network import is_loopback

logger = logging.getLogger(__name__)

USER_ENV = "AGGREGATOR_SMTP_USER"
PASSWORD_ENV = "AGGREGATOR_SMTP_PASSWORD"

# Imported from durations rather than settings so that settings.py can later import MailSettings without a cycle.
Seconds = Annotated[float, BeforeValidator(parse_duration)]


def _check_address(value: str) -> str:
    """Loose check that still makes header and envelope injection impossible."""
    if any(ch in value for ch in "\r\n"):
        raise ValueError(f"e-mail address {value!r} contains a line break")
    # Whitespace, commas and angle brackets would let one entry smuggle in extra recipients or a display name.
    if any(ch.isspace() or ch in ',;<>"' or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"e-mail address {value!r} must be a bare address such as news@example.org")
    if not value.isascii():
        # Non-ASCII needs SMTPUTF8 end to end, and the email package would otherwise write an invalid header.
        raise ValueError(f"e-mail address {value!r} must be ASCII (write international domains as xn-- punycode)")
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise ValueError(f"e-mail address {value!r} must contain exactly one @ with text on both sides")
    return value


class MailSettings(BaseModel):
    """The [mail] table of settings.toml; the user and password may come from the environment instead."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    user: str = ""
    password: str = Field(default="", repr=False)
    sender: str = ""
    recipients: list[str] = []
    timeout: Seconds = Field(default=30.0, gt=0)
    subject_prefix: str = "[beat digest]"
    verify_tls: bool = True
    ca_file: str = ""

    @field_validator("sender")
    @classmethod
    def _valid_sender(cls, value: str) -> str:
        return _check_address(value) if value else ""

    @field_validator("recipients")
    @classmethod
    def _valid_recipients(cls, value: list[str]) -> list[str]:
        return [_check_address(address) for address in value]

    @field_validator("host", "subject_prefix", "user")
    @classmethod
    def _single_line(cls, value: str) -> str:
        if any(ch in value for ch in "\r\n"):
            raise ValueError(f"{value!r} contains a line break")
        return value

    @property
    def where(self) -> str:
        """host:port, as used in every error message."""
        return f"{self.host}:{self.port}"

    def credentials(self) -> tuple[str, str] | None:
        """(user, password) for SMTP AUTH, or None to skip login; AGGREGATOR_SMTP_USER/_PASSWORD beat settings.

        Raises MailError when only one of the two is set, since a silent anonymous send would just bounce later.
        """
        user = os.environ.get(USER_ENV) or self.user
        password = os.environ.get(PASSWORD_ENV) or self.password
        if not user and not password:
            return None
        if not user:
            raise MailError(f"mail: a password is set but no user (set [mail] user or {USER_ENV})")
        if not password:
            raise MailError(f"mail: user {user!r} has no password (set {PASSWORD_ENV} or [mail] password)")
        return user, password


def _require_addresses(settings: MailSettings) -> None:
    if not settings.sender:
        raise MailError("mail: no sender configured (set [mail] sender in settings.toml)")
    if not settings.recipients:
        raise MailError("mail: no recipients configured (set [mail] recipients in settings.toml)")


def _one_line(text: str) -> str:
    # A digest title with a stray newline should still make a valid Subject, not an error.
    return " ".join(text.split())


def build_message(
    settings: MailSettings, subject: str, text: str, html: str, *, date: datetime, message_id: str
) -> EmailMessage:
    """Build a multipart/alternative digest mail (text/plain first, then text/html, both UTF-8).

    Args:
        settings: sender, recipients and subject prefix.
        subject: digest title; the prefix is put in front and non-ASCII is RFC 2047-encoded.
        text: plain-text body.
        html: HTML body.
        date: timezone-aware send date for the Date header.
        message_id: stable id such as "<digest-2024-05-01@beat.example>" so a re-sent digest is recognisable;
            angle brackets are added if missing.

    Raises:
        MailError: sender or recipients are missing.
        ValueError: `date` is naive or `message_id` is not a single token.
    """
    _require_addresses(settings)
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("build_message: date must be timezone-aware")
    msg_id = message_id.strip()
    if not msg_id or any(ch.isspace() for ch in msg_id):
        raise ValueError(f"build_message: message_id {message_id!r} must be a single token without spaces")
    if not msg_id.startswith("<"):
        msg_id = f"<{msg_id}>"

    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Subject"] = _one_line(f"{settings.subject_prefix} {subject}")
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = msg_id
    # Quoted-printable keeps the body 7-bit clean for servers without 8BITMIME and wraps HTML lines
    # longer than SMTP's 998-character limit, while staying readable in the raw source.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def _tls_context(settings: MailSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.ca_file:
        # An extra CA on top of the system store, for self-hosted servers with a private CA.
        try:
            context.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailError(f"mail: cannot load CA file {settings.ca_file!r}: {exc}") from exc
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _one_line(f"{code} {text}")


def _reason(exc: BaseException) -> str:
    """One line from an smtplib or socket error: the server's code and reply when it gave one."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, smtplib.SMTPException):
        # "Connection refused" reads better than "[Errno 111] Connection refused".
        return _one_line(exc.strerror)
    return _one_line(str(exc) or type(exc).__name__)


@contextmanager
def _stage(what: str, password: str, timeout: float) -> Iterator[None]:
    """Turn any failure in one SMTP step into a one-line MailError that never echoes the password."""
    try:
        yield
    except (smtplib.SMTPException, OSError) as exc:  # smtplib errors, ssl.SSLError and timeouts are all OSErrors
        # smtplib re-raises a read timeout as SMTPServerDisconnected; the timeout is the useful part.
        timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
        reason = f"no answer within {timeout:g}s" if timed_out else _reason(exc)
        message = f"mail: {what}: {reason}"
        if password:
            # Defence in depth: a misbehaving server could reflect what we sent.
            message = message.replace(password, "***")
        raise MailError(message) from exc


def send_message(settings: MailSettings, msg: EmailMessage) -> None:
    """Deliver `msg` to settings.recipients through the configured SMTP server.

    The envelope comes from the validated settings, not from the message headers.

    Raises:
        MailError: with one line naming the step and host:port that failed (connect, TLS, login, sending).
    """
    _require_addresses(settings)
    creds = settings.credentials()
    where = settings.where
    if creds and settings.security == "none" and not is_loopback(settings.host):
        raise MailError(
            f"mail: refusing to send the password for {creds[0]!r} unencrypted to {where} "
            '(set [mail] security = "starttls" or "tls")'
        )
    password = creds[1] if creds else ""
    if creds and not (creds[0] + password).isascii():
        # smtplib encodes AUTH exchanges as ASCII and would fail with a bare UnicodeEncodeError.
        raise MailError(f"mail: user {creds[0]!r} or its password has non-ASCII characters, which smtplib cannot send")
    context = _tls_context(settings) if settings.security != "none" else None

    smtp: smtplib.SMTP
    verb = "make a TLS connection to" if settings.security == "tls" else "connect to"
    with _stage(f"cannot {verb} {where}", password, settings.timeout):
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.security == "starttls":
            with _stage(f"STARTTLS failed on {where}", password, settings.timeout):
                smtp.starttls(context=context)
        if creds:
            with _stage(f"{where} refused login for user {creds[0]!r}", password, settings.timeout):
                smtp.login(*creds)
        with _stage(f"{where} did not accept the message", password, settings.timeout):
            refused = smtp.send_message(msg, from_addr=settings.sender, to_addrs=settings.recipients)
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            # The message is already accepted or the error above is the one that matters.
            smtp.close()
    if refused:
        # The server took the message for the others, so a retry would send them a duplicate.
        names = ", ".join(f"{rcpt} ({_reply(*reply)})" for rcpt, reply in refused.items())
        raise MailError(f"mail: {where} refused some recipients (sent to the rest): {names}")
    logger.info("mail: sent %s to %d recipient(s) via %s", msg["Message-ID"], len(settings.recipients), where)

"""Sending a digest: e-mail over SMTP (STARTTLS and login) or a JSON webhook, retried a few times.

The settings come from the `[alerts]` section of the secrets file (PILOT_HEALTH_SECRETS, the
dashboard's own `.streamlit/secrets.toml` unless it says otherwise):

    [alerts.smtp]
    host = "smtp.example.com"   # required for e-mail
    port = 587                  # default 587
    username = "pilot-health"   # log in when given
    password = "…"
    from = "Pilot Health <pilot-health@example.com>"
    starttls = true             # default true: upgrade the connection before logging in
    ssl = false                 # true: TLS from the first byte (port 465), instead of STARTTLS
    timeout = 20                # seconds

    [alerts.sponsors]           # executive sponsors' addresses, by the name the register gives
    "Dana Whitfield" = "dana.whitfield@example.com"

    [alerts]
    attempts = 3                # tries per digest in one run
    backoff_seconds = 2         # wait before the second try, doubled before each next one

Every failure is one plain sentence (`DeliveryFailed`), which the alerts log keeps and shows.
No Streamlit here.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pilot_health.errors import ConfigError, PilotHealthError


class DeliveryFailed(PilotHealthError):
    """A digest that could not be delivered, with the reason in one sentence."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    sender: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ssl: bool = False
    timeout: float = 20.0
    # Certificates the server's is checked against (tests: their own self-signed one); None: the system's.
    ca_file: str | None = None


@dataclass(frozen=True)
class AlertSettings:
    smtp: SmtpSettings | None = None
    sponsors: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 3
    backoff_seconds: float = 2.0
    webhook_timeout: float = 20.0
    source: str = ""  # where they were read from, for messages


def _section(raw: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"The secrets file {where} has “{name}” as a value; it must be a section like [alerts.{name}]."
        )
    return value


def read_alert_settings(path: Path) -> AlertSettings:
    """The `[alerts]` section of a secrets file; no file or no section: nothing set up (a digest
    by e-mail then fails with a sentence saying what to add). Mistakes are one ConfigError sentence."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AlertSettings(source=where)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"The secrets file {where} cannot be read ({getattr(error, 'strerror', None) or error})."
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"The secrets file {where} is not valid TOML ({error}); fix it and run the alerts again."
        ) from None
    alerts = raw.get("alerts", {})
    if not isinstance(alerts, Mapping):
        raise ConfigError(f"The secrets file {where} has “alerts” as a value; it must be a section: [alerts].")
    smtp_raw = _section(alerts, "smtp", where)
    smtp = None
    try:
        if smtp_raw:
            if not str(smtp_raw.get("host", "")).strip():
                raise ConfigError(
                    f'The secrets file {where} has an [alerts.smtp] section without host; add host = "smtp.example.com".'
                )
            if not str(smtp_raw.get("from", "")).strip():
                raise ConfigError(
                    f"The secrets file {where} has an [alerts.smtp] section without from; add the sender's address, "
                    'e.g. from = "pilot-health@example.com".'
                )
            smtp = SmtpSettings(
                host=str(smtp_raw["host"]).strip(),
                sender=str(smtp_raw["from"]).strip(),
                port=int(smtp_raw.get("port", 587)),
                username=str(smtp_raw["username"]) if smtp_raw.get("username") else None,
                password=str(smtp_raw["password"]) if smtp_raw.get("password") is not None else None,
                starttls=bool(smtp_raw.get("starttls", True)),
                ssl=bool(smtp_raw.get("ssl", False)),
                timeout=float(smtp_raw.get("timeout", 20)),
                ca_file=str(smtp_raw["ca_file"]) if smtp_raw.get("ca_file") else None,
            )
        sponsors = {str(k).strip().lower(): str(v).strip() for k, v in _section(alerts, "sponsors", where).items()}
        return AlertSettings(
            smtp=smtp,
            sponsors=sponsors,
            attempts=max(1, int(alerts.get("attempts", 3))),
            backoff_seconds=max(0.0, float(alerts.get("backoff_seconds", 2))),
            webhook_timeout=float(alerts.get("webhook_timeout", 20)),
            source=where,
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"The secrets file {where} has a value in [alerts] that is not a number where one belongs ({error})."
        ) from None


def load_alert_settings(path: Path | None = None) -> AlertSettings:
    from pilot_health.config import load_config

    return read_alert_settings(path or load_config().secrets_path)


# -- e-mail ---------------------------------------------------------------------------------------------


def send_email(settings: AlertSettings, to: str, subject: str, body: str) -> None:
    """One plain-text e-mail (never HTML: uploaded names stay text). Raises DeliveryFailed."""
    smtp = settings.smtp
    if smtp is None:
        raise DeliveryFailed(
            "No mail server is set up for alerts yet: whoever runs Pilot Health adds it (with its login) to the "
            "alerts' settings in the secrets file, as the Guide's Alerts topic says."
        )
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="pilot-health")
    message.set_content(body)
    server = f"The mail server {smtp.host}:{smtp.port}"
    context = ssl.create_default_context(cafile=smtp.ca_file)
    client: smtplib.SMTP  # SMTP_SSL is an SMTP
    try:
        if smtp.ssl:
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            client.ehlo()
            if smtp.starttls and not smtp.ssl:
                client.starttls(context=context)
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            refused = client.send_message(message)
            if refused:
                raise DeliveryFailed(f"{server} refused the address {to}: {_smtp_words(next(iter(refused.values())))}.")
    except DeliveryFailed:
        raise
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryFailed(
            f"{server} refused the login of {smtp.username} ({_smtp_words((error.smtp_code, error.smtp_error))}); "
            "check the user name and password in the alerts' mail settings."
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise DeliveryFailed(
            f"{server} does not offer the secure connection (STARTTLS) or the login the alerts' mail settings "
            "ask for; check them and the port."
        ) from None
    except smtplib.SMTPRecipientsRefused as error:
        raise DeliveryFailed(
            f"{server} refused the address {to}: {_smtp_words(next(iter(error.recipients.values())))}."
        ) from None
    except smtplib.SMTPSenderRefused as error:
        raise DeliveryFailed(
            f"{server} refused the sender {smtp.sender}: {_smtp_words((error.smtp_code, error.smtp_error))}."
        ) from None
    except smtplib.SMTPResponseException as error:
        raise DeliveryFailed(f"{server} answered {_smtp_words((error.smtp_code, error.smtp_error))}.") from None
    except ssl.SSLError as error:
        raise DeliveryFailed(
            f"The secure connection to {server.lower()[0] + server[1:]} failed ({error.reason or error}); check its certificate "
            "and the alerts' mail settings (secure connection, port)."
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"{server} could not be reached ({_os_words(error)}).") from None


def _smtp_words(pair) -> str:
    code, text = pair
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(str(text).split())}".strip()


def _os_words(error: BaseException) -> str:
    """Why a connection failed, in a few words (the error itself, or what it was raised from)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (socket.timeout, TimeoutError)):
            return "no answer in time"
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return "connection refused"
        if (
            isinstance(seen, socket.gaierror)
            or "Name or service not known" in str(seen)
            or "nodename nor servname" in str(seen)
        ):
            return "unknown host name"
        seen = seen.__cause__ or seen.__context__
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


# -- webhooks -------------------------------------------------------------------------------------------


def check_webhook_address(address: str) -> str | None:
    """Why an address cannot be a webhook (None when it can): https, or http to this machine only."""
    parts = urlsplit(address)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and (host in {"localhost", "::1"} or host.startswith("127.")):
        return None
    return "A webhook's address starts with https:// (as Microsoft Teams and Slack give it)."


def post_webhook(settings: AlertSettings, url: str, payload: Mapping[str, Any]) -> None:
    """POST the JSON payload; any 2xx answer is delivered. Raises DeliveryFailed."""
    import httpx

    problem = check_webhook_address(url)
    if problem:
        raise DeliveryFailed(problem)
    host = urlsplit(url).hostname
    try:
        answer = httpx.post(
            url,
            content=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            timeout=settings.webhook_timeout,
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        raise DeliveryFailed(f"The webhook at {host} gave no answer in time.") from None
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"The webhook at {host} could not be reached ({_os_words(error)}).") from None
    if not 200 <= answer.status_code < 300:
        said = " ".join(answer.text.split())[:120]
        raise DeliveryFailed(
            f"The webhook at {host} answered {answer.status_code} {answer.reason_phrase}"
            + (f": {said}" if said else "")
            + "."
        )


# -- one delivery, retried ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    error: str | None


def deliver(
    settings: AlertSettings,
    channel: str,
    address: str,
    subject: str,
    body: str,
    payload: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Try a digest up to `settings.attempts` times, waiting `backoff_seconds` (doubling) between
    tries. Never raises for a failed delivery: the outcome says why."""
    error = None
    if channel == "email" and settings.smtp is None:  # nothing to try again until someone sets it up
        try:
            send_email(settings, address, subject, body)
        except DeliveryFailed as failed:
            return Outcome(False, 1, str(failed))
    for attempt in range(1, settings.attempts + 1):
        try:
            if channel == "email":
                send_email(settings, address, subject, body)
            elif channel == "webhook":
                post_webhook(settings, address, json.loads(payload or "{}"))
            else:
                return Outcome(False, 0, "There is no address to send it to.")
            return Outcome(True, attempt, None)
        except DeliveryFailed as failed:
            error = str(failed)
        if attempt < settings.attempts:
            sleep(settings.backoff_seconds * (2 ** (attempt - 1)))
    return Outcome(False, settings.attempts, error)

"""Delivery channels: SMS through the Textwave HTTP API, e-mail through the corporate SMTP relay."""
from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import requests

log = logging.getLogger("notify.senders")


class DeliveryError(Exception):
    """Base class for delivery failures."""


class PermanentDeliveryError(DeliveryError):
    """The provider rejected this message for good (bad number, unknown mailbox...): do not retry."""


class TransientDeliveryError(DeliveryError):
    """The provider is unavailable or throttling us: the job may be retried later."""


@dataclass(frozen=True)
class SmsConfig:
    base_url: str
    account_id: str
    api_token: str
    sender_id: str


class SmsSender:
    def __init__(self, config: SmsConfig):
        self.config = config
        self.session = requests.Session()
        self.session.auth = (config.account_id, config.api_token)
        self.session.headers["User-Agent"] = "notify-worker/2.3"

    def send(self, to: str, text: str) -> str:
        resp = self.session.post(
            f"{self.config.base_url}/v1/messages",
            json={"from": self.config.sender_id, "to": to, "body": text},
        )
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientDeliveryError(f"textwave answered {resp.status_code}")
        if resp.status_code >= 400:
            raise PermanentDeliveryError(f"textwave rejected message: {resp.status_code} {resp.text[:200]}")
        return resp.json()["message_id"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str
    password: str
    from_addr: str


class EmailSender:
    def __init__(self, config: SmtpConfig):
        self.config = config

    def send(self, to: str, subject: str, text: str) -> str:
        msg = EmailMessage()
        msg["From"] = self.config.from_addr
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain=self.config.from_addr.split("@")[-1])
        msg.set_content(text)
        try:
            with smtplib.SMTP(self.config.host, self.config.port, timeout=20) as smtp:
                smtp.ehlo()
                smtp.login(self.config.username, self.config.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"recipient refused: {exc.recipients}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"smtp relay error: {exc}") from exc
        return msg["Message-ID"]

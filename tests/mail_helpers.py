"""What the integration tests of e-mail share: delivering the table's stream to the
mailer of an in-process stack, and reading what SES (moto's) was given."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from moto.ses.models import ses_backends

from harness.stack import LambdaContext, Stack
from session_service.adapters.stream_records import decode_stream_record
from session_service.domain.activity.events import events_for
from tests.helpers import bearer, stream_records, totp_code

SENDER = "no-reply@sessions.example.test"
# E-mail on, sign-in by code on, for a stack (stack_with(**EMAIL_ON)).
EMAIL_ON = {"EMAIL_SENDER": SENDER, "EMAIL_SIGN_IN": "on"}


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str

    @property
    def code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.text)
        assert found is not None, self.text
        return found.group(1)

    @property
    def token(self) -> str:
        found = re.search(r"#token=([A-Za-z0-9_-]+)", self.text)
        assert found is not None, self.text
        return found.group(1)


def verify_sender(stack: Stack) -> None:
    stack.clients("sesv2").create_email_identity(EmailIdentity=SENDER)


def deliver_mail(stack: Stack, read: dict[str, str] | None = None) -> Any:
    """Hand the stream's records since `read` to the mailer, as Lambda would."""
    records = [
        record
        for record in stream_records(stack, read)
        # The event source mapping's filter: new mail requests only.
        if record["eventName"] == "INSERT"
        and record["dynamodb"]["NewImage"].get("kind", {}).get("S") == "mail_request"
    ]
    if not records:
        return None  # Lambda invokes no function for an empty batch
    handler = stack.function("MailerFunction").lambda_handler
    return handler({"Records": records}, LambdaContext())


def deliver_new_mail(stack: Stack) -> Any:
    """deliver_mail for what the stream got since this stack's last delivery (the stream's
    positions kept with the stack): each request handed to the mailer once."""
    read: dict[str, str] = vars(stack).setdefault("mail_read", {})
    return deliver_mail(stack, read)


def new_mail_requests(stack: Stack) -> list[Any]:
    """The mail requests the stream got since this stack's last delivery (deliver_new_mail
    hands them to the mailer), as the mapping hands them: each once."""
    read: dict[str, str] = vars(stack).setdefault("mail_read", {})
    return [
        record
        for record in stream_records(stack, read)
        if record["eventName"] == "INSERT"
        and record["dynamodb"]["NewImage"].get("kind", {}).get("S") == "mail_request"
    ]


def sent(to: str | None = None) -> list[Mail]:
    """What moto's SES was given, oldest first; to one address, if given."""
    mails = []
    for raw in ses_backends["123456789012"]["us-east-1"].sent_messages:
        parsed = email.message_from_string(raw.raw_data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        text = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        assert text is not None
        assert html is not None
        mails.append(
            Mail(
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                text=text.get_content(),
                html=html.get_content(),
            )
        )
    return [mail for mail in mails if to is None or mail.to == to]


def deliver_notices(stack: Stack) -> list[str]:
    """Publish the stream's events as the event publisher would, and hand each to the
    mailer as its rule would (an asynchronous invocation per event): their types."""
    handler = stack.function("MailerFunction").lambda_handler
    delivered: list[str] = []
    for record in stream_records(stack):
        change = decode_stream_record(record)
        for event in events_for(change) if change else []:
            bridge = {
                "id": f"bridge-{len(delivered)}",
                "source": "session-service",
                "detail-type": event.detail_type,
                "detail": event.detail,
            }
            handler(bridge, LambdaContext())
            delivered.append(event.detail_type)
    return delivered


def enroll_totp_over_http(stack: Stack, access_token: str) -> tuple[str, list[str]]:
    """Turn TOTP on from a fresh session: its secret and recovery codes."""
    import time  # noqa: PLC0415

    begun = stack.http("POST", "/auth/mfa/totp", headers=bearer(access_token))
    assert begun.status == 200, begun.json()
    secret = str(begun.json()["secret"])
    confirmed = stack.http(
        "POST",
        "/auth/mfa/totp/confirm",
        {"code": totp_code(secret, time.time())},
        headers=bearer(access_token),
    )
    assert confirmed.status == 200, confirmed.json()
    return secret, list(confirmed.json()["recovery_codes"])

"""What the mailer's tests share: a stack with e-mail on, SES made to fail and recover,
the mailer invoked as Lambda invokes it, and the events it is given."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from harness.stack import LambdaContext, Stack
from tests.helpers import PASSWORD, bearer, login, stream_records
from tests.mail_helpers import EMAIL_ON, SENDER, deliver_mail, sent, verify_sender

ADDRESS = "ada@example.com"
DOMAIN = SENDER.split("@")[1]


def mail_stack(stack_with: Callable[..., Stack], **settings: str) -> Stack:
    """A stack with e-mail on (and sign-in by code), its sender verified in SES."""
    stack = stack_with(**EMAIL_ON, **settings)
    verify_sender(stack)
    return stack


def ses_down(stack: Stack) -> None:
    """SES refuses every message: the sender's identities are gone (MessageRejected)."""
    ses = stack.clients("sesv2")
    for identity in ses.list_email_identities()["EmailIdentities"]:
        ses.delete_email_identity(EmailIdentity=identity["IdentityName"])


def ses_up(stack: Stack) -> None:
    stack.clients("sesv2").create_email_identity(EmailIdentity=DOMAIN)


def register_with_address(stack: Stack) -> None:
    body = {"username": "ada", "password": PASSWORD, "email": ADDRESS}
    answer = stack.http("POST", "/auth/register", body)
    assert answer.status == 201, answer.json()


def mail_requests(stack: Stack) -> list[dict[str, Any]]:
    return [
        record
        for record in stream_records(stack)
        if record["eventName"] == "INSERT"
        and record["dynamodb"]["NewImage"].get("kind", {}).get("S") == "mail_request"
    ]


def mailer(stack: Stack) -> Callable[[dict[str, Any]], Any]:
    handler = stack.function("MailerFunction").lambda_handler
    return lambda event: handler(json.loads(json.dumps(event)), LambdaContext())


def with_verified_address(stack: Stack) -> str:
    """A user whose address is verified; their id."""
    register_with_address(stack)
    deliver_mail(stack)
    (mail,) = sent(ADDRESS)
    tokens = login(stack)
    verify = {"code": mail.code}
    answer = stack.http(
        "POST", "/auth/email/verify", verify, headers=bearer(tokens["access_token"])
    )
    assert answer.status == 204, answer.json()
    account = stack.http("GET", "/auth/account", headers=bearer(tokens["access_token"])).json()
    return str(account["user_id"])


def password_changed(user_id: str, bridge_id: str = "bridge-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": bridge_id,
        "detail-type": "PasswordChanged",
        "source": "session-service",
        "account": "123456789012",
        "time": "2026-11-29T00:30:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "event_id": "stream-record-7",
            "user_id": user_id,
            "changed_at": "2026-11-29T00:30:00.000Z",
        },
    }

"""What the e-mail benchmarks share: the settings of a stack with e-mail on, the account
they use (with a verified address), and the mailbox: what moto's SES was given."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from moto.ses.models import ses_backends

from bench.moto_stack import ACCOUNT, REGION, AsyncPump
from harness.stack import Stack

SENDER = "no-reply@sessions.example.test"
USERNAME = "ada"
PASSWORD = "correct horse battery"
ADDRESS = "ada@example.com"
UNKNOWN_USERNAME = "nobody"
UNKNOWN_ADDRESS = "nobody@example.com"
# The mailing limits (EMAILS_PER_ADDRESS 5, EMAILS_PER_IP 50 per login window) raised out
# of reach: every request of the benchmarks is under them, so each one records its message
# (beyond them a route records nothing, for a known account as for an unknown one).
MAILING_LIMIT = "1000000"
EMAIL_SETTINGS = {
    "EMAIL_SENDER": SENDER,
    "EMAIL_SIGN_IN": "on",
    "EMAILS_PER_ADDRESS": MAILING_LIMIT,
    "EMAILS_PER_IP": MAILING_LIMIT,
}

VERIFY_SUBJECT = "Verify your e-mail address"
RESET_SUBJECT = "Reset your password"
CODE_SUBJECT = "Your sign-in code"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str

    @property
    def code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.text)
        if found is None:
            raise ValueError(f"no code in {self.subject!r}")
        return found.group(1)

    @property
    def token(self) -> str:
        found = re.search(r"#token=([A-Za-z0-9_-]+)", self.text)
        if found is None:
            raise ValueError(f"no link in {self.subject!r}")
        return found.group(1)


def sent() -> list[Mail]:
    """What moto's SES was given, oldest first."""
    mails = []
    for raw in ses_backends[ACCOUNT][REGION].sent_messages:
        parsed = email.message_from_string(raw.raw_data, policy=email.policy.default)
        if not isinstance(parsed, EmailMessage):
            continue
        body = parsed.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        mails.append(Mail(str(parsed["To"]), str(parsed["Subject"]), text))
    return mails


def last_mail(subject: str, to: str = ADDRESS) -> Mail:
    found = [mail for mail in sent() if mail.to == to and mail.subject == subject]
    if not found:
        raise RuntimeError(f"no {subject!r} was sent to {to}")
    return found[-1]


def checked(answer: Any, what: str) -> Any:
    if answer.status >= 300:
        raise RuntimeError(f"{what}: {answer.status} {answer.json()}")
    return answer.json()


def with_verified_address(stack: Stack, pump: AsyncPump) -> dict[str, Any]:
    """Register USERNAME with ADDRESS and verify it with the mailed code: the tokens of
    the session that verified it."""
    body = {"username": USERNAME, "password": PASSWORD, "email": ADDRESS}
    checked(stack.http("POST", "/auth/register", body), "register")
    pump.drain()  # the mailer sends the verification code
    login = {"username": USERNAME, "password": PASSWORD}
    tokens: dict[str, Any] = checked(stack.http("POST", "/auth/login", login), "login")
    code = {"code": last_mail(VERIFY_SUBJECT).code}
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    checked(stack.http("POST", "/auth/email/verify", code, headers=bearer), "verify")
    return tokens

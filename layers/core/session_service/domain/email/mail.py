"""What the service mails, and the port that sends it. The request path never sends: it
records a `MailRequest` (or a change whose event means a notice) in the same write as the
change, and the mailer function turns it into one `OutgoingMail` and sends that. Secrets
(codes, reset tokens) are drawn by the mailer as it sends, so none is ever stored except
as a digest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from session_service.domain.models import Millis

# What a request asks the mailer to send.
MailPurpose = Literal["verify_email", "password_reset", "sign_in_code", "email_changed"]

# Each message the service sends: a template of its own (plain text and HTML).
MailTemplate = Literal[
    "verify_email",
    "password_reset",
    "sign_in_code",
    "password_changed",
    "password_reset_done",
    "new_device",
    "factor_added",
    "factor_removed",
    "factors_reset",
    "email_changed",
]


@dataclass(frozen=True, slots=True)
class MailRequest:
    """A message asked for by a request, recorded with it (the table's stream carries it
    to the mailer). Which fields are set depends on the purpose:
    - verify_email: user_id and the address to verify;
    - password_reset: username_key or address, as the user gave it (the account is
      found by the mailer, so the request costs the same whether or not it exists);
    - sign_in_code: address, and login_digest (the digest of the login_id it answered);
    - email_changed: user_id, and the previous address, which is told (recorded with the
      verification of the new one)."""

    request_id: str
    purpose: MailPurpose
    requested_at: Millis
    user_id: str = ""
    username_key: str = ""
    address: str = ""
    login_digest: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One message to one address. `mail_id` is the request's or the event's id: a retry
    of the same message is recognised by it. `values` fill the template's blanks (a code,
    a link, a username, a time, a device)."""

    mail_id: str
    to: str
    template: MailTemplate
    values: Mapping[str, str] = field(default_factory=dict)


class Undeliverable(Exception):
    """A message that can never be sent as it is (an address no header can carry, a
    template missing a value): retrying would only hold up the messages behind it, so the
    mailer logs it, counts it and drops it."""


class MailSender(Protocol):
    """Sends one message (Amazon SES v2 on AWS, the emulator's SES locally); raises
    `Unavailable` when it could not, so that the mailer's retry sends it again, and
    `Undeliverable` when no retry could."""

    def send(self, mail: OutgoingMail) -> None: ...

"""The demo's mailbox: GET /demo/mailbox?to=ADDRESS answers what SES sent to that address,
`{"messages": [{"to", "subject", "text", "html", "sent_at"}]}`, newest first. Local run
only (the template deploys nothing of it): it reads the emulator's record of what it sent
(GET /_aws/ses: the embedded emulator's, local_run/moto_ses.py, in LocalStack's shape) and
reads each raw message's MIME parts with the standard library's e-mail parser."""

from __future__ import annotations

import email
import email.policy
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qs

from local_run.responses import GatewayResponse

SENT_MESSAGES_PATH = "/_aws/ses"
FETCH_TIMEOUT_SECONDS = 10
_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]


def mailbox(ses_endpoint: str) -> Callable[[str], GatewayResponse]:
    """What answers GET /demo/mailbox, given its query string, for the SES endpoint whose
    sent messages it shows."""

    def answer(query: str) -> GatewayResponse:
        to = (parse_qs(query).get("to") or [""])[0].strip()
        if not to or "@" not in to:
            return _error(400, "invalid_request", "Give the address: /demo/mailbox?to=ADDRESS.")
        try:
            sent = _fetch(ses_endpoint + SENT_MESSAGES_PATH)
        except urllib.error.HTTPError as error:
            return _error(
                404 if error.code == 404 else 503,
                "not_found" if error.code == 404 else "unavailable",
                f"The AWS endpoint {ses_endpoint} shows no sent messages ({error.code} on "
                f"GET {SENT_MESSAGES_PATH}).",
            )
        except (OSError, ValueError):
            return _error(503, "unavailable", f"The AWS endpoint {ses_endpoint} did not answer.")
        return _json(200, {"messages": messages_to(to, sent)})

    return answer


def _fetch(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 - our endpoint
        document = json.loads(response.read())
    messages = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(messages, list):
        raise ValueError("not a list of sent messages")
    return [message for message in messages if isinstance(message, dict)]


def messages_to(address: str, sent: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages among `sent` (the emulator's records, oldest first) addressed to this
    address (To, Cc or Bcc; compared case-insensitively), newest first, as the mailbox
    shows them."""
    wanted = address.strip().lower()
    found = []
    for record in sent:
        message = _readable(record)
        if wanted in message.pop("recipients"):
            found.append(message)
    # Newest first: by time, and in the order sent where two share a millisecond.
    found.reverse()
    found.sort(key=lambda message: message["sent_at"] or "", reverse=True)
    return found


def _readable(record: dict[str, Any]) -> dict[str, Any]:
    destination = record.get("Destination") or {}
    recipients = [
        str(address)
        for field in ("ToAddresses", "CcAddresses", "BccAddresses")
        for address in destination.get(field) or []
    ]
    raw = record.get("RawData")
    if isinstance(raw, str):
        # As bytes: parsed from a str, an 8bit part's non-ASCII text is lost (moto hands
        # the message over decoded as UTF-8, so encoding it so gives its bytes back).
        parsed = email.message_from_bytes(raw.encode(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)  # the default policy's class
        headers = [str(parsed[name]) for name in ("To", "Cc") if parsed[name] is not None]
        to = str(parsed["To"] or ", ".join(recipients))
        subject = str(parsed["Subject"] or "")
        text, html = _part(parsed, "plain"), _part(parsed, "html")
        recipients += headers
    else:
        body = record.get("Body") or {}
        to = ", ".join(destination.get("ToAddresses") or recipients)
        subject = str(record.get("Subject") or "")
        text, html = body.get("text_part"), body.get("html_part")
    return {
        "to": to,
        "subject": subject,
        "text": text,
        "html": html,
        "sent_at": record.get("Timestamp"),
        "recipients": {address.lower() for _, address in getaddresses(recipients) if address},
    }


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _error(status: int, code: str, description: str) -> GatewayResponse:
    headers = list(_HEADERS)
    if status == 503:
        headers.append(("Retry-After", "1"))
    return _json(status, {"error": code, "error_description": description}, headers)


def _json(
    status: int, body: dict[str, Any], headers: list[tuple[str, str]] | None = None
) -> GatewayResponse:
    return GatewayResponse(status, headers or list(_HEADERS), json.dumps(body).encode())

"""The table's e-mail items: what a request asks the mailer to send.

Items (pk / sk):
  MAILREQ#<request id>  / MAILREQ   a message asked for (MailRequest), written with the
                                    change that asks for it; the stream carries its INSERT
                                    to the mailer, which finds the account and sends it.
                                    Read by no request; kept a day.
"""

from __future__ import annotations

from session_service.adapters.store_items import Item, Key, int_of, key, n, s, str_of, ttl_seconds
from session_service.domain.email.mail import MailPurpose, MailRequest

# Long enough for the stream's retries and a look at it afterwards.
MAIL_REQUEST_SECONDS = 86_400
MAIL_REQUEST_KIND = "mail_request"
_PURPOSES: frozenset[str] = frozenset(
    {"verify_email", "password_reset", "sign_in_code", "email_changed"}
)


def mail_request_key(request_id: str) -> Key:
    return key(f"MAILREQ#{request_id}", "MAILREQ")


def mail_request_item(request: MailRequest) -> Item:
    item: Item = {
        **mail_request_key(request.request_id),
        "kind": s(MAIL_REQUEST_KIND),
        "purpose": s(request.purpose),
        "requested_at": n(request.requested_at),
        "ttl": n(ttl_seconds(request.requested_at + MAIL_REQUEST_SECONDS * 1000)),
    }
    for name in ("user_id", "username_key", "address", "login_digest"):
        value = getattr(request, name)
        if value:
            item[name] = s(value)
    return item


def mail_request_from_item(item: Item) -> MailRequest:
    """A request from its item (a stream record's NewImage); ValueError if it is none."""
    if item.get("kind", {}).get("S") != MAIL_REQUEST_KIND:
        raise ValueError("not a mail request")
    purpose = str_of(item, "purpose")
    if purpose not in _PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    checked: MailPurpose = purpose  # type: ignore[assignment]

    def text(name: str) -> str:
        return str(item[name]["S"]) if name in item else ""

    return MailRequest(
        request_id=str_of(item, "pk").removeprefix("MAILREQ#"),
        purpose=checked,
        requested_at=int_of(item, "requested_at"),
        user_id=text("user_id"),
        username_key=text("username_key"),
        address=text("address"),
        login_digest=text("login_digest"),
    )

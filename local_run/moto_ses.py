"""moto's SES, made to show what it sent: each message is stamped with the time it was sent,
and the embedded emulator answers GET /_aws/ses with every message sent, in LocalStack's
shape for its own route of that name (`{"messages": [{"Id", "Region", "Source",
"Destination", "Subject", "Body" | "RawData", "Timestamp"}]}`). The local run's mailbox
(local_run/mailbox.py) reads it. Installed in the embedded emulator only.

moto keeps what SES sent in its backends (`ses_backends[account][region].sent_messages`,
SES v2's sends included), without a time, and shows it on no route of its own."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from moto.ses.models import Message, RawMessage, SESBackend, ses_backends

SENT_MESSAGES_PATH = "/_aws/ses"
_SENDS = ("send_email", "send_raw_email")


def install() -> None:
    """Stamp each message moto's SES sends with its time (idempotent)."""
    for name in _SENDS:
        original = getattr(SESBackend, name)
        if not getattr(original, "stamps_time", False):
            setattr(SESBackend, name, _stamped(original))


def _stamped(send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def stamped(*args: Any, **kwargs: Any) -> Any:
        message = send(*args, **kwargs)
        message.sent_at = time.time()
        return message

    stamped.stamps_time = True  # type: ignore[attr-defined]
    return stamped


def sent_messages() -> list[dict[str, Any]]:
    """Every message moto's SES has sent, in every account and region, oldest first."""
    found: list[dict[str, Any]] = []
    for regions in list(ses_backends.values()):
        for region, backend in list(regions.items()):
            for message in list(backend.sent_messages):
                entry = _entry(message, region)
                if entry is not None:
                    found.append(entry)
    return sorted(found, key=lambda entry: entry["Timestamp"] or "")


def _entry(message: Any, region: str) -> dict[str, Any] | None:
    entry: dict[str, Any] = {
        "Id": message.id,
        "Region": region,
        "Source": message.source,
        "Timestamp": _timestamp(getattr(message, "sent_at", None)),
    }
    if isinstance(message, RawMessage):
        # moto's recipients: the call's, then the To, Cc and Bcc of the message's headers
        entry["Destination"] = {"ToAddresses": list(message.destinations)}
        entry["RawData"] = message.raw_data
    elif isinstance(message, Message):
        entry["Destination"] = dict(message.destinations)
        # moto keeps one body of a simple message: its HTML one when it has both
        entry["Subject"] = message.subject
        entry["Body"] = {"text_part": message.body, "html_part": None}
    else:
        return None  # a templated message: its body is not rendered by moto
    return entry


def _timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_sent_messages(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The emulator's WSGI app, answering GET /_aws/ses itself."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != SENT_MESSAGES_PATH:
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        body = json.dumps({"messages": sent_messages()}).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return application

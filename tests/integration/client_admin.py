"""What the OAuth client tests share: admin requests with a JSON body, signed as the admin
CLI signs (the signature covers the body), and the client events the stream carried."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from botocore.credentials import Credentials

from local_run.sigv4 import signed_headers
from session_service.adapters.stream_records import decode_stream_record
from session_service.domain.activity.events import ServiceEvent, events_for
from tests.helpers import stream_records

if TYPE_CHECKING:
    from harness.stack import HttpAnswer, Stack

HOST = "127.0.0.1:3000"
WEB_APP = {
    "name": "Billing",
    "redirect_uris": ["https://billing.example.test/callback"],
    "post_logout_redirect_uris": ["https://billing.example.test/"],
    "backchannel_logout_uri": "https://billing.example.test/backchannel-logout",
    "type": "confidential",
}
NATIVE_APP = {
    "name": "Desktop",
    "redirect_uris": ["http://127.0.0.1:8400/callback"],
    "type": "public",
}


def admin_call(stack: Stack, method: str, path: str, body: Any = None) -> HttpAnswer:
    """A request to the admin API signed with the stack's credentials, its body included."""
    data = b"" if body is None else json.dumps(body).encode()
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    headers = signed_headers(
        method, f"http://{HOST}{path}", data, credentials, "us-east-1", {"host": HOST}
    )
    return stack.http(method, path, data.decode() if data else None, headers=headers)


def registered(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """A client registered through the API: the 201's body."""
    answer = admin_call(stack, "POST", "/admin/clients", body)
    assert answer.status == 201, answer.json()
    return dict(answer.json())


def client_events(stack: Stack) -> list[ServiceEvent]:
    """ClientRegistered and ClientDeleted, as the publisher makes them from the stream."""
    events = []
    for record in stream_records(stack):
        change = decode_stream_record(record)
        events += [
            event
            for event in (events_for(change) if change else [])
            if event.detail_type in ("ClientRegistered", "ClientDeleted")
        ]
    return events

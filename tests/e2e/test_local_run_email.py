"""E-mail in the local run as `make run` starts it: on, from a sender verified in the
emulator's SES, its reset links opening the run's demo page, and what was sent readable in
the mailbox (GET /demo/mailbox); off when EMAIL_SENDER is set empty."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(bool(DEPLOYED_URL), reason="about the local run"),
]


def mail_to(service: Service, to: str, containing: str) -> dict[str, Any]:
    """The newest message to `to` whose text contains `containing`, polled: the mailer
    sends it a moment after the request that asked for it."""
    deadline = time.monotonic() + 30
    while True:
        answer = service.get("/demo/mailbox", params={"to": to})
        assert answer.status_code == 200, answer.text
        found = [m for m in answer.json()["messages"] if containing in (m["text"] or "")]
        if found:
            return dict(found[0])
        assert time.monotonic() < deadline, f"no message to {to} with {containing!r}"
        time.sleep(0.2)  # short polls of a route that answers at once


def test_a_local_run_mails_from_a_verified_sender_with_links_to_its_demo_page(
    service: Service,
) -> None:
    # Given the default local run: its sender's domain is verified in the emulator's SES
    identities = service.aws("sesv2").list_email_identities()["EmailIdentities"]
    assert "session-service.localhost" in {identity["IdentityName"] for identity in identities}
    # When a user registers with an address, verifies it, and forgets the password
    username, address = f"e2e-{uuid.uuid4().hex[:12]}", f"{uuid.uuid4().hex[:12]}@example.test"
    body = {"username": username, "password": PASSWORD, "email": address}
    assert service.post("/auth/register", body).status_code == 201
    tokens = service.login(username)
    (code,) = re.findall(r"\b\d{6}\b", mail_to(service, address, "code")["text"])
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert service.post("/auth/email/verify", {"code": code}, headers=headers).status_code == 204
    assert service.post("/auth/password/forgot", {"email": address}).status_code == 202
    # Then the reset message's link opens this run's demo page, its token in the fragment
    reset = mail_to(service, address, "#token=")
    links = re.findall(r"https?://\S+#token=[\w-]+", reset["text"])
    assert links
    assert all(link.startswith(f"{service.base_url}/demo/#token=") for link in links)
    assert reset["html"] is not None
    assert reset["sent_at"].endswith("Z")


def test_email_sender_set_empty_turns_e_mail_off(configured: Callable[..., Service]) -> None:
    service = configured(EMAIL_SENDER="")
    body = {"username": f"e2e-{uuid.uuid4().hex[:12]}", "password": PASSWORD, "email": "a@b.test"}
    answer = service.post("/auth/register", body)
    assert (answer.status_code, answer.json()["error"]) == (409, "conflict")
    identities = service.aws("sesv2").list_email_identities()["EmailIdentities"]
    assert identities == []

"""A user's security activity over HTTP, written by the local run's stream pump and
publisher (on moto and on DynamoDB Local): a failed and then a successful login appear,
newest first, with their IP and user agent."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.service import Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _activity_until(service: Service, token: str, kinds: set[str]) -> list[dict[str, Any]]:
    """Poll the caller's activity until every kind has appeared (the stream is async)."""
    deadline = time.monotonic() + 30
    while True:
        answer = service.get("/auth/activity", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        if kinds <= {e["type"] for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_a_failed_then_a_successful_login_appear_in_activity(
    on_each_backend: Callable[..., Service],
) -> None:
    service = on_each_backend()
    username = service.new_user()
    wrong = {"username": username, "password": "not it at all"}
    failed = service.post("/auth/login", wrong, headers={"User-Agent": "Guesser/1.0"})
    assert failed.status_code == 401
    agent = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130"}
    body = {"username": username, "password": PASSWORD}
    tokens = service.post("/auth/login", body, headers=agent).json()
    events = _activity_until(
        service, tokens["access_token"], {"login_failed", "login_succeeded", "new_device"}
    )
    kinds = [e["type"] for e in events]
    assert set(kinds[:2]) == {"login_succeeded", "new_device"}
    assert kinds[2:] == ["login_failed"]
    by_kind = {e["type"]: e for e in events}
    # (user agents shown as browser and platform labels: the guesser's names neither)
    assert (by_kind["login_failed"]["ip"], by_kind["login_failed"]["user_agent"]) == (
        "127.0.0.1",
        "Other",
    )
    assert by_kind["login_succeeded"]["user_agent"] == "Firefox on Linux"
    assert by_kind["login_succeeded"]["session_id"] == tokens["session_id"]

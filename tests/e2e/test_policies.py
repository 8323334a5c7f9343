"""Session policies over HTTP against the local run: the limit under 12 concurrent logins,
the sessions of two users, the grace window, and 429 with Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.service import BURSTS, Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture
def policy_service(configured: Callable[..., Service]) -> Service:
    return configured(**BURSTS)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def concurrent_logins(service: Service, username: str, count: int) -> list[requests.Response]:
    body = {"username": username, "password": PASSWORD}
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: service.post("/auth/login", body), range(count)))


def live_sessions(service: Service, answers: list[requests.Response]) -> list[dict[str, Any]]:
    """The token responses among `answers` whose session is still live."""
    issued = [a.json() for a in answers if a.status_code == 200]
    return [
        tokens
        for tokens in issued
        if service.get("/auth/session", headers=bearer(tokens["access_token"])).status_code == 200
    ]


@pytest.mark.parametrize("round_", range(3))
def test_twelve_concurrent_logins_leave_exactly_three_live_sessions(
    on_each_backend: Callable[..., Service], round_: int
) -> None:
    policy_service = on_each_backend(**BURSTS)
    username = policy_service.new_user()
    answers = concurrent_logins(policy_service, username, 12)
    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers]
    live = live_sessions(policy_service, answers)
    assert len(live) == 3
    listed = policy_service.get("/auth/sessions", headers=bearer(live[0]["access_token"]))
    assert listed.status_code == 200
    assert {s["session_id"] for s in listed.json()["sessions"]} == {
        tokens["session_id"] for tokens in live
    }


def test_two_users_see_and_end_only_their_own_sessions(policy_service: Service) -> None:
    ada_name, bob_name = policy_service.new_user(), policy_service.new_user()
    ada_phone = policy_service.login(ada_name, headers={"User-Agent": "Phone"})
    ada_laptop = policy_service.login(ada_name, headers={"User-Agent": "Laptop"})
    bob = policy_service.login(bob_name)
    ada_view = policy_service.get("/auth/sessions", headers=bearer(ada_laptop["access_token"]))
    assert [s["user_agent"] for s in ada_view.json()["sessions"]] == ["Laptop", "Phone"]
    bob_view = policy_service.get("/auth/sessions", headers=bearer(bob["access_token"]))
    assert [s["session_id"] for s in bob_view.json()["sessions"]] == [bob["session_id"]]
    # bob cannot end ada's phone session, nor learn that it exists
    probe = policy_service.delete(
        f"/auth/sessions/{ada_phone['session_id']}", headers=bearer(bob["access_token"])
    )
    assert probe.status_code == 404
    # ada can, from her laptop
    ended = policy_service.delete(
        f"/auth/sessions/{ada_phone['session_id']}", headers=bearer(ada_laptop["access_token"])
    )
    assert ended.status_code == 204
    assert (
        policy_service.get("/auth/session", headers=bearer(ada_phone["access_token"])).status_code
        == 401
    )
    assert (
        policy_service.get("/auth/session", headers=bearer(bob["access_token"])).status_code == 200
    )


def test_grace_window_lets_the_previous_token_through_and_then_not(policy_service: Service) -> None:
    tokens = policy_service.login(policy_service.new_user())
    first = policy_service.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200
    # inside the 2 s window the same token may be exchanged again (a lost response)
    again = policy_service.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200
    # after it, the same token is reuse and the session ends
    time.sleep(2.5)
    late = policy_service.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert late.status_code == 401
    current = policy_service.post("/auth/refresh", {"refresh_token": again.json()["refresh_token"]})
    assert current.status_code == 401


def test_repeated_failures_get_429_with_retry_after(policy_service: Service) -> None:
    username = policy_service.new_user()
    wrong = {"username": username, "password": "not the password"}
    statuses = [policy_service.post("/auth/login", wrong).status_code for _ in range(12)]
    assert statuses == [401] * 12
    locked = policy_service.post("/auth/login", {"username": username, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"] == "rate_limited"
    # the rest of the failure window (900 s by default)
    assert 1 <= int(locked.headers["Retry-After"]) <= 900

"""Session policies through the API on moto: the sessions routes, TTLs and throttling."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from harness.stack import Stack
from tests.helpers import (
    PASSWORD,
    assert_error,
    bearer,
    burst,
    login,
    register,
    serialize_aws_calls,
)


def test_sessions_list_shows_devices_newest_first_without_token_material(stack: Stack) -> None:
    register(stack)
    first = login(stack, headers={"user-agent": "Phone"}, source_ip="198.51.100.7")
    second = login(stack, headers={"user-agent": "Laptop"})
    answer = stack.http("GET", "/auth/sessions", headers=bearer(second["access_token"]))
    assert answer.status == 200
    sessions = answer.json()["sessions"]
    assert [s["session_id"] for s in sessions] == [second["session_id"], first["session_id"]]
    assert [s["current"] for s in sessions] == [True, False]
    assert sessions[1]["user_agent"] == "Phone"
    assert sessions[1]["ip"] == "198.51.100.7"
    assert set(sessions[0]) == {
        "session_id",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip",
        "user_agent",
        "current",
        "auth_time",
        "amr",
    }
    assert sessions[0]["amr"] == ["pwd"]
    text = answer.raw.body.decode()
    for secret in (first["refresh_token"], first["access_token"], "digest", "rt1."):
        assert secret not in text


def test_deleting_a_session_of_another_user_is_404_and_changes_nothing(stack: Stack) -> None:
    register(stack, "ada")
    register(stack, "bob")
    ada, bob = login(stack, "ada"), login(stack, "bob")
    path = f"/auth/sessions/{ada['session_id']}"
    assert_error(stack.http("DELETE", path, headers=bearer(bob["access_token"])), 404, "not_found")
    unknown = "/auth/sessions/00000000-0000-4000-8000-000000000000"
    assert_error(
        stack.http("DELETE", unknown, headers=bearer(bob["access_token"])), 404, "not_found"
    )
    assert stack.http("GET", "/auth/session", headers=bearer(ada["access_token"])).status == 200
    # while the owner may sign that device out
    phone = login(stack, "ada")
    own = stack.http(
        "DELETE", f"/auth/sessions/{phone['session_id']}", headers=bearer(ada["access_token"])
    )
    assert own.status == 204
    assert_error(
        stack.http("GET", "/auth/session", headers=bearer(phone["access_token"])),
        401,
        "invalid_token",
    )


def test_deleting_all_sessions_keeps_the_current_one(stack: Stack) -> None:
    register(stack)
    others = [login(stack) for _ in range(3)]
    current = login(stack)
    answer = stack.http("DELETE", "/auth/sessions", headers=bearer(current["access_token"]))
    assert answer.status == 204
    listed = stack.http("GET", "/auth/sessions", headers=bearer(current["access_token"])).json()
    assert [s["session_id"] for s in listed["sessions"]] == [current["session_id"]]
    for other in others:
        refused = stack.http("POST", "/auth/refresh", {"refresh_token": other["refresh_token"]})
        assert_error(refused, 401, "invalid_grant")


def _session_item(stack: Stack, session_id: str) -> dict[str, Any]:
    (item,) = [i for i in stack.items() if i["sk"]["S"] == f"SESSION#{session_id}"]
    return item


def test_ttl_follows_the_earlier_deadline(stack_with: Any) -> None:
    # Given a session whose idle deadline comes first at login
    stack = stack_with(SESSION_IDLE_TIMEOUT_SECONDS="3600", SESSION_ABSOLUTE_TIMEOUT_SECONDS="3601")
    register(stack)
    tokens = login(stack)
    item = _session_item(stack, tokens["session_id"])
    assert int(item["ttl"]["N"]) == -(-int(item["idle_expires_at"]["N"]) // 1000)
    # When a refresh pushes the idle deadline past the absolute one
    time.sleep(1.1)
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    refreshed = _session_item(stack, tokens["session_id"])
    absolute = int(refreshed["absolute_expires_at"]["N"])
    # Then the TTL follows the absolute deadline, which never moved
    assert int(refreshed["idle_expires_at"]["N"]) > absolute
    assert absolute == int(item["absolute_expires_at"]["N"])
    assert int(refreshed["ttl"]["N"]) == -(-absolute // 1000)


def test_throttled_login_is_429_with_retry_after_the_window(stack_with: Any) -> None:
    stack = stack_with(LOGIN_FAILURES_PER_USERNAME="3", LOGIN_FAILURE_WINDOW_SECONDS="900")
    register(stack)
    wrong = {"username": "ada", "password": "not the password"}
    statuses = [stack.http("POST", "/auth/login", wrong).status for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    before = time.time()
    locked = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    after = time.time()
    assert_error(locked, 429, "rate_limited")
    # Retry-After is the rest of the fixed 900 s window the failures fell in
    window_end = (before // 900 + 1) * 900
    assert math.ceil(window_end - after) <= int(locked.headers["retry-after"])
    assert int(locked.headers["retry-after"]) <= math.ceil(window_end - before)
    # another username from the same address is not locked
    other = stack.http("POST", "/auth/login", {"username": "bob", "password": PASSWORD})
    assert_error(other, 401, "invalid_grant")


def test_failures_from_one_address_do_not_lock_the_owner_elsewhere(stack: Stack) -> None:
    # Given an attacker who spends the username's failures from one address
    register(stack)
    wrong = {"username": "ada", "password": "not the password"}
    attacker = [
        stack.http("POST", "/auth/login", wrong, source_ip="203.0.113.66") for _ in range(6)
    ]
    assert [a.status for a in attacker] == [401] * 5 + [429]
    # Then the owner, from another address, logs in as usual
    right = {"username": "ada", "password": PASSWORD}
    assert stack.http("POST", "/auth/login", right, source_ip="198.51.100.7").status == 200


def test_the_owners_device_logs_in_while_many_addresses_attack(stack_with: Any) -> None:
    # Given the owner's device token from a login at home
    stack = stack_with(LOGIN_FAILURES_PER_USERNAME_ALL_IPS="10")
    register(stack)
    right = {"username": "ada", "password": PASSWORD}
    home = stack.http("POST", "/auth/login", right, source_ip="198.51.100.7").json()
    # When a distributed attack spends the username's failures across all addresses
    wrong = {"username": "ada", "password": "not the password"}
    spread = [
        stack.http("POST", "/auth/login", wrong, source_ip=f"203.0.113.{n}").status
        for n in range(11)
    ]
    assert spread == [401] * 10 + [429]
    # Then a login without the device's token is held, from anywhere (even home)
    assert_error(
        stack.http("POST", "/auth/login", right, source_ip="192.0.2.40"), 429, "rate_limited"
    )
    # And the owner's device is not: it counts on its own
    known = {**right, "device_token": home["device_token"]}
    answer = stack.http("POST", "/auth/login", known, source_ip="192.0.2.40")
    assert answer.status == 200, answer.json()
    assert answer.json()["device_token"].split(".")[1] == home["device_token"].split(".")[1]


@pytest.mark.parametrize("backend", ["moto", "dynamodb-local"], indirect=True)
def test_the_reject_policy_lets_exactly_the_limit_in_under_a_burst_of_logins(
    stack_with: Any, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the API (the gateway, the functions, their answers): of 12 logins at once at
    # a limit of 3, exactly 3 get in and 9 get 409 session_limit (the store-level bursts
    # are tests/integration/test_store_contract.py's)
    stack = stack_with(
        MAX_SESSIONS_PER_USER="3",
        SESSION_LIMIT_POLICY="reject",
        LOGIN_FAILURES_PER_USERNAME="12",
    )
    if backend == "moto":
        serialize_aws_calls(monkeypatch)
    register(stack)
    body = {"username": "ada", "password": PASSWORD}

    def log_in(_: int) -> tuple[int, str]:
        answer = stack.http("POST", "/auth/login", body)
        return answer.status, answer.json().get("error", "")

    assert burst(12, log_in) == {(200, ""): 3, (409, "session_limit"): 9}
    session_items = [i for i in stack.items() if i.get("kind", {}).get("S") == "session"]
    assert len(session_items) == 3

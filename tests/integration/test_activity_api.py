"""A user's security activity through the API: written by the stream's consumer from the
changes the service made, read newest first a page at a time."""

from __future__ import annotations

from typing import Any

from harness.stack import LambdaContext, Stack
from tests.helpers import (
    admin_headers,
    assert_error,
    bearer,
    login,
    register,
    stream_records,
)


def publish(stack: Stack) -> None:
    """Run the publisher over the table's stream, as Lambda's event source mapping does."""
    handler = stack.function("EventPublisherFunction").lambda_handler
    handler({"Records": stream_records(stack)}, LambdaContext())


def activity(stack: Stack, token: str, query: str = "") -> Any:
    answer = stack.http("GET", f"/auth/activity{query}", headers=bearer(token))
    assert answer.status == 200, answer.json()
    return answer.json()


def test_a_failed_then_a_successful_login_appear_with_their_ip_and_user_agent(
    stack: Stack,
) -> None:
    register(stack)
    wrong = {"username": "ada", "password": "not it at all"}
    stack.http(
        "POST",
        "/auth/login",
        wrong,
        headers={"user-agent": "Guesser/1.0"},
        source_ip="198.51.100.66",
    )
    tokens = login(stack, headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130"})
    publish(stack)
    events = activity(stack, tokens["access_token"])["events"]
    kinds = [e["type"] for e in events]
    # newest first: the sign-in and its new device (one moment), then the failure
    assert set(kinds[:2]) == {"login_succeeded", "new_device"}
    assert kinds[2:] == ["login_failed"]
    failed = next(e for e in events if e["type"] == "login_failed")
    # (the user agent shown as a browser and platform label: this header names neither)
    assert (failed["ip"], failed["user_agent"]) == ("198.51.100.66", "Other")
    succeeded = next(e for e in events if e["type"] == "login_succeeded")
    assert succeeded["session_id"] == tokens["session_id"]
    assert succeeded["user_agent"] == "Firefox on Linux"


def test_an_unknown_usernames_failures_are_recorded_nowhere_a_user_reads(stack: Stack) -> None:
    register(stack)
    for _ in range(3):
        stack.http("POST", "/auth/login", {"username": "nobody", "password": "not it at all"})
    # The same one write as a known user's failure (the timing tells nothing), but of
    # nothing: no name, no address, no kind the stream passes
    attempts = [i for i in stack.items() if i["pk"]["S"].startswith("ATTEMPT#")]
    assert len(attempts) == 3
    assert all(set(i) == {"pk", "sk", "kind", "ttl"} for i in attempts)
    assert {i["kind"]["S"] for i in attempts} == {"unattributed_attempt"}


def test_admin_actions_and_revocations_are_the_users_activity(stack: Stack) -> None:
    user_id = register(stack)
    first = login(stack)
    second = login(stack)
    stack.http(
        "DELETE", f"/auth/sessions/{first['session_id']}", headers=bearer(second["access_token"])
    )
    path = f"/admin/users/{user_id}/disable"
    assert stack.http("POST", path, headers=admin_headers("POST", path)).status == 204
    path = f"/admin/users/{user_id}/enable"
    assert stack.http("POST", path, headers=admin_headers("POST", path)).status == 204
    third = login(stack)
    publish(stack)
    events = activity(stack, third["access_token"], "?limit=100")["events"]
    revoked = [(e["type"], e.get("reason")) for e in events if e["type"] == "session_revoked"]
    assert sorted(revoked) == [("session_revoked", "admin"), ("session_revoked", "logout")]
    kinds = [e["type"] for e in events]
    assert kinds.index("account_enabled") < kinds.index("account_disabled")


def test_activity_pages_with_an_opaque_cursor(stack: Stack) -> None:
    register(stack)
    for _ in range(4):
        tokens = login(stack)
    publish(stack)
    everything = activity(stack, tokens["access_token"], "?limit=100")
    assert everything.get("next_cursor") is None
    first = activity(stack, tokens["access_token"], "?limit=2")
    second = activity(stack, tokens["access_token"], f"?limit=2&cursor={first['next_cursor']}")
    assert first["events"] + second["events"] == everything["events"][:4]
    bad = stack.http(
        "GET", "/auth/activity?cursor=bm90LWEtY3Vyc29y", headers=bearer(tokens["access_token"])
    )
    assert_error(bad, 400, "invalid_request")
    too_many = stack.http("GET", "/auth/activity?limit=101", headers=bearer(tokens["access_token"]))
    assert_error(too_many, 400, "invalid_request")

"""AWS failures: for every route, DynamoDB throttling, an internal error, a timeout and a
cancelled transaction, injected at each of the route's calls in turn, give 503
`unavailable` with Retry-After and leave the table as it was (an attempt that was never
judged gives its throttle places back: a counter at zero is as good as none)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError

from harness.stack import Stack
from session_service import wiring
from session_service.domain.sessions.lifecycle import MAX_START_ATTEMPTS
from tests.helpers import PASSWORD, authorize, bearer, login, register


def _client_error(code: str, operation: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, **extra}, operation)


FAULTS: dict[str, Callable[[str], Exception]] = {
    "throttling": lambda op: _client_error("ProvisionedThroughputExceededException", op),
    "internal_error": lambda op: _client_error("InternalServerError", op),
    "timeout": lambda op: ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    "transaction_cancelled": lambda op: _client_error(
        "TransactionCanceledException",
        op,
        CancellationReasons=[{"Code": "ThrottlingError"}, {"Code": "None"}],
    ),
}


@dataclass
class Request:
    method: str
    path: str
    body: Any = None
    bearer_of: str | None = None


def _requests(tokens: dict[str, Any], other: dict[str, Any]) -> dict[str, Request]:
    return {
        "register": Request("POST", "/auth/register", {"username": "bob", "password": PASSWORD}),
        "login": Request("POST", "/auth/login", {"username": "ada", "password": PASSWORD}),
        "refresh": Request("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]}),
        "logout": Request("POST", "/auth/logout", bearer_of="access_token"),
        "logout_by_refresh_token": Request(
            "POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]}
        ),
        "session": Request("GET", "/auth/session", bearer_of="access_token"),
        "sessions": Request("GET", "/auth/sessions", bearer_of="access_token"),
        "revoke_session": Request(
            "DELETE", f"/auth/sessions/{other['session_id']}", bearer_of="access_token"
        ),
        "revoke_other_sessions": Request("DELETE", "/auth/sessions", bearer_of="access_token"),
        "password": Request(
            "POST",
            "/auth/password",
            {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
            bearer_of="access_token",
        ),
    }


# The DynamoDB calls each route makes when all is well (test_aws_calls counts the warm
# ones); a fault is injected at each of them in turn.
# Per route: its DynamoDB calls up to the one that commits its change (test_aws_calls counts
# the warm ones), each with the throttle places held when it is made. A fault is injected at
# each in turn; the places held are given back, and nothing else is written.
RESERVE = "UpdateItem"  # a place in one throttle scope (a release is the same call)
PLACE = "UpdateItem: a place"  # a step that takes a place (the call is RESERVE)
STEPS: dict[str, list[tuple[str, int]]] = {
    # A registration's place of its address is kept unless AWS fails (then given back).
    "register": [(PLACE, 0), ("TransactWriteItems", 1)],
    # The address's scope first, then the username's from it, then from every address.
    "login": [
        ("GetItem", 0),
        (PLACE, 0),
        (PLACE, 1),
        (PLACE, 2),
        ("Query", 3),
        ("TransactWriteItems", 3),
    ],
    "refresh": [("GetItem", 0), ("UpdateItem", 0)],
    "logout": [("TransactWriteItems", 0)],
    "logout_by_refresh_token": [("TransactWriteItems", 0)],
    "session": [("BatchGetItem", 0)],
    "sessions": [("BatchGetItem", 0), ("Query", 0)],
    "revoke_session": [("BatchGetItem", 0), ("TransactWriteItems", 0)],
    "revoke_other_sessions": [("BatchGetItem", 0), ("Query", 0), ("TransactWriteItems", 0)],
    # A password change comes from a live session, a known device: the session's scope
    # and the address's two, not the username's across all addresses.
    "password": [
        ("BatchGetItem", 0),
        ("GetItem", 0),
        (PLACE, 0),
        (PLACE, 1),
        (PLACE, 2),
        ("Query", 3),
        ("TransactWriteItems", 3),
    ],
}
CALLS = {
    route: [RESERVE if operation == PLACE else operation for operation, _ in steps]
    for route, steps in STEPS.items()
}
CASES = [
    (route, fault, number)
    for route, steps in STEPS.items()
    for number, (operation, _) in enumerate(steps, start=1)
    for fault in FAULTS
    if fault != "transaction_cancelled" or operation == "TransactWriteItems"
]


class FaultInjector:
    """A failing fake at botocore's edge: `fail(operation, number)` may return the error
    the n-th DynamoDB call of a request raises."""

    def __init__(self) -> None:
        self.fail: Callable[[str, int], Exception | None] = lambda operation, number: None
        self.calls: list[str] = []

    def wrap(self, original: Any) -> Any:
        def call(client: BaseClient, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                self.calls.append(operation)
                error = self.fail(operation, len(self.calls))
                if error is not None:
                    raise error
            return original(client, operation, params)

        return call


@pytest.fixture
def injector(monkeypatch: pytest.MonkeyPatch) -> FaultInjector:
    injector = FaultInjector()
    original = BaseClient._make_api_call
    monkeypatch.setattr(BaseClient, "_make_api_call", injector.wrap(original))
    return injector


def _state(stack: Stack) -> list[str]:
    """The table's items, but throttle counters at zero (a place taken and given back)."""
    return sorted(
        str(item)
        for item in stack.items()
        if not (item["pk"]["S"].startswith("THROTTLE#") and item["attempts"]["N"] == "0")
    )


def _send(stack: Stack, request: Request, tokens: dict[str, Any]) -> Any:
    headers = bearer(tokens[request.bearer_of]) if request.bearer_of else None
    return stack.http(request.method, request.path, request.body, headers=headers)


@pytest.mark.parametrize(("route", "fault", "call_number"), CASES)
def test_dynamodb_failure_gives_503_and_leaves_no_half_written_state(
    stack: Stack, injector: FaultInjector, route: str, fault: str, call_number: int
) -> None:
    # Given a user with two sessions
    register(stack)
    other, tokens = login(stack), login(stack)
    request = _requests(tokens, other)[route]
    snapshot = _state(stack)
    injector.calls.clear()
    # When the n-th DynamoDB call of the request fails
    injector.fail = lambda operation, number: (
        FAULTS[fault](operation) if number == call_number else None
    )
    answer = _send(stack, request, tokens)
    injector.fail = lambda operation, number: None
    # Then the route made the calls it makes, up to the failed one, and after it exactly
    # the releases of the throttle places it held, and of the place whose write failed
    # (it may have been applied before its answer was lost)
    step, held = STEPS[route][call_number - 1]
    released = held + 1 if step == PLACE else held
    assert injector.calls == [*CALLS[route][:call_number], *[RESERVE] * released]
    # And the client is told to retry, and nothing was half written
    assert answer.status == 503, answer.json()
    assert answer.json()["error"] == "unavailable"
    assert int(answer.headers["retry-after"]) >= 1
    assert _state(stack) == snapshot


def _conflict(operation: str) -> ClientError:
    return _client_error(
        "TransactionCanceledException",
        operation,
        CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
    )


def test_persistent_transaction_conflicts_give_503_after_retrying(
    stack: Stack, injector: FaultInjector
) -> None:
    register(stack)
    snapshot = _state(stack)
    injector.calls.clear()
    injector.fail = lambda operation, number: (
        _conflict(operation) if operation == "TransactWriteItems" else None
    )
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.status == 503
    assert answer.json()["error"] == "unavailable"
    assert answer.headers["retry-after"] == "1"
    assert injector.calls.count("TransactWriteItems") == MAX_START_ATTEMPTS
    assert _state(stack) == snapshot


@pytest.mark.parametrize("release", [1, 2, 3])
def test_a_release_that_fails_after_the_session_started_still_answers_the_login(
    stack: Stack, injector: FaultInjector, release: int
) -> None:
    # Given a login whose session is committed, and DynamoDB failing one of the releases
    register(stack)
    injector.calls.clear()
    committed = len(CALLS["login"])
    injector.fail = lambda operation, number: (
        FAULTS["internal_error"](operation) if number == committed + release else None
    )
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    # Then the login is answered (its session exists), the other releases still went out,
    # and the one place not given back counts until its window ends (the safe side)
    assert answer.status == 200, answer.json()
    assert injector.calls == [*CALLS["login"], RESERVE, RESERVE, RESERVE]
    scopes = ["ip", "user-ip", "user"]
    counters = {
        item["pk"]["S"].split("#")[1]: int(item["attempts"]["N"])
        for item in stack.items()
        if item["pk"]["S"].startswith("THROTTLE#") and item["pk"]["S"].split("#")[1] in scopes
    }
    assert counters == {scope: int(index == release - 1) for index, scope in enumerate(scopes)}


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/auth/login", "secretsmanager"),  # the key ring
        ("/.well-known/jwks.json", "ssm"),  # the published keys
        ("/.well-known/jwks.json", "kms"),  # the public part of the key that signs them
    ],
)
def test_a_key_store_down_at_cold_start_gives_503(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, path: str, service: str
) -> None:
    register(stack)
    wiring.reset()
    original = BaseClient._make_api_call

    def secrets_down(client: BaseClient, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == service:
            raise _client_error("InternalServiceError", operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", secrets_down)
    body = {"username": "ada", "password": PASSWORD} if path == "/auth/login" else None
    answer = stack.http("POST" if body else "GET", path, body)
    assert answer.status == 503
    assert answer.json()["error"] == "unavailable"
    assert answer.headers["retry-after"]


def test_a_logout_that_meets_a_write_in_flight_still_ends_the_session(
    stack: Stack, injector: FaultInjector
) -> None:
    # Given a session, and a refresh in flight on its item when the logout's transaction
    # lands (DynamoDB cancels it: TransactionConflict)
    register(stack)
    tokens = login(stack)
    injector.calls.clear()
    injector.fail = lambda operation, number: _conflict(operation) if number == 1 else None
    # When the user logs out
    answer = stack.http("POST", "/auth/logout", headers=bearer(tokens["access_token"]))
    # Then the logout is tried again and the session ends: a conflict is not "ended already"
    assert answer.status == 204
    assert injector.calls == ["TransactWriteItems", "TransactWriteItems"]
    assert authorize(stack, tokens["access_token"]) == {"isAuthorized": False}


def test_a_logout_that_keeps_meeting_conflicts_is_a_503_not_a_false_204(
    stack: Stack, injector: FaultInjector
) -> None:
    register(stack)
    tokens = login(stack)
    injector.fail = lambda operation, number: (
        _conflict(operation) if operation == "TransactWriteItems" else None
    )
    answer = stack.http("POST", "/auth/logout", headers=bearer(tokens["access_token"]))
    injector.fail = lambda operation, number: None
    assert answer.status == 503
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True

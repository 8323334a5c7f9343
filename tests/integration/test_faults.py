"""AWS failures: for every route, DynamoDB throttling, an internal error, a timeout and a
cancelled transaction, injected at each of the route's calls in turn, give 503
`unavailable` with Retry-After and leave the table as it was (an attempt that was never
judged gives its throttle places back: a counter at zero is as good as none)."""

from __future__ import annotations

import threading
from collections import Counter
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


def kind(operation: str, params: Any) -> str:
    """A DynamoDB call as the steps below name it: the throttle's writes by what they do
    (a place, the places of a transaction, a place given back), others by operation."""
    on_throttle = "THROTTLE#" in str(params.get("Key") or params.get("TransactItems"))
    if on_throttle and operation == "TransactWriteItems":
        return PLACES
    if on_throttle and operation == "UpdateItem":
        return RELEASE if ":minus_one" in str(params) else PLACE
    return operation


PLACE = "a place"  # a conditional write taking a place in one throttle scope
PLACES = "places"  # a transaction taking an attempt's other places
RELEASE = "a place given back"


def made(*calls: str, releases: int = 0) -> Counter[str]:
    return Counter({**Counter(calls), **({RELEASE: releases} if releases else {})})


# Per route: its DynamoDB calls up to the one that commits its change (test_aws_calls counts
# the warm ones). A fault is injected at each in turn; the calls made are then those sent
# before it or alongside it, and the places held given back (the one whose write failed
# too: it may have been applied before its answer was lost); nothing else is written.
LOGIN = ("GetItem", PLACE, PLACES, "Query", "TransactWriteItems")
STEPS: dict[str, dict[str, Counter[str]]] = {
    # A registration's place of its address is kept unless AWS fails (then given back).
    "register": {
        PLACE: made(PLACE, releases=1),
        "TransactWriteItems": made(PLACE, "TransactWriteItems", releases=1),
    },
    # The address's place alongside the credential; the username's two in one transaction
    # alongside the user's sessions; the session's transaction beside the places given back.
    "login": {
        "GetItem": made("GetItem", PLACE, releases=1),
        PLACE: made("GetItem", PLACE, releases=1),
        PLACES: made("GetItem", PLACE, PLACES, "Query", releases=3),
        "Query": made("GetItem", PLACE, PLACES, "Query", releases=3),
        "TransactWriteItems": made(*LOGIN, releases=3),
    },
    "refresh": {"GetItem": made("GetItem"), "UpdateItem": made("GetItem", "UpdateItem")},
    "logout": {"TransactWriteItems": made("TransactWriteItems")},
    "logout_by_refresh_token": {"TransactWriteItems": made("TransactWriteItems")},
    "session": {"BatchGetItem": made("BatchGetItem")},
    "sessions": {"BatchGetItem": made("BatchGetItem"), "Query": made("BatchGetItem", "Query")},
    "revoke_session": {
        "BatchGetItem": made("BatchGetItem"),
        "TransactWriteItems": made("BatchGetItem", "TransactWriteItems"),
    },
    "revoke_other_sessions": {
        "BatchGetItem": made("BatchGetItem"),
        "Query": made("BatchGetItem", "Query"),
        "TransactWriteItems": made("BatchGetItem", "Query", "TransactWriteItems"),
    },
    # A password change comes from a live session, a known device: the session's scope
    # and the address's two, not the username's across all addresses.
    "password": {
        "BatchGetItem": made("BatchGetItem"),
        "GetItem": made("BatchGetItem", "GetItem", PLACE, releases=1),
        PLACE: made("BatchGetItem", "GetItem", PLACE, releases=1),
        PLACES: made("BatchGetItem", "GetItem", PLACE, PLACES, "Query", releases=3),
        "Query": made("BatchGetItem", "GetItem", PLACE, PLACES, "Query", releases=3),
        "TransactWriteItems": made("BatchGetItem", *LOGIN, releases=3),
    },
}
TRANSACTIONS = ("TransactWriteItems", PLACES)
CASES = [
    (route, fault, step)
    for route, steps in STEPS.items()
    for step in steps
    for fault in FAULTS
    if fault != "transaction_cancelled" or step in TRANSACTIONS
]


class FaultInjector:
    """A failing fake at botocore's edge: `fail(kind)` may return the error a DynamoDB
    call of that kind raises (the first one only, unless it says otherwise)."""

    def __init__(self) -> None:
        self.fail: Callable[[str, Any], Exception | None] = lambda kind, params: None
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def wrap(self, original: Any) -> Any:
        def call(client: BaseClient, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                with self.lock:
                    self.calls.append(kind(operation, params))
                    error = self.fail(self.calls[-1], params)
                if error is not None:
                    raise error
            return original(client, operation, params)

        return call

    def once(self, step: str, error: Callable[[str], Exception]) -> None:
        """The first call of kind `step` fails with `error`."""
        failed: list[str] = []

        def fail(called: str, params: Any) -> Exception | None:
            del params
            if called != step or failed:
                return None
            failed.append(called)
            return error("TransactWriteItems" if called == PLACES else "UpdateItem")

        self.fail = fail


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


@pytest.mark.parametrize(("route", "fault", "step"), CASES)
def test_dynamodb_failure_gives_503_and_leaves_no_half_written_state(
    stack: Stack, injector: FaultInjector, route: str, fault: str, step: str
) -> None:
    # Given a user with two sessions
    register(stack)
    other, tokens = login(stack), login(stack)
    request = _requests(tokens, other)[route]
    snapshot = _state(stack)
    injector.calls.clear()
    # When the route's first call of this kind fails
    injector.once(step, FAULTS[fault])
    answer = _send(stack, request, tokens)
    injector.fail = lambda kind, params: None
    # Then the route made the calls it makes up to the failed one (and those sent with it),
    # and after it exactly the releases of the throttle places it held, and of the place
    # whose write failed (it may have been applied before its answer was lost)
    assert Counter(injector.calls) == STEPS[route][step]
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
    injector.fail = lambda called, params: (
        _conflict("TransactWriteItems") if called == "TransactWriteItems" else None
    )
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.status == 503
    assert answer.json()["error"] == "unavailable"
    assert answer.headers["retry-after"] == "1"
    assert injector.calls.count("TransactWriteItems") == MAX_START_ATTEMPTS
    assert _state(stack) == snapshot


@pytest.mark.parametrize("scope", ["ip", "user-ip", "user"])
def test_a_release_that_fails_after_the_session_started_still_answers_the_login(
    stack: Stack, injector: FaultInjector, scope: str
) -> None:
    # Given a login whose session is committed, and DynamoDB failing one of the releases
    register(stack)
    injector.calls.clear()
    injector.fail = lambda called, params: (
        FAULTS["internal_error"]("UpdateItem")
        if called == RELEASE and f"THROTTLE#{scope}#" in str(params["Key"])
        else None
    )
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    # Then the login is answered (its session exists), the other releases still went out,
    # and the one place not given back counts until its window ends (the safe side)
    assert answer.status == 200, answer.json()
    assert Counter(injector.calls) == made(*LOGIN, releases=3)
    scopes = ["ip", "user-ip", "user"]
    counters = {
        item["pk"]["S"].split("#")[1]: int(item["attempts"]["N"])
        for item in stack.items()
        if item["pk"]["S"].startswith("THROTTLE#") and item["pk"]["S"].split("#")[1] in scopes
    }
    assert counters == {name: int(name == scope) for name in scopes}


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
    injector.once("TransactWriteItems", _conflict)
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
    injector.fail = lambda called, params: (
        _conflict(called) if called == "TransactWriteItems" else None
    )
    answer = stack.http("POST", "/auth/logout", headers=bearer(tokens["access_token"]))
    injector.fail = lambda called, params: None
    assert answer.status == 503
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True

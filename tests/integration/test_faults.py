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

from session_service import wiring
from tests.helpers import PASSWORD, bearer, login, register
from tests.integration.conftest import Stack


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
RESERVE = ["UpdateItem"] * 3  # a place in each throttle scope
CALLS = {
    "register": ["TransactWriteItems"],
    "login": [*RESERVE, "GetItem", "Query", "TransactWriteItems"],
    "refresh": ["UpdateItem"],
    "logout": ["TransactWriteItems"],
    "logout_by_refresh_token": ["TransactWriteItems"],
    "session": ["BatchGetItem"],
    "sessions": ["BatchGetItem", "Query"],
    "revoke_session": ["BatchGetItem", "TransactWriteItems"],
    "revoke_other_sessions": ["BatchGetItem", "Query", "TransactWriteItems"],
    "password": ["BatchGetItem", *RESERVE, "GetItem", "Query", "TransactWriteItems"],
}
CASES = [
    (route, fault, number)
    for route, calls in CALLS.items()
    for number, operation in enumerate(calls, start=1)
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
    # Then the route made the calls it makes, up to the failed one, and after it at most
    # the releases of its throttle places
    assert injector.calls[:call_number] == CALLS[route][:call_number]
    assert set(injector.calls[call_number:]) <= {"UpdateItem"}
    assert len(injector.calls[call_number:]) <= min(call_number, 3) * ("UpdateItem" in CALLS[route])
    # And the client is told to retry, and nothing was half written
    assert answer.status == 503, answer.json()
    assert answer.json()["error"] == "unavailable"
    assert int(answer.headers["retry-after"]) >= 1
    assert _state(stack) == snapshot


def test_persistent_transaction_conflicts_give_503_after_retrying(
    stack: Stack, injector: FaultInjector
) -> None:
    register(stack)
    snapshot = _state(stack)
    injector.fail = lambda operation, number: (
        _client_error(
            "TransactionCanceledException",
            operation,
            CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
        )
        if operation == "TransactWriteItems"
        else None
    )
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.status == 503
    assert injector.calls.count("TransactWriteItems") > 1
    assert _state(stack) == snapshot


@pytest.mark.parametrize("path", ["/auth/login", "/.well-known/jwks.json"])
def test_secrets_manager_down_at_cold_start_gives_503(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    register(stack)
    wiring.reset()
    original = BaseClient._make_api_call

    def secrets_down(client: BaseClient, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "secretsmanager":
            raise _client_error("InternalServiceError", operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", secrets_down)
    body = {"username": "ada", "password": PASSWORD} if path == "/auth/login" else None
    answer = stack.http("POST" if body else "GET", path, body)
    assert answer.status == 503
    assert answer.json()["error"] == "unavailable"
    assert answer.headers["retry-after"]

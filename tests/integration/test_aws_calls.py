"""AWS calls per warm request, counted at botocore's edge (every client, every service)."""

from __future__ import annotations

from typing import Any

from harness.stack import Stack
from tests.helpers import bearer, login, register
from tests.integration.aws_call_count import AwsCalls


def warm(stack: Stack) -> dict[str, Any]:
    """A user with a session, after every route has run once (the containers are warm)."""
    register(stack)
    tokens = login(stack)
    stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"]))
    stack.http("GET", "/.well-known/jwks.json")
    stack.http("GET", "/.well-known/openid-configuration")
    return tokens


def test_warm_requests_make_the_fewest_aws_calls(stack: Stack, aws_calls: AwsCalls) -> None:
    tokens = warm(stack)
    measured: dict[str, dict[str, int]] = {}

    def measure(name: str, method: str, path: str, **kwargs: Any) -> None:
        aws_calls.calls.clear()
        answer = stack.http(method, path, **kwargs)
        assert answer.status < 300, answer.json()
        measured[name] = dict(aws_calls.calls)

    measure(
        "login",
        "POST",
        "/auth/login",
        body={"username": "ada", "password": "correct horse battery"},
    )
    measure("refresh", "POST", "/auth/refresh", body={"refresh_token": tokens["refresh_token"]})
    fresh = login(stack)
    measure("session", "GET", "/auth/session", headers=bearer(fresh["access_token"]))
    measure("logout", "POST", "/auth/logout", headers=bearer(fresh["access_token"]))
    measure("jwks", "GET", "/.well-known/jwks.json")
    measure("discovery", "GET", "/.well-known/openid-configuration")

    # The credential, a place in each of the three throttle scopes, the user's live
    # sessions, the transaction that starts the session, and the places given back.
    assert measured["login"] == {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 6,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 1,
    }
    # The user's not_before, and the one conditional write that rotates.
    assert measured["refresh"] == {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1}
    assert measured["session"] == {"dynamodb.BatchGetItem": 1}
    # The session's deletion and the record of why, in one transaction.
    assert measured["logout"] == {"dynamodb.TransactWriteItems": 1}
    assert measured["jwks"] == {}
    assert measured["discovery"] == {}
    # No Secrets Manager, SSM or KMS call on any warm request.
    for calls in measured.values():
        assert not any(call.startswith(("secretsmanager", "ssm", "kms")) for call in calls)

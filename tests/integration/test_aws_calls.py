"""AWS calls per warm request, counted at botocore's edge (every client, every service)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.soft_authenticator import SoftAuthenticator
from harness.stack import Stack
from tests.helpers import (
    PASSWORD,
    bearer,
    http_add_passkey,
    http_passkey_sign_in,
    login,
    register,
    totp_code,
)
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


def test_a_login_with_mfa_and_a_step_up_make_the_fewest_aws_calls(
    stack: Stack, aws_calls: AwsCalls
) -> None:
    # Given a user with TOTP, whose containers have run each step once
    register(stack)
    tokens = login(stack)
    access = bearer(tokens["access_token"])
    secret = stack.http("POST", "/auth/mfa/totp", headers=access).json()["secret"]
    confirm = {"code": totp_code(secret, time.time())}
    codes = stack.http("POST", "/auth/mfa/totp/confirm", confirm, headers=access).json()
    recovery = iter(codes["recovery_codes"])
    password = {"username": "ada", "password": PASSWORD}
    first = stack.http("POST", "/auth/login", password).json()
    stack.http("POST", "/auth/login/mfa", {"mfa_token": first["mfa_token"], "code": next(recovery)})
    stack.http(
        "POST", "/auth/reauth", {"password": PASSWORD, "code": next(recovery)}, headers=access
    )
    measured: dict[str, dict[str, int]] = {}

    def measure(name: str, status: int, method: str, path: str, **kwargs: Any) -> Any:
        aws_calls.calls.clear()
        answer = stack.http(method, path, **kwargs)
        assert answer.status == status, answer.json()
        measured[name] = dict(aws_calls.calls)
        return answer.json()

    step = measure("password step", 401, "POST", "/auth/login", body=password)
    second = {"mfa_token": step["mfa_token"], "code": next(recovery)}
    measure("code step", 200, "POST", "/auth/login/mfa", body=second)
    again = {"password": PASSWORD, "code": next(recovery)}
    measure("step-up", 200, "POST", "/auth/reauth", body=again, headers=access)

    # The credential, a place in each throttle scope and back, and the challenge written.
    assert measured["password step"] == {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 6,
        "dynamodb.PutItem": 1,
    }
    # The challenge and the credential; a place in each of six scopes (the mfa_token's
    # tries, the three login scopes, the account's run of wrong proofs and its window) and
    # back (the run starts afresh); the user's live sessions; and one transaction: the
    # session, the challenge spent, the code spent (and its event record).
    assert measured["code step"] == {
        "dynamodb.GetItem": 2,
        "dynamodb.UpdateItem": 12,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 1,
    }
    # The authorizer's read; then the credential; a place in the session's scope and the
    # three login scopes (no session is a known device for a step-up), and, the password
    # being right, in the account's two, all given back; the session and profile in one
    # read; and one transaction.
    assert measured["step-up"] == {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 12,
        "dynamodb.BatchGetItem": 2,
        "dynamodb.TransactWriteItems": 1,
    }
    for calls in measured.values():
        assert not any(call.startswith(("secretsmanager", "ssm", "kms")) for call in calls)


def test_a_passkey_sign_in_makes_the_fewest_aws_calls(
    stack_with: Callable[..., Stack], aws_calls: AwsCalls
) -> None:
    # Given a user with a passkey, whose containers have run each step once
    app = "https://app.example.test"
    stack = stack_with(ALLOWED_ORIGINS=app)
    authenticator = SoftAuthenticator("app.example.test", app)
    register(stack)
    http_add_passkey(stack, login(stack)["access_token"], authenticator)
    assert http_passkey_sign_in(stack, authenticator, "ada").status == 200
    measured: dict[str, dict[str, int]] = {}

    def measure(name: str, path: str, body: Any) -> Any:
        aws_calls.calls.clear()
        answer = stack.http("POST", path, body)
        assert answer.status == 200, answer.json()
        measured[name] = dict(aws_calls.calls)
        return answer.json()

    options = "/auth/passkeys/authentication/options"
    measure("options by username", options, {"username": "ada"})
    asked = measure("options", options, None)
    credential = authenticator.get(asked["options"])
    body = {"ceremony_id": asked["ceremony_id"], "credential": credential}
    measure("sign-in", "/auth/passkeys/authentication", body)

    # The ceremony written; with a username, the credential and the user's passkeys first.
    assert measured["options"] == {"dynamodb.PutItem": 1}
    assert measured["options by username"] == {
        "dynamodb.GetItem": 1,
        "dynamodb.Query": 1,
        "dynamodb.PutItem": 1,
    }
    # The ceremony, the passkey and its owner's credential; a place in each throttle scope
    # and back; the user's live sessions; one transaction: the session, the ceremony spent,
    # the sign count moved on; and the account's run of wrong proofs ended (a passkey lifts
    # a TOTP lock).
    assert measured["sign-in"] == {
        "dynamodb.GetItem": 3,
        "dynamodb.UpdateItem": 7,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 1,
    }
    for calls in measured.values():
        assert not any(call.startswith(("secretsmanager", "ssm", "kms")) for call in calls)

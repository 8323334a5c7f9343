"""AWS calls per warm request, counted at botocore's edge (every client, every service),
and the round trips a client waits for them: calls sent at once overlap, and count once
(each call takes ROUND_TRIP_SECONDS more, as the network would make it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

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
from tests.integration.backends import BACKENDS

NEW_PASSWORD = "a brand new passphrase"


class Measured(dict[str, dict[str, int]]):
    """Each request's calls by name, and its round trips."""

    def __init__(self) -> None:
        super().__init__()
        self.trips: dict[str, int] = {}


def measuring(stack: Stack, aws_calls: AwsCalls, measured: Measured) -> Callable[..., Any]:
    aws_calls.latency = True

    def measure(name: str, status: int, method: str, path: str, **kwargs: Any) -> Any:
        aws_calls.clear()
        answer = stack.http(method, path, **kwargs)
        assert answer.status == status, answer.json()
        measured[name] = dict(aws_calls.calls)
        measured.trips[name] = aws_calls.round_trips
        return answer.json()

    return measure


def warm(stack: Stack) -> dict[str, Any]:
    """A user with a session, after every route has run once (the containers are warm)."""
    register(stack)
    tokens = login(stack)
    stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"]))
    stack.http("GET", "/.well-known/jwks.json")
    stack.http("GET", "/.well-known/openid-configuration")
    return tokens


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_warm_requests_make_the_fewest_aws_calls(stack: Stack, aws_calls: AwsCalls) -> None:
    tokens = warm(stack)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    stack.http("POST", "/auth/password", change, headers=bearer(tokens["access_token"]))
    measured = Measured()
    measure = measuring(stack, aws_calls, measured)
    credentials = {"username": "ada", "password": NEW_PASSWORD}
    tokens = measure("login", 200, "POST", "/auth/login", body=credentials)
    refresh = {"refresh_token": tokens["refresh_token"]}
    measure("refresh", 200, "POST", "/auth/refresh", body=refresh)
    access = bearer(stack.http("POST", "/auth/login", credentials).json()["access_token"])
    measure("session", 200, "GET", "/auth/session", headers=access)
    back = {"current_password": NEW_PASSWORD, "new_password": PASSWORD}
    changed = measure("password change", 200, "POST", "/auth/password", body=back, headers=access)
    measure("logout", 204, "POST", "/auth/logout", headers=bearer(changed["access_token"]))
    measure("jwks", 200, "GET", "/.well-known/jwks.json")
    measure("discovery", 200, "GET", "/.well-known/openid-configuration")

    # Three round trips: the credential with the address's place; the username's places
    # (one transaction) with the user's live sessions; the transaction that starts the
    # session with the three places given back.
    assert measured["login"] == {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 4,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 2,
    }
    assert measured.trips["login"] == 3
    # The authorizer's read; then as a login, the session's own scope among the places
    # (a live session is a known device: no username ceiling); its transaction stores the
    # new hash and ends every session.
    assert measured["password change"] == {
        "dynamodb.BatchGetItem": 1,
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 4,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 2,
    }
    assert measured.trips["password change"] == 4
    assert measured.trips == measured.trips | {"refresh": 2, "session": 1, "logout": 1}
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
    measured = Measured()
    measure = measuring(stack, aws_calls, measured)
    step = measure("password step", 401, "POST", "/auth/login", body=password)
    second = {"mfa_token": step["mfa_token"], "code": next(recovery)}
    measure("code step", 200, "POST", "/auth/login/mfa", body=second)
    again = {"password": PASSWORD, "code": next(recovery)}
    measure("step-up", 200, "POST", "/auth/reauth", body=again, headers=access)

    # The credential with the address's place; the username's places (one transaction)
    # with the user's live sessions (read for any account, so that a refusal's timing
    # tells nothing of it); the challenge written with the places given back.
    assert measured["password step"] == {
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 4,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.Query": 1,
        "dynamodb.PutItem": 1,
    }
    # The challenge; the credential with the address's place; the other five places in
    # one transaction (the mfa_token's tries, the username's from this address, the
    # account's run of wrong proofs and its window, the username's ceiling) with the
    # user's live sessions; and the session's transaction (the challenge and the code
    # spent, and its event record) with the six places given back (the run afresh).
    assert measured["code step"] == {
        "dynamodb.GetItem": 2,
        "dynamodb.UpdateItem": 7,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 2,
    }
    # The authorizer's read; the credential with the address's place; the session's, the
    # username's and its ceiling's places together, with the session and profile in one
    # read; the password being right, the account's two (one transaction) and back once
    # the code is; and the session's transaction with the other places given back.
    assert measured["step-up"] == {
        "dynamodb.BatchGetItem": 2,
        "dynamodb.GetItem": 1,
        "dynamodb.UpdateItem": 7,
        "dynamodb.TransactWriteItems": 3,
    }
    assert measured.trips == {"password step": 3, "code step": 4, "step-up": 6}
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
    measured = Measured()
    measure = measuring(stack, aws_calls, measured)
    options = "/auth/passkeys/authentication/options"
    measure("options by username", 200, "POST", options, body={"username": "ada"})
    asked = measure("options", 200, "POST", options, body=None)
    credential = authenticator.get(asked["options"])
    body = {"ceremony_id": asked["ceremony_id"], "credential": credential}
    measure("sign-in", 200, "POST", "/auth/passkeys/authentication", body=body)

    # The ceremony written; with a username, the credential and the user's passkeys first.
    assert measured["options"] == {"dynamodb.PutItem": 1}
    assert measured["options by username"] == {
        "dynamodb.GetItem": 1,
        "dynamodb.Query": 1,
        "dynamodb.PutItem": 1,
    }
    # The ceremony; the passkey; its owner's credential with the address's place; the
    # username's places (one transaction) with the user's live sessions; one transaction
    # (the session, the ceremony spent, the sign count moved on) with the places given
    # back and the account's run of wrong proofs ended (a passkey lifts a TOTP lock).
    assert measured["sign-in"] == {
        "dynamodb.GetItem": 3,
        "dynamodb.UpdateItem": 5,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 2,
    }
    assert measured.trips == {"options by username": 3, "options": 1, "sign-in": 5}
    for calls in measured.values():
        assert not any(call.startswith(("secretsmanager", "ssm", "kms")) for call in calls)

"""MFA and step-up through the HTTP API (the gateway, our authorizer and the API function,
on moto): the contract's routes, error codes, headers and claims."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from harness.stack import Stack
from tests.helpers import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    register,
    totp_code,
    until_stale,
)


def _enrolled(stack: Stack) -> tuple[dict[str, Any], str, list[str]]:
    """A signed-in user who turned TOTP on: their tokens, secret and recovery codes."""
    register(stack)
    tokens = login(stack)
    begun = stack.http("POST", "/auth/mfa/totp", headers=bearer(tokens["access_token"]))
    assert begun.status == 200, begun.json()
    secret = begun.json()["secret"]
    confirmed = stack.http(
        "POST",
        "/auth/mfa/totp/confirm",
        {"code": totp_code(secret, time.time())},
        headers=bearer(tokens["access_token"]),
    )
    assert confirmed.status == 200, confirmed.json()
    return tokens, secret, confirmed.json()["recovery_codes"]


def _password_step(stack: Stack) -> dict[str, Any]:
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.status == 401, answer.json()
    return dict(answer.json())


def test_enrollment_answers_the_secret_its_uri_and_the_recovery_codes(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    begun = stack.http("POST", "/auth/mfa/totp", headers=bearer(tokens["access_token"]))
    assert begun.status == 200
    body = begun.json()
    assert set(body) == {"secret", "otpauth_uri"}
    assert body["otpauth_uri"].startswith("otpauth://totp/session-service:ada?")
    assert "issuer=session-service" in body["otpauth_uri"]
    confirmed = stack.http(
        "POST",
        "/auth/mfa/totp/confirm",
        {"code": totp_code(body["secret"], time.time())},
        headers=bearer(tokens["access_token"]),
    )
    assert confirmed.status == 200
    assert len(confirmed.json()["recovery_codes"]) == 10
    # No item of the table holds the secret or a recovery code
    table = repr(stack.items())
    assert body["secret"] not in table
    assert all(code not in table for code in confirmed.json()["recovery_codes"])


def test_a_login_with_mfa_takes_two_steps_and_says_so_in_its_claims(stack: Stack) -> None:
    _, secret, _ = _enrolled(stack)
    # The password step: 401 mfa_required with an mfa_token, and no session
    step = _password_step(stack)
    assert step["error"] == "mfa_required"
    assert set(step) == {"error", "error_description", "mfa_token", "factors"}
    assert step["factors"] == ["totp", "recovery_code"]
    # The code step (the next step's code: the confirming step is spent)
    answer = stack.http(
        "POST",
        "/auth/login/mfa",
        {"mfa_token": step["mfa_token"], "code": totp_code(secret, time.time() + 30)},
    )
    assert answer.status == 200, answer.json()
    tokens = answer.json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]
    assert abs(claims["auth_time"] - time.time()) < 5
    # The session shows it, and so does the session list
    session = stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"]))
    assert session.json()["amr"] == ["pwd", "otp"]
    listed = stack.http("GET", "/auth/sessions", headers=bearer(tokens["access_token"]))
    amrs = {s["session_id"]: s["amr"] for s in listed.json()["sessions"]}
    assert amrs[tokens["session_id"]] == ["pwd", "otp"]
    # The token is spent
    again = stack.http(
        "POST", "/auth/login/mfa", {"mfa_token": step["mfa_token"], "code": "000000"}
    )
    assert_error(again, 401, "invalid_grant")


@pytest.mark.parametrize(
    "body",
    [
        {"mfa_token": "x", "code": "12345"},
        {"mfa_token": "", "code": "123456"},
        {"mfa_token": "x" * 129, "code": "123456"},
        {"mfa_token": "x", "code": "1" * 49},
        {"mfa_token": "x"},
        {"code": "123456"},
    ],
)
def test_a_malformed_code_login_is_a_400(stack: Stack, body: dict[str, str]) -> None:
    assert_error(stack.http("POST", "/auth/login/mfa", body), 400, "invalid_request")


def test_a_recovery_code_logs_in_once(stack: Stack) -> None:
    _, _, codes = _enrolled(stack)
    mfa_token = _password_step(stack)["mfa_token"]
    first = stack.http("POST", "/auth/login/mfa", {"mfa_token": mfa_token, "code": codes[0]})
    assert first.status == 200
    second_token = _password_step(stack)["mfa_token"]
    reused = stack.http("POST", "/auth/login/mfa", {"mfa_token": second_token, "code": codes[0]})
    assert_error(reused, 401, "invalid_grant")


@pytest.fixture
def quick_step_up(stack_with: Callable[..., Stack]) -> Stack:
    # (2 s: auth_time is in whole seconds, and a loaded machine takes a while to enroll)
    return stack_with(REAUTH_MAX_AGE_SECONDS="2")


def test_a_sensitive_route_asks_for_a_recent_sign_in_and_reauth_gives_one(
    quick_step_up: Stack,
) -> None:
    stack = quick_step_up
    register(stack)
    tokens = login(stack)
    refused = until_stale(stack, tokens["access_token"])
    assert_error(refused, 401, "insufficient_user_authentication")
    assert refused.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", max_age=2'
    )
    changed = stack.http(
        "POST",
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "new battery staple"},
        headers=bearer(tokens["access_token"]),
    )
    assert_error(changed, 401, "insufficient_user_authentication")
    # A wrong password is refused; the right one gives the same session a fresh auth_time
    wrong = stack.http(
        "POST",
        "/auth/reauth",
        {"password": "not it at all"},
        headers=bearer(tokens["access_token"]),
    )
    assert_error(wrong, 401, "invalid_grant")
    again = stack.http(
        "POST", "/auth/reauth", {"password": PASSWORD}, headers=bearer(tokens["access_token"])
    )
    assert again.status == 200, again.json()
    assert again.json()["session_id"] == tokens["session_id"]
    done = stack.http("DELETE", "/auth/sessions", headers=bearer(again.json()["access_token"]))
    assert done.status == 204


def test_turning_totp_on_or_off_asks_for_a_recent_sign_in(quick_step_up: Stack) -> None:
    stack = quick_step_up
    tokens, _, codes = _enrolled(stack)
    access = bearer(tokens["access_token"])
    until_stale(stack, tokens["access_token"])
    for method in ("POST", "DELETE"):
        refused = stack.http(method, "/auth/mfa/totp", headers=access)
        assert_error(refused, 401, "insufficient_user_authentication")
    # A step-up with a code makes it recent, and proves the factor: TOTP may go off
    again = stack.http(
        "POST", "/auth/reauth", {"password": PASSWORD, "code": codes[0]}, headers=access
    )
    assert again.status == 200
    off = stack.http("DELETE", "/auth/mfa/totp", headers=bearer(again.json()["access_token"]))
    assert off.status == 204


def test_a_session_that_never_proved_the_factor_cannot_turn_it_off(stack: Stack) -> None:
    # A session from before the enrollment (amr pwd), recent as it may be
    register(stack)
    older = login(stack)
    enrolled = login(stack)
    access = bearer(enrolled["access_token"])
    secret = stack.http("POST", "/auth/mfa/totp", headers=access).json()["secret"]
    code = {"code": totp_code(secret, time.time())}
    assert stack.http("POST", "/auth/mfa/totp/confirm", code, headers=access).status == 200
    refused = stack.http("DELETE", "/auth/mfa/totp", headers=bearer(older["access_token"]))
    assert_error(refused, 401, "insufficient_user_authentication")
    assert "code" in refused.json()["error_description"]


def test_reauth_needs_the_code_when_totp_is_on(stack: Stack) -> None:
    tokens, _, codes = _enrolled(stack)
    without = stack.http(
        "POST", "/auth/reauth", {"password": PASSWORD}, headers=bearer(tokens["access_token"])
    )
    assert_error(without, 400, "invalid_request")
    with_code = stack.http(
        "POST",
        "/auth/reauth",
        {"password": PASSWORD, "code": codes[0]},
        headers=bearer(tokens["access_token"]),
    )
    assert with_code.status == 200
    claims = jwt.decode(with_code.json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]


def test_turning_totp_off_from_the_session_that_confirmed_it_restores_password_login(
    stack: Stack,
) -> None:
    # The confirming session proves the factor with a step-up (the enrollment proved a new
    # secret, not the user); then it may turn TOTP off
    tokens, secret, _ = _enrolled(stack)
    proof = {"password": PASSWORD, "code": totp_code(secret, time.time() + 30)}
    stepped = stack.http("POST", "/auth/reauth", proof, headers=bearer(tokens["access_token"]))
    access = bearer(stepped.json()["access_token"])
    assert stack.http("GET", "/auth/session", headers=access).json()["amr"] == ["pwd", "otp"]
    off = stack.http("DELETE", "/auth/mfa/totp", headers=access)
    assert off.status == 204
    assert login(stack)["session_id"]
    again = stack.http("DELETE", "/auth/mfa/totp", headers=access)
    assert_error(again, 409, "conflict")


@pytest.fixture
def mfa_required(stack_with: Callable[..., Stack]) -> Stack:
    return stack_with(MFA_POLICY="required")


def test_under_mfa_required_a_user_without_a_second_factor_may_only_enroll(
    mfa_required: Stack,
) -> None:
    stack = mfa_required
    register(stack)
    tokens = login(stack)
    access = bearer(tokens["access_token"])
    for method, path in [
        ("GET", "/auth/session"),
        ("GET", "/auth/sessions"),
        ("DELETE", "/auth/sessions"),
    ]:
        refused = stack.http(method, path, headers=access)
        assert_error(refused, 403, "mfa_enrollment_required")
    # Enrolling is allowed; the session does not gain the factor by it (every copy of its
    # tokens would), a step-up with the code gives it to the client that makes it
    begun = stack.http("POST", "/auth/mfa/totp", headers=access)
    assert begun.status == 200
    secret = begun.json()["secret"]
    confirmed = stack.http(
        "POST", "/auth/mfa/totp/confirm", {"code": totp_code(secret, time.time())}, headers=access
    )
    assert confirmed.status == 200
    refreshed = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    still = stack.http("GET", "/auth/session", headers=bearer(refreshed.json()["access_token"]))
    assert_error(still, 403, "mfa_enrollment_required")
    proof = {"password": PASSWORD, "code": totp_code(secret, time.time() + 30)}
    stepped = stack.http("POST", "/auth/reauth", proof, headers=access)
    assert stepped.status == 200, stepped.json()
    now = bearer(stepped.json()["access_token"])
    now_allowed = stack.http("GET", "/auth/session", headers=now)
    assert now_allowed.status == 200
    assert now_allowed.json()["amr"] == ["pwd", "otp"]
    # and the factor cannot be turned off under this policy
    assert_error(stack.http("DELETE", "/auth/mfa/totp", headers=now), 409, "conflict")


def test_a_password_change_keeps_the_second_factor_of_the_session_it_replaces(
    mfa_required: Stack,
) -> None:
    # Given a user signed in with a code, under MFA_POLICY=required
    stack = mfa_required
    _, _, codes = _enrolled(stack)
    step = _password_step(stack)
    signed_in = stack.http(
        "POST", "/auth/login/mfa", {"mfa_token": step["mfa_token"], "code": codes[0]}
    ).json()
    # When they change the password
    changed = stack.http(
        "POST",
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "new battery staple"},
        headers=bearer(signed_in["access_token"]),
    )
    assert changed.status == 200, changed.json()
    # Then the fresh session still counts the factor, and every route answers it
    fresh = bearer(changed.json()["access_token"])
    session = stack.http("GET", "/auth/session", headers=fresh)
    assert session.status == 200
    assert session.json()["amr"] == ["pwd", "otp"]

"""Where the ways to prove a user meet, through the HTTP API (the gateway, our authorizer
and the API function, on moto): a passkey after the password, a stolen session's step-ups,
registrations per address, and what an attacker's throttled requests cost and leave in the
victim's activity."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.soft_authenticator import SoftAuthenticator
from harness.stack import LambdaContext, Stack
from tests.helpers import (
    PASSWORD,
    assert_error,
    bearer,
    http_add_passkey,
    login,
    register,
    stream_records,
    totp_code,
)

APP = "https://app.example.test"


def _passkey_account(stack: Stack) -> tuple[dict[str, Any], SoftAuthenticator]:
    register(stack)
    tokens = login(stack)
    authenticator = SoftAuthenticator("app.example.test", APP)
    http_add_passkey(stack, tokens["access_token"], authenticator)
    return tokens, authenticator


def test_a_passkey_only_account_proves_its_passkey_after_the_password(
    stack_with: Callable[..., Stack],
) -> None:
    # Given an account whose second factor is a passkey
    stack = stack_with(ALLOWED_ORIGINS=APP)
    _, authenticator = _passkey_account(stack)
    # When the password is right: mfa_required, naming the passkey
    step = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert step.status == 401
    assert (step.json()["error"], step.json()["factors"]) == ("mfa_required", ["passkey"])
    # Then the mfa_token with a passkey's assertion signs in, as both proofs
    asked = stack.http("POST", "/auth/passkeys/authentication/options", {"username": "ada"})
    body = {
        "mfa_token": step.json()["mfa_token"],
        "ceremony_id": asked.json()["ceremony_id"],
        "credential": authenticator.get(asked.json()["options"]),
    }
    answer = stack.http("POST", "/auth/login/mfa", body)
    assert answer.status == 200, answer.json()
    session = stack.http("GET", "/auth/session", headers=bearer(answer.json()["access_token"]))
    assert session.json()["amr"] == ["pwd", "hwk", "user"]


def test_the_second_step_takes_a_code_or_a_passkey_never_both_nor_half_of_one(
    stack: Stack,
) -> None:
    register(stack)
    credential = {"id": "x", "rawId": "x", "type": "public-key", "response": {}}
    for body in (
        {"mfa_token": "t"},
        {"mfa_token": "t", "code": "123456", "ceremony_id": "c", "credential": credential},
        {"mfa_token": "t", "ceremony_id": "c"},
        {"mfa_token": "t", "code": "123456", "ceremony_id": "c"},
    ):
        assert_error(stack.http("POST", "/auth/login/mfa", body), 400, "invalid_request")


def test_a_password_change_of_an_account_with_a_passkey_needs_a_session_that_proved_it(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with(ALLOWED_ORIGINS=APP)
    tokens, _ = _passkey_account(stack)
    change = {"current_password": PASSWORD, "new_password": "another passphrase"}
    answer = stack.http("POST", "/auth/password", change, headers=bearer(tokens["access_token"]))
    assert_error(answer, 401, "insufficient_user_authentication")
    assert "max_age=" in answer.headers["www-authenticate"]


def test_a_stolen_session_gets_five_wrong_step_ups_from_60_addresses_then_it_ends(
    stack: Stack,
) -> None:
    # Given a session someone stole (the access token), who tries passwords from 60 addresses
    register(stack)
    tokens = login(stack)
    access = bearer(tokens["access_token"])
    statuses = []
    for index in range(60):
        wrong = {"password": f"guess number {index}"}
        source = f"192.0.2.{index}"
        answer = stack.http("POST", "/auth/reauth", wrong, headers=access, source_ip=source)
        statuses.append((answer.status, answer.json()["error"]))
    # Then five were judged: four refused, the fifth ended the session, and the rest are
    # refused as the ended session's
    assert statuses[:4] == [(401, "invalid_grant")] * 4
    assert statuses[4:] == [(401, "invalid_token")] * 56
    ended = [i for i in stack.items() if i.get("kind", {}).get("S") == "ended"]
    assert [(i["reason"]["S"], i["session_ids"]["L"]) for i in ended] == [
        ("reauth_failed", [{"S": tokens["session_id"]}])
    ]


def test_registrations_from_one_address_stop_at_the_limit(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with(REGISTRATIONS_PER_IP="3")
    for index in range(3):
        register(stack, f"user{index}")
    body = {"username": "one-too-many", "password": PASSWORD}
    answer = stack.http("POST", "/auth/register", body)
    assert_error(answer, 429, "rate_limited")
    assert 0 < int(answer.headers["retry-after"]) <= 900
    # another address still registers
    assert stack.http("POST", "/auth/register", body, source_ip="192.0.2.77").status == 201


def test_throttled_logins_against_one_user_leave_one_entry_in_its_activity(
    stack_with: Callable[..., Stack],
) -> None:
    # Given a user whose username is full from every address (a low ceiling, for speed)
    stack = stack_with(LOGIN_FAILURES_PER_USERNAME_ALL_IPS="3")
    register(stack)
    tokens = login(stack)
    guess = {"username": "ada", "password": "not the password"}
    for index in range(3):
        stack.http("POST", "/auth/login", guess, source_ip=f"192.0.2.{index}")
    # When 30 more come, from 30 other addresses, each with a message for the victim
    for index in range(30):
        headers = {"user-agent": "Your account is hacked, call +1 555 0100"}
        answer = stack.http(
            "POST", "/auth/login", guess, headers=headers, source_ip=f"198.18.{index}.1"
        )
        assert_error(answer, 429, "rate_limited")
    publish(stack)
    # Then they are one entry of the user's activity, without their text
    throttled = [
        e for e in entries(stack, tokens["access_token"]) if e["type"] == "login_throttled"
    ]
    assert [e["user_agent"] for e in throttled] == ["Other"]


def publish(stack: Stack) -> None:
    handler = stack.function("EventPublisherFunction").lambda_handler
    handler({"Records": stream_records(stack)}, LambdaContext())


def entries(stack: Stack, access_token: str) -> list[dict[str, Any]]:
    answer = stack.http("GET", "/auth/activity?limit=100", headers=bearer(access_token))
    assert answer.status == 200, answer.json()
    return list(answer.json()["events"])


def test_a_code_after_the_accounts_limit_answers_429_from_any_address(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    access = bearer(tokens["access_token"])
    secret = stack.http("POST", "/auth/mfa/totp", headers=access).json()["secret"]
    confirm = {"code": totp_code(secret, time.time())}
    assert stack.http("POST", "/auth/mfa/totp/confirm", confirm, headers=access).status == 200
    password = {"username": "ada", "password": PASSWORD}
    for index in range(11):
        source = f"192.0.2.{index}"
        step = stack.http("POST", "/auth/login", password, source_ip=source).json()
        body = {"mfa_token": step["mfa_token"], "code": "000000"}
        answer = stack.http("POST", "/auth/login/mfa", body, source_ip=source)
        assert answer.status == (401 if index < 10 else 429), answer.json()

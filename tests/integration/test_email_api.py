"""E-mail through the API and the mailer, in process over moto (and DynamoDB Local for
the bursts): a verified address, a reset by link, a sign-in by code (contract v3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
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
from tests.mail_helpers import EMAIL_ON, deliver_mail, sent, verify_sender

NEW_PASSWORD = "a brand new passphrase"


def claims(access_token: str) -> dict[str, Any]:
    # (the signature is the authorizer's to check; here only what the token says)
    return dict(jwt.decode(access_token, options={"verify_signature": False}))


@pytest.fixture
def mail_stack(
    stack_with: Callable[..., Stack], backend: str, monkeypatch: pytest.MonkeyPatch
) -> Stack:
    stack = stack_with(**EMAIL_ON)
    verify_sender(stack)
    if backend == "moto":
        serialize_aws_calls(monkeypatch)
    return stack


def with_verified_address(stack: Stack, address: str = "ada@example.com") -> dict[str, str]:
    answer = stack.http(
        "POST", "/auth/register", {"username": "ada", "password": PASSWORD, "email": address}
    )
    assert answer.status == 201, answer.json()
    deliver_mail(stack)
    (mail,) = sent(address.lower())
    tokens = login(stack)
    verified = stack.http(
        "POST", "/auth/email/verify", {"code": mail.code}, headers=bearer(tokens["access_token"])
    )
    assert verified.status == 204, verified.json()
    return tokens


def test_a_registered_address_is_verified_with_the_mailed_code(mail_stack: Stack) -> None:
    tokens = with_verified_address(mail_stack, "Ada@Example.com")
    account = mail_stack.http("GET", "/auth/account", headers=bearer(tokens["access_token"]))
    assert account.status == 200
    body = account.json()
    assert (body["username"], body["email"], body["email_verified"]) == (
        "ada",
        "ada@example.com",
        True,
    )
    assert (body["mfa"], body["passkeys"], body["identities"]) == (False, 0, 0)


def test_a_wrong_code_verifies_nothing(mail_stack: Stack) -> None:
    mail_stack.http(
        "POST", "/auth/register", {"username": "ada", "password": PASSWORD, "email": "a@b.example"}
    )
    deliver_mail(mail_stack)
    (mail,) = sent("a@b.example")
    wrong = "000000" if mail.code != "000000" else "111111"
    token = login(mail_stack)["access_token"]
    answer = mail_stack.http("POST", "/auth/email/verify", {"code": wrong}, headers=bearer(token))
    assert_error(answer, 401, "invalid_grant")
    account = mail_stack.http("GET", "/auth/account", headers=bearer(token)).json()
    assert (account["email"], account["email_verified"]) == ("a@b.example", False)


def test_a_reset_link_sets_the_password_and_ends_every_session(mail_stack: Stack) -> None:
    old = with_verified_address(mail_stack)
    asked = mail_stack.http("POST", "/auth/password/forgot", {"username": "ada"})
    assert asked.status == 202
    deliver_mail(mail_stack)
    reset_mail = sent("ada@example.com")[-1]
    assert "#token=" in reset_mail.text
    assert "?token=" not in reset_mail.text
    answer = mail_stack.http(
        "POST",
        "/auth/password/reset",
        {"reset_token": reset_mail.token, "new_password": NEW_PASSWORD},
    )
    assert answer.status == 200, answer.json()
    assert claims(answer.json()["access_token"])["amr"] == ["email"]
    refused = mail_stack.http("POST", "/auth/refresh", {"refresh_token": old["refresh_token"]})
    assert_error(refused, 401, "invalid_grant")
    again = mail_stack.http(
        "POST",
        "/auth/password/reset",
        {"reset_token": reset_mail.token, "new_password": "yet another passphrase"},
    )
    assert_error(again, 401, "invalid_grant")
    fresh = mail_stack.http("POST", "/auth/login", {"username": "ada", "password": NEW_PASSWORD})
    assert fresh.status == 200


def test_forgot_for_an_unknown_account_answers_the_same_and_sends_nothing(
    mail_stack: Stack,
) -> None:
    register(mail_stack)  # no address: nothing can be sent to it either
    for body in ({"username": "nobody"}, {"email": "nobody@example.com"}, {"username": "ada"}):
        answer = mail_stack.http("POST", "/auth/password/forgot", body)
        assert (answer.status, answer.json()) == (202, {})
    deliver_mail(mail_stack)
    assert sent() == []


def test_a_code_signs_in_by_e_mail(mail_stack: Stack) -> None:
    with_verified_address(mail_stack)
    start = mail_stack.http("POST", "/auth/email/login/start", {"email": "ADA@example.com"})
    assert start.status == 202
    login_id = start.json()["login_id"]
    deliver_mail(mail_stack)
    code_mail = sent("ada@example.com")[-1]
    answer = mail_stack.http(
        "POST", "/auth/email/login", {"login_id": login_id, "code": code_mail.code}
    )
    assert answer.status == 200, answer.json()
    assert claims(answer.json()["access_token"])["amr"] == ["email"]
    replay = mail_stack.http(
        "POST", "/auth/email/login", {"login_id": login_id, "code": code_mail.code}
    )
    assert_error(replay, 401, "invalid_grant")


def test_an_unknown_address_gets_a_login_id_and_no_mail(mail_stack: Stack) -> None:
    answer = mail_stack.http("POST", "/auth/email/login/start", {"email": "who@example.com"})
    assert answer.status == 202
    assert len(answer.json()["login_id"]) >= 40
    deliver_mail(mail_stack)
    assert sent() == []


def test_e_mail_routes_answer_409_until_a_sender_is_configured(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with()
    for path, body in (
        ("/auth/password/forgot", {"username": "ada"}),
        ("/auth/password/reset", {"reset_token": "x" * 43, "new_password": NEW_PASSWORD}),
        ("/auth/email/login/start", {"email": "a@b.example"}),
        ("/auth/email/login", {"login_id": "x" * 43, "code": "123456"}),
        ("/auth/register", {"username": "ada", "password": PASSWORD, "email": "a@b.example"}),
    ):
        assert_error(stack.http("POST", path, body), 409, "conflict")
    token = login(stack, username=register(stack) and "ada")["access_token"]
    account = stack.http("GET", "/auth/account", headers=bearer(token)).json()
    assert (account["email"], account["email_verified"]) == (None, False)


@pytest.mark.parametrize("backend", ["moto", "dynamodb-local"], indirect=True)
def test_eight_resets_with_one_link_change_the_password_once(mail_stack: Stack) -> None:
    with_verified_address(mail_stack)
    mail_stack.http("POST", "/auth/password/forgot", {"email": "ada@example.com"})
    deliver_mail(mail_stack)
    token = sent("ada@example.com")[-1].token

    def reset(index: int) -> int:
        body = {"reset_token": token, "new_password": f"{NEW_PASSWORD} {index}"}
        return mail_stack.http("POST", "/auth/password/reset", body).status

    assert burst(8, reset) == {200: 1, 401: 7}


@pytest.mark.parametrize("backend", ["moto", "dynamodb-local"], indirect=True)
def test_eight_sign_ins_with_one_code_make_one_session(mail_stack: Stack) -> None:
    with_verified_address(mail_stack)
    login_id = mail_stack.http(
        "POST", "/auth/email/login/start", {"email": "ada@example.com"}
    ).json()["login_id"]
    deliver_mail(mail_stack)
    code = sent("ada@example.com")[-1].code

    def sign_in(_: int) -> int:
        body = {"login_id": login_id, "code": code}
        return mail_stack.http("POST", "/auth/email/login", body).status

    assert burst(8, sign_in) == {200: 1, 401: 7}


@pytest.mark.parametrize("backend", ["moto", "dynamodb-local"], indirect=True)
def test_a_burst_of_guesses_on_one_login_has_five_judged_then_the_code_is_spent(
    mail_stack: Stack,
) -> None:
    with_verified_address(mail_stack)
    login_id = mail_stack.http(
        "POST", "/auth/email/login/start", {"email": "ada@example.com"}
    ).json()["login_id"]
    deliver_mail(mail_stack)
    code = sent("ada@example.com")[-1].code
    wrong = [f"{n:06d}" for n in range(12) if f"{n:06d}" != code][:10]

    def guess(index: int) -> int:
        body = {"login_id": login_id, "code": wrong[index]}
        return mail_stack.http("POST", "/auth/email/login", body).status

    assert burst(10, guess) == {401: 10}
    (item,) = [i for i in mail_stack.items() if i.get("kind", {}).get("S") == "email_login"]
    # each try counted before it was judged: five judged, the rest refused unjudged
    assert item["tries"]["N"] == "5"
    right = mail_stack.http("POST", "/auth/email/login", {"login_id": login_id, "code": code})
    assert_error(right, 401, "invalid_grant")

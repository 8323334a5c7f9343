"""An account's address after registration, and the mailing limits (contract v3): a new
address needs a recent sign-in (and the second factor, on an account that has one); a
verified address belongs to one account; beyond EMAILS_PER_ADDRESS or EMAILS_PER_IP the
routes that always answer 202 send nothing, and POST /auth/email answers 429."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.stack import Stack
from tests.helpers import assert_error, bearer, login, register
from tests.mail_helpers import EMAIL_ON, deliver_mail, enroll_totp_over_http, sent, verify_sender


def mail_stack_with(stack_with: Callable[..., Stack], **settings: str) -> Stack:
    stack = stack_with(**EMAIL_ON, **settings)
    verify_sender(stack)
    return stack


def add_address(stack: Stack, token: str, address: str, **kwargs: str) -> int:
    answer = stack.http("POST", "/auth/email", {"email": address}, headers=bearer(token), **kwargs)
    return answer.status


def verify_latest(stack: Stack, token: str, address: str) -> int:
    deliver_mail(stack)
    code = sent(address)[-1].code
    answer = stack.http("POST", "/auth/email/verify", {"code": code}, headers=bearer(token))
    return answer.status


def account(stack: Stack, token: str) -> tuple[str | None, bool]:
    body = stack.http("GET", "/auth/account", headers=bearer(token)).json()
    return body["email"], body["email_verified"]


def test_an_address_added_later_is_verified_and_replaces_the_old_one(
    stack_with: Callable[..., Stack],
) -> None:
    stack = mail_stack_with(stack_with)
    register(stack)
    token = login(stack)["access_token"]
    assert add_address(stack, token, "one@example.com") == 202
    assert account(stack, token) == ("one@example.com", False)
    assert verify_latest(stack, token, "one@example.com") == 204
    assert add_address(stack, token, "two@example.com") == 202
    # until the new one is verified, the old one is the account's
    assert account(stack, token) == ("one@example.com", True)
    assert verify_latest(stack, token, "two@example.com") == 204
    assert account(stack, token) == ("two@example.com", True)
    # the old address is free again: another account may verify it
    register(stack, "bob")
    bob = login(stack, "bob")["access_token"]
    assert add_address(stack, bob, "one@example.com") == 202
    assert verify_latest(stack, bob, "one@example.com") == 204


def test_a_verified_address_belongs_to_one_account(stack_with: Callable[..., Stack]) -> None:
    stack = mail_stack_with(stack_with)
    register(stack)
    register(stack, "bob")
    ada, bob = login(stack)["access_token"], login(stack, "bob")["access_token"]
    codes = {}
    for name, token in (("ada", ada), ("bob", bob)):
        assert add_address(stack, token, "shared@example.com") == 202
        deliver_mail(stack)
        codes[name] = sent("shared@example.com")[-1].code
    verified = stack.http("POST", "/auth/email/verify", {"code": codes["ada"]}, headers=bearer(ada))
    assert verified.status == 204
    answer = stack.http("POST", "/auth/email/verify", {"code": codes["bob"]}, headers=bearer(bob))
    assert_error(answer, 409, "conflict")
    assert account(stack, bob) == ("shared@example.com", False)


def test_an_account_with_totp_changes_its_address_only_from_a_session_that_proved_it(
    stack_with: Callable[..., Stack],
) -> None:
    stack = mail_stack_with(stack_with)
    register(stack)
    token = login(stack)["access_token"]
    enroll_totp_over_http(stack, token)
    # the session that enrolled proved the password only: the address is how the account
    # is recovered, so changing it asks for the factor (a step-up with the code)
    answer = stack.http("POST", "/auth/email", {"email": "x@example.com"}, headers=bearer(token))
    assert (answer.status, answer.json()["error"]) == (401, "insufficient_user_authentication")
    deliver_mail(stack)
    assert sent("x@example.com") == []


def test_forgot_beyond_the_address_limit_answers_202_and_sends_nothing(
    stack_with: Callable[..., Stack],
) -> None:
    stack = mail_stack_with(stack_with, EMAILS_PER_ADDRESS="2")
    register(stack)
    token = login(stack)["access_token"]
    assert add_address(stack, token, "ada@example.com") == 202
    assert verify_latest(stack, token, "ada@example.com") == 204
    before = len(sent("ada@example.com"))
    statuses = [
        stack.http("POST", "/auth/password/forgot", {"email": "ada@example.com"}).status
        for _ in range(3)
    ]
    deliver_mail(stack)
    assert statuses == [202, 202, 202]
    # the verification took one place of the address's two: one reset link more
    assert len(sent("ada@example.com")) - before == 1


def test_adding_addresses_beyond_the_clients_limit_answers_429(
    stack_with: Callable[..., Stack],
) -> None:
    stack = mail_stack_with(stack_with, EMAILS_PER_IP="3")
    register(stack)
    token = login(stack)["access_token"]
    statuses = [add_address(stack, token, f"a{i}@example.com") for i in range(4)]
    assert statuses == [202, 202, 202, 429]
    # another client address is not held by this one's limit
    assert add_address(stack, token, "b@example.com", source_ip="203.0.113.9") == 202


@pytest.mark.parametrize("route", ["/auth/email/login/start", "/auth/password/forgot"])
def test_the_always_202_routes_stop_mailing_at_the_clients_limit(
    stack_with: Callable[..., Stack], route: str
) -> None:
    stack = mail_stack_with(stack_with, EMAILS_PER_IP="2")
    register(stack)
    token = login(stack)["access_token"]
    assert add_address(stack, token, "ada@example.com", source_ip="203.0.113.1") == 202
    assert verify_latest(stack, token, "ada@example.com") == 204
    before = len(sent("ada@example.com"))
    for _ in range(3):
        assert stack.http("POST", route, {"email": "ada@example.com"}).status == 202
    deliver_mail(stack)
    assert len(sent("ada@example.com")) - before == 2

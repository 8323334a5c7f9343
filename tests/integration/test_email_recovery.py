"""Where recovery meets the second factor, the administrator and the notices: a reset
never walks past TOTP; support finds a user by address and removes lost factors; the
user is told by e-mail (contract v3)."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from harness.stack import Stack
from tests.helpers import PASSWORD, admin_headers, assert_error, bearer, login, totp_code
from tests.mail_helpers import (
    EMAIL_ON,
    deliver_mail,
    deliver_notices,
    enroll_totp_over_http,
    sent,
    verify_sender,
)

ADDRESS = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def mail_stack(stack_with: Callable[..., Stack]) -> Stack:
    stack = stack_with(**EMAIL_ON)
    verify_sender(stack)
    return stack


def verified_user(stack: Stack) -> dict[str, str]:
    body = {"username": "ada", "password": PASSWORD, "email": ADDRESS}
    assert stack.http("POST", "/auth/register", body).status == 201
    deliver_mail(stack)
    tokens = login(stack)
    code = sent(ADDRESS)[-1].code
    headers = bearer(tokens["access_token"])
    assert stack.http("POST", "/auth/email/verify", {"code": code}, headers=headers).status == 204
    return tokens


def reset_link(stack: Stack) -> str:
    assert stack.http("POST", "/auth/password/forgot", {"email": ADDRESS}).status == 202
    deliver_mail(stack)
    return sent(ADDRESS)[-1].token


def test_a_reset_of_an_account_with_totp_needs_its_code_too(mail_stack: Stack) -> None:
    tokens = verified_user(mail_stack)
    secret, recovery_codes = enroll_totp_over_http(mail_stack, tokens["access_token"])
    token = reset_link(mail_stack)
    body = {"reset_token": token, "new_password": NEW_PASSWORD}
    missing = mail_stack.http("POST", "/auth/password/reset", body)
    assert (missing.status, missing.json()["error"]) == (400, "invalid_request")
    assert missing.json()["factors"] == ["totp", "recovery_code"]
    wrong = mail_stack.http("POST", "/auth/password/reset", {**body, "code": "000000"})
    assert_error(wrong, 401, "invalid_grant")
    # the link is still good: a missing or wrong factor does not spend it
    # (the next step's code: the current one was spent confirming TOTP)
    right = mail_stack.http(
        "POST", "/auth/password/reset", {**body, "code": totp_code(secret, time.time() + 30)}
    )
    assert right.status == 200, right.json()
    amr = jwt.decode(right.json()["access_token"], options={"verify_signature": False})["amr"]
    assert amr == ["email", "otp"]
    assert len(recovery_codes) == 10


def test_a_recovery_code_counts_as_the_second_factor_of_a_reset(mail_stack: Stack) -> None:
    tokens = verified_user(mail_stack)
    _, recovery_codes = enroll_totp_over_http(mail_stack, tokens["access_token"])
    body = {"reset_token": reset_link(mail_stack), "new_password": NEW_PASSWORD}
    answer = mail_stack.http("POST", "/auth/password/reset", {**body, "code": recovery_codes[0]})
    assert answer.status == 200, answer.json()


def test_a_newer_link_voids_the_older_one(mail_stack: Stack) -> None:
    verified_user(mail_stack)
    older, newer = reset_link(mail_stack), reset_link(mail_stack)
    for token, status in ((older, 401), (newer, 200)):
        body = {"reset_token": token, "new_password": NEW_PASSWORD}
        assert mail_stack.http("POST", "/auth/password/reset", body).status == status


def test_support_finds_a_user_by_address_and_removes_lost_factors(mail_stack: Stack) -> None:
    tokens = verified_user(mail_stack)
    enroll_totp_over_http(mail_stack, tokens["access_token"])
    path = "/admin/users?email=ADA%40example.com"
    found = mail_stack.http("GET", path, headers=admin_headers("GET", path))
    assert found.status == 200, found.json()
    assert (found.json()["email"], found.json()["mfa"]) == (ADDRESS, True)
    user_id = found.json()["user_id"]
    reset = f"/admin/users/{user_id}/factors/reset"
    answer = mail_stack.http("POST", reset, headers=admin_headers("POST", reset))
    assert answer.status == 204, answer.json()
    # every session ended; the password alone signs in again
    refused = mail_stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_error(refused, 401, "invalid_grant")
    assert login(mail_stack)["access_token"]
    # the user is told, at the verified address
    assert "FactorsReset" in deliver_notices(mail_stack)
    subjects = [mail.subject for mail in sent(ADDRESS)]
    assert any("second factors" in subject.lower() for subject in subjects), subjects
    missing = "/admin/users?email=nobody%40example.com"
    assert_error(
        mail_stack.http("GET", missing, headers=admin_headers("GET", missing)), 404, "not_found"
    )


def test_a_reset_publishes_password_changed_with_reason_reset_and_mails_a_notice(
    mail_stack: Stack,
) -> None:
    verified_user(mail_stack)
    body = {"reset_token": reset_link(mail_stack), "new_password": NEW_PASSWORD}
    assert mail_stack.http("POST", "/auth/password/reset", body).status == 200
    before = len(sent(ADDRESS))
    delivered = deliver_notices(mail_stack)
    assert "PasswordChanged" in delivered
    assert "PasswordResetRequested" in delivered
    notices = sent(ADDRESS)[before:]
    assert [mail.subject for mail in notices if "reset" in mail.subject.lower()], notices
    # nothing secret in any notice: no code, no link
    assert all("#token=" not in mail.text for mail in notices)


def test_a_code_sign_in_of_an_account_with_totp_still_asks_for_it(mail_stack: Stack) -> None:
    tokens = verified_user(mail_stack)
    secret, _ = enroll_totp_over_http(mail_stack, tokens["access_token"])
    start = mail_stack.http("POST", "/auth/email/login/start", {"email": ADDRESS})
    deliver_mail(mail_stack)
    body = {"login_id": start.json()["login_id"], "code": sent(ADDRESS)[-1].code}
    first = mail_stack.http("POST", "/auth/email/login", body)
    assert (first.status, first.json()["error"]) == (401, "mfa_required")
    assert first.json()["factors"] == ["totp", "recovery_code"]
    second = mail_stack.http(
        "POST",
        "/auth/login/mfa",
        {"mfa_token": first.json()["mfa_token"], "code": totp_code(secret, time.time() + 30)},
    )
    assert second.status == 200, second.json()
    token = second.json()["access_token"]
    amr = jwt.decode(token, options={"verify_signature": False})["amr"]
    assert amr == ["email", "otp"]
    # the code bought one mfa_token: it is spent
    assert_error(mail_stack.http("POST", "/auth/email/login", body), 401, "invalid_grant")

"""The e-mail routes under lost answers (lost_answer_sweep): a registration with an address,
asking for a code at a new address and verifying it, asking for a reset link and resetting
(with and without TOTP), starting and completing a sign-in by code (with and without a
second factor), and an administrator's factor reset. Each of their writes, refused before
it is applied or applied and its answer lost (botocore sends it again), leaves what the
clean call leaves: the same answer, one message asked for (one place in each mailing
scope, kept), a code or link spent once, one password change, one session, the events
published once; and what the mailer then sends works."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.stack import Stack
from session_service.domain.email.addresses import token_digest
from tests.helpers import PASSWORD, bearer, login, totp_code
from tests.integration.backends import SWEEP_BACKENDS
from tests.integration.email_routes import (
    NEW_PASSWORD,
    add_address,
    address,
    answer_kept,
    coded,
    factors_reset,
    forgot,
    linked,
    register,
    registered,
    reset,
    reset_body,
    reset_with_totp,
    sign_in,
    sign_in_wrong_code,
    start,
    unregistered,
    verified,
    verify,
    verify_wrong_code,
    with_totp,
)
from tests.integration.lost_answer_sweep import Route, Subject, credential_item, sweep
from tests.mail_helpers import deliver_new_mail, sent

pytestmark = pytest.mark.parametrize("backend", SWEEP_BACKENDS, indirect=True)

# A message asked for keeps a place in its recipient's scope and its client address's.
MAILED = frozenset({"mail-to", "mail-ip"})


@pytest.fixture
def mail_stack(sweep_mail_stack: Stack) -> Stack:
    return sweep_mail_stack


# -- what each leaves ------------------------------------------------------------------


def _account(stack: Stack, subject: Subject) -> tuple[str, bool]:
    """Which of the subject's addresses the account shows, and whether it is verified."""
    tokens = login(stack, subject.extra["username"])
    account = stack.http("GET", "/auth/account", headers=bearer(tokens["access_token"])).json()
    names = {address(subject): "registered", address(subject, "new-"): "new"}
    return names.get(account["email"], str(account["email"])), account["email_verified"]


def _mailed_code_verifies(stack: Stack, subject: Subject, to: str) -> tuple[int, int, Any]:
    """The messages the mailer sent to the address, what its code does, and the account."""
    deliver_new_mail(stack)
    mails = sent(to)
    subject.extra["code"] = mails[-1].code
    subject.own = login(stack, subject.extra["username"])
    return len(mails), verify(stack, subject).status, _account(stack, subject)


def _registered_state(stack: Stack, subject: Subject) -> tuple[int, int, Any]:
    return _mailed_code_verifies(stack, subject, address(subject))


def _new_address_state(stack: Stack, subject: Subject) -> tuple[int, int, Any]:
    return _mailed_code_verifies(stack, subject, address(subject, "new-"))


def _verified_state(stack: Stack, subject: Subject) -> tuple[Any, int]:
    """The account's address, and the code spent (a second use is refused)."""
    again = stack.http(
        "POST",
        "/auth/email/verify",
        {"code": subject.extra["code"]},
        headers=bearer(subject.other["access_token"]),
    )
    return _account(stack, subject), again.status


def _tries(stack: Stack, key: dict[str, Any]) -> str:
    found = stack.clients("dynamodb").get_item(TableName=stack.table, Key=key, ConsistentRead=True)
    return str(found["Item"]["tries"]["N"])


def _verification_tries(stack: Stack, subject: Subject) -> tuple[str, int]:
    """The wrong code's try counted once; the right code still verifies."""
    key = {"pk": {"S": f"EMAILVERIFY#{subject.user_id}"}, "sk": {"S": "PENDING"}}
    return _tries(stack, key), verify(stack, subject).status


def _sign_in_tries(stack: Stack, subject: Subject) -> tuple[str, int]:
    """The wrong code's try counted once; the right code still signs in."""
    digest = token_digest(subject.extra["login_id"])
    key = {"pk": {"S": f"EMAILLOGIN#{digest}"}, "sk": {"S": "EMAILLOGIN"}}
    return _tries(stack, key), sign_in(stack, subject).status


def _link_state(stack: Stack, subject: Subject) -> tuple[int, int]:
    """The reset messages mailed, and what the newest link does."""
    deliver_new_mail(stack)
    links = [mail for mail in sent(address(subject)) if "#token=" in mail.text]
    subject.extra["token"] = links[-1].token
    return len(links), reset(stack, subject).status


def _password_state(stack: Stack, subject: Subject) -> tuple[int, int, str]:
    """The link spent, the new password's login, and how often the password changed."""
    again = stack.http("POST", "/auth/password/reset", reset_body(subject)).status
    body = {"username": subject.extra["username"], "password": NEW_PASSWORD}
    status = stack.http("POST", "/auth/login", body).status
    item = credential_item(stack, subject.extra["username"])
    return again, status, item.get("password_version", {"N": "0"})["N"]


def _code_state(stack: Stack, subject: Subject) -> tuple[int, int]:
    """The sign-in codes mailed, and what the newest one does with the login_id answered."""
    deliver_new_mail(stack)
    codes = [mail for mail in sent(address(subject)) if "#token=" not in mail.text]
    subject.extra |= {"code": codes[-1].code, "login_id": subject.extra["answer"]["login_id"]}
    return len(codes) - 1, sign_in(stack, subject).status  # less the verification's


def _replayed(stack: Stack, subject: Subject) -> int:
    return sign_in(stack, subject).status


def _second_step(stack: Stack, subject: Subject) -> tuple[str, int, int]:
    """The sign-in's mfa_token takes the next TOTP code; the e-mailed code is spent."""
    body = {
        "mfa_token": subject.extra["answer"]["mfa_token"],
        "code": totp_code(subject.extra["secret"], time.time() + 30),
    }
    stepped = stack.http("POST", "/auth/login/mfa", body)
    return subject.extra["answer"]["error"], stepped.status, _replayed(stack, subject)


def _password_login(stack: Stack, subject: Subject) -> tuple[int, str]:
    body = {"username": subject.extra["username"], "password": PASSWORD}
    answer = stack.http("POST", "/auth/login", body)
    return answer.status, str(answer.json().get("error", ""))


BOTH = frozenset({"own", "other"})
ROUTES = {
    "register_with_an_address": Route(
        unregistered, register, frozenset(), _registered_state, MAILED
    ),
    "ask_for_a_code_at_a_new_address": Route(
        verified, add_address, BOTH, _new_address_state, MAILED
    ),
    "verify_the_address": Route(registered, verify, BOTH, _verified_state),
    # a wrong code keeps its place in the account's day of verification tries
    "verify_a_wrong_code": Route(
        registered, verify_wrong_code, BOTH, _verification_tries, frozenset({"verify"})
    ),
    "forgot_the_password": Route(verified, forgot, BOTH, _link_state, MAILED),
    "reset_the_password": Route(linked(verified), reset, frozenset(), _password_state),
    "reset_the_password_with_totp": Route(
        linked(with_totp), reset_with_totp, frozenset(), _password_state
    ),
    "start_a_sign_in_by_code": Route(verified, answer_kept(start), BOTH, _code_state, MAILED),
    "sign_in_by_code": Route(coded(verified), sign_in, BOTH, _replayed),
    # a wrong code is a judged failure: its places (the address's window of codes and the
    # client's) are kept
    "sign_in_with_a_wrong_code": Route(
        coded(verified),
        sign_in_wrong_code,
        BOTH,
        _sign_in_tries,
        frozenset({"email-code", "email-code-ip"}),
    ),
    "sign_in_by_code_with_totp": Route(coded(with_totp), answer_kept(sign_in), BOTH, _second_step),
    "reset_the_factors": Route(with_totp, factors_reset, frozenset(), _password_login),
}

EXPECTED: dict[str, Any] = {
    # one code mailed, and it verifies the address
    "register_with_an_address": (201, (1, 204, ("registered", True))),
    # the old address stays until the new one's code is entered
    "ask_for_a_code_at_a_new_address": (202, (1, 204, ("new", True))),
    "verify_the_address": (204, (("registered", True), 401)),
    # one link mailed, and it resets
    "verify_a_wrong_code": (401, ("1", 204)),
    "forgot_the_password": (202, (1, 200)),
    # the link spent; the new password signs in (but for TOTP); the password changed once
    "reset_the_password": (200, (401, 200, "1")),
    "reset_the_password_with_totp": (200, (401, 401, "1")),
    # one code mailed, and it signs in with the login_id answered
    "start_a_sign_in_by_code": (202, (1, 200)),
    # the code spent
    "sign_in_by_code": (200, 401),
    "sign_in_with_a_wrong_code": (401, ("1", 200)),
    "sign_in_by_code_with_totp": (401, ("mfa_required", 200, 401)),
    # TOTP gone: the password alone signs in
    "reset_the_factors": (204, (200, "")),
}

# What the call itself does to the user's sessions (stored: an ended one is deleted), and
# how many events of these types the user has then
ADDED: dict[str, tuple[int, dict[str, int]]] = {
    "verify_the_address": (0, {"EmailVerified:": 1}),
    "reset_the_password": (-1, {"PasswordChanged:reset": 1, "SessionRevoked:password_reset": 2}),
    "reset_the_password_with_totp": (
        -1,
        {"PasswordChanged:reset": 1, "SessionRevoked:password_reset": 2},
    ),
    # the subject's two sessions and the code's
    "sign_in_by_code": (1, {"SessionStarted:": 3}),
    "reset_the_factors": (-2, {"FactorsReset:": 1, "SessionRevoked:admin": 2}),
}

# The routes that prove a credential (a code, a link with TOTP) and hold throttle places
# as they do, and those that keep a mailing place
TAKE_PLACES = {
    "verify_the_address",
    "reset_the_password_with_totp",
    "sign_in_by_code",
    "sign_in_by_code_with_totp",
    "sign_in_with_a_wrong_code",
    *(route for route, swept in ROUTES.items() if swept.kept),
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_write_of_an_e_mail_route_sent_again_changes_nothing_more(
    mail_stack: Stack, route: str
) -> None:
    swept = sweep(mail_stack, ROUTES[route])
    expected = swept.outcome
    assert (swept.places_lost > 0) is (route in TAKE_PLACES)
    assert (expected.status, expected.state) == EXPECTED[route]
    sessions, events = ADDED.get(route, (0, {}))
    # the subject's two sessions (none before a registration), and what the call added
    assert expected.sessions == (0 if route == "register_with_an_address" else 2) + sessions
    assert {what: expected.events[what] for what in events} == events

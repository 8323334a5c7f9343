"""The second factors under lost answers (lost_answer_sweep): the second step with a TOTP
code, a recovery code or a passkey, a step-up with a code, turning TOTP on and off, and
adding, renaming and removing a passkey. Each of their writes, refused before it is applied
or applied and its answer lost, leaves what the clean call leaves: the code still spent
once, the passkey's count and sign count as they should be, the events published once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.soft_authenticator import SoftAuthenticator
from harness.stack import HttpAnswer, Stack
from tests.helpers import PASSWORD, bearer, http_add_passkey, totp_code
from tests.integration.backends import SWEEP_BACKENDS
from tests.integration.lost_answer_sweep import (
    Route,
    Subject,
    credential_item,
    signed_in_twice,
    sweep,
)

pytestmark = pytest.mark.parametrize("backend", SWEEP_BACKENDS, indirect=True)

APP = "https://app.example.test"


@pytest.fixture
def passkey_stack(stack_with: Callable[..., Stack]) -> Stack:
    return stack_with(ALLOWED_ORIGINS=APP)


def _own(subject: Subject) -> dict[str, str]:
    return bearer(subject.own["access_token"])


# -- TOTP ------------------------------------------------------------------------------


def _begun(stack: Stack, username: str) -> Subject:
    subject = signed_in_twice(stack, username)
    begun = stack.http("POST", "/auth/mfa/totp", headers=_own(subject))
    assert begun.status == 200, begun.json()
    subject.extra["secret"] = begun.json()["secret"]
    return subject


def _confirm(stack: Stack, subject: Subject) -> HttpAnswer:
    code = {"code": totp_code(subject.extra["secret"], time.time())}
    return stack.http("POST", "/auth/mfa/totp/confirm", code, headers=_own(subject))


def _with_totp(stack: Stack, username: str) -> Subject:
    subject = _begun(stack, username)
    confirmed = _confirm(stack, subject)
    assert confirmed.status == 200, confirmed.json()
    subject.extra["codes"] = confirmed.json()["recovery_codes"]
    return subject


def _password_step(stack: Stack, username: str) -> str:
    step = stack.http("POST", "/auth/login", {"username": username, "password": PASSWORD})
    assert (step.status, step.json()["error"]) == (401, "mfa_required")
    return str(step.json()["mfa_token"])


def _at_second_step(stack: Stack, username: str) -> Subject:
    subject = _with_totp(stack, username)
    subject.extra["mfa_token"] = _password_step(stack, username)
    return subject


def _second_step(code: Callable[[Subject], str]) -> Callable[[Stack, Subject], HttpAnswer]:
    def call(stack: Stack, subject: Subject) -> HttpAnswer:
        subject.extra["spent"] = code(subject)
        body = {"mfa_token": subject.extra["mfa_token"], "code": subject.extra["spent"]}
        return stack.http("POST", "/auth/login/mfa", body)

    return call


def _next_totp_code(subject: Subject) -> str:
    return totp_code(subject.extra["secret"], time.time() + 30)


def _first_recovery_code(subject: Subject) -> str:
    return str(subject.extra["codes"][0])


def _code_spent(stack: Stack, subject: Subject) -> tuple[int, int]:
    """The code's second use (from a new password step), and the recovery codes left."""
    username = subject.extra["username"]
    body = {"mfa_token": _password_step(stack, username), "code": subject.extra["spent"]}
    again = stack.http("POST", "/auth/login/mfa", body)
    return again.status, len(credential_item(stack, username)["recovery_codes"]["SS"])


def _step_up_with_code(stack: Stack, subject: Subject) -> HttpAnswer:
    subject.extra["spent"] = _first_recovery_code(subject)
    proof = {"password": PASSWORD, "code": subject.extra["spent"]}
    return stack.http("POST", "/auth/reauth", proof, headers=_own(subject))


def _stepped_up(stack: Stack, username: str) -> Subject:
    subject = _with_totp(stack, username)
    proof = {"password": PASSWORD, "code": subject.extra["codes"][0]}
    stepped = stack.http("POST", "/auth/reauth", proof, headers=_own(subject))
    assert stepped.status == 200, stepped.json()
    subject.own = stepped.json()
    return subject


def _password_login(stack: Stack, subject: Subject) -> tuple[int, str]:
    body = {"username": subject.extra["username"], "password": PASSWORD}
    answer = stack.http("POST", "/auth/login", body)
    return answer.status, str(answer.json().get("error", ""))


# -- passkeys --------------------------------------------------------------------------


def _authenticator() -> SoftAuthenticator:
    return SoftAuthenticator("app.example.test", APP)


def _passkey_created(stack: Stack, username: str) -> Subject:
    subject = signed_in_twice(stack, username)
    authenticator = _authenticator()
    options = stack.http("POST", "/auth/passkeys/registration/options", headers=_own(subject))
    assert options.status == 200, options.json()
    subject.extra["credential"] = authenticator.create(options.json()["options"])
    return subject


def _with_passkey(stack: Stack, username: str) -> Subject:
    subject = signed_in_twice(stack, username)
    authenticator = _authenticator()
    subject.extra["passkey_id"] = http_add_passkey(
        stack, subject.own["access_token"], authenticator
    )
    subject.extra["authenticator"] = authenticator
    return subject


def _asserted(stack: Stack, username: str) -> Subject:
    """A passkey, and its assertion for a sign-in ceremony, ready to post."""
    subject = _with_passkey(stack, username)
    asked = stack.http("POST", "/auth/passkeys/authentication/options", {"username": username})
    assert asked.status == 200, asked.json()
    credential = subject.extra["authenticator"].get(asked.json()["options"])
    subject.extra["assertion"] = {
        "ceremony_id": asked.json()["ceremony_id"],
        "credential": credential,
    }
    return subject


def _signed_in_with_passkey(stack: Stack, username: str) -> Subject:
    """The caller's session is the passkey's (recent, amr hwk): it may remove it."""
    subject = _asserted(stack, username)
    signed_in = stack.http("POST", "/auth/passkeys/authentication", subject.extra["assertion"])
    assert signed_in.status == 200, signed_in.json()
    subject.own = signed_in.json()
    return subject


def _passkey_state(stack: Stack, subject: Subject) -> tuple[int, int, list[str]]:
    """The passkeys listed, the credential's count of them, and their sign counts."""
    listed = stack.http("GET", "/auth/passkeys", headers=bearer(subject.other["access_token"]))
    item = credential_item(stack, subject.extra["username"])
    passkeys = stack.clients("dynamodb").query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :passkey)",
        ExpressionAttributeValues={
            ":pk": {"S": f"PASSKEYS#{subject.user_id}"},
            ":passkey": {"S": "PASSKEY#"},
        },
        ConsistentRead=True,
    )["Items"]
    counts = sorted(passkey["sign_count"]["N"] for passkey in passkeys)
    return len(listed.json()["passkeys"]), int(item.get("passkey_count", {"N": "0"})["N"]), counts


def _assertion_replayed(stack: Stack, subject: Subject) -> tuple[int, tuple[int, int, list[str]]]:
    again = stack.http("POST", "/auth/passkeys/authentication", subject.extra["assertion"])
    return again.status, _passkey_state(stack, subject)


def _passkey_path(subject: Subject) -> str:
    return f"/auth/passkeys/{subject.extra['passkey_id']}"


def _renamed(stack: Stack, subject: Subject) -> list[str]:
    listed = stack.http("GET", "/auth/passkeys", headers=_own(subject))
    return [view["name"] for view in listed.json()["passkeys"]]


TOTP_ROUTES = {
    "second_step_totp": Route(
        _at_second_step, _second_step(_next_totp_code), frozenset({"own", "other"}), _code_spent
    ),
    "second_step_recovery_code": Route(
        _at_second_step,
        _second_step(_first_recovery_code),
        frozenset({"own", "other"}),
        _code_spent,
    ),
    "step_up_with_a_code": Route(
        _with_totp, _step_up_with_code, frozenset({"own", "other"}), _code_spent
    ),
    "confirm_totp": Route(_begun, _confirm, frozenset({"own", "other"}), _password_login),
    "disable_totp": Route(
        _stepped_up,
        lambda s, u: s.http("DELETE", "/auth/mfa/totp", headers=_own(u)),
        frozenset({"own", "other"}),
        _password_login,
    ),
}

PASSKEY_ROUTES = {
    "sign_in_with_a_passkey": Route(
        _asserted,
        lambda s, u: s.http("POST", "/auth/passkeys/authentication", u.extra["assertion"]),
        frozenset({"own", "other"}),
        _assertion_replayed,
    ),
    "add_a_passkey": Route(
        _passkey_created,
        lambda s, u: s.http(
            "POST", "/auth/passkeys", {"credential": u.extra["credential"]}, headers=_own(u)
        ),
        frozenset({"own", "other"}),
        _passkey_state,
    ),
    "rename_a_passkey": Route(
        _with_passkey,
        lambda s, u: s.http("PATCH", _passkey_path(u), {"name": "Laptop"}, headers=_own(u)),
        frozenset({"own", "other"}),
        _renamed,
    ),
    "remove_a_passkey": Route(
        _signed_in_with_passkey,
        lambda s, u: s.http("DELETE", _passkey_path(u), headers=_own(u)),
        frozenset({"own", "other"}),
        _passkey_state,
    ),
}

EXPECTED: dict[str, Any] = {
    # the same code again is refused; a recovery code leaves 9
    "second_step_totp": (200, (401, 10)),
    "second_step_recovery_code": (200, (401, 9)),
    "step_up_with_a_code": (200, (401, 9)),
    "confirm_totp": (200, (401, "mfa_required")),
    "disable_totp": (204, (200, "")),
    # the assertion replayed is refused; one passkey, counted once, its sign count 1
    "sign_in_with_a_passkey": (200, (401, (1, 1, ["1"]))),
    "add_a_passkey": (201, (1, 1, ["0"])),
    "rename_a_passkey": (200, ["Laptop"]),
    "remove_a_passkey": (204, (0, 0, [])),
}

# The routes that prove a credential (a code, a passkey), and hold throttle places as they do
TAKE_PLACES = {
    "second_step_totp",
    "second_step_recovery_code",
    "step_up_with_a_code",
    "confirm_totp",
    "sign_in_with_a_passkey",
}


@pytest.mark.parametrize("route", list(TOTP_ROUTES))
def test_every_write_of_a_totp_route_sent_again_changes_nothing_more(
    stack: Stack, route: str
) -> None:
    swept = sweep(stack, TOTP_ROUTES[route])
    expected = swept.outcome
    assert (swept.places_lost > 0) is (route in TAKE_PLACES)
    assert (expected.status, expected.state) == EXPECTED[route]


@pytest.mark.parametrize("route", list(PASSKEY_ROUTES))
def test_every_write_of_a_passkey_route_sent_again_changes_nothing_more(
    passkey_stack: Stack, route: str
) -> None:
    swept = sweep(passkey_stack, PASSKEY_ROUTES[route])
    expected = swept.outcome
    assert (swept.places_lost > 0) is (route in TAKE_PLACES)
    assert (expected.status, expected.state) == EXPECTED[route]

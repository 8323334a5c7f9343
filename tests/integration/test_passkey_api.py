"""Passkeys through the HTTP API (the gateway, our authorizer and the API function, on
moto): the contract's routes and shapes, the claims of a passkey sign-in, step-up with a
passkey, MFA_POLICY=required, and malformed credentials answered 4xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from harness.soft_authenticator import SoftAuthenticator
from harness.stack import Stack
from tests.helpers import (
    PASSWORD,
    admin_headers,
    assert_error,
    bearer,
    http_add_passkey,
    http_passkey_sign_in,
    login,
    register,
    stream_records,
    until_stale,
)

APP = "https://app.example.test"


@pytest.fixture
def passkey_stack(stack_with: Callable[..., Stack]) -> Stack:
    return stack_with(ALLOWED_ORIGINS=APP)


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator("app.example.test", APP)


def test_register_list_sign_in_and_remove_a_passkey(
    passkey_stack: Stack, authenticator: SoftAuthenticator
) -> None:
    stack = passkey_stack
    user_id = register(stack)
    tokens = login(stack)
    passkey_id = http_add_passkey(stack, tokens["access_token"], authenticator, "Laptop")
    listed = stack.http("GET", "/auth/passkeys", headers=bearer(tokens["access_token"]))
    assert listed.status == 200
    [view] = listed.json()["passkeys"]
    assert set(view) == {"passkey_id", "name", "created_at", "last_used_at"}
    assert (view["passkey_id"], view["name"], view["last_used_at"]) == (passkey_id, "Laptop", None)
    # A sign-in without a username: the token response, amr hwk + user
    signed_in = http_passkey_sign_in(stack, authenticator)
    assert signed_in.status == 200, signed_in.json()
    body = signed_in.json()
    assert {"access_token", "refresh_token", "session_id", "expires_in"} <= set(body)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["amr"]) == (user_id, ["hwk", "user"])
    current = stack.http("GET", "/auth/session", headers=bearer(body["access_token"]))
    assert current.json()["amr"] == ["hwk", "user"]
    # and with the username
    assert http_passkey_sign_in(stack, authenticator, "ADA").status == 200
    used = stack.http("GET", "/auth/passkeys", headers=bearer(tokens["access_token"]))
    assert used.json()["passkeys"][0]["last_used_at"] is not None
    # Renamed (by its owner only)
    renamed = stack.http(
        "PATCH",
        f"/auth/passkeys/{passkey_id}",
        {"name": "Work laptop"},
        headers=bearer(tokens["access_token"]),
    )
    assert renamed.status == 200, renamed.json()
    assert (renamed.json()["passkey_id"], renamed.json()["name"]) == (passkey_id, "Work laptop")
    register(stack, "bob")
    bobs = bearer(login(stack, "bob")["access_token"])
    theirs = stack.http("PATCH", f"/auth/passkeys/{passkey_id}", {"name": "Mine"}, headers=bobs)
    assert_error(theirs, 404, "not_found")
    blank = stack.http("PATCH", f"/auth/passkeys/{passkey_id}", {"name": ""}, headers=bobs)
    assert_error(blank, 400, "invalid_request")
    # Support staff see how many passkeys the user holds
    found = stack.http(
        "GET",
        "/admin/users?username=ada",
        headers=admin_headers("GET", "/admin/users?username=ada"),
    )
    assert found.json()["passkeys"] == 1
    # Removed (from the passkey's own session: the password's may not), it signs in no more
    by_password = stack.http(
        "DELETE", f"/auth/passkeys/{passkey_id}", headers=bearer(tokens["access_token"])
    )
    assert_error(by_password, 401, "insufficient_user_authentication")
    with_passkey = bearer(body["access_token"])
    removed = stack.http("DELETE", f"/auth/passkeys/{passkey_id}", headers=with_passkey)
    assert removed.status == 204
    assert_error(http_passkey_sign_in(stack, authenticator), 401, "invalid_grant")
    again = stack.http("DELETE", f"/auth/passkeys/{passkey_id}", headers=with_passkey)
    assert_error(again, 404, "not_found")
    # Added and removed reach the stream as records (the published events' source)
    kinds = [
        record["dynamodb"]["NewImage"]["event_type"]["S"]
        for record in stream_records(stack)
        if record["dynamodb"].get("NewImage", {}).get("kind", {}).get("S") == "account_event"
    ]
    assert kinds == ["PasskeyAdded", "PasskeyRemoved"]


def test_the_passkey_routes_need_a_recent_sign_in_and_a_passkey_steps_up(
    stack_with: Callable[..., Stack], authenticator: SoftAuthenticator
) -> None:
    stack = stack_with(ALLOWED_ORIGINS=APP, REAUTH_MAX_AGE_SECONDS="2")
    register(stack)
    tokens = login(stack)
    passkey_id = http_add_passkey(stack, tokens["access_token"], authenticator)
    until_stale(stack, tokens["access_token"])
    access = bearer(tokens["access_token"])
    refused = stack.http("POST", "/auth/passkeys/registration/options", headers=access)
    assert_error(refused, 401, "insufficient_user_authentication")
    refused = stack.http("DELETE", f"/auth/passkeys/{passkey_id}", headers=access)
    assert_error(refused, 401, "insufficient_user_authentication")
    # A step-up with the passkey: the same session, fresh auth_time, amr of the passkey
    asked = stack.http("POST", "/auth/passkeys/authentication/options", {"username": "ada"})
    credential = authenticator.get(asked.json()["options"])
    stepped = stack.http(
        "POST",
        "/auth/reauth",
        {"ceremony_id": asked.json()["ceremony_id"], "credential": credential},
        headers=access,
    )
    assert stepped.status == 200, stepped.json()
    assert stepped.json()["session_id"] == tokens["session_id"]
    claims = jwt.decode(stepped.json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["hwk", "user"]
    fresh = bearer(stepped.json()["access_token"])
    assert stack.http("DELETE", f"/auth/passkeys/{passkey_id}", headers=fresh).status == 204


def test_under_mfa_required_a_passkey_is_the_second_factor(
    stack_with: Callable[..., Stack], authenticator: SoftAuthenticator
) -> None:
    stack = stack_with(ALLOWED_ORIGINS=APP, MFA_POLICY="required")
    register(stack)
    tokens = login(stack)
    access = bearer(tokens["access_token"])
    # A password-only session may enroll a passkey, and nothing else
    assert_error(
        stack.http("GET", "/auth/sessions", headers=access), 403, "mfa_enrollment_required"
    )
    passkey_id = http_add_passkey(stack, tokens["access_token"], authenticator)
    signed_in = http_passkey_sign_in(stack, authenticator)
    assert signed_in.status == 200
    passkey_session = bearer(signed_in.json()["access_token"])
    assert stack.http("GET", "/auth/sessions", headers=passkey_session).status == 200
    # The last second factor cannot be removed
    last = stack.http("DELETE", f"/auth/passkeys/{passkey_id}", headers=passkey_session)
    assert_error(last, 409, "conflict")


def test_passkeys_are_off_without_allowed_origins(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    answer = stack.http(
        "POST", "/auth/passkeys/registration/options", headers=bearer(tokens["access_token"])
    )
    assert_error(answer, 409, "conflict")
    assert_error(stack.http("POST", "/auth/passkeys/authentication/options"), 409, "conflict")


def _assertion_body(stack: Stack, authenticator: SoftAuthenticator) -> dict[str, Any]:
    asked = stack.http("POST", "/auth/passkeys/authentication/options").json()
    return {"ceremony_id": asked["ceremony_id"], "credential": authenticator.get(asked["options"])}


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("no credential", lambda body: body.pop("credential")),
    ("credential a string", lambda body: body.update(credential="x")),
    ("type not public-key", lambda body: body["credential"].update(type="password")),
    ("rawId not base64url", lambda body: body["credential"].update(rawId="***")),
    ("rawId empty", lambda body: body["credential"].update(rawId="")),
    ("rawId too long", lambda body: body["credential"].update(rawId="A" * 1401)),
    ("no signature", lambda body: body["credential"]["response"].pop("signature")),
    ("signature a number", lambda body: body["credential"]["response"].update(signature=7)),
    (
        "userHandle not base64url",
        lambda body: body["credential"]["response"].update(userHandle="*"),
    ),
    ("ceremony_id empty", lambda body: body.update(ceremony_id="")),
    ("ceremony_id a list", lambda body: body.update(ceremony_id=[1])),
]
GARBLED: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    (
        "clientDataJSON not JSON",
        lambda body: body["credential"]["response"].update(clientDataJSON="AAAA"),
    ),
    (
        "authenticatorData short",
        lambda body: body["credential"]["response"].update(authenticatorData="AAAA"),
    ),
    ("signature garbage", lambda body: body["credential"]["response"].update(signature="AAAA")),
    ("rawId of no passkey", lambda body: body["credential"].update(rawId="AAAA", id="AAAA")),
    ("rawId of no length", lambda body: body["credential"].update(rawId="0", id="0")),
    ("userHandle of nobody", lambda body: body["credential"]["response"].update(userHandle="AAAA")),
    ("unknown ceremony_id", lambda body: body.update(ceremony_id="nope")),
]


SPOILED = [(name, spoil, 400, "invalid_request") for name, spoil in MALFORMED] + [
    (name, spoil, 401, "invalid_grant") for name, spoil in GARBLED
]


@pytest.mark.parametrize(("name", "spoil", "status", "code"), SPOILED, ids=[s[0] for s in SPOILED])
def test_a_spoiled_assertion_is_a_4xx(
    passkey_stack: Stack,
    authenticator: SoftAuthenticator,
    name: str,
    spoil: Callable[[dict[str, Any]], None],
    status: int,
    code: str,
) -> None:
    # Malformed: 400. Well formed, proving nothing: 401 invalid_grant. Never a 5xx.
    stack = passkey_stack
    register(stack)
    http_add_passkey(stack, login(stack)["access_token"], authenticator)
    body = _assertion_body(stack, authenticator)
    spoil(body)
    assert_error(stack.http("POST", "/auth/passkeys/authentication", body), status, code)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda c: c["response"].update(attestationObject="AAAA"),
        lambda c: c["response"].update(clientDataJSON="e30"),
        lambda c: c.update(rawId="AAAA"),
    ],
    ids=["attestationObject garbage", "clientDataJSON empty object", "rawId of another"],
)
def test_an_attestation_that_does_not_verify_is_400(
    passkey_stack: Stack, authenticator: SoftAuthenticator, spoil: Callable[[dict[str, Any]], None]
) -> None:
    stack = passkey_stack
    register(stack)
    access = bearer(login(stack)["access_token"])
    options = stack.http("POST", "/auth/passkeys/registration/options", headers=access).json()
    credential = authenticator.create(options["options"])
    spoil(credential)
    answer = stack.http("POST", "/auth/passkeys", {"credential": credential}, headers=access)
    assert_error(answer, 400, "invalid_request")


def test_a_step_up_takes_a_passkey_or_else_the_password(
    passkey_stack: Stack, authenticator: SoftAuthenticator
) -> None:
    stack = passkey_stack
    register(stack)
    tokens = login(stack)
    access = bearer(tokens["access_token"])
    http_add_passkey(stack, tokens["access_token"], authenticator)
    # Both given: the passkey's assertion is what is proved (amr of the passkey)
    both = {**_assertion_body(stack, authenticator), "password": "not the password"}
    stepped = stack.http("POST", "/auth/reauth", both, headers=access)
    assert stepped.status == 200, stepped.json()
    claims = jwt.decode(stepped.json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["hwk", "user"]
    # Half a passkey and no password, or nothing: nothing proved
    half = {"ceremony_id": "x"}
    assert_error(stack.http("POST", "/auth/reauth", half, headers=access), 401, "invalid_grant")
    assert_error(stack.http("POST", "/auth/reauth", {}, headers=access), 401, "invalid_grant")


def test_the_password_alone_cannot_add_a_factor_to_an_account_that_has_a_passkey(
    stack_with: Callable[..., Stack], authenticator: SoftAuthenticator
) -> None:
    # Under MFA_POLICY=required, a password-only session may enroll a first factor only
    stack = stack_with(ALLOWED_ORIGINS=APP, MFA_POLICY="required")
    register(stack)
    first = login(stack)
    http_add_passkey(stack, first["access_token"], authenticator)
    # Whoever knows the password gets no session now: the passkey is asked for
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert (answer.status, answer.json()["factors"]) == (401, ["passkey"])
    # and a password-only session from before can do nothing but step up
    attacker = bearer(first["access_token"])
    for method, path in [
        ("POST", "/auth/passkeys/registration/options"),
        ("POST", "/auth/mfa/totp"),
    ]:
        refused = stack.http(method, path, headers=attacker)
        assert_error(refused, 401, "insufficient_user_authentication")
        assert "max_age=900" in refused.headers["www-authenticate"]
    assert_error(
        stack.http("GET", "/auth/sessions", headers=attacker), 403, "mfa_enrollment_required"
    )
    # The owner, stepping up with the passkey, may add another
    asked = stack.http("POST", "/auth/passkeys/authentication/options", {"username": "ada"})
    body = {
        "ceremony_id": asked.json()["ceremony_id"],
        "credential": authenticator.get(asked.json()["options"]),
    }
    stepped = stack.http("POST", "/auth/reauth", body, headers=attacker)
    assert stepped.status == 200, stepped.json()
    owner = bearer(stepped.json()["access_token"])
    assert stack.http("POST", "/auth/passkeys/registration/options", headers=owner).status == 200

"""Property tests (hypothesis): whatever body or header arrives, the API answers a 4xx in
the contract's shape or succeeds; never a 5xx. E-mail is on: its routes (and support's
lookup by address) get addresses, codes, login_ids and reset tokens of every shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.stack import Stack
from tests.helpers import admin_headers, bearer, login, register
from tests.mail_helpers import (
    EMAIL_ON,
    deliver_mail,
    enroll_totp_over_http,
    sent,
    verify_sender,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=15,
)
# An address of every shape: a real one, one with a control character or a header in it,
# odd Unicode, anything
ADDRESSES = st.one_of(
    st.emails().map(str),
    st.builds(
        "{}{}{}@example.com".format,
        st.text(max_size=8),
        st.sampled_from(["\r\n", "\n", "\r", "\x00", "\x7f", "\u2028", "\r\nBcc: x@y.z"]),
        st.text(max_size=8),
    ),
    st.text(max_size=80),
    JSON,
)
# A login_id or reset token of every shape: one of ours in form, an absurd one, anything
TOKENS = st.one_of(
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", max_size=200),
    st.integers(min_value=129, max_value=10_000).map(lambda n: "A" * n),
    st.text(max_size=200),
    JSON,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "username": st.one_of(st.text(max_size=70), JSON),
        "password": st.one_of(st.text(max_size=40), JSON),
        "refresh_token": st.one_of(st.text(max_size=200), JSON),
        "current_password": st.one_of(st.text(max_size=40), JSON),
        "new_password": st.one_of(st.text(max_size=40), JSON),
        "device_token": st.one_of(st.text(max_size=200), JSON),
        # contract v3, e-mail
        "email": ADDRESSES,
        "code": st.one_of(st.from_regex(r"\A[0-9]{6}\Z"), st.text(max_size=20), JSON),
        "reset_token": TOKENS,
        "login_id": TOKENS,
        "ceremony_id": TOKENS,
        "credential": JSON,
    },
)
ADDRESS = "ada@example.com"
BODIES = st.one_of(FIELDS.map(json.dumps), JSON.map(json.dumps), st.binary(max_size=200))
ROUTES = [
    "/auth/register",
    "/auth/login",
    "/auth/refresh",
    "/auth/logout",
    "/auth/password",
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/email/login/start",
    "/auth/email/login",
]
# The e-mail routes of a signed-in user (and its account's view)
BEARER_ROUTES = ["/auth/email", "/auth/email/verify"]
CODE = st.one_of(st.from_regex(r"\A[0-9]{6}\Z"), st.text(max_size=20), JSON)
NEW_PASSWORD = st.one_of(st.text(min_size=8, max_size=40), JSON)
SECOND_FACTORS = {"code": CODE, "ceremony_id": TOKENS, "credential": JSON}
# Each e-mail route with bodies of its own fields (every value of every shape), so that
# most reach the route's own checks
SHAPED = {
    "/auth/email": st.fixed_dictionaries({"email": ADDRESSES}),
    "/auth/email/verify": st.fixed_dictionaries({"code": CODE}),
    "/auth/password/forgot": st.one_of(
        st.fixed_dictionaries({"username": st.one_of(st.text(max_size=70), JSON)}),
        st.fixed_dictionaries({"email": ADDRESSES}),
    ),
    "/auth/password/reset": st.fixed_dictionaries(
        {"reset_token": TOKENS, "new_password": NEW_PASSWORD}, optional=SECOND_FACTORS
    ),
    "/auth/email/login/start": st.fixed_dictionaries({"email": ADDRESSES}),
    "/auth/email/login": st.fixed_dictionaries({"login_id": TOKENS, "code": CODE}),
}
ERROR_FIELDS = {"error", "error_description", "factors", "mfa_token"}
slow = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check(answer: Any) -> None:
    assert answer.status < 500, answer.json()
    if answer.status >= 400:
        # (what else the contract's errors may name: the second factors a step needs)
        assert {"error", "error_description"} <= set(answer.json()) <= ERROR_FIELDS


@slow
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_any_body_on_any_route_is_never_a_server_error(stack: Stack, route: str, body: Any) -> None:
    _check(stack.http("POST", route, body))


@slow
@given(route=st.sampled_from(BEARER_ROUTES), body=BODIES)
def test_any_body_on_a_signed_in_users_e_mail_route_is_never_a_server_error(
    stack: Stack, access_token: str, route: str, body: Any
) -> None:
    _check(stack.http("POST", route, body, headers=bearer(access_token)))


@slow
@given(data=st.data(), route=st.sampled_from(sorted(SHAPED)))
def test_any_value_of_an_e_mail_routes_own_fields_is_never_a_server_error(
    stack: Stack, access_token: str, data: st.DataObject, route: str
) -> None:
    body = data.draw(SHAPED[route])
    _check(stack.http("POST", route, body, headers=bearer(access_token)))


@slow
@given(proof=st.fixed_dictionaries({}, optional=SECOND_FACTORS))
def test_any_second_factor_sent_with_a_live_reset_link_is_never_a_server_error(
    stack: Stack, reset_link: str, proof: dict[str, Any]
) -> None:
    # An account with TOTP: the link is good, the proof is whatever arrives
    body = {"reset_token": reset_link, "new_password": "a brand new passphrase", **proof}
    _check(stack.http("POST", "/auth/password/reset", body))


@slow
@given(authorization=st.text(max_size=300).map(lambda t: t.replace("\r", "").replace("\n", "")))
def test_any_authorization_header_is_never_a_server_error(stack: Stack, authorization: str) -> None:
    for path in ("/auth/session", "/auth/sessions", "/auth/account"):
        _check(stack.http("GET", path, headers={"authorization": authorization}))


@slow
@given(address=ADDRESSES.filter(lambda value: isinstance(value, str)))
def test_any_address_support_looks_up_is_never_a_server_error(stack: Stack, address: str) -> None:
    path = f"/admin/users?email={quote(address, safe='')}"
    _check(stack.http("GET", path, headers=admin_headers("GET", path)))


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    # E-mail on (and sign-in by code): its routes are judged on what they are sent
    return stack_with(**EMAIL_ON)


@pytest.fixture
def access_token(stack: Stack) -> str:
    return str(login(stack)["access_token"])


@pytest.fixture
def reset_link(stack: Stack, access_token: str) -> str:
    """A reset link's token for "ada", who has a verified address and TOTP."""
    verify_sender(stack)
    headers = bearer(access_token)
    assert stack.http("POST", "/auth/email", {"email": ADDRESS}, headers=headers).status == 202
    deliver_mail(stack)
    code = {"code": sent(ADDRESS)[-1].code}
    assert stack.http("POST", "/auth/email/verify", code, headers=headers).status == 204
    enroll_totp_over_http(stack, access_token)
    assert stack.http("POST", "/auth/password/forgot", {"email": ADDRESS}).status == 202
    deliver_mail(stack)
    return sent(ADDRESS)[-1].token


@pytest.fixture(autouse=True)
def _a_user(stack: Stack) -> None:
    register(stack)

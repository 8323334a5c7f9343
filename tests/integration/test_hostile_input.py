"""Hostile input: deeply nested and oversized values get a 4xx in the contract's shape, and
ids that cannot be ours never reach DynamoDB (whose key limits would make them a 5xx). The
e-mail routes too: an address with a line break, a NUL or a display name in it is no
mailbox (400, nothing recorded to be mailed), a login_id or reset token of any shape is
refused, a body that is no JSON object is a 400."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.stack import HttpAnswer, Stack
from tests.helpers import PASSWORD, admin_headers, assert_error, bearer, login, register
from tests.integration.aws_call_count import AwsCalls
from tests.mail_helpers import EMAIL_ON

BODY_ROUTES = [
    "/auth/register",
    "/auth/login",
    "/auth/login/mfa",
    "/auth/refresh",
    "/auth/logout",
    "/auth/password",
    "/auth/reauth",
    "/auth/mfa/totp/confirm",
]
# contract v3, e-mail
EMAIL_BODY_ROUTES = [
    "/auth/email",
    "/auth/email/verify",
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/email/login/start",
    "/auth/email/login",
]
BODY_ROUTES += EMAIL_BODY_ROUTES


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        "[" * 12_000,
        "[" * 5_000 + "]" * 5_000,
        '{"a":' * 2_500 + "1" + "}" * 2_500,
        json.dumps(
            {
                "username": "ada",
                "password": PASSWORD,
                "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
            }
        ),
    ],
    ids=["12000-open-brackets", "5000-nested-arrays", "2500-nested-objects", "33-levels"],
)
def test_deeply_nested_bodies_are_invalid_requests(stack: Stack, route: str, body: str) -> None:
    answer = stack.http("POST", route, body)
    assert_error(answer, 400, "invalid_request")
    assert "nests deeper than 32 levels" in answer.json()["error_description"]


@pytest.mark.parametrize(
    "code",
    [
        "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits
        "12345\u00b2",  # a superscript two
        "12345\u0000",
        "\uff43\uff4f\uff44\uff45-\uff43\uff4f\uff44\uff45",  # full-width letters
    ],
)
def test_a_code_of_other_digits_or_letters_than_ascii_is_a_400(stack: Stack, code: str) -> None:
    answer = stack.http("POST", "/auth/login/mfa", {"mfa_token": "t" * 43, "code": code})
    assert_error(answer, 400, "invalid_request")
    assert answer.json()["error_description"].startswith("code")


def test_a_body_nested_within_the_bound_is_judged_on_its_fields(stack: Stack) -> None:
    # 32 levels (the bound) pass the nesting check and fail as a request should: on the
    # field that is not a string.
    nested: object = "x"
    for _ in range(31):
        nested = [nested]
    answer = stack.http("POST", "/auth/login", {"username": nested, "password": PASSWORD})
    assert_error(answer, 400, "invalid_request")
    assert answer.json()["error_description"].startswith("username")


@pytest.mark.parametrize(
    "session_id",
    [
        "x" * 2_000,
        "0" * 1_025,
        "00000000-0000-4000-8000-00000000000",
        "00000000-0000-4000-8000-0000000000000",
        "00000000-0000-4000-8000-00000000000G",
        "00000000-0000-4000-8000-00000000000A",
    ],
    ids=["2000-chars", "1025-digits", "uuid-short", "uuid-long", "uuid-bad-char", "uuid-upper"],
)
def test_a_session_id_that_cannot_be_ours_is_not_found_without_a_store_call(
    stack: Stack, aws_calls: AwsCalls, session_id: str
) -> None:
    tokens = login(stack)
    stack.http("GET", "/auth/sessions", headers=bearer(tokens["access_token"]))  # warm
    aws_calls.clear()
    answer = stack.http(
        "DELETE", f"/auth/sessions/{session_id}", headers=bearer(tokens["access_token"])
    )
    assert_error(answer, 404, "not_found")
    # The authorizer's one read, nothing from the handler.
    assert dict(aws_calls.calls) == {"dynamodb.BatchGetItem": 1}


# -- e-mail (contract v3) ---------------------------------------------------------------

HOSTILE_ADDRESSES = [
    "ada@example.com\r\nBcc: eve@example.com",
    "ada@example.com\nSubject: hi",
    "ada\r@example.com",
    "ada\x00@example.com",
    "ada@exam\x00ple.com",
    "ada\x7f@example.com",
    "ada\u2028@example.com",
    "ad\u00e4@example.com",  # not ASCII
    "ada\uff20example.com",  # a full-width at sign
    "ada\u200b@example.com",  # a zero-width space
    "=?utf-8?q?ada?=@example.com",  # an encoded-word
    '"ada"@example.com',
    "<ada@example.com>",
    "Ada <ada@example.com>",
    "ada@example.com, eve@example.com",
    "ada=?@example.com",  # no "=" nor "?": an encoded-word cannot be spelt
    "a" * 250 + "@example.com",  # over 254 in all
    "ada@" + "e" * 250 + ".com",
    "ada@@example.com",
    "ada@localhost",
    "@example.com",
]


def _address_routes(stack: Stack, address: str) -> dict[str, HttpAnswer]:
    """Every route that takes an address, given this one."""
    token = bearer(login(stack)["access_token"])
    path = f"/admin/users?email={quote(address, safe='')}"
    registration = {"username": "bob", "password": PASSWORD, "email": address}
    return {
        "register": stack.http("POST", "/auth/register", registration),
        "add_address": stack.http("POST", "/auth/email", {"email": address}, headers=token),
        "forgot": stack.http("POST", "/auth/password/forgot", {"email": address}),
        "start": stack.http("POST", "/auth/email/login/start", {"email": address}),
        "support": stack.http("GET", path, headers=admin_headers("GET", path)),
    }


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_an_address_that_is_no_mailbox_is_a_400_on_every_route_that_takes_one(
    stack: Stack, address: str
) -> None:
    for route, answer in _address_routes(stack, address).items():
        assert (answer.status, answer.json()["error"]) == (400, "invalid_request"), route
        assert set(answer.json()) == {"error", "error_description"}, route
    # and nothing was recorded to be mailed
    assert not [item for item in stack.items() if item.get("kind", {}).get("S") == "mail_request"]


# A login_id or reset token that cannot be ours: too long for the schema (400), or of the
# schema's length but not our shape (401, as any token we never gave)
TOKENS = [
    ("A" * 10_000, 400),
    ("A" * 257, 400),
    ("", 400),
    ("A" * 129, 401),
    ("A" * 15, 401),
    ("A" * 42 + "=", 401),
    ("A" * 42 + "\x00", 401),
    ("A" * 42 + "\u00e4", 401),
    ("../../" + "A" * 40, 401),
    ("A" * 42 + "\r\n", 401),
]


@pytest.mark.parametrize(("token", "status"), TOKENS)
def test_a_login_id_or_reset_token_that_cannot_be_ours_is_a_4xx(
    stack: Stack, token: str, status: int
) -> None:
    error = "invalid_request" if status == 400 else "invalid_grant"
    signed_in = stack.http("POST", "/auth/email/login", {"login_id": token, "code": "123456"})
    assert_error(signed_in, status, error)
    reset = {"reset_token": token, "new_password": "a brand new passphrase"}
    assert_error(stack.http("POST", "/auth/password/reset", reset), status, error)


@pytest.mark.parametrize(
    "body",
    ["", "not json", "null", "[]", '"ada@example.com"', "{", '{"email": }', "\x00", "1e999"],
    ids=["empty", "text", "null", "array", "string", "open", "broken", "nul", "huge-number"],
)
def test_a_body_that_is_no_json_object_is_a_400_on_every_e_mail_route(
    stack: Stack, body: str
) -> None:
    token = bearer(login(stack)["access_token"])
    for route in EMAIL_BODY_ROUTES:
        assert_error(stack.http("POST", route, body, headers=token), 400, "invalid_request")


def test_the_account_view_takes_no_hostile_query_or_header(stack: Stack) -> None:
    token = login(stack)["access_token"]
    for headers in (
        {"authorization": f"Bearer {token}\x00"},
        {"authorization": "Bearer " + "A" * 10_000},
        {"authorization": f"Basic {token}"},
        {},
    ):
        assert_error(stack.http("GET", "/auth/account", headers=headers), 401, "invalid_token")
    odd = stack.http("GET", "/auth/account?email=x%00y&user_id=..", headers=bearer(token))
    assert (odd.status, odd.json()["username"]) == (200, "ada")


# Past the 32 levels allowed (shallower bodies are any body: test_request_properties).
NESTING = st.integers(min_value=33, max_value=20_000)
OPENERS = st.sampled_from(["[", '{"k":', '{"username":'])
# Longer than any field may be (a password, the longest, is at most 1,024 characters).
OVERSIZED = st.integers(min_value=1_025, max_value=17_000).map(lambda n: "a" * n)
hostile = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@hostile
@given(route=st.sampled_from(BODY_ROUTES), depth=NESTING, opener=OPENERS, closed=st.booleans())
def test_any_nesting_on_any_route_is_a_4xx(
    stack: Stack, route: str, depth: int, opener: str, closed: bool
) -> None:
    closer = "]" if opener == "[" else "}"
    body = opener * depth + ("0" + closer * depth if closed else "")
    answer = stack.http("POST", route, body)
    assert_error(answer, *_refusal_of(body))


def _refusal_of(body: str) -> tuple[int, str]:
    """What a body the API cannot take gets: its size first, then its content."""
    if len(body.encode()) > 16 * 1024:
        return 413, "payload_too_large"
    return 400, "invalid_request"


FIELDS_OF = {
    "/auth/register": ("username", "password", "email"),
    "/auth/login": ("username", "password", "device_token"),
    "/auth/refresh": ("refresh_token",),
    "/auth/logout": ("refresh_token",),
    "/auth/password": ("current_password", "new_password"),
    "/auth/email": ("email",),
    "/auth/email/verify": ("code",),
    "/auth/password/forgot": ("username", "email"),
    "/auth/password/reset": ("reset_token", "new_password", "code", "ceremony_id"),
    "/auth/email/login/start": ("email",),
    "/auth/email/login": ("login_id", "code"),
}


@hostile
@given(data=st.data(), value=OVERSIZED)
def test_an_oversized_value_of_any_field_is_a_4xx(
    stack: Stack, data: st.DataObject, value: str
) -> None:
    route = data.draw(st.sampled_from(sorted(FIELDS_OF)))
    field = data.draw(st.sampled_from(FIELDS_OF[route]))
    body = {"username": "ada", "password": PASSWORD, "current_password": PASSWORD}
    if route != "/auth/password/forgot":  # (it takes a username or an address, not both)
        body |= {"email": "ada@example.com", "new_password": PASSWORD, "code": "123456"}
        body |= {"reset_token": "t" * 43, "login_id": "l" * 43}
    tokens = login(stack)
    sent = json.dumps({**body, field: value})
    answer = stack.http("POST", route, sent, headers=bearer(tokens["access_token"]))
    assert_error(answer, *_refusal_of(sent))


@hostile
@given(session_id=st.text(min_size=1, max_size=3_000).filter(lambda t: "/" not in t))
def test_any_session_id_in_the_path_is_not_found(stack: Stack, session_id: str) -> None:
    tokens = login(stack)
    answer = stack.http(
        "DELETE", f"/auth/sessions/{session_id}", headers=bearer(tokens["access_token"])
    )
    assert_error(answer, 404, "not_found")


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    # E-mail on (and sign-in by code): its routes judge what they are sent
    return stack_with(**EMAIL_ON)


@pytest.fixture(autouse=True)
def _a_user(stack: Stack) -> None:
    register(stack)

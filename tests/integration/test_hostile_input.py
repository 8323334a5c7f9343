"""Hostile input: deeply nested and oversized values get a 4xx in the contract's shape, and
ids that cannot be ours never reach DynamoDB (whose key limits would make them a 5xx)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.stack import Stack
from tests.helpers import PASSWORD, assert_error, bearer, login, register
from tests.integration.aws_call_count import AwsCalls

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
    "/auth/register": ("username", "password"),
    "/auth/login": ("username", "password", "device_token"),
    "/auth/refresh": ("refresh_token",),
    "/auth/logout": ("refresh_token",),
    "/auth/password": ("current_password", "new_password"),
}


@hostile
@given(data=st.data(), value=OVERSIZED)
def test_an_oversized_value_of_any_field_is_a_4xx(
    stack: Stack, data: st.DataObject, value: str
) -> None:
    route = data.draw(st.sampled_from(sorted(FIELDS_OF)))
    field = data.draw(st.sampled_from(FIELDS_OF[route]))
    body = {"username": "ada", "password": PASSWORD, "current_password": PASSWORD}
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


@pytest.fixture(autouse=True)
def _a_user(stack: Stack) -> None:
    register(stack)

"""Property tests (hypothesis): whatever body or header arrives, the API answers a 4xx in
the contract's shape or succeeds; never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.stack import Stack
from tests.helpers import register

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=15,
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
    },
)
BODIES = st.one_of(FIELDS.map(json.dumps), JSON.map(json.dumps), st.binary(max_size=200))
ROUTES = ["/auth/register", "/auth/login", "/auth/refresh", "/auth/logout", "/auth/password"]
slow = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check(answer: Any) -> None:
    assert answer.status < 500, answer.json()
    if answer.status >= 400:
        assert set(answer.json()) == {"error", "error_description"}


@slow
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_any_body_on_any_route_is_never_a_server_error(stack: Stack, route: str, body: Any) -> None:
    _check(stack.http("POST", route, body))


@slow
@given(authorization=st.text(max_size=300).map(lambda t: t.replace("\r", "").replace("\n", "")))
def test_any_authorization_header_is_never_a_server_error(stack: Stack, authorization: str) -> None:
    for path in ("/auth/session", "/auth/sessions"):
        _check(stack.http("GET", path, headers={"authorization": authorization}))


@pytest.fixture(autouse=True)
def _a_user(stack: Stack) -> None:
    register(stack)

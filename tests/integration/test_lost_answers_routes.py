"""Every write of every session route, in turn, refused before it is applied (throttled) or
applied by DynamoDB and its answer lost (botocore sends it again, as on AWS): the client
gets the answer it would have got, and nothing is counted twice, ended or reported that the
client did not cause (lost_answer_sweep). A retried transaction is DynamoDB's to recognise
(the ClientRequestToken botocore gives it once, for every attempt); the other writes
recognise their own earlier success."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.stack import HttpAnswer, Stack
from tests.helpers import PASSWORD, bearer
from tests.integration.backends import SWEEP_BACKENDS
from tests.integration.lost_answer_sweep import Route, Subject, signed_in_twice, sweep

pytestmark = pytest.mark.parametrize("backend", SWEEP_BACKENDS, indirect=True)


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    # No grace window: a refresh sent again must know its own rotation by itself.
    return stack_with(REFRESH_REUSE_GRACE_SECONDS="0")


def _route(call: Callable[[Stack, Subject], HttpAnswer], live: set[str]) -> Route:
    return Route(signed_in_twice, call, frozenset(live))


def _access(subject: Subject) -> dict[str, str]:
    return bearer(subject.own["access_token"])


def _login(stack: Stack, subject: Subject) -> HttpAnswer:
    body = {"username": subject.extra["username"], "password": PASSWORD}
    return stack.http("POST", "/auth/login", body)


def _refresh_body(subject: Subject) -> dict[str, Any]:
    return {"refresh_token": subject.own["refresh_token"]}


ROUTES = {
    "login": _route(_login, {"own", "other"}),
    "refresh": _route(
        lambda s, u: s.http("POST", "/auth/refresh", _refresh_body(u)), {"own", "other"}
    ),
    "logout": _route(lambda s, u: s.http("POST", "/auth/logout", headers=_access(u)), {"other"}),
    "logout_by_refresh_token": _route(
        lambda s, u: s.http("POST", "/auth/logout", _refresh_body(u)), {"other"}
    ),
    "revoke_session": _route(
        lambda s, u: s.http(
            "DELETE", f"/auth/sessions/{u.other['session_id']}", headers=_access(u)
        ),
        {"own"},
    ),
    "revoke_other_sessions": _route(
        lambda s, u: s.http("DELETE", "/auth/sessions", headers=_access(u)), {"own"}
    ),
    # a step-up with the password (the session's scope, the address's and the username's)
    "reauth": _route(
        lambda s, u: s.http("POST", "/auth/reauth", {"password": PASSWORD}, headers=_access(u)),
        {"own", "other"},
    ),
    # the password change answers the caller a new session; every older one ends
    "password": _route(
        lambda s, u: s.http(
            "POST",
            "/auth/password",
            {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
            headers=_access(u),
        ),
        set(),
    ),
}

# The routes that prove a credential, and so hold throttle places while they do
TAKE_PLACES = {"login", "reauth", "password"}


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_write_of_a_route_sent_again_after_its_answer_was_lost_changes_nothing_more(
    stack: Stack, route: str
) -> None:
    swept = sweep(stack, ROUTES[route])
    expected = swept.outcome
    assert (swept.places_lost > 0) is (route in TAKE_PLACES)
    assert expected.status == (204 if route.startswith(("logout", "revoke")) else 200)

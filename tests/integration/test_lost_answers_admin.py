"""The admin routes under lost answers (lost_answer_sweep): ending a user's sessions or one
of them, disabling and enabling an account, lifting a login lock. Each of their writes,
refused before it is applied or applied and its answer lost, leaves what the clean call
leaves, and publishes its events once."""

from __future__ import annotations

from typing import Any

import pytest

from harness.stack import HttpAnswer, Stack
from tests.helpers import PASSWORD, admin_headers
from tests.integration.backends import SWEEP_BACKENDS
from tests.integration.lost_answer_sweep import (
    Route,
    Subject,
    credential_item,
    signed_in_twice,
    sweep,
)

pytestmark = pytest.mark.parametrize("backend", SWEEP_BACKENDS, indirect=True)


def _admin(stack: Stack, method: str, path: str) -> HttpAnswer:
    return stack.http(method, path, headers=admin_headers(method, path))


def _disabled(stack: Stack, username: str) -> Subject:
    subject = signed_in_twice(stack, username)
    disabled = _admin(stack, "POST", f"/admin/users/{subject.user_id}/disable")
    assert disabled.status == 204
    return subject


def _login_status(stack: Stack, subject: Subject) -> int:
    body = {"username": subject.extra["username"], "password": PASSWORD}
    return stack.http("POST", "/auth/login", body).status


def _generation(stack: Stack, subject: Subject) -> Any:
    """How many times the username's login lock was lifted (its throttle's generation)."""
    return credential_item(stack, subject.extra["username"])["throttle_generation"]["N"]


def _route(path: str, method: str = "POST") -> Any:
    return lambda stack, subject: _admin(stack, method, path.format(user=subject.user_id))


ROUTES = {
    "end_every_session": Route(
        signed_in_twice,
        _route("/admin/users/{user}/sessions", "DELETE"),
        frozenset(),
        _login_status,
    ),
    "end_one_session": Route(
        signed_in_twice,
        lambda s, u: _admin(
            s, "DELETE", f"/admin/users/{u.user_id}/sessions/{u.other['session_id']}"
        ),
        frozenset({"own"}),
        _login_status,
    ),
    "disable": Route(
        signed_in_twice, _route("/admin/users/{user}/disable"), frozenset(), _login_status
    ),
    "enable": Route(_disabled, _route("/admin/users/{user}/enable"), frozenset(), _login_status),
    "lift_the_login_lock": Route(
        signed_in_twice,
        _route("/admin/users/{user}/login-lock", "DELETE"),
        frozenset({"own", "other"}),
        _generation,
    ),
}

# What a login of the user gets afterwards (and, for the lock, the generation: lifted once)
EXPECTED = {
    "end_every_session": 200,
    "end_one_session": 200,
    "disable": 401,
    "enable": 200,
    "lift_the_login_lock": "1",
}

# No admin route proves a credential: none holds a throttle place
TAKE_PLACES: set[str] = set()


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_write_of_an_admin_route_sent_again_changes_nothing_more(
    stack: Stack, route: str
) -> None:
    swept = sweep(stack, ROUTES[route])
    expected = swept.outcome
    assert (swept.places_lost > 0) is (route in TAKE_PLACES)
    assert (expected.status, expected.state) == (204, EXPECTED[route])

"""Every write of every route, in turn, refused before it is applied (throttled) or applied
by DynamoDB and its answer lost (botocore sends it again, as on AWS:
harness/lost_answers.py): the client gets the answer it would have got, and nothing is
counted twice, ended or reported that the client did not cause. A retried transaction is
DynamoDB's to recognise (the ClientRequestToken botocore gives it once, for every attempt);
the other writes recognise their own earlier success."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.lost_answers import DynamoFaults, Mode, injected, nth_write
from harness.stack import HttpAnswer, Stack
from tests.helpers import PASSWORD, bearer, login, register, stream_records
from tests.integration.backends import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def _requests(
    username: str, tokens: dict[str, Any], other: dict[str, Any]
) -> dict[str, Callable[..., Any]]:
    access = bearer(tokens["access_token"])
    return {
        "login": lambda s: s.http(
            "POST", "/auth/login", {"username": username, "password": PASSWORD}
        ),
        "refresh": lambda s: s.http(
            "POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]}
        ),
        "logout": lambda s: s.http("POST", "/auth/logout", headers=access),
        "logout_by_refresh_token": lambda s: s.http(
            "POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]}
        ),
        "revoke_session": lambda s: s.http(
            "DELETE", f"/auth/sessions/{other['session_id']}", headers=access
        ),
        "revoke_other_sessions": lambda s: s.http("DELETE", "/auth/sessions", headers=access),
        # a step-up with the password (the session's scope, the address's and the username's)
        "reauth": lambda s: s.http("POST", "/auth/reauth", {"password": PASSWORD}, headers=access),
        "password": lambda s: s.http(
            "POST",
            "/auth/password",
            {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
            headers=access,
        ),
    }


# What each route leaves live of the two sessions it starts from ("own": the caller's).
LIVE_AFTER = {
    "login": {"own", "other"},
    "refresh": {"own", "other"},
    "logout": {"other"},
    "logout_by_refresh_token": {"other"},
    "revoke_session": {"own"},
    "revoke_other_sessions": {"own"},
    "reauth": {"own", "other"},
    # the password change answers the caller a new session; every older one ends
    "password": set(),
}


class Run:
    """One user's two sessions, and a route called with the faults."""

    def __init__(self, stack: Stack, username: str, route: str, faults: DynamoFaults) -> None:
        self.user_id = register(stack, username)
        self.other, self.own = login(stack, username), login(stack, username)
        with injected(faults):
            self.answer: HttpAnswer = _requests(username, self.own, self.other)[route](stack)


def _live(stack: Stack, own: dict[str, Any], other: dict[str, Any]) -> set[str]:
    return {
        name
        for name, tokens in (("own", own), ("other", other))
        if stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"])).status == 200
    }


def _counted(stack: Stack) -> dict[str, int]:
    """Throttle counters that count something (a place taken and given back reads 0)."""
    return {
        item["pk"]["S"]: int(item["attempts"]["N"])
        for item in stack.items()
        if item["pk"]["S"].startswith("THROTTLE#")
        and "#register#" not in item["pk"]["S"]
        and item["attempts"]["N"] != "0"
    }


def _sessions(stack: Stack, user_id: str) -> int:
    return sum(
        1
        for item in stack.items()
        if item["pk"]["S"] == f"USER#{user_id}" and item["sk"]["S"].startswith("SESSION#")
    )


@pytest.mark.parametrize("mode", ["pre", "post"])
@pytest.mark.parametrize("route", list(LIVE_AFTER))
def test_every_write_of_a_route_sent_again_after_its_answer_was_lost_changes_nothing_more(
    stack: Stack, route: str, mode: Mode
) -> None:
    # The route as it goes when all is well: its answer, and how many writes it makes
    clean = DynamoFaults("post", choose=lambda operation, number: False)
    expected = Run(stack, "clean", route, clean)
    writes = sum(clean.calls.values())
    sessions = _sessions(stack, expected.user_id)
    assert writes >= 1
    assert _live(stack, expected.own, expected.other) == LIVE_AFTER[route]
    for lost in range(1, writes + 1):
        # Each write in turn is applied, its answer lost, and sent again by botocore
        faults = DynamoFaults(mode, choose=nth_write(lost))
        run = Run(stack, f"user{lost}", route, faults)
        assert sum(faults.injected.values()) == 1, (route, lost)
        assert run.answer.status == expected.answer.status, (route, lost, run.answer.json())
        assert _live(stack, run.own, run.other) == LIVE_AFTER[route], (route, lost)
        assert _sessions(stack, run.user_id) == sessions, (route, lost)
    # No place counted twice or left behind, and no reuse reported, in any of the runs
    assert _counted(stack) == {}
    reuse = [r for r in stream_records(stack) if "reuse_detected" in str(r["dynamodb"])]
    assert reuse == []

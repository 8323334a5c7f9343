"""The admin API through the gateway: IAM (SigV4) in front, the admin function behind;
what support staff do for a user, and what the user's sessions feel of it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from harness.stack import LambdaContext, Stack, sample_event
from local_run.api_definition import http_api
from local_run.expansion import deployed_template
from session_service.adapters.store_items import decode_stream_record
from session_service.domain.events import events_for
from tests.helpers import (
    PASSWORD,
    admin_headers,
    assert_error,
    bearer,
    login,
    register,
    stream_records,
)


def admin(stack: Stack, method: str, path: str) -> Any:
    return stack.http(method, path, headers=admin_headers(method, path))


def published(stack: Stack) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for record in stream_records(stack):
        change = decode_stream_record(record)
        for event in events_for(change) if change else []:
            counts[(event.detail_type, str(event.detail.get("reason", "")))] += 1
    return counts


@pytest.mark.parametrize(
    "headers",
    [
        lambda: {},
        lambda: {"authorization": "Bearer x.y.z"},
        lambda: admin_headers("GET", "/admin/users?username=ada", secret_key="not-the-secret"),
        lambda: admin_headers("GET", "/admin/users?username=somebody-else"),
    ],
    ids=["unsigned", "a-user-token", "wrong-secret", "signed-for-another-request"],
)
def test_an_admin_request_not_signed_by_the_run_is_forbidden(
    stack: Stack, headers: Callable[[], dict[str, str]]
) -> None:
    register(stack)
    answer = stack.http("GET", "/admin/users?username=ada", headers=headers())
    assert_error(answer, 403, "forbidden")
    # while the same request, signed, is served
    assert admin(stack, "GET", "/admin/users?username=ada").status == 200


def test_a_user_is_found_by_username(stack: Stack) -> None:
    user_id = register(stack)
    found = admin(stack, "GET", "/admin/users?username=ADA")
    assert found.status == 200, found.json()
    body = found.json()
    assert set(body) == {"user_id", "username", "created_at", "disabled", "mfa", "passkeys"}
    assert (body["user_id"], body["disabled"], body["mfa"], body["passkeys"]) == (
        user_id,
        False,
        False,
        0,
    )
    assert_error(admin(stack, "GET", "/admin/users?username=nobody"), 404, "not_found")


def test_disabling_ends_every_session_at_once_and_login_answers_like_a_wrong_password(
    stack: Stack,
) -> None:
    user_id = register(stack)
    tokens = login(stack)
    assert admin(stack, "POST", f"/admin/users/{user_id}/disable").status == 204
    # The authorizer refuses the session on its next request, and its refresh fails
    refused = stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"]))
    assert_error(refused, 401, "invalid_token")
    again = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_error(again, 401, "invalid_grant")
    wrong = stack.http("POST", "/auth/login", {"username": "ada", "password": "not it at all"})
    right = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert_error(right, 401, "invalid_grant")
    assert right.json() == {**wrong.json()}
    found = admin(stack, "GET", "/admin/users?username=ada").json()
    assert found["disabled"] is True
    # Enabling restores login only
    assert admin(stack, "POST", f"/admin/users/{user_id}/enable").status == 204
    assert login(stack)["session_id"]
    after = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_error(after, 401, "invalid_grant")
    events = published(stack)
    assert events[("AccountDisabled", "")] == 1
    assert events[("AccountEnabled", "")] == 1
    assert events[("SessionRevoked", "admin")] == 1


def test_sessions_are_listed_and_ended_one_or_all(stack: Stack) -> None:
    user_id = register(stack)
    first, second, third = login(stack), login(stack), login(stack)
    listed = admin(stack, "GET", f"/admin/users/{user_id}/sessions")
    assert {s["session_id"] for s in listed.json()["sessions"]} == {
        first["session_id"],
        second["session_id"],
        third["session_id"],
    }
    one = f"/admin/users/{user_id}/sessions/{first['session_id']}"
    assert admin(stack, "DELETE", one).status == 204
    assert_error(admin(stack, "DELETE", one), 404, "not_found")
    refused = stack.http("GET", "/auth/session", headers=bearer(first["access_token"]))
    assert_error(refused, 401, "invalid_token")
    assert stack.http("GET", "/auth/session", headers=bearer(second["access_token"])).status == 200
    assert admin(stack, "DELETE", f"/admin/users/{user_id}/sessions").status == 204
    for tokens in (second, third):
        gone = stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"]))
        assert_error(gone, 401, "invalid_token")
    assert published(stack)[("SessionRevoked", "admin")] == 3


def test_lifting_the_login_lock_lets_the_owner_in_again(stack: Stack) -> None:
    user_id = register(stack)
    for _ in range(5):
        stack.http("POST", "/auth/login", {"username": "ada", "password": "not it at all"})
    locked = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert_error(locked, 429, "rate_limited")
    assert admin(stack, "DELETE", f"/admin/users/{user_id}/login-lock").status == 204
    assert login(stack)["session_id"]


@pytest.mark.parametrize(
    "path", ["/admin/users/not-a-user/sessions", "/admin/users/" + "0" * 36 + "/disable"]
)
def test_an_id_that_names_no_user_is_not_found(stack: Stack, path: str) -> None:
    method = "POST" if path.endswith("disable") else "GET"
    assert_error(admin(stack, method, path), 404, "not_found")


ADMIN_ROUTES = [
    (route.method, route.path)
    for route in http_api(deployed_template()).routes
    if route.authorizer == "AWS_IAM"
]


def test_the_admin_routes_are_the_contracts() -> None:
    assert sorted(ADMIN_ROUTES) == sorted(
        [
            ("GET", "/admin/users"),
            ("GET", "/admin/users/{user_id}/sessions"),
            ("DELETE", "/admin/users/{user_id}/sessions"),
            ("DELETE", "/admin/users/{user_id}/sessions/{session_id}"),
            ("POST", "/admin/users/{user_id}/disable"),
            ("POST", "/admin/users/{user_id}/enable"),
            ("DELETE", "/admin/users/{user_id}/login-lock"),
        ]
    )


@pytest.mark.parametrize(("method", "route"), ADMIN_ROUTES)
def test_every_admin_route_refuses_a_request_without_iam(
    stack: Stack, method: str, route: str
) -> None:
    # The function invoked some other way than through IAM-authorised routes: refused
    user_id = register(stack)
    session_id = login(stack)["session_id"]
    parameters = {"user_id": user_id, "session_id": session_id}
    path = route.format(**parameters)
    event = sample_event("admin/find-user.json")
    event["requestContext"].pop("authorizer")
    event["requestContext"]["http"]["method"] = method
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route}"
    event["pathParameters"] = {k: v for k, v in parameters.items() if "{" + k + "}" in route}
    result = stack.function("AdminFunction").lambda_handler(event, LambdaContext())
    assert result["statusCode"] == 403
    assert json.loads(result["body"])["error"] == "forbidden"
    assert (
        stack.http("GET", "/auth/session", headers=bearer(login(stack)["access_token"])).status
        == 200
    )

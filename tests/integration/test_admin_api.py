"""The admin API through the gateway: IAM (SigV4) in front, the admin function behind;
what support staff do for a user, and what the user's sessions feel of it."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from harness.stack import LambdaContext, Stack, sample_event
from local_run.api_definition import http_api
from local_run.expansion import deployed_template
from session_service.adapters.stream_records import (
    decode_stream_record,
)
from session_service.domain.activity.events import events_for
from session_service.observability import logger
from tests.helpers import (
    PASSWORD,
    admin_headers,
    assert_error,
    bearer,
    login,
    register,
    stream_records,
)
from tests.integration.client_admin import WEB_APP, registered


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
    assert set(body) == {
        "user_id",
        "username",
        "created_at",
        "disabled",
        "mfa",
        "passkeys",
        "email",
    }
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
            ("POST", "/admin/users/{user_id}/factors/reset"),
            ("POST", "/admin/clients"),
            ("GET", "/admin/clients"),
            ("GET", "/admin/clients/{client_id}"),
            ("PATCH", "/admin/clients/{client_id}"),
            ("DELETE", "/admin/clients/{client_id}"),
            ("POST", "/admin/clients/{client_id}/secret"),
            ("POST", "/admin/identity-providers"),
            ("GET", "/admin/identity-providers"),
            ("GET", "/admin/identity-providers/{provider_id}"),
            ("DELETE", "/admin/identity-providers/{provider_id}"),
        ]
    )


@pytest.mark.parametrize(("method", "route"), ADMIN_ROUTES)
def test_every_admin_route_refuses_a_request_without_iam(
    stack: Stack, method: str, route: str
) -> None:
    # The function invoked some other way than through IAM-authorised routes: refused
    user_id = register(stack)
    session_id = login(stack)["session_id"]
    client_id = registered(stack, WEB_APP)["client_id"]
    parameters = {
        "user_id": user_id,
        "session_id": session_id,
        "client_id": client_id,
        "provider_id": "google",
    }
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
    (client,) = admin(stack, "GET", "/admin/clients").json()["clients"]
    assert (client["client_id"], client["updated_at"]) == (client_id, client["created_at"])


# -- who may call, and the record of each call ------------------------------------------

LOCAL_SIGNER = "arn:aws:iam::123456789012:user/local-run"


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the functions' logger writes from now on (its handler keeps the stream it was
    made with, which no capture fixture replaces)."""
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    return stream


def audit_lines(printed: str) -> list[dict[str, Any]]:
    """The admin function's audit lines among what it wrote."""
    lines = [json.loads(line) for line in printed.splitlines()]
    return [line for line in lines if line.get("message") == "admin call"]


def signed_by(account: str, arn: str) -> dict[str, Any]:
    """The find-user sample, as API Gateway would send it for this signer."""
    event = sample_event("admin/find-user.json")
    event["requestContext"]["authorizer"]["iam"].update(
        {"accountId": account, "userArn": arn, "callerId": "AROAOTHER:support"}
    )
    return event


def test_a_lookup_is_logged_once_with_the_signers_arn_and_its_answer(
    stack: Stack, written: io.StringIO
) -> None:
    # Given a user, and nothing written yet
    register(stack)
    headers = admin_headers("GET", "/admin/users?username=ada")
    written.seek(0)
    written.truncate()
    # When support staff look the user up
    found = stack.http("GET", "/admin/users?username=ada", headers=headers)
    # Then the function wrote one audit line: who signed, what they asked, the answer
    assert found.status == 200
    printed = written.getvalue()
    (line,) = audit_lines(printed)
    assert {key: line[key] for key in ("caller", "caller_account", "access_key_id")} == {
        "caller": LOCAL_SIGNER,
        "caller_account": "123456789012",
        "access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
    }
    assert (line["method"], line["route"], line["path"], line["username"]) == (
        "GET",
        "GET /admin/users",
        "/admin/users",
        "ada",
    )
    assert line["status"] == 200
    assert "error" not in line
    # and nothing of the signature reached the log
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    assert signature not in printed


def test_a_refused_call_is_logged_with_its_refusal(stack: Stack, written: io.StringIO) -> None:
    register(stack)
    admin_function = stack.function("AdminFunction")
    written.seek(0)
    written.truncate()
    other = "arn:aws:sts::210987654321:assumed-role/support/support"
    result = admin_function.lambda_handler(signed_by("210987654321", other), LambdaContext())
    assert result["statusCode"] == 403
    (line,) = audit_lines(written.getvalue())
    assert (line["caller"], line["caller_account"], line["status"], line["error"]) == (
        other,
        "210987654321",
        403,
        "forbidden",
    )


@pytest.mark.parametrize(
    ("account", "arn"),
    [
        ("210987654321", "arn:aws:sts::210987654321:assumed-role/support/support"),
        # an identity whose ARN and account disagree is nobody's
        ("123456789012", "arn:aws:sts::210987654321:assumed-role/support/support"),
        ("210987654321", "arn:aws:sts::123456789012:assumed-role/support/support"),
    ],
    ids=["another-account", "arn-of-another-account", "account-of-another"],
)
def test_a_caller_of_another_account_is_forbidden(stack: Stack, account: str, arn: str) -> None:
    # Given an identity of another account in the event, however the event's own account
    # reads (API Gateway should never send one; the function does not rely on it)
    user_id = register(stack)
    admin_function = stack.function("AdminFunction")
    event = signed_by(account, arn)
    event["requestContext"]["accountId"] = account
    # When they look a user up, or disable one
    found = admin_function.lambda_handler(event, LambdaContext())
    disable = sample_event("admin/disable-unknown-user.json")
    disable["requestContext"]["authorizer"]["iam"] = event["requestContext"]["authorizer"]["iam"]
    disable["rawPath"] = disable["requestContext"]["http"]["path"] = (
        f"/admin/users/{user_id}/disable"
    )
    disable["pathParameters"] = {"user_id": user_id}
    disabled = admin_function.lambda_handler(disable, LambdaContext())
    # Then both are 403 and nothing changed
    for result in (found, disabled):
        assert result["statusCode"] == 403, result
        assert json.loads(result["body"])["error"] == "forbidden"
    assert login(stack)["session_id"]
    # while the same requests of this account's signer are served
    own = signed_by("123456789012", "arn:aws:sts::123456789012:assumed-role/support/support")
    assert admin_function.lambda_handler(own, LambdaContext())["statusCode"] == 200


def test_with_admin_principals_only_those_listed_are_served(
    stack_with: Callable[..., Stack],
) -> None:
    # Given an allow-list naming the support role (as an operator writes a role's ARN)
    stack = stack_with(ADMIN_PRINCIPALS="arn:aws:iam::123456789012:role/ops/support")
    register(stack)
    admin_function = stack.function("AdminFunction")
    # When the local run's own signer, an IAM user not listed, looks a user up
    refused = admin(stack, "GET", "/admin/users?username=ada")
    # Then it is refused, while a session of the listed role (API Gateway reports the
    # session's ARN, assumed-role/support/<session>) is served
    assert_error(refused, 403, "forbidden")
    session = "arn:aws:sts::123456789012:assumed-role/support/alice"
    served = admin_function.lambda_handler(signed_by("123456789012", session), LambdaContext())
    assert served["statusCode"] == 200
    # and another role of the same name elsewhere, or another role here, is not
    for arn in (
        "arn:aws:sts::123456789012:assumed-role/support-readonly/alice",
        "arn:aws:sts::123456789012:assumed-role/developer/alice",
    ):
        other = admin_function.lambda_handler(signed_by("123456789012", arn), LambdaContext())
        assert other["statusCode"] == 403, arn


def test_with_admin_principals_a_listed_user_is_served(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with(ADMIN_PRINCIPALS=f"arn:aws:iam::123456789012:role/support,{LOCAL_SIGNER}")
    register(stack)
    assert admin(stack, "GET", "/admin/users?username=ada").status == 200

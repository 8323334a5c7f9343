"""POST /auth/password and the PasswordChanged consumer on moto."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.stack import LambdaContext, Stack
from session_service.adapters.store_items import session_item
from tests.helpers import (
    PASSWORD,
    a_session,
    assert_error,
    authorize,
    bearer,
    login,
    password_changed,
    register,
)

NEW_PASSWORD = "a brand new passphrase"


def change(
    stack: Stack, access_token: str, current: str = PASSWORD, new: str = NEW_PASSWORD
) -> Any:
    body = {"current_password": current, "new_password": new}
    return stack.http("POST", "/auth/password", body, headers=bearer(access_token))


def test_password_change_route_ends_all_sessions_and_answers_with_a_fresh_one(stack: Stack) -> None:
    register(stack)
    phone, laptop = login(stack), login(stack)
    answer = change(stack, laptop["access_token"])
    assert answer.status == 200
    fresh = answer.json()
    assert fresh["session_id"] not in (phone["session_id"], laptop["session_id"])
    assert answer.headers["cache-control"] == "no-store"
    for old in (phone, laptop):
        assert authorize(stack, old["access_token"]) == {"isAuthorized": False}
        refused = stack.http("POST", "/auth/refresh", {"refresh_token": old["refresh_token"]})
        assert_error(refused, 401, "invalid_grant")
    assert stack.http("GET", "/auth/session", headers=bearer(fresh["access_token"])).status == 200
    assert_error(
        stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD}),
        401,
        "invalid_grant",
    )
    assert (
        stack.http("POST", "/auth/login", {"username": "ada", "password": NEW_PASSWORD}).status
        == 200
    )


def test_password_change_with_a_wrong_current_password_changes_nothing(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    before = stack.items()
    assert_error(
        change(stack, tokens["access_token"], current="not the password"), 401, "invalid_grant"
    )
    # Nothing changed but the judged failure's place in the throttle
    after = [i for i in stack.items() if not i["pk"]["S"].startswith("THROTTLE#")]
    assert after == [i for i in before if not i["pk"]["S"].startswith("THROTTLE#")]


def test_password_change_needs_a_live_session(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    stack.http("POST", "/auth/logout", headers=bearer(tokens["access_token"]))
    assert_error(change(stack, tokens["access_token"]), 401, "invalid_token")
    assert_error(
        stack.http(
            "POST",
            "/auth/password",
            {"current_password": PASSWORD, "new_password": 5},
            headers=bearer(tokens["access_token"]),
        ),
        400,
        "invalid_request",
    )


def test_token_issued_in_the_same_second_as_the_change_is_refused(stack: Stack) -> None:
    # Given a session started, then an external change dated a few ms later
    user_id = register(stack)
    tokens = login(stack)
    changed_at = datetime.now(UTC) + timedelta(milliseconds=5)
    time.sleep(0.01)
    handler = stack.function("PasswordChangedFunction").lambda_handler
    handler(password_changed(user_id, changed_at), LambdaContext())
    # Then its token, whose iat is the same second, is refused
    assert authorize(stack, tokens["access_token"]) == {"isAuthorized": False}


def test_authorizer_refuses_older_sessions_before_the_consumer_revokes_them(stack: Stack) -> None:
    # The not-before time alone refuses them: one lookup, no wait for revocation.
    user_id = register(stack)
    tokens = login(stack)
    time.sleep(0.005)
    stack.clients("dynamodb").update_item(
        TableName=stack.table,
        Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET not_before = :now",
        ExpressionAttributeValues={":now": {"N": str(int(time.time() * 1000))}},
    )
    assert authorize(stack, tokens["access_token"]) == {"isAuthorized": False}


def _seed_sessions(stack: Stack, user_id: str, count: int, created_at: int) -> None:
    client = stack.clients("dynamodb")
    day = 86_400_000
    items = [session_item(a_session(user_id, created_at, day, 30 * day)) for _ in range(count)]
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={stack.table: batch})


def test_consumer_revokes_thousands_of_sessions_across_pages(stack: Stack) -> None:
    # Given a user with 1,000 sessions (more than the limit allows, and than a transaction
    # holds: imported, say) and one newer than the change
    user_id = register(stack)
    changed_at = datetime.now(UTC)
    changed_ms = int(changed_at.timestamp() * 1000)
    _seed_sessions(stack, user_id, 1000, created_at=changed_ms - 60_000)
    _seed_sessions(stack, user_id, 1, created_at=changed_ms + 1)
    handler = stack.function("PasswordChangedFunction").lambda_handler
    # When the event is handled
    result = handler(password_changed(user_id, changed_at), LambdaContext())
    # Then every older session is revoked, the newer one lives, and doing it again is a no-op
    assert result == {"status": "processed", "revoked": 1000}
    sessions = [i for i in stack.items() if i["sk"]["S"].startswith("SESSION#")]
    assert [int(i["created_at"]["N"]) for i in sessions] == [changed_ms + 1]
    ended = [i for i in stack.items() if i["pk"]["S"].startswith("ENDED#")]
    assert sum(len(i["session_ids"]["L"]) for i in ended) == 1000
    assert {i["reason"]["S"] for i in ended} == {"password_changed"}
    assert handler(password_changed(user_id, changed_at), LambdaContext())["revoked"] == 0


def test_events_out_of_order_leave_the_same_state(stack: Stack) -> None:
    user_id = register(stack)
    login(stack)
    handler = stack.function("PasswordChangedFunction").lambda_handler
    earlier = datetime.now(UTC)
    later = earlier + timedelta(milliseconds=50)
    time.sleep(0.06)
    handler(password_changed(user_id, later), LambdaContext())
    state = stack.items()
    handler(password_changed(user_id, earlier), LambdaContext())
    assert stack.items() == state
    profile = next(i for i in state if i["sk"]["S"] == "PROFILE")
    assert int(profile["not_before"]["N"]) == int(later.timestamp() * 1000)


def test_consumer_ignores_unknown_users(stack: Stack) -> None:
    handler = stack.function("PasswordChangedFunction").lambda_handler
    result = handler(password_changed(str(uuid.uuid4()), datetime.now(UTC)), LambdaContext())
    assert result == {"status": "processed", "revoked": 0}
    assert not any(i["sk"]["S"] == "PROFILE" for i in stack.items())

"""A refresh whose write DynamoDB applied but whose answer was lost is not theft: botocore
retries it (harness/lost_answers.py fails calls below its retries, as AWS does), the
retry meets the change its first attempt made, and the client gets its new pair; a client
that never got an answer retries with the same token and gets one too. No session ends
under a client that did nothing wrong, and no reuse is reported."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.lost_answers import DynamoFaults, Mode, injected, nth_write
from harness.stack import Stack
from tests.helpers import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    register,
    stream_records,
    totp_code,
)
from tests.integration.backends import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def _first_attempt(operation: str) -> Callable[[str, int], bool]:
    return lambda called, number: called == operation and number == 1


def _reuse_reported(stack: Stack) -> bool:
    return any(
        "reuse_detected" in str(record["dynamodb"].get("NewImage", {}))
        for record in stream_records(stack)
    )


@pytest.mark.parametrize("mode", ["pre", "post"])
def test_a_refresh_whose_rotation_was_retried_by_botocore_gets_its_pair(
    stack_with: Callable[..., Stack], mode: Mode
) -> None:
    stack = stack_with(REFRESH_REUSE_GRACE_SECONDS="0")
    register(stack)
    tokens = login(stack)
    with injected(DynamoFaults(mode, choose=_first_attempt("UpdateItem"))) as faults:
        answer = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert faults.injected["UpdateItem"] == 1
    assert answer.status == 200
    rotated = answer.json()
    assert stack.http("GET", "/auth/session", headers=bearer(rotated["access_token"])).status == 200
    # The pair it got is the session's current one: it refreshes again.
    again = stack.http("POST", "/auth/refresh", {"refresh_token": rotated["refresh_token"]})
    assert again.status == 200
    assert not _reuse_reported(stack)


def test_a_refresh_whose_answer_never_came_is_retried_with_the_same_token(
    stack_with: Callable[..., Stack],
) -> None:
    # The defaults: the previous token rotates again for a few seconds.
    stack = stack_with()
    register(stack)
    tokens = login(stack)
    both_attempts = DynamoFaults("post", choose=lambda op, n: op == "UpdateItem" and n <= 2)
    with injected(both_attempts):
        lost = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert (lost.status, lost.headers.get("retry-after")) == (503, "1")
    # The rotation was applied; the client, which never saw it, retries.
    retried = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert retried.status == 200
    session = stack.http("GET", "/auth/session", headers=bearer(retried.json()["access_token"]))
    assert session.status == 200
    assert not _reuse_reported(stack)


def test_reuse_beyond_the_window_still_ends_the_session(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with(REFRESH_REUSE_GRACE_SECONDS="0")
    register(stack)
    tokens = login(stack)
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    reused = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_error(reused, 401, "invalid_grant")
    assert _reuse_reported(stack)


def _counters(stack: Stack) -> dict[str, int]:
    return {
        item["pk"]["S"].removeprefix("THROTTLE#").split("#", 1)[0]: int(item["attempts"]["N"])
        for item in stack.items()
        if item["pk"]["S"].startswith("THROTTLE#") and "register" not in item["pk"]["S"]
    }


# A login's throttle writes: the address's place, the username's two in one transaction,
# then (right password) the three given back. Each in turn is sent again by botocore after
# its answer was lost.
@pytest.mark.parametrize(
    "write",
    [
        ("UpdateItem", 1),
        ("TransactWriteItems", 1),
        ("UpdateItem", 2),
        ("UpdateItem", 3),
        ("UpdateItem", 4),
    ],
)
def test_a_throttle_write_sent_again_takes_or_gives_back_one_place(
    stack_with: Callable[..., Stack], write: tuple[str, int]
) -> None:
    stack = stack_with()
    register(stack)
    operation, number = write
    faults = DynamoFaults("post", choose=lambda op, n: op == operation and n == number)
    with injected(faults):
        right = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
        assert right.status == 200
        wrong = stack.http(
            "POST", "/auth/login", {"username": "ada", "password": "not the password"}
        )
        assert wrong.status == 401
    assert faults.injected[operation] == 1
    # The right password's places all given back, the wrong one's kept: one in each scope
    assert _counters(stack) == {"ip": 1, "user-ip": 1, "user": 1}


def test_a_throttle_place_whose_answers_were_both_lost_is_given_back(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with()
    register(stack)
    # The username's places: applied, then both of botocore's attempts lose their answer
    faults = DynamoFaults("post", choose=lambda op, n: op == "TransactWriteItems" and n <= 2)
    with injected(faults):
        lost = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert (lost.status, lost.headers.get("retry-after")) == (503, "1")
    assert faults.injected["TransactWriteItems"] == 2
    # Given back with the address's (the attempt was never judged)
    assert _counters(stack) == {"user-ip": 0, "ip": 0, "user": 0}
    assert (
        stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD}).status == 200
    )


def test_a_second_step_challenge_whose_answer_was_lost_is_still_the_one_answered(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with()
    register(stack)
    access = bearer(login(stack)["access_token"])
    secret = stack.http("POST", "/auth/mfa/totp", headers=access).json()["secret"]
    code = {"code": totp_code(secret, time.time())}
    confirmed = stack.http("POST", "/auth/mfa/totp/confirm", code, headers=access)
    recovery_code = confirmed.json()["recovery_codes"][0]
    # The password step stores its challenge (256 random bits); botocore sends it again
    faults = DynamoFaults("post", choose=lambda op, n: op == "PutItem" and n == 1)
    with injected(faults):
        step = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert faults.injected["PutItem"] == 1
    assert (step.status, step.json()["error"]) == (401, "mfa_required")
    body = {"mfa_token": step.json()["mfa_token"], "code": recovery_code}
    assert stack.http("POST", "/auth/login/mfa", body).status == 200


@pytest.mark.parametrize("mode", ["pre", "post"])
def test_a_registration_whose_writes_lost_their_answers_registers_once(
    stack_with: Callable[..., Stack], mode: Mode
) -> None:
    stack = stack_with()
    # Its writes: a place of the address's registrations, then the user's transaction
    for lost in (1, 2):
        faults = DynamoFaults(mode, choose=nth_write(lost))
        with injected(faults):
            answer = stack.http(
                "POST", "/auth/register", {"username": f"user{lost}", "password": PASSWORD}
            )
        assert sum(faults.injected.values()) == 1
        assert answer.status == 201, answer.json()
    logins = [item for item in stack.items() if item["pk"]["S"].startswith("LOGIN#")]
    assert sorted(item["pk"]["S"] for item in logins) == ["LOGIN#user1", "LOGIN#user2"]
    registrations = [
        int(item["attempts"]["N"])
        for item in stack.items()
        if item["pk"]["S"].startswith("THROTTLE#register#")
    ]
    assert registrations == [2]

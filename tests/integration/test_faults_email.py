"""AWS failures on the e-mail routes: DynamoDB failing at each of a route's calls in turn,
up to the one that commits its change, and beyond botocore's retries, gives 503
`unavailable` with Retry-After and leaves the table as it was: no place in a mailing scope
kept for a message never asked for, no reset token spent without its password, no code
spent without its session or its mfa_token; the client's retry then gets the answer the
clean call gets (a throttle counter at zero is as good as none)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.stack import Stack
from tests.integration.backends import SWEEP_BACKENDS
from tests.integration.email_routes import (
    FAILURES,
    Call,
    Refusals,
    add_address,
    answer_kept,
    coded,
    factors_reset,
    forgot,
    linked,
    register,
    registered,
    reset,
    reset_with_totp,
    sign_in,
    sign_in_wrong_code,
    start,
    unregistered,
    verified,
    verify,
    verify_wrong_code,
    with_totp,
)
from tests.integration.lost_answer_sweep import Subject

pytestmark = pytest.mark.parametrize("backend", SWEEP_BACKENDS, indirect=True)

Prepare = Callable[[Stack, str], Subject]
# Each route: its subject, its call, and what the clean call answers
ROUTES: dict[str, tuple[Prepare, Call, int]] = {
    "register_with_an_address": (unregistered, register, 201),
    "ask_for_a_code_at_a_new_address": (verified, add_address, 202),
    "verify_the_address": (registered, verify, 204),
    "verify_a_wrong_code": (registered, verify_wrong_code, 401),
    "forgot_the_password": (verified, forgot, 202),
    "reset_the_password": (linked(verified), reset, 200),
    "reset_the_password_with_totp": (linked(with_totp), reset_with_totp, 200),
    "start_a_sign_in_by_code": (verified, answer_kept(start), 202),
    "sign_in_by_code": (coded(verified), sign_in, 200),
    "sign_in_with_a_wrong_code": (coded(verified), sign_in_wrong_code, 401),
    # the code buys an mfa_token: spent with it, or not at all
    "sign_in_by_code_with_totp": (coded(with_totp), sign_in, 401),
    "reset_the_factors": (with_totp, factors_reset, 204),
}


@pytest.fixture
def mail_stack(sweep_mail_stack: Stack) -> Stack:
    return sweep_mail_stack


def _state(stack: Stack) -> list[str]:
    """The table's items, but throttle counters at zero (a place taken and given back) and
    second-step challenges (an mfa_token is 256 random bits: one never answered is one no
    client holds; a code is never spent without its own)."""
    return sorted(
        str(item)
        for item in stack.items()
        if not (item["pk"]["S"].startswith("THROTTLE#") and item["attempts"]["N"] == "0")
        and item.get("kind", {}).get("S") != "mfa_challenge"
    )


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_dynamodb_failure_at_any_call_of_an_e_mail_route_is_a_503_that_leaves_nothing(
    mail_stack: Stack, refusals: Refusals, route: str
) -> None:
    prepare, call, status = ROUTES[route]
    # The calls the route makes when all is well, up to the one that commits its change
    subject = prepare(mail_stack, "clean")
    refusals.start()
    assert call(mail_stack, subject).status == status
    steps = refusals.committing()
    cases = [(number, "internal_error") for number in range(1, len(steps) + 1)]
    # The commit itself also times out, and a transaction is cancelled (throttled)
    cases.append((len(steps), "timeout"))
    if steps[-1] == "TransactWriteItems":
        cases.append((len(steps), "transaction_cancelled"))
    problems: list[tuple[Any, ...]] = []
    for number, failure in cases:
        subject = prepare(mail_stack, f"user{number}{list(FAILURES).index(failure)}")
        snapshot = _state(mail_stack)
        refusals.start(number, failure)
        answer = call(mail_stack, subject)
        refusals.start()
        where = (number, steps[number - 1], failure)
        if (answer.status, answer.json()["error"]) != (503, "unavailable"):
            problems.append((*where, answer.json()))
        elif int(answer.headers["retry-after"]) < 1:
            problems.append((*where, "no Retry-After"))
        elif (after := _state(mail_stack)) != snapshot:
            problems.append((*where, sorted(set(after) ^ set(snapshot))))
        # Nothing was spent or counted: the client's retry is answered as the clean call
        elif (retried := call(mail_stack, subject)).status != status:
            problems.append((*where, "retried", retried.json()))
    assert problems == []

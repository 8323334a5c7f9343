"""The AWS calls of e-mail (contract v3): forgot, reset and sign-in by code, on a stack
deployed with e-mail on (bench/email_stack.py), counted as bench/aws_calls.py counts the
other operations. The asynchronous part is where the mail goes out: the table's stream
brings the mail request to the mailer, which finds the account and sends through SES;
a reset's PasswordChanged comes to it from the bus as a notice. An unknown account's
request makes the same calls as a known one's; only the mailer, later, finds nobody."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.aws_calls import PASSWORDS, CountedStack, OperationCalls, count, counted_stack
from bench.email_stack import (
    ADDRESS,
    CODE_SUBJECT,
    EMAIL_SETTINGS,
    RESET_SUBJECT,
    UNKNOWN_ADDRESS,
    UNKNOWN_USERNAME,
    USERNAME,
    checked,
    last_mail,
    with_verified_address,
)

FORGOT = "/auth/password/forgot"
START = "/auth/email/login/start"


@dataclass
class EmailState:
    password_index: int = 0  # PASSWORDS[0] is the one the account registered with
    login_id: str = ""

    @property
    def other_password(self) -> str:
        return PASSWORDS[1 - self.password_index]


def _reset(state: EmailState) -> dict[str, str]:
    token = last_mail(RESET_SUBJECT).token
    return {"reset_token": token, "new_password": state.other_password}


def _reset_done(state: EmailState, _answer: Any) -> None:
    state.password_index = 1 - state.password_index


def _started(state: EmailState, answer: Any) -> None:
    state.login_id = str(answer["login_id"])


def _complete(state: EmailState) -> dict[str, str]:
    return {"login_id": state.login_id, "code": last_mail(CODE_SUBJECT).code}


@dataclass(frozen=True)
class EmailOperation:
    name: str
    path: str
    body: Callable[[EmailState], dict[str, str]]
    then: Callable[[EmailState, Any], None] | None = None
    note: str = ""

    @property
    def route(self) -> str:
        return f"POST {self.path}"


# In this order: each reset and each code sign-in uses what the one before had mailed.
EMAIL_OPERATIONS = (
    EmailOperation(
        "forgot, by username",
        FORGOT,
        lambda _: {"username": USERNAME},
        note="a reset link to the account's verified address",
    ),
    EmailOperation(
        "forgot, unknown username",
        FORGOT,
        lambda _: {"username": UNKNOWN_USERNAME},
        note="the mailer finds no account and sends nothing",
    ),
    EmailOperation(
        "forgot, by e-mail",
        FORGOT,
        lambda _: {"email": ADDRESS},
        note="a reset link (the one before is void)",
    ),
    EmailOperation(
        "forgot, unknown e-mail",
        FORGOT,
        lambda _: {"email": UNKNOWN_ADDRESS},
        note="the mailer finds no account and sends nothing",
    ),
    EmailOperation(
        "password reset",
        "/auth/password/reset",
        _reset,
        then=_reset_done,
        note="no second factor; the reset ends every session and mails a notice",
    ),
    EmailOperation(
        "code sign-in, start",
        START,
        lambda _: {"email": ADDRESS},
        then=_started,
        note="a code to the verified address",
    ),
    EmailOperation(
        "code sign-in, start, unknown e-mail",
        START,
        lambda _: {"email": UNKNOWN_ADDRESS},
        note="the mailer finds no account and sends nothing",
    ),
    EmailOperation(
        "code sign-in, complete",
        "/auth/email/login",
        _complete,
        note="no second factor: a session (amr email)",
    ),
)


def _perform(counted: CountedStack, state: EmailState, operation: EmailOperation) -> None:
    stack = counted.moto.stack
    answer = checked(stack.http("POST", operation.path, operation.body(state)), operation.name)
    if operation.then is not None:
        operation.then(state, answer)


def run() -> list[OperationCalls]:
    results = [
        OperationCalls(op.name, op.route, note=op.note, settings="e-mail on")
        for op in EMAIL_OPERATIONS
    ]
    with counted_stack(EMAIL_SETTINGS) as counted:
        with_verified_address(counted.moto.stack, counted.pump)
        state = EmailState()
        count(counted, EMAIL_OPERATIONS, results, lambda op: _perform(counted, state, op))
    return results

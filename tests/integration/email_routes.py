"""The e-mail routes as the lost-answer and fault suites drive them: the subjects they
are called for (a user made ready: registered with an address, verified, with TOTP, with
a reset link or a sign-in code mailed) and the calls, each for a subject of its own (its
username names its addresses)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError

from harness.stack import HttpAnswer, Stack
from tests.helpers import PASSWORD, admin_headers, bearer, login, totp_code
from tests.integration.lost_answer_sweep import Subject
from tests.mail_helpers import deliver_new_mail, enroll_totp_over_http, sent

NEW_PASSWORD = "a brand new passphrase"


def address(subject: Subject, prefix: str = "") -> str:
    return f"{prefix}{subject.extra['username']}@example.com"


def own(subject: Subject) -> dict[str, str]:
    return bearer(subject.own["access_token"])


Call = Callable[[Stack, Subject], HttpAnswer]


def answer_kept(call: Call) -> Call:
    """The call, its answer's body kept for the state to use (a login_id, an mfa_token)."""

    def keeping(stack: Stack, subject: Subject) -> HttpAnswer:
        answer = call(stack, subject)
        subject.extra["answer"] = answer.json()
        return answer

    return keeping


# -- subjects --------------------------------------------------------------------------


def unregistered(_stack: Stack, username: str) -> Subject:
    """No account yet (the call makes it): no session either."""
    nobody = {"access_token": "none"}
    return Subject("", nobody, nobody, {"username": username})


def registered(stack: Stack, username: str) -> Subject:
    """An account registered with its address, the code mailed, signed in twice."""
    body = {"username": username, "password": PASSWORD, "email": f"{username}@example.com"}
    answer = stack.http("POST", "/auth/register", body)
    assert answer.status == 201, answer.json()
    deliver_new_mail(stack)
    other, mine = login(stack, username), login(stack, username)
    subject = Subject(answer.json()["user_id"], mine, other, {"username": username})
    subject.extra["code"] = sent(address(subject))[-1].code
    return subject


def verified(stack: Stack, username: str) -> Subject:
    subject = registered(stack, username)
    answer = verify(stack, subject)
    assert answer.status == 204, answer.json()
    return subject


def with_totp(stack: Stack, username: str) -> Subject:
    subject = verified(stack, username)
    subject.extra["secret"], _ = enroll_totp_over_http(stack, subject.own["access_token"])
    return subject


def linked(prepare: Callable[[Stack, str], Subject]) -> Callable[[Stack, str], Subject]:
    """The subject, with a reset link mailed to it."""

    def with_link(stack: Stack, username: str) -> Subject:
        subject = prepare(stack, username)
        assert forgot(stack, subject).status == 202
        deliver_new_mail(stack)
        subject.extra["token"] = sent(address(subject))[-1].token
        return subject

    return with_link


def coded(prepare: Callable[[Stack, str], Subject]) -> Callable[[Stack, str], Subject]:
    """The subject, with a sign-in started and its code mailed."""

    def with_code(stack: Stack, username: str) -> Subject:
        subject = prepare(stack, username)
        started = start(stack, subject)
        assert started.status == 202, started.json()
        subject.extra["login_id"] = started.json()["login_id"]
        deliver_new_mail(stack)
        subject.extra["code"] = sent(address(subject))[-1].code
        return subject

    return with_code


# -- calls -----------------------------------------------------------------------------


def register(stack: Stack, subject: Subject) -> HttpAnswer:
    body = {"username": subject.extra["username"], "password": PASSWORD}
    answer = stack.http("POST", "/auth/register", {**body, "email": address(subject)})
    if answer.status == 201:
        subject.user_id = answer.json()["user_id"]
    return answer


def add_address(stack: Stack, subject: Subject) -> HttpAnswer:
    body = {"email": address(subject, "new-")}
    return stack.http("POST", "/auth/email", body, headers=own(subject))


def verify(stack: Stack, subject: Subject) -> HttpAnswer:
    body = {"code": subject.extra["code"]}
    return stack.http("POST", "/auth/email/verify", body, headers=own(subject))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def verify_wrong_code(stack: Stack, subject: Subject) -> HttpAnswer:
    body = {"code": wrong(subject.extra["code"])}
    return stack.http("POST", "/auth/email/verify", body, headers=own(subject))


def forgot(stack: Stack, subject: Subject) -> HttpAnswer:
    return stack.http("POST", "/auth/password/forgot", {"username": subject.extra["username"]})


def reset_body(subject: Subject) -> dict[str, Any]:
    return {"reset_token": subject.extra["token"], "new_password": NEW_PASSWORD}


def reset(stack: Stack, subject: Subject) -> HttpAnswer:
    return stack.http("POST", "/auth/password/reset", reset_body(subject))


def reset_with_totp(stack: Stack, subject: Subject) -> HttpAnswer:
    # The next step's code: the current one was spent confirming TOTP.
    code = totp_code(subject.extra["secret"], time.time() + 30)
    return stack.http("POST", "/auth/password/reset", {**reset_body(subject), "code": code})


def start(stack: Stack, subject: Subject) -> HttpAnswer:
    return stack.http("POST", "/auth/email/login/start", {"email": address(subject)})


def sign_in(stack: Stack, subject: Subject) -> HttpAnswer:
    body = {"login_id": subject.extra["login_id"], "code": subject.extra["code"]}
    return stack.http("POST", "/auth/email/login", body)


def sign_in_wrong_code(stack: Stack, subject: Subject) -> HttpAnswer:
    body = {"login_id": subject.extra["login_id"], "code": wrong(subject.extra["code"])}
    return stack.http("POST", "/auth/email/login", body)


def factors_reset(stack: Stack, subject: Subject) -> HttpAnswer:
    path = f"/admin/users/{subject.user_id}/factors/reset"
    return stack.http("POST", path, headers=admin_headers("POST", path))


# -- failures that outlast botocore's retries --------------------------------------------


def _client_error(code: str, operation: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}, **extra}, operation)


def _internal_error(operation: str) -> ClientError:
    return _client_error("InternalServerError", operation)


def _cancelled(operation: str) -> ClientError:
    reasons = [{"Code": "ThrottlingError"}]
    return _client_error("TransactionCanceledException", operation, CancellationReasons=reasons)


def _timeout(_operation: str) -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


FAILURES: dict[str, Callable[[str], Exception]] = {
    "internal_error": _internal_error,
    "timeout": _timeout,
    "transaction_cancelled": _cancelled,
}


@dataclass
class Refusals:
    """DynamoDB failing above botocore's retries (a failure they do not outlast): the
    `at`-th call of the request (from 1) raises `failure`; `calls` lists every call made,
    as (operation, whether it writes something other than a throttle counter)."""

    at: int = 0
    failure: Callable[[str], Exception] = _internal_error
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def wrap(self, original: Any) -> Any:
        def call(client: BaseClient, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                self.calls.append((operation, _commits(operation, params)))
                if len(self.calls) == self.at:
                    raise self.failure(operation)
            return original(client, operation, params)

        return call

    def start(self, at: int = 0, failure: str = "internal_error") -> None:
        self.at, self.failure, self.calls = at, FAILURES[failure], []

    def committing(self) -> list[str]:
        """The calls made, up to the last write that is not a throttle counter's."""
        last = max(index for index, (_, commits) in enumerate(self.calls) if commits)
        return [operation for operation, _ in self.calls[: last + 1]]


def _commits(operation: str, params: Any) -> bool:
    """A write of the request's own: not a throttle counter's, nor the mailer's record of a
    message being sent (its idempotency record, completed once SES took the message)."""
    if operation not in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"):
        return False
    key = params.get("Key") or params.get("Item") or {}
    return not str(key.get("pk", {}).get("S", "")).startswith(("THROTTLE#", "MAILSENT"))

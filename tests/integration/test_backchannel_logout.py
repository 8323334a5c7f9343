"""Back-channel logout through the in-process stack: a logout in the service ends the central
session, the table's stream carries the session item's removal to BackchannelLogoutFunction,
and the app's back-channel URI (a real HTTP server here, on loopback) receives a logout
token it can verify from the JWKS; an app that is down lands in the dead-letter queue and
is announced, without its token; one that never answers, or answers a byte at a time,
holds back no other app, even over a whole batch of sessions; and a loopback URI is told
only where the local run turns BACKCHANNEL_LOOPBACK on."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from harness.sso_apps import BackchannelApp
from harness.stack import ISSUER, LambdaContext, Stack
from tests.helpers import PASSWORD, emf_metrics, stream_records
from tests.integration.client_admin import NATIVE_APP, registered
from tests.integration.oauth2_flow import (
    FORM,
    code_of,
    exchange,
    on_the_sign_in_page,
    signed_in,
    sso_cookie_of,
)

# A stream batch's most records (the mapping's BatchSize)
BATCH_SIZE = 25

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    """The apps here listen on loopback, as the local run's do: told, as the local run
    tells them (BACKCHANNEL_LOOPBACK, on there, off on AWS)."""
    return stack_with(BACKCHANNEL_LOOPBACK="on")


@pytest.fixture
def app() -> Iterator[BackchannelApp]:
    running = BackchannelApp()
    yield running
    running.stop()


@pytest.fixture
def hanging_app() -> Iterator[BackchannelApp]:
    running = BackchannelApp(hang=True)
    yield running
    running.stop()


class TimeLeft(LambdaContext):
    """An invocation with this much of its timeout left."""

    def __init__(self, millis: int) -> None:
        super().__init__()
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def run_backchannel(stack: Stack, context: LambdaContext | None = None) -> dict[str, Any]:
    handler = stack.function("BackchannelLogoutFunction").lambda_handler
    event = json.loads(json.dumps({"Records": stream_records(stack)}))
    return dict(handler(event, context or LambdaContext()))


def ended_central_session(stack: Stack, *apps: BackchannelApp) -> tuple[list[dict[str, Any]], str]:
    """A central session every app took part in, ended; the apps' clients, and the first
    one's ID token."""
    cookie = signed_in(stack)
    clients, id_tokens = [], []
    for app in apps:
        client = registered(stack, {**NATIVE_APP, "backchannel_logout_uri": app.uri})
        tokens = exchange(stack, client["client_id"], code_of(stack, client["client_id"], cookie))
        assert tokens.status == 200, tokens.json()
        clients.append(client)
        id_tokens.append(tokens.json()["id_token"])
    # (signed out on the service's own page: /auth/logout takes no central session's token)
    form = {"content-type": "application/x-www-form-urlencoded"}
    headers = {**form, "cookie": cookie, "origin": ISSUER}
    assert stack.http("POST", "/oauth2/logout", "", headers=headers).status == 200
    return clients, id_tokens[0]


def listen_to_bus(stack: Stack) -> str:
    """A queue that every event of the service's bus reaches."""
    events, sqs = stack.clients("events"), stack.clients("sqs")
    bus = stack.template.names.refs["EventBus"]
    url = sqs.create_queue(QueueName="bus-listener")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="everything", EventBusName=bus, EventPattern='{"source": ["session-service"]}'
    )
    events.put_targets(
        Rule="everything", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}]
    )
    return str(url)


def heard(stack: Stack, url: str) -> list[tuple[str, dict[str, Any]]]:
    """The events the listener's queue holds: (detail type, detail)."""
    messages = stack.clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    bodies = [json.loads(message["Body"]) for message in messages.get("Messages", [])]
    return [(body["detail-type"], body["detail"]) for body in bodies]


def parked(stack: Stack) -> list[dict[str, Any]]:
    """What BackchannelLogoutDeadLetterQueue holds."""
    queue = stack.template.names.refs["BackchannelLogoutDeadLetterQueue"]
    answer = stack.clients("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def test_a_logout_reaches_the_app_as_a_logout_token_it_can_verify(
    stack: Stack, app: BackchannelApp
) -> None:
    (client,), id_token = ended_central_session(stack, app)
    assert run_backchannel(stack) == {"batchItemFailures": []}
    ((token,),) = [form["logout_token"] for form in app.received]
    keys = jwt.PyJWKSet.from_dict(stack.http("GET", "/.well-known/jwks.json").json())
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"
    claims = jwt.decode(
        token, keys[header["kid"]].key, algorithms=[header["alg"]], audience=client["client_id"]
    )
    signed_in_as = jwt.decode(id_token, options={"verify_signature": False})
    assert (claims["iss"], claims["sub"], claims["sid"]) == (
        ISSUER,
        signed_in_as["sub"],
        signed_in_as["sid"],
    )
    assert claims["events"] == {LOGOUT_EVENT: {}}


def test_an_app_that_is_down_is_parked_and_announced_without_its_token(
    stack: Stack, app: BackchannelApp, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an app that answers 503 to everything, in a central session that ends
    app.status = 503
    (client,), _ = ended_central_session(stack, app)
    listener = listen_to_bus(stack)
    capsys.readouterr()
    # When the session's removal reaches the function
    assert run_backchannel(stack) == {"batchItemFailures": []}
    # Then it was tried three times, then parked, announced and counted, without its token
    assert len(app.received) == 3
    user_id = app_claims(app)["sub"]
    session_id = app_claims(app)["sid"]
    expected = {
        "user_id": user_id,
        "session_id": session_id,
        "client_id": client["client_id"],
        "reason": "HTTP 503",
    }
    assert parked(stack) == [{**expected, "uri": app.uri}]
    assert heard(stack, listener) == [("BackchannelLogoutFailed", expected)]
    printed = capsys.readouterr().out
    assert emf_metrics(printed)["BackchannelLogoutFailed"] == 1
    assert app.received[0]["logout_token"][0] not in printed


def app_claims(app: BackchannelApp) -> dict[str, Any]:
    """The claims of the first logout token the app received (unverified)."""
    token = app.received[0]["logout_token"][0]
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_an_app_that_never_answers_holds_back_no_other_app(
    stack: Stack, app: BackchannelApp, hanging_app: BackchannelApp
) -> None:
    # Given a central session two apps took part in, one of which takes the request and
    # never answers
    (healthy, hanging), _ = ended_central_session(stack, app, hanging_app)
    listener = listen_to_bus(stack)
    # When its removal reaches the function with 5 s left: its deliveries' deadline is
    # 2 s away (3 s kept for what follows them)
    handler = stack.function("BackchannelLogoutFunction").lambda_handler
    event = json.loads(json.dumps({"Records": stream_records(stack)}))
    started = time.monotonic()
    answer = handler(event, TimeLeft(5_000))
    took = time.monotonic() - started
    # Then the healthy app had its token at once, without waiting for the other's try
    assert answer == {"batchItemFailures": []}
    assert len(app.received) == 1
    assert app.received_at[0] - started < 1.0
    assert abs(app.received_at[0] - hanging_app.received_at[0]) < 0.5
    # and the one that never answered had one try, to the deadline (no time for another),
    # then was parked and announced; the invocation ended within the time it had
    assert len(hanging_app.received) == 1
    assert 1.5 < took < 4.0  # well within the 5 s it had
    claims = app_claims(hanging_app)
    expected = {
        "user_id": claims["sub"],
        "session_id": claims["sid"],
        "client_id": hanging["client_id"],
        "reason": "TimeoutError",
    }
    assert parked(stack) == [{**expected, "uri": hanging_app.uri}]
    assert heard(stack, listener) == [("BackchannelLogoutFailed", expected)]
    assert app_claims(app)["aud"] == healthy["client_id"]


@pytest.mark.parametrize("slow", ["hanging", "trickling"])
def test_a_slow_app_in_every_session_of_a_batch_holds_back_no_delivery_of_another(
    stack_with: Callable[..., Stack], app: BackchannelApp, slow: str
) -> None:
    # Given a full batch of ended central sessions, each of which both apps took part in:
    # one app answers, the other takes each request and never answers, or answers a byte
    # every 0.05 s (so that no read of its socket ever times out)
    stack = stack_with(BACKCHANNEL_LOOPBACK="on", MAX_SESSIONS_PER_USER=str(BATCH_SIZE))
    slow_app = BackchannelApp(hang=slow == "hanging", trickle=slow == "trickling")
    try:
        clients = [
            registered(stack, {**NATIVE_APP, "backchannel_logout_uri": running.uri})
            for running in (app, slow_app)
        ]
        stack.http("POST", "/auth/register", {"username": "ada", "password": PASSWORD})
        ada = {"username": "ada", "password": PASSWORD}
        cookies = [
            sso_cookie_of(on_the_sign_in_page(stack, clients[0]["client_id"], ada))
            for _ in range(BATCH_SIZE)
        ]
        for cookie in cookies:
            for client in clients:
                code = code_of(stack, client["client_id"], cookie)
                assert exchange(stack, client["client_id"], code).status == 200
        for cookie in cookies:
            headers = {**FORM, "cookie": cookie, "origin": ISSUER}
            assert stack.http("POST", "/oauth2/logout", "", headers=headers).status == 200
        # When the batch reaches the function with 12 s left: its deliveries' deadline is
        # the contract's 5 s
        handler = stack.function("BackchannelLogoutFunction").lambda_handler
        event = json.loads(json.dumps({"Records": stream_records(stack)}))
        started = time.monotonic()
        answer = handler(event, TimeLeft(12_000))
        took = time.monotonic() - started
        # Then the healthy app had all 25 logout tokens as soon as the deliveries began,
        # none parked; the slow app's were each tried, then parked; the invocation ended
        # within the time it had
        assert answer == {"batchItemFailures": []}
        began = min(app.received_at + slow_app.received_at)
        assert len(app.received) == BATCH_SIZE
        assert len({app_claims_of(form)["sid"] for form in app.received}) == BATCH_SIZE
        assert max(app.received_at) - began < 1.0
        assert len({app_claims_of(form)["sid"] for form in slow_app.received}) == BATCH_SIZE
        assert max(slow_app.received_at) < started + 5.0
        assert took < 12.0
        dead = parked_all(stack)
        assert (len(dead), {(d["client_id"], d["reason"]) for d in dead}) == (
            BATCH_SIZE,
            {(clients[1]["client_id"], "TimeoutError")},
        )
    finally:
        slow_app.stop()


def app_claims_of(form: dict[str, list[str]]) -> dict[str, Any]:
    return dict(jwt.decode(form["logout_token"][0], options={"verify_signature": False}))


def parked_all(stack: Stack) -> list[dict[str, Any]]:
    """Everything BackchannelLogoutDeadLetterQueue holds, page by page."""
    queue = stack.template.names.refs["BackchannelLogoutDeadLetterQueue"]
    bodies: list[dict[str, Any]] = []
    while (
        messages := stack.clients("sqs")
        .receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        .get("Messages", [])
    ):
        bodies.extend(json.loads(message["Body"]) for message in messages)
    return bodies


def test_on_aws_a_loopback_uri_is_not_told_but_logged_and_counted(
    stack_with: Callable[..., Stack],
    app: BackchannelApp,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the stack as deployed (BACKCHANNEL_LOOPBACK unset) and an app registered with
    # a loopback URI, which the contract accepts
    stack = stack_with()
    (client,), _ = ended_central_session(stack, app)
    capsys.readouterr()
    caplog.clear()
    # When its central session ends
    assert run_backchannel(stack) == {"batchItemFailures": []}
    # Then nothing was POSTed (loopback is the Lambda environment's own), nothing parked,
    # but a warning names the client and a metric counts it; the grants are gone
    assert app.received == []
    assert parked(stack) == []
    printed = capsys.readouterr().out
    counted = emf_metrics(printed)
    assert (counted["BackchannelLogoutSkipped"], "BackchannelLogoutFailed" in counted) == (1, False)
    warnings = [
        (record.getMessage(), getattr(record, "client_id", None))
        for record in caplog.records
        if record.levelno == logging.WARNING
    ]
    assert warnings == [
        (
            "back-channel logout to a loopback URI skipped: only the local run delivers there",
            client["client_id"],
        )
    ]
    assert [item for item in stack.items() if item["pk"]["S"].startswith("GRANTS#")] == []

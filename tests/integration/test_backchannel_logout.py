"""Back-channel logout through the in-process stack: a logout in the service ends the central
session, the table's stream carries the session item's removal to BackchannelLogoutFunction,
and the app's back-channel URI (a real HTTP server here, on loopback) receives a logout
token it can verify from the JWKS; an app that is down lands in the dead-letter queue and
is announced, without its token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from harness.sso_apps import BackchannelApp
from harness.stack import ISSUER, LambdaContext, Stack
from tests.helpers import stream_records
from tests.integration.client_admin import NATIVE_APP, registered
from tests.integration.oauth2_flow import code_of, exchange, signed_in

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def app() -> Iterator[BackchannelApp]:
    running = BackchannelApp()
    yield running
    running.stop()


def run_backchannel(stack: Stack) -> dict[str, Any]:
    handler = stack.function("BackchannelLogoutFunction").lambda_handler
    event = json.loads(json.dumps({"Records": stream_records(stack)}))
    return dict(handler(event, LambdaContext()))


def ended_central_session(stack: Stack, app: BackchannelApp) -> tuple[dict[str, Any], str]:
    client = registered(stack, {**NATIVE_APP, "backchannel_logout_uri": app.uri})
    cookie = signed_in(stack)
    tokens = exchange(stack, client["client_id"], code_of(stack, client["client_id"], cookie))
    assert tokens.status == 200, tokens.json()
    logout = stack.http("POST", "/auth/logout", {"refresh_token": cookie.split("=", 1)[1]})
    assert logout.status == 204
    return client, tokens.json()["id_token"]


def test_a_logout_reaches_the_app_as_a_logout_token_it_can_verify(
    stack: Stack, app: BackchannelApp
) -> None:
    client, id_token = ended_central_session(stack, app)
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
    stack: Stack, app: BackchannelApp
) -> None:
    app.status = 503
    client, _ = ended_central_session(stack, app)
    assert run_backchannel(stack) == {"batchItemFailures": []}
    assert len(app.received) == 3  # tried three times
    sqs = stack.clients("sqs")
    queue = stack.template.names.refs["BackchannelLogoutDeadLetterQueue"]
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    parked = json.loads(message["Body"])
    assert (parked["client_id"], parked["reason"]) == (client["client_id"], "HTTP 503")
    assert "logout_token" not in message["Body"]

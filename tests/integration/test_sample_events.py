"""Every file in events/ is a valid event for its function: each runs through its handler
on moto (what `sam local invoke Fn -e events/<fn>/<file>.json` would run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.memory_activity import InMemoryActivityStore
from harness.stack import EVENTS_DIR, FUNCTIONS, LambdaContext, Stack, sample_event
from session_service.adapters.stream_records import (
    decode_stream_record,
)
from session_service.domain.activity.activity_log import ActivityRecorder
from session_service.domain.activity.events import events_for

FOLDER_TO_FUNCTION = {folder: logical_id for logical_id, folder in FUNCTIONS.items()}
# events/published/ holds what the service puts on its bus (docs/events.md), not inputs.
PUBLISHED = sorted((EVENTS_DIR / "published").glob("*.json"))
SAMPLES = sorted(
    path.relative_to(EVENTS_DIR)
    for path in EVENTS_DIR.glob("*/*.json")
    if path.parent.name != "published"
)


def test_every_function_has_sample_events() -> None:
    assert {path.parts[0] for path in SAMPLES} == set(FOLDER_TO_FUNCTION)


def test_published_samples_have_the_shape_the_publisher_produces() -> None:
    produced: dict[str, set[str]] = {}
    recorder = ActivityRecorder(InMemoryActivityStore(), retention_days=90, window_seconds=900)
    for sample in (EVENTS_DIR / "event_publisher").glob("*.json"):
        for record in json.loads(sample.read_text())["Records"]:
            change = decode_stream_record(record)
            assert change is not None
            for event in [*events_for(change), *recorder.record([change])]:
                produced[event.detail_type] = set(event.detail)
    documented = {path.stem: json.loads(path.read_text()) for path in PUBLISHED}
    assert (
        set(documented)
        == set(produced)
        == {
            "SessionStarted",
            "SessionRevoked",
            "RefreshTokenReuseDetected",
            "PasswordChanged",
            "MfaEnabled",
            "MfaDisabled",
            "RecoveryCodeUsed",
            "AccountDisabled",
            "AccountEnabled",
            "NewDeviceSignIn",
            "PasskeyAdded",
            "PasskeyRemoved",
            "PasskeySignCountRegressed",
            "ClientRegistered",
            "ClientDeleted",
            "SsoSignIn",
            "SsoSessionRenewed",
            "IdentityLinked",
            "IdentityUnlinked",
        }
    )
    for detail_type, event in documented.items():
        assert event["detail-type"] == detail_type
        assert event["source"] == "session-service"
        assert set(event["detail"]) == produced[detail_type]


def test_the_published_password_changed_is_a_valid_consumer_event(stack: Stack) -> None:
    event = json.loads((EVENTS_DIR / "published" / "PasswordChanged.json").read_text())
    handler = stack.function("PasswordChangedFunction").lambda_handler
    assert handler(event, LambdaContext())["status"] == "processed"


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_sample_event_runs_through_its_function(stack: Stack, sample: Path) -> None:
    # Given the user the samples name, and a queue that hears everything on the bus
    stack.http("POST", "/auth/register", {"username": "ada", "password": "correct horse battery"})
    listener = _listen_to_bus(stack)
    handler = stack.function(FOLDER_TO_FUNCTION[sample.parts[0]]).lambda_handler
    # When
    result = handler(sample_event(str(sample)), LambdaContext())
    # Then the answer has the shape its caller expects
    _CHECKS[sample.parts[0]](stack, sample.stem, json.loads(json.dumps(result)), listener)


# What each sample API event gets after the samples' user ("ada") has registered.
API_STATUSES = {
    "register": 409,  # the name is taken, by the user registered first
    "login": 200,
    "refresh": 401,  # the sample's token is well-formed, but not MACed by this stack's key
    "logout-with-refresh-token": 401,
    "current-session": 200,  # the sample carries the authorizer's allow verdict
    "current-session-refused": 401,
    "jwks": 200,
    "openid-configuration": 200,
    "unknown-route": 404,
}


def test_every_api_sample_has_an_expected_status() -> None:
    assert set(API_STATUSES) == {path.stem for path in SAMPLES if path.parts[0] == "api"}


def _check_api(stack: Stack, name: str, result: Any, listener: str) -> None:
    assert result["statusCode"] == API_STATUSES[name], result
    if result["statusCode"] >= 400:
        assert set(json.loads(result["body"])) == {"error", "error_description"}


def _check_authorizer(stack: Stack, name: str, result: Any, listener: str) -> None:
    # The sample's token is not a real one: our API hears why, another API is denied.
    if name == "own-api-request":
        assert result == {
            "isAuthorized": True,
            "context": {
                "verdict": "invalid_token",
                "description": result["context"]["description"],
            },
        }
    else:
        assert result == {"isAuthorized": False}


def _check_password_changed(stack: Stack, name: str, result: Any, listener: str) -> None:
    expected = "dropped" if name == "malformed" else "processed"
    assert result["status"] == expected
    if name == "malformed":
        queue = stack.template.names.refs["PasswordChangedDeadLetterQueue"]
        messages = stack.clients("sqs").receive_message(QueueUrl=queue).get("Messages", [])
        assert len(messages) == 1


def _check_event_publisher(stack: Stack, name: str, result: Any, listener: str) -> None:
    messages = stack.clients("sqs").receive_message(QueueUrl=listener, MaxNumberOfMessages=10)
    kinds = {json.loads(m["Body"])["detail-type"] for m in messages.get("Messages", [])}
    expected = {
        "session-started": {"SessionStarted", "NewDeviceSignIn"},
        "session-revoked-reuse": {"SessionRevoked", "RefreshTokenReuseDetected"},
        "password-changed": {"PasswordChanged"},
        "second-factor-changes": {"MfaEnabled", "RecoveryCodeUsed", "MfaDisabled"},
        "account-disabled-and-enabled": {"AccountDisabled", "AccountEnabled"},
        "passkey-changes": {"PasskeyAdded", "PasskeySignCountRegressed", "PasskeyRemoved"},
        "client-changes": {"ClientRegistered", "ClientDeleted"},
        "sso-sign-in": {"SsoSignIn"},
        # A sign-in again: a login in the user's activity, so a new device's is told too
        "sso-session-renewed": {"SsoSessionRenewed", "NewDeviceSignIn"},
        "identity-changes": {"IdentityLinked", "IdentityUnlinked"},
    }[name]
    assert kinds == expected
    assert result == {"batchItemFailures": []}


def _check_key_rotation(stack: Stack, name: str, result: Any, listener: str) -> None:
    secret = sample_event(f"key_rotation/{name}.json")
    pending = stack.clients("secretsmanager").get_secret_value(
        SecretId=secret["SecretId"], VersionStage="AWSPENDING"
    )
    assert len(json.loads(pending["SecretString"])["signing_keys"]) == 2


def _check_admin(stack: Stack, name: str, result: Any, listener: str) -> None:
    # The samples carry API Gateway's IAM context: found (the samples' user), and a
    # user id that names nobody
    expected = {"find-user": 200, "disable-unknown-user": 404}[name]
    assert result["statusCode"] == expected, result
    if name == "find-user":
        assert json.loads(result["body"])["username"] == "ada"


def _check_mailer(stack: Stack, name: str, result: Any, listener: str) -> None:
    # The samples' user has no verified address: nothing is mailed, and nothing fails
    expected = {
        "password-reset-request": {"batchItemFailures": []},
        "new-device-notice": {"status": "processed"},
    }[name]
    assert result == expected


def _check_backchannel_logout(stack: Stack, name: str, result: Any, listener: str) -> None:
    # A central session that no app took part in ended (its TTL): nobody to tell
    assert name == "session-expired"
    assert result == {"batchItemFailures": []}


_CHECKS = {
    "backchannel_logout": _check_backchannel_logout,
    "admin": _check_admin,
    "mailer": _check_mailer,
    "api": _check_api,
    "authorizer": _check_authorizer,
    "password_changed": _check_password_changed,
    "event_publisher": _check_event_publisher,
    "key_rotation": _check_key_rotation,
}


def _listen_to_bus(stack: Stack) -> str:
    events, sqs = stack.clients("events"), stack.clients("sqs")
    bus = stack.template.names.refs["EventBus"]
    url = sqs.create_queue(QueueName="bus-listener")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="everything", EventBusName=bus, EventPattern='{"source": [{"prefix": ""}]}'
    )
    events.put_targets(
        Rule="everything", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}]
    )
    return str(url)


@pytest.mark.parametrize(
    "path", sorted((EVENTS_DIR / "authorizer").glob("*.json")), ids=lambda p: p.stem
)
def test_an_authorizer_sample_names_one_route_throughout(path: Path) -> None:
    event = json.loads(path.read_text())
    http = event["requestContext"]["http"]
    route = f"{http['method']} {http['path']}"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == route
    assert event["rawPath"] == http["path"]
    assert event["routeArn"].endswith(f"/{http['method']}{http['path']}")
    assert f":{event['requestContext']['apiId']}/" in event["routeArn"]

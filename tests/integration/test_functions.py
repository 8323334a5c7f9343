"""The authorizer, the PasswordChanged consumer, the stream publisher and key rotation."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from harness.stack import LambdaContext, Stack, sample_event
from session_service import wiring
from session_service.adapters import dynamo
from session_service.config import get_settings
from session_service.domain.key_rotation import generate_signing_key
from session_service.domain.keyring import JWKS_MAX_AGE_SECONDS, KeyRingSource
from session_service.domain.tokens import AccessTokens
from tests.helpers import (
    authorize,
    authorizer_event,
    bearer,
    login,
    password_changed,
    register,
    stream_records,
)

# -- authorizer ---------------------------------------------------------------------------


def test_authorizer_allows_a_live_session_with_its_subject_in_the_context(stack: Stack) -> None:
    user_id = register(stack)
    tokens = login(stack)
    answer = authorize(stack, tokens["access_token"])
    assert answer["isAuthorized"] is True
    assert answer["context"]["sub"] == user_id
    assert answer["context"]["sid"] == tokens["session_id"]


def test_authorizer_denies_other_apis_a_revoked_session(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    stack.http("POST", "/auth/logout", headers=bearer(tokens["access_token"]))
    assert authorize(stack, tokens["access_token"]) == {"isAuthorized": False}
    assert authorize(stack, None) == {"isAuthorized": False}


def test_authorizer_fails_loudly_rather_than_deny_when_dynamodb_is_down(stack: Stack) -> None:
    # A deny would make clients throw the session away; a 5xx makes them retry.
    register(stack)
    tokens = login(stack)
    client = dynamo.dynamodb_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("batch_get_item", "ProvisionedThroughputExceededException")
        with pytest.raises(Exception, match="unavailable"):
            authorize(stack, tokens["access_token"])
        stubber.add_client_error("batch_get_item", "InternalServerError")
        own = authorize(stack, tokens["access_token"], own_api=True)
    assert own["context"]["verdict"] == "unavailable"


# -- PasswordChanged consumer --------------------------------------------------------------


def test_password_changed_ends_every_older_session(stack: Stack) -> None:
    # Given two sessions
    user_id = register(stack)
    first, second = login(stack), login(stack)
    handler = stack.function("PasswordChangedFunction").lambda_handler
    # When a PasswordChanged event arrives
    result = handler(password_changed(user_id, datetime.now(UTC)), LambdaContext())
    # Then both are revoked, refused at once, and a repeat changes nothing
    assert result == {"status": "processed", "revoked": 2}
    for tokens in (first, second):
        assert authorize(stack, tokens["access_token"]) == {"isAuthorized": False}
        refreshed = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert refreshed.status == 401
    before = stack.items()
    again = handler(password_changed(user_id, datetime.now(UTC)), LambdaContext())
    assert again["revoked"] == 0
    assert len(stack.items()) == len(before)
    # And a login after the change works
    assert authorize(stack, login(stack)["access_token"])["isAuthorized"] is True


def test_malformed_password_changed_goes_to_the_dead_letter_queue(stack: Stack) -> None:
    handler = stack.function("PasswordChangedFunction").lambda_handler
    for detail in ({}, {"user_id": 5, "changed_at": "x"}, {"user_id": "u", "changed_at": "soon"}):
        event = {**sample_event("password_changed/malformed.json"), "detail": detail}
        assert handler(event, LambdaContext())["status"] == "dropped"
    queue = stack.template.names.refs["PasswordChangedDeadLetterQueue"]
    received = stack.clients("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    assert len(received["Messages"]) == 3


# -- stream publisher ----------------------------------------------------------------------


def _kind(record: dict[str, Any]) -> str:
    return str(record["dynamodb"].get("NewImage", {}).get("kind", {}).get("S", ""))


def test_a_record_the_publisher_fails_on_is_reported_and_the_others_published(
    stack: Stack,
) -> None:
    # Given a login and a reuse on the stream, and EventBridge refusing SessionRevoked
    register(stack)
    tokens = login(stack)
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    publisher = stack.function("EventPublisherFunction")
    sent: list[str] = []
    client = wiring.event_publisher()._client

    def refusing(**kwargs: Any) -> Any:
        entries = kwargs["Entries"]
        if any(entry["DetailType"] == "SessionRevoked" for entry in entries):
            raise ClientError({"Error": {"Code": "InternalException"}}, "PutEvents")
        sent.extend(entry["DetailType"] for entry in entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in entries]}

    client.put_events = refusing
    records = stream_records(stack)
    answer = publisher.lambda_handler({"Records": records}, LambdaContext())
    # Then only the ended-sessions record is reported, by its sequence number
    (ended,) = [r for r in records if _kind(r) == "ended"]
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": ended["dynamodb"]["SequenceNumber"]}]
    }
    assert sent == ["SessionStarted", "NewDeviceSignIn"]


def test_publisher_turns_table_changes_into_events(stack: Stack) -> None:
    # Given a login and a reuse, as recorded on the table's stream
    register(stack)
    tokens = login(stack)
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    publisher = stack.function("EventPublisherFunction")
    sent: list[dict[str, Any]] = []
    client = wiring.event_publisher()._client
    original = client.put_events

    def spy(**kwargs: Any) -> Any:
        sent.extend(kwargs["Entries"])
        return original(**kwargs)

    client.put_events = spy
    # When the publisher gets the batch
    answer = publisher.lambda_handler({"Records": stream_records(stack)}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    # Then other systems hear of the session and of its end, record by record, with no
    # token material (the first sign-in from this device is a new device too)
    kinds = [entry["DetailType"] for entry in sent]
    assert kinds == [
        "SessionStarted",
        "NewDeviceSignIn",
        "SessionRevoked",
        "RefreshTokenReuseDetected",
    ]
    revoked = json.loads(sent[2]["Detail"])
    assert revoked["reason"] == "reuse_detected"
    assert revoked["session_id"] == tokens["session_id"]
    assert all(entry["Source"] == "session-service" for entry in sent)
    assert tokens["refresh_token"] not in json.dumps(sent)


# -- signing-key rotation ------------------------------------------------------------------


def test_key_rotation_publishes_the_new_key_before_it_signs_and_keeps_old_tokens_valid(
    stack: Stack,
) -> None:
    # Given a token signed before the rotation
    user_id = register(stack)
    before = login(stack)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    rotation = stack.function("KeyRotationFunction").lambda_handler
    token = str(uuid.uuid4())

    def step(name: str) -> None:
        event = {**sample_event("key_rotation/create-secret.json"), "Step": name}
        rotation({**event, "ClientRequestToken": token}, LambdaContext())

    def published() -> dict[str, Any]:
        name = stack.template.names.refs["VerificationKeysParameter"]
        value = stack.clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        return {key["kid"]: key for key in json.loads(value)["keys"]}

    # During the rotation (a pending version exists), nothing changes for anybody; the
    # new public key is published by setSecret, before the new ring becomes current
    step("createSecret")
    assert set(published()) == {old_kid}
    rotated_at = time.time()
    step("setSecret")
    step("testSecret")
    new_kid = next(kid for kid in published() if kid != old_kid)
    wiring.reset()
    during = login(stack)
    assert jwt.get_unverified_header(during["access_token"])["kid"] == old_kid
    assert authorize(stack, before["access_token"])["isAuthorized"] is True
    step("finishSecret")
    wiring.reset()
    # After it, the new key is in the JWKS and in the published keys, with no private part,
    # and signs only once a JWKS cache lifetime and our own cache have passed
    new_key = published()[new_kid]
    assert "d" not in new_key
    lead = JWKS_MAX_AGE_SECONDS + get_settings().signing_key_cache_seconds
    activates = datetime.fromisoformat(new_key["activate_at"]).timestamp()
    assert rotated_at + lead - 1 <= activates <= time.time() + lead
    assert published()[old_kid]["retire_at"] is not None
    after = login(stack)
    assert jwt.get_unverified_header(after["access_token"])["kid"] == old_kid
    kids = {key["kid"] for key in stack.http("GET", "/.well-known/jwks.json").json()["keys"]}
    assert kids == {old_kid, new_kid}
    # The authorizer, which reads only the published keys, already accepts what the new key
    # will sign (here, signed by it now, as if the lead were over)
    assert wiring.key_ring_source().current().signer(activates).kid == new_kid
    secret = json.loads(
        stack.clients("secretsmanager").get_secret_value(
            SecretId=stack.template.names.refs["SigningKeySecret"], VersionStage="AWSCURRENT"
        )["SecretString"]
    )
    new_entry = {**secret["signing_keys"][0], "activate_at": None}
    new_key_only = KeyRingSource(lambda _force: {**secret, "signing_keys": [new_entry]})
    signed_by_new_key = AccessTokens(
        new_key_only, wiring.token_issuer, get_settings().token_audience, 600
    ).mint(user_id, after["session_id"], not_after=2**40)
    assert jwt.get_unverified_header(signed_by_new_key.token)["kid"] == new_kid
    assert authorize(stack, signed_by_new_key.token)["isAuthorized"] is True
    # and so is every unexpired token from before
    for tokens in (before, during, after):
        assert authorize(stack, tokens["access_token"])["isAuthorized"] is True
    # and a container that read the ring before the rotation finds the new key when it
    # meets its kid (looking past its cache at most every 30 s)
    assert wiring.key_ring_source().refreshed() is not None


def test_before_the_first_rotation_the_api_answers_503(stack: Stack) -> None:
    # As deployed, the secret starts with no signing key, and the parameter with no public
    # key, until the rotation adds them.
    name = stack.template.names.refs["SigningKeySecret"]
    stack.clients("secretsmanager").put_secret_value(
        SecretId=name, SecretString=json.dumps({"refresh_token_key": "k" * 64, "signing_keys": []})
    )
    parameter = stack.template.resources["VerificationKeysParameter"]["Properties"]
    assert json.loads(parameter["Value"]) == {"keys": []}
    stack.clients("ssm").put_parameter(
        Name=stack.template.names.refs["VerificationKeysParameter"],
        Value=parameter["Value"],
        Overwrite=True,
    )
    wiring.reset()
    register(stack)
    answer = stack.http(
        "POST", "/auth/login", {"username": "ada", "password": "correct horse battery"}
    )
    assert answer.status == 503
    # A token whose header names a key makes the authorizer consult the empty ring.
    stranger = generate_signing_key("RS256", 0)
    token = jwt.encode(
        {"sub": "u"},
        stranger["private_key"],
        algorithm="RS256",
        headers={"kid": stranger["kid"], "typ": "at+jwt"},
    )
    assert authorize(stack, token, own_api=True)["context"]["verdict"] == "unavailable"


def _metrics(printed: str) -> dict[str, float]:
    """The metric values of the EMF lines a function printed."""
    found: dict[str, float] = {}
    for line in printed.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                name = metric["Name"]
                value = document[name]  # (a list when the metric was added more than once)
                values = value if isinstance(value, list) else [value]
                found[name] = found.get(name, 0) + sum(float(v) for v in values)
    return found


def test_the_functions_count_what_an_operator_watches(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    register(stack)
    tokens = login(stack)
    stack.http("POST", "/auth/login", {"username": "ada", "password": "wrong password"})
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})  # reuse
    stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"]))
    capsys.readouterr()
    publisher = stack.function("EventPublisherFunction")
    publisher.lambda_handler({"Records": stream_records(stack)}, LambdaContext())
    published = _metrics(capsys.readouterr().out)
    assert published["LoginsSucceeded"] == 1
    assert published["LoginsFailed"] == 1
    assert published["RefreshTokenReuseDetected"] == 1
    assert published["SessionsRevoked"] == 1
    authorizer = stack.function("AuthorizerFunction")
    authorizer.lambda_handler(authorizer_event(tokens["access_token"]), LambdaContext())
    assert _metrics(capsys.readouterr().out)["AuthorizerDenies"] == 1  # (its session ended)


# -- the authorizer's bill ------------------------------------------------------------------


def test_the_authorizer_writes_every_denial_and_the_set_share_of_allows(
    stack_with: Callable[..., Stack],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an authorizer that writes a metric line for a quarter of the allows
    stack = stack_with(AUTHORIZER_ALLOW_LOG_PERCENT="25")
    register(stack)
    tokens = login(stack)
    authorizer = stack.function("AuthorizerFunction")
    draws = iter([0.0, 0.25, 0.5, 0.75] * 5)
    monkeypatch.setattr(authorizer, "sample_draw", lambda: next(draws))
    authorizer.lambda_handler(authorizer_event(tokens["access_token"]), LambdaContext())  # warm
    capsys.readouterr()
    # When it allows 16 requests and denies 3
    for _ in range(16):
        answer = authorizer.lambda_handler(
            authorizer_event(tokens["access_token"]), LambdaContext()
        )
        assert answer["isAuthorized"] is True
    for _ in range(3):
        answer = authorizer.lambda_handler(authorizer_event("not-a-token"), LambdaContext())
        assert answer["isAuthorized"] is False
    # Then 4 allows and every denial were written, and the allows still sum to 16
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if '"_aws"' in line]
    assert sum('"AuthorizerAllows"' in line for line in lines) == 4
    assert sum('"AuthorizerDenies"' in line for line in lines) == 3
    assert _metrics(printed) == {"AuthorizerAllows": 16, "AuthorizerDenies": 3}
    assert all(json.loads(line).get("verdict") == "deny" for line in lines if "Denies" in line)


@pytest.mark.parametrize("consistent", ["true", "false"])
def test_the_authorizer_reads_as_consistently_as_it_is_set_to(
    stack_with: Callable[..., Stack], consistent: str
) -> None:
    stack = stack_with(AUTHORIZER_CONSISTENT_READ=consistent)
    register(stack)
    tokens = login(stack)
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True
    reads = [
        call.params["RequestItems"]
        for call in stack.calls.calls
        if call.function == "AuthorizerFunction" and call.operation == "BatchGetItem"
    ]
    assert [next(iter(read.values()))["ConsistentRead"] for read in reads] == [consistent == "true"]

"""The authorizer, the PasswordChanged consumer, the stream publisher and key rotation."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from harness.stack import LambdaContext, Stack, sample_event
from session_service import wiring
from session_service.adapters import dynamo
from session_service.adapters.secret_rotation import (
    LATE_MARGIN_SECONDS,
    RotationTooLate,
    rotation_step,
)
from session_service.config import get_settings
from session_service.domain.keys.key_documents import (
    document_public_key,
    fetched,
    verified_document,
)
from session_service.domain.keys.key_rotation import generate_signing_key, rotation_times
from session_service.domain.keys.keyring import JWKS_MAX_AGE_SECONDS, KeyRingSource
from session_service.domain.sessions.tokens import AccessTokens
from tests.helpers import (
    authorize,
    authorizer_event,
    bearer,
    emf_metrics,
    login,
    password_changed,
    register,
    stream_records,
)


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    """A token exchanged again here is reuse at once: no grace window (its default is 10 s,
    for a client whose answer was lost: test_lost_answers.py)."""
    return stack_with(REFRESH_REUSE_GRACE_SECONDS="0")


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
        # What the rotation wrote, as verifiers take it: signed by the document key
        settings = get_settings()
        value = stack.clients("ssm").get_parameter(Name=settings.verification_keys_parameter)
        kms = stack.clients("kms")
        der = kms.get_public_key(KeyId=settings.verification_keys_signing_key)["PublicKey"]
        document = verified_document(
            fetched(value["Parameter"]["Value"]), document_public_key(der)
        ).document
        return {key["kid"]: key for key in document["keys"]}

    # During the rotation (a pending version exists), nothing changes for anybody; the
    # new public key is published by setSecret, before the new ring becomes current
    # (the lead counts from the pending version's making: createSecret, not setSecret)
    rotated_at = time.time()
    step("createSecret")
    assert set(published()) == {old_kid}
    step("setSecret")
    step("testSecret")
    new_kid = next(kid for kid in published() if kid != old_kid)
    # (a rotation that stopped here would retire nothing: the key in use keeps its lifetime)
    assert published()[old_kid]["retire_at"] is None
    stale = wiring.key_ring_source()
    stale.current()  # a container that read the ring before the rotation finished
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
    lead = JWKS_MAX_AGE_SECONDS + get_settings().signing_key_cache_seconds + 60
    activates = datetime.fromisoformat(new_key["activate_at"]).timestamp()
    assert rotated_at + lead <= activates <= time.time() + lead + 1
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
    new_entry = {**secret["signing_keys"][-1], "activate_at": None}
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
    assert stale.current().verification_key(new_kid, time.time()) is None  # still cached
    refreshed = stale.refreshed()
    assert refreshed is not None
    assert refreshed.verification_key(new_kid, time.time()) is not None


def test_a_rotation_resumed_too_late_to_publish_ahead_is_abandoned_and_the_next_runs(
    stack: Stack,
) -> None:
    # Given a rotation's pending version, made at `made_at`
    settings = get_settings()
    client = stack.clients("secretsmanager")
    secret_id = stack.template.names.refs["SigningKeySecret"]
    times = rotation_times(
        settings.access_token_ttl_seconds,
        settings.signing_key_cache_seconds,
        settings.session_absolute_timeout_seconds,
    )
    written: list[Mapping[str, Any]] = []
    made_at = time.time()

    def step(name: str, now: float, version: str = "late-rotation-00000000000000000000") -> None:
        rotation_step(
            client,
            step=name,
            secret_id=secret_id,
            token=version,
            algorithm="RS256",
            times=times,
            publish=written.append,
            now=now,
        )

    def pending_versions() -> list[str]:
        versions = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
        return [version for version, stages in versions.items() if "AWSPENDING" in stages]

    step("createSecret", made_at)
    # setSecret within the margin publishes (the new key beside the one in use)
    step("setSecret", made_at + LATE_MARGIN_SECONDS - 1)
    assert len(written.pop()["keys"]) == 2
    # When it is retried past the margin, its key could sign before verifiers fetch it:
    # it refuses, publishes nothing, and abandons the version
    with pytest.raises(RotationTooLate):
        step("setSecret", made_at + LATE_MARGIN_SECONDS + 1)
    assert written == []
    assert pending_versions() == []
    # Then the next rotation, with a new token, runs through
    for name in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        step(name, made_at + 120, "next-rotation-000000000000000000000")
    versions = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    assert "AWSCURRENT" in versions["next-rotation-000000000000000000000"]
    assert len(written[-1]["keys"]) == 2


def test_before_the_first_rotation_the_api_answers_503(stack: Stack) -> None:
    # As deployed, the secret starts with no signing key, and the public keys' parameter
    # does not exist, until the rotation adds them.
    name = stack.template.names.refs["SigningKeySecret"]
    stack.clients("secretsmanager").put_secret_value(
        SecretId=name, SecretString=json.dumps({"refresh_token_key": "k" * 64, "signing_keys": []})
    )
    stack.clients("ssm").delete_parameter(Name=get_settings().verification_keys_parameter)
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
    published = emf_metrics(capsys.readouterr().out)
    assert published["LoginsSucceeded"] == 1
    assert published["LoginsFailed"] == 1
    assert published["RefreshTokenReuseDetected"] == 1
    assert published["SessionsRevoked"] == 1
    authorizer = stack.function("AuthorizerFunction")
    authorizer.lambda_handler(authorizer_event(tokens["access_token"]), LambdaContext())
    assert emf_metrics(capsys.readouterr().out)["AuthorizerDenies"] == 1  # (its session ended)

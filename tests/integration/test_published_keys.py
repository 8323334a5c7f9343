"""The published keys on moto, as deployed: what someone else writes to the parameter (a
plain JWKS naming their key, or a document they signed with a KMS key of their own) is
used neither by the authorizer nor by the JWKS route; what the rotation signs is; and a
write by another principal than the rotation is recorded for its alarm."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from harness.stack import LambdaContext, Stack, sample_event
from session_service import wiring
from session_service.adapters.kms import kms_signer
from session_service.config import get_settings
from session_service.domain.keys.key_documents import signed_document
from session_service.domain.keys.key_rotation import generate_signing_key
from session_service.domain.keys.keyring import KeyRingSource, key_ring_from_secret
from session_service.domain.keys.published_keys import published_document
from session_service.domain.sessions.tokens import AccessTokens
from tests.helpers import authorize, emf_metrics, login, register


def attackers_token(stack: Stack, user_id: str, session_id: str) -> tuple[str, dict[str, Any]]:
    """A token for the victim's live session, signed by a key of the attacker's, and the
    published keys with that key beside the genuine ones."""
    secret = {"refresh_token_key": "k" * 64, "signing_keys": [generate_signing_key("RS256", 0)]}
    settings = get_settings()
    minting = AccessTokens(
        KeyRingSource(lambda _force: secret), wiring.token_issuer, settings.token_audience, 600
    )
    token = minting.mint(user_id, session_id, not_after=2**40).token
    theirs = published_document(key_ring_from_secret(secret))["keys"]
    return token, {"keys": theirs + genuine_document(stack)["keys"]}


def genuine_document(stack: Stack) -> dict[str, Any]:
    secret = stack.clients("secretsmanager").get_secret_value(
        SecretId=stack.template.names.refs["SigningKeySecret"], VersionStage="AWSCURRENT"
    )
    return published_document(key_ring_from_secret(json.loads(secret["SecretString"])))


def as_plain_json(stack: Stack, document: dict[str, Any]) -> str:
    return json.dumps(document)


def signed_with_their_own_kms_key(stack: Stack, document: dict[str, Any]) -> str:
    kms = stack.clients("kms")
    theirs = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    return signed_document(document, kms_signer(kms, theirs["Arn"]), theirs["Arn"], 2e9)


def jwks_kids(stack: Stack) -> set[str]:
    answer = stack.http("GET", "/.well-known/jwks.json")
    assert answer.status == 200, answer.json()
    return {key["kid"] for key in answer.json()["keys"]}


@pytest.mark.parametrize("forge", [as_plain_json, signed_with_their_own_kms_key])
def test_a_key_someone_else_writes_to_the_parameter_is_used_by_no_verifier(
    stack: Stack,
    capsys: pytest.CaptureFixture[str],
    forge: Callable[[Stack, dict[str, Any]], str],
) -> None:
    # Given a live session, verified by warm containers (the JWKS served, a token allowed)
    user_id = register(stack)
    tokens = login(stack)
    ours = jwks_kids(stack)
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True
    # When someone who may write the parameter publishes a key of theirs (a String, as
    # the rotation writes it) and mints a token for that session
    token, document = attackers_token(stack, user_id, tokens["session_id"])
    name = get_settings().verification_keys_parameter
    stack.clients("ssm").put_parameter(
        Name=name, Value=forge(stack, document), Type="String", Overwrite=True
    )
    capsys.readouterr()
    # Then the warm authorizer looks past its cache for the unknown key, refuses the
    # document, and keeps the keys it had: their token is refused, ours allowed
    refused = authorize(stack, token, own_api=True)
    assert refused["context"]["verdict"] == "invalid_token"
    assert emf_metrics(capsys.readouterr().out)["UntrustedKeyDocuments"] == 1
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True
    assert jwks_kids(stack) == ours
    # and a new container, which never held a trusted document, refuses every token as
    # unavailable (503 on our API) and serves no JWKS
    wiring.reset()
    for any_token in (token, tokens["access_token"]):
        answer = authorize(stack, any_token, own_api=True)
        assert answer["context"]["verdict"] == "unavailable"
    assert stack.http("GET", "/.well-known/jwks.json").status == 503


def test_once_the_rotation_publishes_again_new_containers_verify_with_what_it_signed(
    stack: Stack,
) -> None:
    # Given a parameter overwritten by someone else, which new containers refuse
    register(stack)
    tokens = login(stack)
    name = get_settings().verification_keys_parameter
    ssm = stack.clients("ssm")
    ssm.put_parameter(Name=name, Value=json.dumps({"keys": []}), Type="String", Overwrite=True)
    wiring.reset()
    assert authorize(stack, tokens["access_token"], own_api=True)["context"]["verdict"] == (
        "unavailable"
    )
    # When the rotation runs
    rotation = stack.function("KeyRotationFunction").lambda_handler
    version = str(uuid.uuid4())
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        event = {**sample_event("key_rotation/create-secret.json"), "Step": step}
        rotation({**event, "ClientRequestToken": version}, LambdaContext())
    # Then what it wrote is a JWS by the stack's document key, naming it
    published = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    key_arn = stack.template.names.attributes[("VerificationKeysSigningKey", "Arn")]
    assert jwt.get_unverified_header(published) == {
        "alg": "ES256",
        "cty": "jwk-set+json",
        "kid": key_arn,
    }
    # and new containers verify with it again
    wiring.reset()
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True
    assert len(jwks_kids(stack)) == 2


def parameter_call(stack: Stack, event_name: str, principal_arn: str | None) -> dict[str, Any]:
    """CloudTrail's event for a call on the published keys, as EventBridge delivers it."""
    name = get_settings().verification_keys_parameter
    # (an AWS service's call names no principal ARN)
    identity = (
        {"type": "AWSService", "invokedBy": "ssm.amazonaws.com"}
        if principal_arn is None
        else {"type": "AssumedRole", "arn": principal_arn, "accountId": "123456789012"}
    )
    parameters = {"names": [name]} if event_name == "DeleteParameters" else {"name": name}
    return {
        "eventSource": "ssm.amazonaws.com",
        "eventName": event_name,
        "userIdentity": identity,
        "requestParameters": parameters,
    }


def test_a_write_of_the_parameter_by_another_principal_than_the_rotation_is_recorded(
    stack: Stack,
) -> None:
    rotation_role = stack.template.resolve({"Ref": "KeyRotationFunctionRole"})
    rotation = f"arn:aws:sts::123456789012:assumed-role/{rotation_role}/session-service-rotation"
    someone = "arn:aws:sts::123456789012:assumed-role/Admin/mallory"
    calls = [
        ("PutParameter", rotation, False),
        ("PutParameter", someone, True),
        ("PutParameter", "arn:aws:iam::123456789012:user/mallory", True),
        ("DeleteParameter", someone, True),
        ("DeleteParameters", someone, True),
        ("LabelParameterVersion", someone, True),
        ("PutParameter", None, True),
        ("GetParameter", someone, False),
    ]
    events = stack.clients("events")
    for event_name, principal, _ in calls:
        entry = {
            "Source": "aws.ssm",
            "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(parameter_call(stack, event_name, principal)),
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    # What the alarm watches: CloudTrail's record of each write by someone else
    queue = stack.template.names.refs["VerificationKeysWrites"]
    sqs = stack.clients("sqs")
    recorded: list[tuple[str, str | None]] = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            detail = json.loads(message["Body"])["detail"]
            recorded.append((detail["eventName"], detail["userIdentity"].get("arn")))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    expected = [(name, principal) for name, principal, alarms in calls if alarms]
    assert sorted(recorded, key=str) == sorted(expected, key=str)

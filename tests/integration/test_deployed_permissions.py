"""Every AWS call a function's code makes is allowed by the role `sam deploy` gives it: the
integration stack records each call made while a function runs and, at the end of every
test, holds it against the roles of the expanded template (resources included). These
cases make sure the check sees what it must, and can fail."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from harness.recording import Call
from harness.stack import LambdaContext, Stack, sample_event
from local_run.expansion import expanded_template
from session_service import wiring
from tests.deployed_shape import (
    Permission,
    missing_permissions,
    permissions_for,
    stack_arns,
)
from tests.helpers import (
    PASSWORD,
    authorize,
    login,
    password_changed,
    register,
    stream_records,
    totp_code,
)
from tests.mail_helpers import deliver_mail
from tests.mailer_helpers import ADDRESS, mail_stack, with_verified_address


def actions(stack: Stack, function: str) -> set[str]:
    arns = stack_arns(stack.template)
    return {
        needed.action
        for call in stack.calls.calls
        if call.function == function
        for needed in permissions_for(call.service, call.operation, call.params, arns)
    }


# What each function's code calls in AWS, each one started cold in a container of its own
# (so that no cache filled by another function's code hides a call): every one of these is
# allowed by the function's role, and nothing else is called.
ACTIONS = {
    "ApiFunction": {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "kms:GetPublicKey",
    },
    # It holds no private key: the public keys come from their parameter, trusted as far
    # as the document key signed them (its public part; it never signs).
    "AuthorizerFunction": {
        "dynamodb:BatchGetItem",
        "ssm:GetParameter",
        "kms:GetPublicKey",
    },
    "PasswordChangedFunction": {
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "sqs:SendMessage",
    },
    "EventPublisherFunction": {
        "events:PutEvents",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",
    },
    "KeyRotationFunction": {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "ssm:PutParameter",
        # granted by the document key's policy, which names its role alone
        "kms:Sign",
    },
}


def test_each_function_started_cold_calls_exactly_what_its_role_allows(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with(TOKEN_ISSUER="")
    context = LambdaContext()
    # The API: a user's whole life, through the gateway (its authorizer started apart)
    user_id = register(stack)
    tokens, other = login(stack), login(stack)
    refreshed = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    bearer_of = {"authorization": f"Bearer {refreshed.json()['access_token']}"}
    # a second factor on, a step-up with a recovery code, a login with a code, and off
    begun = stack.http("POST", "/auth/mfa/totp", headers=bearer_of).json()
    code = totp_code(begun["secret"], time.time())
    confirmed = stack.http("POST", "/auth/mfa/totp/confirm", {"code": code}, headers=bearer_of)
    recovery = confirmed.json()["recovery_codes"]
    step_up = {"password": PASSWORD, "code": recovery[0]}
    stepped_up = stack.http("POST", "/auth/reauth", step_up, headers=bearer_of)
    assert stepped_up.status == 200
    challenge = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    second = {"mfa_token": challenge.json()["mfa_token"], "code": recovery[1]}
    assert stack.http("POST", "/auth/login/mfa", second).status == 200
    with_code = {"authorization": f"Bearer {stepped_up.json()['access_token']}"}
    assert stack.http("DELETE", "/auth/mfa/totp", headers=with_code).status == 204
    stack.http("GET", "/auth/sessions", headers=bearer_of)
    stack.http("DELETE", f"/auth/sessions/{other['session_id']}", headers=bearer_of)
    stack.http("DELETE", "/auth/sessions", headers=bearer_of)
    new = "another long passphrase"
    body = {"current_password": PASSWORD, "new_password": new}
    changed = stack.http("POST", "/auth/password", body, headers=bearer_of).json()
    ended = {"authorization": f"Bearer {changed['access_token']}"}
    assert stack.http("POST", "/auth/logout", headers=ended).status == 204
    # the JWKS route, cold: the published keys, as the document key signed them
    wiring.reset()
    assert stack.http("GET", "/.well-known/jwks.json").status == 200
    # The authorizer, cold
    fresh = stack.http("POST", "/auth/login", {"username": "ada", "password": new}).json()
    wiring.reset()
    assert authorize(stack, fresh["access_token"])["isAuthorized"] is True
    # The consumer, cold: a change, and an event it cannot read (to its dead-letter queue)
    wiring.reset()
    consumer = stack.function("PasswordChangedFunction").lambda_handler
    consumer(password_changed(user_id, datetime.now(UTC)), context)
    consumer({**sample_event("password_changed/malformed.json"), "detail": {}}, context)
    # The publisher, cold, with the stream so far
    wiring.reset()
    publisher = stack.function("EventPublisherFunction").lambda_handler
    publisher({"Records": stream_records(stack)}, context)
    # Key rotation, cold, every step
    wiring.reset()
    rotation = stack.function("KeyRotationFunction").lambda_handler
    token = str(uuid.uuid4())
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        event = {**sample_event("key_rotation/create-secret.json"), "Step": step}
        rotation({**event, "ClientRequestToken": token}, context)
    assert {function: actions(stack, function) for function in ACTIONS} == ACTIONS


def test_a_role_missing_a_statement_is_caught(stack: Stack) -> None:
    register(stack)
    login(stack)
    # A deployed role without UpdateItem (the throttle's counters, a refresh)
    expanded = copy.deepcopy(expanded_template())
    policy = expanded["Resources"]["ApiFunctionRole"]["Properties"]["Policies"][0]
    for statement in policy["PolicyDocument"]["Statement"]:
        if isinstance(statement["Action"], list) and "dynamodb:UpdateItem" in statement["Action"]:
            statement["Action"].remove("dynamodb:UpdateItem")
    missing = missing_permissions(stack.calls.calls, stack.template, expanded)
    table = stack.template.names.attributes[("SessionTable", "Arn")]
    assert ("ApiFunction", Permission("dynamodb:UpdateItem", table)) in missing
    assert {function for function, _ in missing} == {"ApiFunction"}


def test_a_call_the_check_cannot_map_fails_loudly(stack: Stack) -> None:
    unknown = Call("ApiFunction", "kms", "GenerateDataKey", {})
    with pytest.raises(ValueError, match=r"kms\.GenerateDataKey"):
        missing_permissions([unknown], stack.template)


def test_the_mailers_calls_fit_its_conditions_and_the_same_calls_bent_do_not(
    stack_with: Callable[..., Stack],
) -> None:
    # Given a verification code, a reset link and a sign-in code mailed
    stack = mail_stack(stack_with)
    with_verified_address(stack)
    assert stack.http("POST", "/auth/password/forgot", {"username": "ada"}).status == 202
    assert stack.http("POST", "/auth/email/login/start", {"email": ADDRESS}).status == 202
    assert deliver_mail(stack) == {"batchItemFailures": []}
    calls = [call for call in stack.calls.calls if call.function == "MailerFunction"]
    # Then each of its table calls fits its role's conditions, item by item
    assert missing_permissions(calls, stack.template) == []
    arns = stack_arns(stack.template)
    touched = {
        (needed.action.removeprefix("dynamodb:"), partition.split("#")[0])
        for call in calls
        if call.service == "dynamodb"
        for needed in permissions_for(call.service, call.operation, call.params, arns)
        for partition in needed.context["dynamodb:LeadingKeys"]
    }
    assert {
        ("GetItem", "LOGIN"),
        ("GetItem", "USER"),
        ("GetItem", "EMAIL"),
        ("GetItem", "EMAILVERIFY"),
        ("GetItem", "EMAILLOGIN"),
        ("UpdateItem", "EMAILVERIFY"),
        ("UpdateItem", "EMAILLOGIN"),
        ("UpdateItem", "LOGIN"),
        ("PutItem", "RESET"),
        ("PutItem", "ACCOUNT_EVENT"),
        ("PutItem", "MAILSENT"),
        ("UpdateItem", "MAILSENT"),
    } <= touched
    # And the same calls bent to another end are refused: the reset's write on the
    # credential setting its password hash, a code written onto the credential
    (issue_reset,) = [call for call in calls if call.operation == "TransactWriteItems"]
    hash_set = copy.deepcopy(dict(issue_reset.params))
    (credential,) = [i["Update"] for i in hash_set["TransactItems"] if "Update" in i]
    credential["UpdateExpression"] = "SET password_hash = :digest"
    code = next(
        call
        for call in calls
        if call.operation == "UpdateItem" and "code_digest" in call.params["UpdateExpression"]
    )
    code_on_credential = {**code.params, "Key": credential["Key"]}
    bent = [
        Call("MailerFunction", "dynamodb", "TransactWriteItems", hash_set),
        Call("MailerFunction", "dynamodb", "UpdateItem", code_on_credential),
    ]
    table = stack.template.names.attributes[("SessionTable", "Arn")]
    refused = missing_permissions(bent, stack.template)
    assert refused == [("MailerFunction", Permission("dynamodb:UpdateItem", table))] * 2

"""The template as CloudFormation would deploy it (expanded by aws-sam-translator): what
AWS enforces and no emulator does. A queue a service writes to lets it; no function reserves
concurrency unless asked; state that must outlive the stack does; Secrets Manager may invoke
the rotation function for this secret only."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local_run.expansion import deployed_template, expanded_template
from local_run.functions import reserved_concurrency
from local_run.template import Template, load_template
from tests.deployed_shape import (
    Permission,
    allowed,
    key_policy_allows,
    resources_of_type,
    role_statements,
)

EXPANDED = expanded_template()


def symbolic(value: Any) -> Any:
    """Intrinsics as names, so statements and their targets compare without a stack."""
    if isinstance(value, list):
        return [symbolic(item) for item in value]
    if isinstance(value, dict) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Ref":
            return f"ref:{argument}"
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".")
            return f"{attribute.lower()}:{logical_id}"
    return value


def queue_policies_for(queue: str) -> list[dict[str, Any]]:
    """The statements of every queue policy that applies to this queue (by logical id)."""
    return [
        statement
        for policy in resources_of_type(EXPANDED, "AWS::SQS::QueuePolicy").values()
        if f"ref:{queue}" in symbolic(policy["Properties"]["Queues"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_every_rule_dead_letter_queue_lets_eventbridge_send_for_that_rule_only() -> None:
    dead_letters = [
        (rule, symbolic(target["DeadLetterConfig"]["Arn"]))
        for rule, resource in resources_of_type(EXPANDED, "AWS::Events::Rule").items()
        for target in resource["Properties"]["Targets"]
        if "DeadLetterConfig" in target
    ]
    assert sorted(dead_letters) == [
        ("MailerFunctionSecurityNotices", "arn:MailerDeadLetterQueue"),
        ("PasswordChangedFunctionPasswordChanged", "arn:PasswordChangedDeadLetterQueue"),
    ]
    for rule, queue_arn in dead_letters:
        statements = queue_policies_for(queue_arn.removeprefix("arn:"))
        granting = [
            s
            for s in statements
            if s["Effect"] == "Allow"
            and s["Principal"] == {"Service": "events.amazonaws.com"}
            and "sqs:SendMessage"
            in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            and symbolic(s["Resource"]) == queue_arn
        ]
        assert len(granting) == 1, statements
        assert symbolic(granting[0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == f"arn:{rule}"


def on_failure_destinations() -> list[tuple[str, str]]:
    """(function, queue) for each asynchronous or stream OnFailure destination: Lambda
    sends there with the function's own role."""
    found = []
    for config in resources_of_type(EXPANDED, "AWS::Lambda::EventInvokeConfig").values():
        properties = config["Properties"]
        destination = properties["DestinationConfig"]["OnFailure"]["Destination"]
        found.append((symbolic(properties["FunctionName"]), symbolic(destination)))
    for mapping in resources_of_type(EXPANDED, "AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        destination = properties["DestinationConfig"]["OnFailure"]["Destination"]
        found.append((symbolic(properties["FunctionName"]), symbolic(destination)))
    return found


def test_every_on_failure_destination_is_writable_by_the_function_role() -> None:
    destinations = on_failure_destinations()
    assert sorted(destinations) == [
        ("ref:EventPublisherFunction", "arn:PublisherDeadLetterQueue"),
        # the mailer's stream mapping and its asynchronous invocations (notices)
        ("ref:MailerFunction", "arn:MailerDeadLetterQueue"),
        ("ref:MailerFunction", "arn:MailerDeadLetterQueue"),
        ("ref:PasswordChangedFunction", "arn:PasswordChangedDeadLetterQueue"),
    ]
    for function, queue in destinations:
        statements = role_statements(EXPANDED, function.removeprefix("ref:"))
        assert allowed(statements, Permission("sqs:SendMessage", queue), symbolic)


def test_no_function_reserves_concurrency_unless_asked() -> None:
    # With every parameter at its default, as a first `sam deploy --guided` proposes
    template = deployed_template()
    functions = list(template.functions())
    assert len(functions) == 7
    for function in functions:
        assert reserved_concurrency(template, function) is None, function
    # and each can be asked for (the local run's pools take it from there too)
    for function in functions:
        parameter = function.removesuffix("Function") + "ReservedConcurrency"
        asked = deployed_template({parameter: "7"})
        assert reserved_concurrency(asked, function) == 7, function


# Resources whose content a stack cannot recreate: users, sessions, keys (the second
# factor's key too: the sealed TOTP secrets open with it only).
STATEFUL = ("AWS::DynamoDB::Table", "AWS::SecretsManager::Secret")


def test_state_outlives_the_stack_but_not_a_failed_creation() -> None:
    stateful = {
        logical_id: resource
        for kind in STATEFUL
        for logical_id, resource in resources_of_type(EXPANDED, kind).items()
    }
    assert sorted(stateful) == ["SecondFactorKeySecret", "SessionTable", "SigningKeySecret"]
    for logical_id, resource in stateful.items():
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id


def test_a_failed_first_creation_can_delete_the_table_it_made() -> None:
    # RetainExceptOnCreate deletes on a failed creation, which DynamoDB refuses for a
    # deletion-protected table: the rollback would fail and leave it behind
    template = Template(load_template())
    protection = template.resources["SessionTable"]["Properties"]["DeletionProtectionEnabled"]
    assert str(template.resolve(protection)) == "false"


def test_secrets_manager_may_invoke_the_rotation_function_for_this_secret_only() -> None:
    permission = EXPANDED["Resources"]["KeyRotationPermission"]["Properties"]
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert symbolic(permission["SourceArn"]) == "ref:SigningKeySecret"


def test_a_cors_preflight_has_a_route_to_the_function_without_an_authorizer() -> None:
    # SAM writes an HTTP API's routes into its OpenAPI body
    body = next(iter(resources_of_type(EXPANDED, "AWS::ApiGatewayV2::Api").values()))
    paths = body["Properties"]["Body"]["paths"]
    preflight = paths["/{proxy+}"]["options"]
    assert "security" not in preflight or preflight["security"] == [{"NONE": []}]
    assert "ApiFunction" in str(preflight["x-amazon-apigateway-integration"]["uri"])


@pytest.mark.parametrize("parameter", ["ApiThrottlingRateLimit", "ApiThrottlingBurstLimit"])
def test_the_stage_throttle_says_it_applies_per_route(parameter: str) -> None:
    assert "each route" in load_template()["Parameters"][parameter]["Description"]


# -- the document key: who may sign the published keys ---------------------------------------


def _with_statement(function: str, statement: dict[str, Any]) -> dict[str, Any]:
    """The expanded template with one more statement in the function's role."""
    changed = copy.deepcopy(EXPANDED)
    policies = changed["Resources"][f"{function}Role"]["Properties"].setdefault("Policies", [])
    policies.append({"PolicyName": "granted", "PolicyDocument": {"Statement": [statement]}})
    return changed


def test_only_the_rotation_signs_the_published_keys_even_if_iam_grants_another_role() -> None:
    template = deployed_template()
    key = template.resolve({"Fn::GetAtt": ["VerificationKeysSigningKey", "Arn"]})
    sign = Permission("kms:Sign", key)
    functions = sorted(template.functions())
    signers = {f for f in functions if key_policy_allows(EXPANDED, f, sign, template.resolve)}
    assert signers == {"KeyRotationFunction"}
    # No role holds kms:Sign of its own; one given kms:* on the key still cannot sign
    assert not any(
        "kms:Sign" in str(statement["Action"]) or "kms:*" in str(statement["Action"])
        for function in functions
        for statement in role_statements(EXPANDED, function)
    )
    for function in functions:
        if function == "KeyRotationFunction":
            continue
        granted = _with_statement(function, {"Effect": "Allow", "Action": "kms:*", "Resource": key})
        assert not key_policy_allows(granted, function, sign, template.resolve), function


def test_the_verifiers_read_the_document_keys_public_part_and_nobody_else_needs_to() -> None:
    template = deployed_template()
    key = template.resolve({"Fn::GetAtt": ["VerificationKeysSigningKey", "Arn"]})
    read = Permission("kms:GetPublicKey", key)
    readers = {
        f for f in template.functions() if key_policy_allows(EXPANDED, f, read, template.resolve)
    }
    assert readers == {"ApiFunction", "AuthorizerFunction"}
    properties = EXPANDED["Resources"]["VerificationKeysSigningKey"]["Properties"]
    assert (properties["KeySpec"], properties["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    # Every function is told which key signs the document it may read
    for function in template.functions().values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert symbolic(variables["VERIFICATION_KEYS_SIGNING_KEY"]) == (
            "arn:VerificationKeysSigningKey"
        )


def test_writes_of_the_published_keys_by_others_reach_an_alarmed_queue_of_their_own() -> None:
    rule = EXPANDED["Resources"]["VerificationKeysWrittenByOthers"]["Properties"]
    # CloudTrail's events arrive on the default bus only
    assert "EventBusName" not in rule
    assert rule["EventPattern"]["detail-type"] == ["AWS API Call via CloudTrail"]
    (target,) = rule["Targets"]
    assert symbolic(target["Arn"]) == "arn:VerificationKeysWrites"
    (granting,) = queue_policies_for("VerificationKeysWrites")
    assert granting["Principal"] == {"Service": "events.amazonaws.com"}
    assert symbolic(granting["Condition"]["ArnEquals"]["aws:SourceArn"]) == (
        "arn:VerificationKeysWrittenByOthers"
    )
    alarm = EXPANDED["Resources"]["VerificationKeysWrittenByOthersAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert symbolic(alarm["Dimensions"][0]["Value"]) == "queuename:VerificationKeysWrites"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )

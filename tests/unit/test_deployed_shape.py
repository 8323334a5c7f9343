"""The template as CloudFormation would deploy it (expanded by aws-sam-translator): what
AWS enforces and no emulator does. A queue a service writes to lets it; no function reserves
concurrency unless asked; state that must outlive the stack does; Secrets Manager may invoke
the rotation function for this secret only; the mailer touches the table item by item and
sends as the sender only."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local_run.expansion import deployed_template, expanded_template
from local_run.functions import reserved_concurrency
from local_run.template import Template, load_template
from tests.deployed_shape import (
    PARTITION_KEY,
    Permission,
    allowed,
    expression_attributes,
    key_policy_allows,
    permissions_for,
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
        ("ref:BackchannelLogoutFunction", "arn:BackchannelLogoutDeadLetterQueue"),
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
    assert len(functions) == 8
    assert {f: reserved_concurrency(template, f) for f in functions} == dict.fromkeys(functions)
    # and each can be asked for (the local run's pools take it from there too), each its
    # own number, in one expansion (each takes a second)
    numbers = {function: 7 + index for index, function in enumerate(functions)}
    asked = deployed_template(
        {f.removesuffix("Function") + "ReservedConcurrency": str(n) for f, n in numbers.items()}
    )
    assert {f: reserved_concurrency(asked, f) for f in functions} == numbers


# Resources whose content a stack cannot recreate: users, sessions, keys (the second
# factor's key too: the sealed TOTP secrets open with it only).
STATEFUL = ("AWS::DynamoDB::Table", "AWS::SecretsManager::Secret")
# ...but for the e-mailed codes' key: a new one voids only the codes outstanding (minutes).
RECREATABLE = "EmailCodeKeySecret"


def test_state_outlives_the_stack_but_not_a_failed_creation() -> None:
    stateful = {
        logical_id: resource
        for kind in STATEFUL
        for logical_id, resource in resources_of_type(EXPANDED, kind).items()
        if logical_id != RECREATABLE
    }
    assert sorted(stateful) == ["SecondFactorKeySecret", "SessionTable", "SigningKeySecret"]
    for logical_id, resource in stateful.items():
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id
    code_key = EXPANDED["Resources"][RECREATABLE]
    assert (code_key["DeletionPolicy"], code_key["UpdateReplacePolicy"]) == ("Delete", "Delete")


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


# -- the mailer: the table item by item, the sender's address only ---------------------------

MAIL = {"EmailSender": "no-reply@example.com"}
MAIL_TEMPLATE = deployed_template(MAIL)
MAILER = role_statements(expanded_template(MAIL), "MailerFunction")
TABLE = str(MAIL_TEMPLATE.resolve({"Ref": "SessionTable"}))
ARNS = {TABLE: str(MAIL_TEMPLATE.resolve({"Fn::GetAtt": ["SessionTable", "Arn"]}))}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def mailer_may(operation: str, service: str = "dynamodb", **params: Any) -> bool:
    """Whether the mailer's deployed role allows the call, every item of it."""
    needed = list(permissions_for(service, operation, {"TableName": TABLE, **params}, ARNS))
    return all(allowed(MAILER, permission, MAIL_TEMPLATE.resolve) for permission in needed)


def update(pk: str, expression: str, condition: str = "password_version = :v") -> dict[str, Any]:
    item = key(pk, pk.split("#", maxsplit=1)[0])
    return {"Key": item, "UpdateExpression": expression, "ConditionExpression": condition}


NEWEST_RESET = update("LOGIN#ada", "SET reset_digest = :digest")


def test_every_table_right_of_the_mailer_names_its_partitions_and_requires_one() -> None:
    on_table = [s for s in MAILER if "dynamodb:" in str(s["Action"])]
    assert len(on_table) == 6
    for statement in on_table:
        condition = statement["Condition"]
        assert condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"], statement["Sid"]
        assert condition["Null"] == {"dynamodb:LeadingKeys": "false"}, statement["Sid"]
    # The table's partition key is what the check reads dynamodb:LeadingKeys from
    schema = EXPANDED["Resources"]["SessionTable"]["Properties"]["KeySchema"]
    assert (schema[0]["AttributeName"], schema[0]["KeyType"]) == (PARTITION_KEY, "HASH")


def test_the_mailer_reads_the_items_it_mails_for() -> None:
    # a credential, a profile, an address's owner, a pending verification and code sign-in
    reads = ["LOGIN#ada", "USER#u-1", "EMAIL#ada@example.com", "EMAILVERIFY#u-1", "EMAILLOGIN#d"]
    for pk in reads:
        assert mailer_may("GetItem", Key=key(pk, "S"), ConsistentRead=True), pk


def test_the_mailer_writes_the_codes_the_reset_token_and_its_records_as_its_code_does() -> None:
    verification = "SET code_digest = :code, expires_at = :expires, tries = :zero"
    assert mailer_may("UpdateItem", **update("EMAILVERIFY#u-1", verification, "request_id = :r"))
    sign_in = "SET user_id = :user, username_key = :key, code_digest = :code, tries = :zero"
    assert mailer_may("UpdateItem", **update("EMAILLOGIN#d", sign_in, "attribute_exists(pk)"))
    reset = {"Put": {"TableName": TABLE, "Item": {**key("RESET#d", "RESET"), "user_id": {}}}}
    event = {
        "Put": {
            "TableName": TABLE,
            "Item": {**key("ACCOUNT_EVENT#r", "EVENT"), "at": {}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    newest = {"Update": {"TableName": TABLE, **NEWEST_RESET}}
    assert mailer_may("TransactWriteItems", TransactItems=[reset, newest, event])
    # Powertools' idempotency records: what its DynamoDBPersistenceLayer sends
    sent, names = key("MAILSENT", "mailer#h"), {"#id": "pk", "#s": "status"}
    new = "attribute_not_exists(#id)"
    failure = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    assert mailer_may(
        "PutItem", Item=sent, ConditionExpression=new, **failure, ExpressionAttributeNames=names
    )
    assert mailer_may(
        "UpdateItem", Key=sent, UpdateExpression="SET #s = :s", ExpressionAttributeNames=names
    )
    assert mailer_may("GetItem", Key=sent, ConsistentRead=True)
    assert mailer_may("DeleteItem", Key=sent)
    assert mailer_may("SendEmail", "sesv2", FromEmailAddress="no-reply@example.com")


# A user's partition, as a Query names it
A_USER = {":p": {"S": "USER#u-1"}}


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        # a password hash overwritten, a TOTP secret removed, an account enabled
        ("UpdateItem", update("LOGIN#ada", "SET password_hash = :hash")),
        ("UpdateItem", update("LOGIN#ada", "REMOVE totp_secret, recovery_codes")),
        ("UpdateItem", update("LOGIN#ada", "SET reset_digest = :d, disabled = :no")),
        # the whole credential returned by the one write it may make on it
        ("UpdateItem", {**NEWEST_RESET, "ReturnValues": "ALL_OLD"}),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Update": {
                            "TableName": TABLE,
                            **update("LOGIN#ada", "SET password_hash = :hash"),
                        }
                    }
                ]
            },
        ),
        ("PutItem", {"Item": key("LOGIN#ada", "LOGIN")}),
        ("DeleteItem", {"Key": key("USER#u-1", "PROFILE")}),
        # an address claimed, a pending verification moved to another address
        ("PutItem", {"Item": key("EMAIL#eve@example.com", "EMAIL")}),
        ("UpdateItem", update("EMAILVERIFY#u-1", "SET address = :a", "request_id = :r")),
        # a second-factor challenge or a throttle's counters read
        ("GetItem", {"Key": key("MFA#d", "CHALLENGE")}),
        ("GetItem", {"Key": key("THROTTLE#ip", "W#1")}),
        ("Query", {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A_USER}),
    ],
)
def test_the_mailer_may_not_touch_what_it_does_not_mail_for(
    operation: str, params: dict[str, Any]
) -> None:
    assert not mailer_may(operation, **params)


def test_the_mailer_sends_as_the_sender_only_though_its_domain_is_the_identity() -> None:
    # SES authorizes the address's identity, or the domain's when only the domain is
    # verified, and the domain's covers every address of it: the From address decides
    identities = ["no-reply@example.com", "example.com"]
    for identity in (f"arn:aws:ses:us-east-1:123456789012:identity/{i}" for i in identities):
        for sender, expected in (("no-reply@example.com", True), ("ceo@example.com", False)):
            needed = Permission("ses:SendEmail", identity, {"ses:FromAddress": (sender,)})
            assert allowed(MAILER, needed, MAIL_TEMPLATE.resolve) is expected, (identity, sender)
    # as the check reads a call's From address, display name or not
    assert mailer_may("SendEmail", "sesv2", FromEmailAddress="Us <no-reply@example.com>")
    assert not mailer_may("SendEmail", "sesv2", FromEmailAddress="Bank <ceo@example.com>")


def test_the_check_evaluates_for_all_values_and_the_null_guard_as_iam_does() -> None:
    (reads,) = [s for s in MAILER if s.get("Sid") == "ReadAccountsAndMailItems"]
    nothing_named = Permission("dynamodb:GetItem", ARNS[TABLE], {"dynamodb:LeadingKeys": ()})
    # ForAllValues holds for a request without the key: the Null guard refuses it
    assert not allowed([reads], nothing_named, MAIL_TEMPLATE.resolve)
    unguarded = {**reads, "Condition": {k: v for k, v in reads["Condition"].items() if k != "Null"}}
    assert allowed([unguarded], nothing_named, MAIL_TEMPLATE.resolve)
    # IAM's wildcards, not fnmatch's: [ ] is no character class
    (puts,) = [s for s in MAILER if s.get("Sid") == "IssueResetTokens"]
    bracket = Permission("dynamodb:PutItem", ARNS[TABLE], {"dynamodb:LeadingKeys": ("[R]ESET#",)})
    assert not allowed([puts], bracket, MAIL_TEMPLATE.resolve)
    # A condition key the check does not model for the call fails it, never passes
    identity = "arn:aws:ses:us-east-1:123456789012:identity/no-reply@example.com"
    with pytest.raises(ValueError, match="does not model ses:FromAddress"):
        allowed(MAILER, Permission("ses:SendEmail", identity), MAIL_TEMPLATE.resolve)


def test_the_attributes_of_an_expression_are_its_top_level_names() -> None:
    expression = "SET #a = :x, b.c = list_append(b.c, :y) REMOVE d[0].e ADD tries :one"
    names = {"#a": "alpha"}
    assert expression_attributes(expression, names) == {"alpha", "b", "d", "tries"}
    condition = "attribute_exists(pk) AND size (tried) < :max AND NOT contains(tried, :id)"
    assert expression_attributes(condition, {}) == {"pk", "tried"}

"""Creates at an AWS endpoint what template.yaml declares and the endpoint lacks: tables
with their TTL and streams, queues, the event bus, SES identities (verified) and
configuration sets, KMS keys, secrets (with a signing key), SSM parameters (the signed
verification keys too), and the local plumbing that stands in for Lambda triggers."""

from __future__ import annotations

import json
import secrets
import string
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from local_run import signing_keys
from local_run.email_identities import provision_email
from local_run.filters import parse_filters
from local_run.template import Template, UnsupportedTemplate


@dataclass(frozen=True)
class RuleRoute:
    """An EventBridge rule of the template whose Lambda target is served by a queue."""

    function: str
    queue_url: str
    # The function's EventInvokeConfig OnFailure queue: where an event goes once the
    # asynchronous invocation's retries are spent.
    on_failure_queue_url: str | None = None
    maximum_retry_attempts: int = 2
    # The rule and its target, as EventBridge names them in what it dead-letters.
    rule_arn: str = ""
    target_arn: str = ""
    # EventBridge delivers to the function only if a Lambda permission lets the rule invoke
    # it (SAM adds one). Without it the event goes to the target's DeadLetterConfig queue
    # at once: EventBridge does not retry a permission error (its RetryPolicy covers the
    # failures of a reachable target, which Lambda's asynchronous queue absorbs).
    delivery_permitted: bool = True
    dead_letter_queue_url: str | None = None


@dataclass(frozen=True)
class StreamTrigger:
    function: str
    stream_arn: str
    batch_size: int
    # The event source mapping's OnFailure queue: the coordinates of a batch whose retries
    # are spent (AWS sends no record, only where to find it).
    on_failure_queue_url: str | None = None
    maximum_retry_attempts: int = -1
    bisect_on_error: bool = False
    # FunctionResponseTypes: [ReportBatchItemFailures]: the function names the records
    # that failed, and the batch is retried from the first of them only.
    reports_item_failures: bool = False
    # The mapping's FilterCriteria patterns: only matching records reach the function.
    filters: tuple[dict[str, Any], ...] = ()
    # Where a new shard is read from: TRIM_HORIZON (the oldest record) or LATEST.
    starting_position: str = "TRIM_HORIZON"


@dataclass(frozen=True)
class TtlTable:
    """A table whose TimeToLiveSpecification is enabled: what the local sweeper deletes."""

    table_name: str
    attribute: str
    key_attributes: tuple[str, ...]


@dataclass
class Provisioned:
    rule_routes: list[RuleRoute] = field(default_factory=list)
    stream_triggers: list[StreamTrigger] = field(default_factory=list)
    ttl_tables: list[TtlTable] = field(default_factory=list)


def provision(template: Template, clients: Any, base_url: str = "") -> Provisioned:
    """`clients(service)` returns a boto3 client for the endpoint."""
    _register_function_names(template)
    ttl_tables = _tables(template, clients("dynamodb"))
    _queues(template, clients("sqs"))
    _event_buses(template, clients("events"))
    provision_email(template, clients)
    signing_keys.create_keys(template, clients("kms"))
    ring = _secrets(template, clients("secretsmanager"))
    template.names.refs.setdefault("HttpApi", "local-api")
    _parameters(template, clients("ssm"), base_url)
    if ring is not None:
        # The parameter the rotation creates in AWS, as the rotation would have written it.
        signing_keys.publish_verification_keys(template, ring, clients("kms"), clients("ssm"))
    provisioned = Provisioned(ttl_tables=ttl_tables)
    provisioned.rule_routes = _rules(template, clients("events"), clients("sqs"))
    provisioned.stream_triggers = _stream_triggers(template)
    return provisioned


def _register_function_names(template: Template) -> None:
    for name in template.functions():
        template.names.refs[name] = template.physical_name(name)


def create_table(client: Any, template: Template, logical_id: str) -> str:
    properties = template.resolve(template.resources[logical_id]["Properties"])
    name = properties.get("TableName") or template.physical_name(logical_id)
    try:
        description = client.describe_table(TableName=name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for index in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if index in properties:
                request[index] = properties[index]
        stream = properties.get("StreamSpecification")
        if stream:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        description = client.create_table(**request)["TableDescription"]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    template.names.refs[logical_id] = name
    template.names.attributes[(logical_id, "Arn")] = description["TableArn"]
    if description.get("LatestStreamArn"):
        template.names.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]
    return str(name)


def _tables(template: Template, client: Any) -> list[TtlTable]:
    with_ttl = []
    for logical_id in template.of_type("AWS::DynamoDB::Table"):
        name = create_table(client, template, logical_id)
        properties = template.resolve(template.resources[logical_id]["Properties"])
        ttl = properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled"):
            keys = tuple(key["AttributeName"] for key in properties["KeySchema"])
            with_ttl.append(TtlTable(name, ttl["AttributeName"], keys))
    return with_ttl


def _queues(template: Template, client: Any) -> None:
    for logical_id in template.of_type("AWS::SQS::Queue"):
        url = client.create_queue(QueueName=template.physical_name(logical_id))["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        template.names.refs[logical_id] = url
        template.names.attributes[(logical_id, "Arn")] = arn["Attributes"]["QueueArn"]


def _event_buses(template: Template, client: Any) -> None:
    for logical_id, resource in template.of_type("AWS::Events::EventBus").items():
        name = template.resolve(resource["Properties"]["Name"])
        try:
            arn = client.describe_event_bus(Name=name)["Arn"]
        except client.exceptions.ResourceNotFoundException:
            arn = client.create_event_bus(Name=name)["EventBusArn"]
        template.names.refs[logical_id] = name
        template.names.attributes[(logical_id, "Arn")] = arn


def _secrets(template: Template, client: Any) -> dict[str, Any] | None:
    """Creates the secrets; the key ring's value, rotated as the rotation would."""
    from session_service.domain.keys.key_rotation import RotationTimes, rotated_secret  # noqa: PLC0415

    # At start, or when JWT_ALGORITHM changed: the new key signs at once, as nothing
    # outside caches this run's JWKS; the old one verifies for an hour more.
    local_rotation = RotationTimes(
        publication_lead=0, signing_key_overlap=3600, mac_key_overlap=2_592_060
    )
    algorithm = template.parameters.get("JwtAlgorithm", "RS256")
    ring: dict[str, Any] | None = None
    for logical_id, resource in template.of_type("AWS::SecretsManager::Secret").items():
        properties = template.resolve(resource.get("Properties", {}))
        name = properties.get("Name") or template.physical_name(logical_id)
        try:
            value = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
            arn = client.describe_secret(SecretId=name)["ARN"]
        except client.exceptions.ResourceNotFoundException:
            value = _generated_secret(properties.get("GenerateSecretString", {}))
            arn = client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
        template.names.refs[logical_id] = arn
        if "signing_keys" not in value:
            continue
        if _signing_algorithm(value) != algorithm:
            # No key yet, or JWT_ALGORITHM changed: rotate, keeping the old key verifiable.
            value = rotated_secret(value, algorithm, time.time(), local_rotation)  # type: ignore[arg-type]
            client.put_secret_value(SecretId=name, SecretString=json.dumps(value))
            print(f"generated a {algorithm} signing key in secret {name}", file=sys.stderr)
        ring = value
    return ring


def _signing_algorithm(secret: dict[str, Any]) -> str | None:
    """The algorithm of the key that signs now, or None when none does."""
    from session_service.domain.keys.keyring import KeyRingError, key_ring_from_secret  # noqa: PLC0415

    try:
        return key_ring_from_secret(secret).signer(time.time()).algorithm
    except KeyRingError:
        return None


def _generated_secret(generate: dict[str, Any]) -> dict[str, Any]:
    """What Secrets Manager's GenerateSecretString makes: the template's JSON with one key
    set to a random string of PasswordLength characters (letters and digits here)."""
    value: dict[str, Any] = json.loads(generate.get("SecretStringTemplate", "{}"))
    key = generate.get("GenerateStringKey")
    if key:
        alphabet = string.ascii_letters + string.digits
        length = int(generate.get("PasswordLength", 32))
        value[key] = "".join(secrets.choice(alphabet) for _ in range(length))
    return value


def _parameters(template: Template, client: Any, base_url: str) -> None:
    """Creates the parameters the template declares."""
    api_url = template.resolve(
        {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    )
    for logical_id, resource in template.of_type("AWS::SSM::Parameter").items():
        properties = template.resolve(resource["Properties"])
        value = str(properties["Value"])
        if base_url:
            value = value.replace(api_url, base_url)
        client.put_parameter(
            Name=properties["Name"],
            Value=value,
            Type=properties.get("Type", "String"),
            Overwrite=True,
        )
        template.names.refs[logical_id] = properties["Name"]
        template.names.attributes[(logical_id, "Value")] = value


def _rules(template: Template, events: Any, sqs: Any) -> list[RuleRoute]:
    functions = template.functions()
    routes: list[RuleRoute] = []
    for rule_id, rule in template.of_type("AWS::Events::Rule").items():
        properties = template.resolve(rule["Properties"])
        name = template.physical_name(rule_id)
        bus = properties.get("EventBusName", "default")
        rule_arn = events.put_rule(
            Name=name, EventBusName=bus, EventPattern=json.dumps(properties["EventPattern"])
        )["RuleArn"]
        template.names.refs[rule_id] = name
        template.names.attributes[(rule_id, "Arn")] = rule_arn
        for resolved in properties["Targets"]:
            if ":lambda:" not in str(resolved["Arn"]):
                # A queue or topic: the emulator delivers to it itself.
                events.put_targets(Rule=name, EventBusName=bus, Targets=[resolved])
                continue
            function = _function_named(template, functions, resolved["Arn"])
            index = len(routes)
            # Lambda targets cannot be invoked by the emulator: the rule delivers to a
            # queue instead, which the local run drains into the function.
            queue_url = sqs.create_queue(QueueName=f"{name}-{index}-local")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
            events.put_targets(
                Rule=name,
                EventBusName=bus,
                Targets=[{"Id": resolved["Id"], "Arn": queue_arn["Attributes"]["QueueArn"]}],
            )
            invoke = _event_invoke_config(template, function)
            routes.append(
                RuleRoute(
                    function=function,
                    queue_url=queue_url,
                    on_failure_queue_url=_queue_url(template, _on_failure(invoke)),
                    maximum_retry_attempts=int(invoke.get("MaximumRetryAttempts", 2)),
                    rule_arn=rule_arn,
                    target_arn=str(resolved["Arn"]),
                    delivery_permitted=_may_invoke(template, function, rule_arn),
                    dead_letter_queue_url=_queue_url(
                        template, resolved.get("DeadLetterConfig", {}).get("Arn")
                    ),
                )
            )
    return routes


def _event_invoke_config(template: Template, function: str) -> dict[str, Any]:
    """The function's EventInvokeConfig (its asynchronous retries and destinations)."""
    for config in template.of_type("AWS::Lambda::EventInvokeConfig").values():
        if config["Properties"]["FunctionName"] == {"Ref": function}:
            resolved: dict[str, Any] = template.resolve(config["Properties"])
            return resolved
    return {}


class UnsupportedTrigger(UnsupportedTemplate):
    """A trigger the local run cannot run as AWS would (its events would go nowhere)."""


def _function_named(template: Template, functions: dict[str, Any], reference: Any) -> str:
    """The template's function a resolved name or ARN (qualified or not) names."""
    value = str(reference)
    for logical_id in functions:
        name = template.physical_name(logical_id)
        if value == name or value.endswith((f":function:{name}", f":function:{name}:$LATEST")):
            return logical_id
    raise UnsupportedTrigger(
        f"{value} names no function of the template the local run can invoke (an alias or "
        "version is not run locally)"
    )


def _may_invoke(template: Template, function: str, rule_arn: str) -> bool:
    """Whether a Lambda permission lets this rule invoke the function, as Lambda decides
    it: the action, the service principal, the function, and the source if one is set."""
    for permission in template.of_type("AWS::Lambda::Permission").values():
        properties = template.resolve(permission["Properties"])
        if (
            properties.get("Action") in ("lambda:InvokeFunction", "lambda:*")
            and properties.get("Principal") == "events.amazonaws.com"
            and _names(template, function, properties.get("FunctionName"))
            and properties.get("SourceArn", rule_arn) == rule_arn
        ):
            return True
    return False


def _names(template: Template, function: str, reference: Any) -> bool:
    try:
        return _function_named(template, {function: None}, reference) == function
    except UnsupportedTrigger:
        return False


def _stream_triggers(template: Template) -> list[StreamTrigger]:
    triggers = []
    functions = template.functions()
    for mapping in template.of_type("AWS::Lambda::EventSourceMapping").values():
        properties = template.resolve(mapping["Properties"])
        if ":dynamodb:" not in properties["EventSourceArn"]:
            raise UnsupportedTrigger(
                f"the local run reads DynamoDB streams only, not {properties['EventSourceArn']}"
            )
        function = _function_named(template, functions, properties["FunctionName"])
        triggers.append(
            StreamTrigger(
                function=function,
                stream_arn=properties["EventSourceArn"],
                batch_size=int(properties.get("BatchSize", 100)),
                on_failure_queue_url=_queue_url(template, _on_failure(properties)),
                maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
                bisect_on_error=bool(properties.get("BisectBatchOnFunctionError", False)),
                reports_item_failures="ReportBatchItemFailures"
                in properties.get("FunctionResponseTypes", []),
                filters=tuple(parse_filters(properties.get("FilterCriteria"))),
                starting_position=str(properties.get("StartingPosition", "TRIM_HORIZON")),
            )
        )
    return triggers


def _on_failure(properties: dict[str, Any]) -> str | None:
    destination = properties.get("DestinationConfig", {}).get("OnFailure", {})
    return str(destination["Destination"]) if "Destination" in destination else None


def _queue_url(template: Template, arn: str | None) -> str | None:
    """The local URL of the template's queue with this ARN."""
    for logical_id in template.of_type("AWS::SQS::Queue"):
        if arn is not None and template.names.attributes.get((logical_id, "Arn")) == arn:
            return template.names.refs[logical_id]
    return None

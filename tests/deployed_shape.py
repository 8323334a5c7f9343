"""template.yaml as CloudFormation deploys it: expanded by aws-sam-translator (SAM's own
transform), and what the checks of the deployed shape need from it: each function's role,
the IAM actions a recorded AWS call needs (with the condition keys IAM sees in its request),
and whether a role's statements (and, for a KMS key, the key's policy) allow them."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.recording import Call
from local_run.expansion import expanded_template
from local_run.template import Template

REGION, ACCOUNT = "us-east-1", "123456789012"


def resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def role_statements(template: Mapping[str, Any], function: str) -> list[dict[str, Any]]:
    """The inline policy statements of the role SAM made for a function."""
    role = template["Resources"][f"{function}Role"]["Properties"]
    return [
        statement
        for policy in role.get("Policies", [])
        for statement in _listed(policy["PolicyDocument"]["Statement"])
    ]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Permission:
    """An IAM action on a resource ARN. `context`: the request's condition keys this check
    models, each with its values (none: the request has no such key); a statement's
    condition on a key not modelled for the call is an error. Not compared: a permission
    is named by its action and resource."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)


def allowed(
    statements: list[dict[str, Any]], needed: Permission, resolve: Callable[[Any], Any]
) -> bool:
    """Whether the statements (their intrinsics resolved) allow it and none denies it. A
    statement this matcher does not model (NotAction, NotResource, a condition operator or
    key it does not evaluate) is an error, never silently read as unconditional."""
    verdicts = _effects(statements, needed, resolve)
    return "Allow" in verdicts and "Deny" not in verdicts


def _effects(
    statements: list[dict[str, Any]], needed: Permission, resolve: Callable[[Any], Any]
) -> set[str]:
    for statement in statements:
        unmodelled = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
        if unmodelled:
            raise ValueError(f"the IAM check does not model {sorted(unmodelled)}: {statement}")
    return {
        statement["Effect"]
        for statement in statements
        if _matches(_listed(statement["Action"]), needed.action, ignore_case=True)
        and _matches([str(r) for r in _listed(resolve(statement["Resource"]))], needed.resource)
        and condition_holds(statement.get("Condition"), needed, resolve)
    }


# Keys that hold a set of values in a request: IAM tests them with ForAllValues only.
MULTIVALUED_KEYS = frozenset(
    {"dynamodb:LeadingKeys", "dynamodb:Attributes", "kms:EncryptionContextKeys"}
)


def _like(value: str, pattern: str) -> bool:
    """IAM's StringLike: * any run of characters, ? one character, nothing else special."""
    parts = (".".join(map(re.escape, part.split("?"))) for part in pattern.split("*"))
    return re.fullmatch(".*".join(parts), value) is not None


_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": str.__eq__,
    "StringLike": _like,
}


def condition_holds(
    condition: Mapping[str, Any] | None, needed: Permission, resolve: Callable[[Any], Any]
) -> bool:
    """Whether a statement's Condition holds for the request, as IAM evaluates it: every
    operator's every key (AND), a key's policy values any of them (OR). ForAllValues holds
    when each of the request's values matches (and when it has none); ...IfExists holds
    when the request has no value; Null "false" holds when it has one."""
    return all(
        _holds(operator, key, [str(v) for v in _listed(resolve(expected))], needed)
        for operator, tests in (condition or {}).items()
        for key, expected in tests.items()
    )


def _holds(operator: str, key: str, patterns: list[str], needed: Permission) -> bool:
    if key not in needed.context:
        raise ValueError(f"the IAM check does not model {key} for {needed.action}: add it")
    values = needed.context[key]
    qualifier, _, test = operator.rpartition(":")
    if test == "Null" and not qualifier:
        return (not values) == ([p.lower() for p in patterns] == ["true"])
    if_exists = test.endswith("IfExists")
    match = _STRING_TESTS.get(test.removesuffix("IfExists"))
    if match is None or qualifier != ("ForAllValues" if key in MULTIVALUED_KEYS else ""):
        raise ValueError(f"the IAM check does not model {operator} on {key}")
    if qualifier:
        return all(any(match(value, p) for p in patterns) for value in values)
    return any(match(values[0], p) for p in patterns) if values else if_exists


_KEY_POLICY_MEMBERS = {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}


def key_policy_allows(
    template: Mapping[str, Any], function: str, needed: Permission, resolve: Callable[[Any], Any]
) -> bool:
    """Whether the function's role may make a call on a KMS key, as KMS decides it: the
    key's policy allows the role, either by naming it or by naming the account (which
    hands the decision to the role's IAM statements), and no statement of either denies
    it. Conditions other than on aws:PrincipalArn are not modelled: an error."""
    role = str(resolve({"Fn::GetAtt": [f"{function}Role", "Arn"]}))
    account = str(resolve({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}))
    iam = _effects(role_statements(template, function), needed, resolve)
    keys = [
        key
        for logical_id, key in resources_of_type(template, "AWS::KMS::Key").items()
        if resolve({"Fn::GetAtt": [logical_id, "Arn"]}) == needed.resource
    ]
    verdicts = set()
    for key in keys:
        for statement in _listed(key["Properties"]["KeyPolicy"]["Statement"]):
            unmodelled = set(statement) - _KEY_POLICY_MEMBERS
            if unmodelled or set(statement["Principal"]) != {"AWS"}:
                raise ValueError(f"the key policy check does not model {statement}")
            if not _matches(_listed(statement["Action"]), needed.action, ignore_case=True):
                continue
            if not _principal_condition(statement.get("Condition"), role, resolve):
                continue
            principals = {str(resolve(p)) for p in _listed(statement["Principal"]["AWS"])}
            if role in principals or "*" in principals:
                verdicts.add(statement["Effect"])
            elif account in principals and statement["Effect"] == "Allow" and "Allow" in iam:
                verdicts.add("Allow")
    return "Allow" in verdicts and "Deny" not in (verdicts | iam)


def _principal_condition(
    condition: Mapping[str, Any] | None, principal: str, resolve: Callable[[Any], Any]
) -> bool:
    """Whether a key policy statement's condition holds for this principal ARN."""
    if condition is None:
        return True
    holds = []
    for operator, tests in condition.items():
        if operator not in ("ArnEquals", "ArnNotEquals") or set(tests) != {"aws:PrincipalArn"}:
            raise ValueError(f"the key policy check does not model the condition {condition}")
        values = {str(resolve(v)) for v in _listed(tests["aws:PrincipalArn"])}
        holds.append((principal in values) == (operator == "ArnEquals"))
    return all(holds)


def _matches(patterns: list[str], value: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


# -- the permissions a recorded AWS call needs ---------------------------------------------

_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
_SINGLE_TABLE_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"}
)
# The table's key (template.yaml SessionTable's KeySchema): pk the partition key.
PARTITION_KEY, SORT_KEY = "pk", "sk"
_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
_EXPRESSION_WORDS = frozenset(
    {"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN"}
)
# A name at the top of a path (not after "." or "]"), a placeholder, or a function's name.
_EXPRESSION_NAME = re.compile(r"(?<![\w.#:\]])([#:]?[A-Za-z_]\w*)(\s*\()?")


def expression_attributes(expression: str, names: Mapping[str, str]) -> set[str]:
    """The top-level attributes an expression names (#placeholders resolved), as
    dynamodb:Attributes lists them: no value, keyword or function."""
    found: set[str] = set()
    for token, call in _EXPRESSION_NAME.findall(expression):
        if not (token.startswith(":") or call or token.upper() in _EXPRESSION_WORDS):
            found.add(names[token] if token.startswith("#") else token)
    return found


def _item_context(operation: str, request: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The fine-grained access keys of a request on one item (a transaction's item too):
    the partition key it names; the attributes it names (its key, what it writes and what
    its expressions read), for a read only with a projection; the ReturnValues a write
    asks for (NONE unless it says, as DynamoDB fills it in; a transaction's item has only
    ReturnValuesOnConditionCheckFailure); a read's Select."""
    item = request.get("Item") or request["Key"]
    names = request.get("ExpressionAttributeNames", {})
    attributes = set(item) if "Item" in request else {PARTITION_KEY, SORT_KEY}
    for part in ("UpdateExpression", "ConditionExpression", "ProjectionExpression"):
        attributes |= expression_attributes(request.get(part, ""), names)
    context: dict[str, tuple[str, ...]] = {"dynamodb:LeadingKeys": (item[PARTITION_KEY]["S"],)}
    legacy = {"AttributeUpdates", "Expected", "AttributesToGet"} & set(request)
    if not legacy and (operation not in _READS or "ProjectionExpression" in request):
        context["dynamodb:Attributes"] = tuple(sorted(attributes))
    if operation in _READS:
        default = "SPECIFIC_ATTRIBUTES" if "ProjectionExpression" in request else "ALL_ATTRIBUTES"
        context["dynamodb:Select"] = (str(request.get("Select", default)),)
        return context
    context["dynamodb:Select"] = ()
    if operation in _TRANSACT_ACTIONS:
        given = request.get("ReturnValuesOnConditionCheckFailure")
        context["dynamodb:ReturnValues"] = (str(given),) if given else ()
    else:
        context["dynamodb:ReturnValues"] = (str(request.get("ReturnValues", "NONE")),)
    return context


def _dynamodb_permissions(
    operation: str, params: Mapping[str, Any], arns: Mapping[str, str]
) -> Iterator[Permission]:
    if params.get("IndexName"):
        raise ValueError("a read of an index needs the index's ARN: add it to the IAM check")
    if operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            ((kind, request),) = item.items()
            context = _item_context(kind, request)
            yield Permission(_TRANSACT_ACTIONS[kind], arns[request["TableName"]], context)
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table, requests in params["RequestItems"].items():
            # a batch write's requests: {"PutRequest": {"Item"}} or {"DeleteRequest": {"Key"}}
            keys = (
                requests["Keys"]
                if operation == "BatchGetItem"
                else [w.get("Item") or w["Key"] for r in requests for w in r.values()]
            )
            partitions = tuple(key[PARTITION_KEY]["S"] for key in keys)
            batch: dict[str, tuple[str, ...]] = {"dynamodb:LeadingKeys": partitions}
            if operation == "BatchWriteItem":
                # the attributes its items carry (a delete's, its key's)
                batch["dynamodb:Attributes"] = tuple(sorted({a for k in keys for a in k}))
            yield Permission(f"dynamodb:{operation}", arns[table], batch)
    elif operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        context = _item_context(operation, params)
        yield Permission(f"dynamodb:{operation}", arns[params["TableName"]], context)
    elif operation == "Query":
        # The partition its key condition names (pk = :value), as IAM sees LeadingKeys
        found = re.search(rf"\b{PARTITION_KEY}\s*=\s*(:\w+)", params["KeyConditionExpression"])
        assert found, params["KeyConditionExpression"]
        partition = params["ExpressionAttributeValues"][found.group(1)]["S"]
        yield Permission(
            "dynamodb:Query", arns[params["TableName"]], {"dynamodb:LeadingKeys": (partition,)}
        )
    elif operation in _SINGLE_TABLE_OPERATIONS:
        yield Permission(f"dynamodb:{operation}", arns[params["TableName"]])
    else:
        raise ValueError(f"no IAM mapping for dynamodb.{operation}: add one")


def permissions_for(
    service: str, operation: str, params: Mapping[str, Any], arns: Mapping[str, str]
) -> Iterator[Permission]:
    """The IAM permissions an API call needs, as AWS authorizes it (a transaction needs
    each of its items' actions; a batch read, BatchGetItem on each table). `arns` names
    the ARN of each table (by name) and queue (by URL) the stack has."""
    if service == "dynamodb":
        yield from _dynamodb_permissions(operation, params, arns)
    elif service == "secretsmanager":
        secret = str(params["SecretId"])  # a name or an ARN: IAM sees the ARN
        yield Permission(f"secretsmanager:{operation}", arns.get(secret, secret))
    elif service == "ssm" and operation in ("GetParameter", "PutParameter"):
        name = str(params["Name"])
        yield Permission(f"ssm:{operation}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}")
    elif service == "events" and operation == "PutEvents":
        for entry in params["Entries"]:
            bus = str(entry.get("EventBusName", "default"))
            yield Permission("events:PutEvents", arns.get(bus, bus))
    elif service == "sqs":
        yield Permission(f"sqs:{operation}", arns[str(params["QueueUrl"])])
    elif service == "sesv2" and operation == "SendEmail":
        # SES authorizes the sender's identity (its address's, or its domain's when only
        # the domain is verified: the role grants both) and the configuration set, each
        # with the message's From address as ses:FromAddress.
        address = str(params["FromEmailAddress"]).rsplit("<", 1)[-1].rstrip(">")
        context = {"ses:FromAddress": (address,)}
        identity = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{address}"
        yield Permission("ses:SendEmail", identity, context)
        if params.get("ConfigurationSetName"):
            name = params["ConfigurationSetName"]
            configuration_set = f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{name}"
            yield Permission("ses:SendEmail", configuration_set, context)
    elif service == "kms" and operation in ("Sign", "GetPublicKey"):
        key = str(params["KeyId"])  # an id or an ARN: IAM and the key policy see the ARN
        yield Permission(f"kms:{operation}", arns.get(key, key))
    elif service == "kms" and operation in ("Encrypt", "Decrypt"):
        # (a Decrypt without KeyId names its key in the ciphertext: ours always name it)
        key = str(params["KeyId"])
        context = {"kms:EncryptionContextKeys": tuple(sorted(params.get("EncryptionContext", {})))}
        yield Permission(f"kms:{operation}", arns.get(key, key), context)
    else:
        raise ValueError(f"no IAM mapping for {service}.{operation}: add one")


# -- the calls each function makes, and the permissions its role lacks for them -----------


def stack_arns(template: Template) -> dict[str, str]:
    """The ARN of each table (by name), queue (by URL), event bus, secret (by name) and KMS
    key (by id or ARN) provisioned from the template."""
    arns = {}
    for kind in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Events::EventBus"):
        for logical_id in template.of_type(kind):
            arns[template.names.refs[logical_id]] = template.names.attributes[(logical_id, "Arn")]
    for logical_id, resource in template.of_type("AWS::SecretsManager::Secret").items():
        name = resource.get("Properties", {}).get("Name") or template.physical_name(logical_id)
        arns[str(template.resolve(name))] = template.names.refs[logical_id]
    for logical_id in template.of_type("AWS::KMS::Key"):
        arn = template.names.attributes[(logical_id, "Arn")]
        arns[template.names.refs[logical_id]] = arns[arn] = arn
    return arns


def missing_permissions(
    calls: list[Call], template: Template, expanded: Mapping[str, Any] | None = None
) -> list[tuple[str, Permission]]:
    """Each (function, permission) a call needed that the function's deployed role lacks,
    the role's intrinsics resolved to the names the calls used."""
    expanded = expanded_template() if expanded is None else expanded
    arns = stack_arns(template)
    missing = []
    for call in calls:
        statements = role_statements(expanded, call.function)
        for needed in permissions_for(call.service, call.operation, call.params, arns):
            if needed.action.startswith("kms:"):
                granted = key_policy_allows(expanded, call.function, needed, template.resolve)
            else:
                granted = allowed(statements, needed, template.resolve)
            if not granted:
                missing.append((call.function, needed))
    _log_actions(calls, arns)
    return missing


def _log_actions(calls: list[Call], arns: Mapping[str, str]) -> None:
    """With IAM_ACTIONS_LOG set, append each function's actions to that file (a survey of
    what the suite exercised; every worker appends)."""
    path = os.environ.get("IAM_ACTIONS_LOG")
    if not path:
        return
    lines = {
        f"{call.function} {needed.action}\n"
        for call in calls
        for needed in permissions_for(call.service, call.operation, call.params, arns)
    }
    with open(path, "a") as log:
        log.writelines(sorted(lines))

"""The role tables of docs/deploy.md are the template's: what each function's role, as
aws-sam-translator expands it, allows on which of the stack's resources under which
conditions, and the AWS managed policies it carries. A role changed without its row, or a
row without its role, fails here."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from local_run.expansion import expanded_template
from local_run.template import ROOT
from tests.deployed_shape import resources_of_type, role_statements

DEPLOY = ROOT / "docs" / "deploy.md"
GRANTS_HEADER = "| function | may | on | when |"
MANAGED_HEADER = "| function | AWS managed policies |"
EVERY_FUNCTION = "every function"

# (action, resource, conditions) per function; the conditions as the table's "when" cell
# states them, canonical: "label value, value; label value" (labels and values sorted).
Grants = dict[str, set[tuple[str, str, str]]]
# What each label of the "when" cell stands for: the condition operator and key. A
# "partition" clause carries its Null guard too (dynamodb:LeadingKeys present: without it
# ForAllValues would hold for a call that names no partition key).
CONDITION_LABELS = {
    "partition": ("ForAllValues:StringLike", "dynamodb:LeadingKeys"),
    "attributes": ("ForAllValues:StringEquals", "dynamodb:Attributes"),
    "returning": ("StringEqualsIfExists", "dynamodb:ReturnValues"),
    "from": ("StringEquals", "ses:FromAddress"),
    "context": ("ForAllValues:StringEquals", "kms:EncryptionContextKeys"),
}
# The Null guards a ForAllValues clause carries (the call names a partition key; it has
# an encryption context): without one, ForAllValues holds for a call with no value.
GUARDS = {
    "partition": ("Null", "dynamodb:LeadingKeys", "false"),
    "context": ("Null", "kms:EncryptionContextKeys", "false"),
}


def table_rows(document: str, header: str) -> list[list[str]]:
    """The cells of each row of the table under this header line."""
    lines = document.splitlines()
    start = lines.index(header) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def quoted(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def canonical_conditions(clauses: list[tuple[str, list[str]]]) -> str:
    return "; ".join(f"{label} {', '.join(sorted(values))}" for label, values in sorted(clauses))


def documented_conditions(cell: str) -> str:
    """The "when" cell's clauses ("partition `LOGIN#*`, `USER#*`; attributes `pk`"),
    canonical; each label one of CONDITION_LABELS."""
    clauses = []
    for clause in filter(str.strip, cell.split(";")):
        label = clause.split("`", 1)[0].strip()
        assert label in CONDITION_LABELS, f"the role table has no condition {label!r}: {cell}"
        clauses.append((label, quoted(clause)))
    return canonical_conditions(clauses)


def documented_grants(document: str) -> Grants:
    """(action, resource, conditions) per function, as the table states them. A row
    without a function continues the one above; an action without its service (`Query`
    after `dynamodb:GetItem`) is of the service before it."""
    grants: Grants = defaultdict(set)
    function = ""
    for function_cell, actions_cell, resources_cell, when in table_rows(document, GRANTS_HEADER):
        function = (quoted(function_cell) or [function])[0]
        service = ""
        for action in quoted(actions_cell):
            service, _, name = action.rpartition(":") if ":" in action else (service, "", action)
            for resource in quoted(resources_cell):
                grants[function].add((f"{service}:{name}", resource, documented_conditions(when)))
    return dict(grants)


def documented_managed_policies(document: str, functions: list[str]) -> dict[str, set[str]]:
    managed: dict[str, set[str]] = {function: set() for function in functions}
    for function_cell, policies_cell in table_rows(document, MANAGED_HEADER):
        named = functions if function_cell == EVERY_FUNCTION else quoted(function_cell)
        for function in named:
            managed[function].update(quoted(policies_cell))
    return managed


def resource_name(value: Any) -> str:
    """A statement's resource as the table names it: the logical id of a resource of the
    stack, or an SSM parameter's name with the stack's as <stack>."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][1] == "Arn":
        return str(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        parameter = re.fullmatch(
            r"arn:\$\{AWS::Partition\}:ssm:.*:parameter(/.+)", value["Fn::Sub"]
        )
        if parameter is not None:
            return parameter[1].replace("${AWS::StackName}", "<stack>")
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        # An SES identity or configuration set, named by the parameter (or variable) that
        # names it: identity/<EmailSender>
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        ses = re.fullmatch(
            r"arn:\$\{AWS::Partition\}:ses:\$\{AWS::Region\}:\$\{AWS::AccountId\}:(.+)", text
        )
        if ses is not None:
            return re.sub(r"\$\{(\w+)\}", r"<\1>", ses[1])
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        # a resource granted under a condition only: named as when it holds
        return resource_name(value["Fn::If"][1])
    raise ValueError(f"the role table does not model this resource: {value}")


def condition_value(value: Any) -> str:
    """A condition's value as the table names it: a parameter's as <Parameter>."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"<{value['Ref']}>"
    assert isinstance(value, str), f"the role table does not model this value: {value}"
    return value


def deployed_conditions(condition: dict[str, Any] | None) -> str:
    """A statement's Condition as the "when" cell states it; one the table has no label
    for fails, and so does a partition or context clause without its Null guard."""
    labels = {spec: label for label, spec in CONDITION_LABELS.items()}
    guards = {guard: label for label, guard in GUARDS.items()}
    clauses, guarded = [], set()
    for operator, tests in (condition or {}).items():
        for key, value in tests.items():
            values = [condition_value(v) for v in (value if isinstance(value, list) else [value])]
            if (operator, key, *values) in guards:
                guarded.add(guards[(operator, key, *values)])
                continue
            assert (operator, key) in labels, f"the role table does not model {operator} {key}"
            clauses.append((labels[operator, key], values))
    assert guarded == {label for label, _ in clauses} & set(GUARDS), condition
    return canonical_conditions(clauses)


def deployed_grants(template: dict[str, Any], functions: list[str]) -> Grants:
    grants: Grants = {}
    for function in functions:
        granted = set()
        for statement in role_statements(template, function):
            # Only allows: a NotAction or a Deny would need a column of its own.
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
            assert statement["Effect"] == "Allow", statement
            actions = statement["Action"]
            resources = statement["Resource"]
            when = deployed_conditions(statement.get("Condition"))
            for action in [actions] if isinstance(actions, str) else actions:
                for resource in resources if isinstance(resources, list) else [resources]:
                    granted.add((action, resource_name(resource), when))
        grants[function] = granted
    return grants


def test_the_role_table_states_exactly_what_each_functions_role_allows() -> None:
    template = expanded_template()
    functions = sorted(resources_of_type(template, "AWS::Lambda::Function"))
    assert documented_grants(DEPLOY.read_text()) == deployed_grants(template, functions)


def test_the_managed_policy_table_names_exactly_each_roles_aws_managed_policies() -> None:
    template = expanded_template()
    functions = sorted(resources_of_type(template, "AWS::Lambda::Function"))
    deployed = {
        function: {
            str(arn).rsplit("/", 1)[-1]
            for arn in template["Resources"][f"{function}Role"]["Properties"]["ManagedPolicyArns"]
        }
        for function in functions
    }
    assert documented_managed_policies(DEPLOY.read_text(), functions) == deployed


def test_the_table_reader_carries_the_function_and_the_service_down() -> None:
    # The shorthand the tables use for people, read as the check reads it
    document = "\n".join(
        [
            GRANTS_HEADER,
            "|---|---|---|---|",
            "| `F` | `dynamodb:GetItem`, `Query` | `SessionTable` | |",
            "| | `ssm:GetParameter`, `sqs:SendMessage` | `/<stack>/a`, `Queue` | |",
            "| | `dynamodb:UpdateItem` | `T` | partition `B#*`, `A#*`; attributes `pk` |",
            "",
            "| `G` | `events:PutEvents` | `EventBus` | |",
        ]
    )
    assert documented_grants(document) == {
        "F": {
            ("dynamodb:GetItem", "SessionTable", ""),
            ("dynamodb:Query", "SessionTable", ""),
            ("ssm:GetParameter", "/<stack>/a", ""),
            ("ssm:GetParameter", "Queue", ""),
            ("sqs:SendMessage", "/<stack>/a", ""),
            ("sqs:SendMessage", "Queue", ""),
            ("dynamodb:UpdateItem", "T", "attributes pk; partition A#*, B#*"),
        }
    }


def test_a_condition_reads_as_its_when_cell_and_a_partition_needs_its_guard() -> None:
    partition = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["B#*", "A#*"]}}
    guard = {"Null": {"dynamodb:LeadingKeys": "false"}}
    sender = {"StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}}
    assert deployed_conditions({**partition, **guard}) == "partition A#*, B#*"
    assert deployed_conditions(sender) == "from <EmailSender>"
    assert documented_conditions("from `<EmailSender>`") == "from <EmailSender>"
    # ForAllValues alone holds for a call that names no partition key: refused here
    with pytest.raises(AssertionError):
        deployed_conditions(partition)
    with pytest.raises(AssertionError, match="does not model"):
        deployed_conditions({"StringLike": {"dynamodb:LeadingKeys": "A#*"}})

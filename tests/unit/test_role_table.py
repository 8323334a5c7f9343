"""The role tables of docs/deploy.md are the template's: what each function's role, as
aws-sam-translator expands it, allows on which of the stack's resources, and the AWS
managed policies it carries. A role changed without its row, or a row without its role,
fails here."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from local_run.expansion import expanded_template
from local_run.template import ROOT
from tests.deployed_shape import resources_of_type, role_statements

DEPLOY = ROOT / "docs" / "deploy.md"
GRANTS_HEADER = "| function | may | on |"
MANAGED_HEADER = "| function | AWS managed policies |"
EVERY_FUNCTION = "every function"

Grants = dict[str, set[tuple[str, str]]]


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


def documented_grants(document: str) -> Grants:
    """(action, resource) per function, as the table states them. A row without a function
    continues the one above; an action without its service (`Query` after
    `dynamodb:GetItem`) is of the service before it."""
    grants: Grants = defaultdict(set)
    function = ""
    for function_cell, actions_cell, resources_cell in table_rows(document, GRANTS_HEADER):
        function = (quoted(function_cell) or [function])[0]
        service = ""
        for action in quoted(actions_cell):
            service, _, name = action.rpartition(":") if ":" in action else (service, "", action)
            for resource in quoted(resources_cell):
                grants[function].add((f"{service}:{name}", resource))
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


def deployed_grants(template: dict[str, Any], functions: list[str]) -> Grants:
    grants: Grants = {}
    for function in functions:
        granted = set()
        for statement in role_statements(template, function):
            # Only plain allows: a condition or a NotAction would need a column of its own.
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
            assert statement["Effect"] == "Allow", statement
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                for resource in resources if isinstance(resources, list) else [resources]:
                    granted.add((action, resource_name(resource)))
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
            "|---|---|---|",
            "| `F` | `dynamodb:GetItem`, `Query` | `SessionTable` |",
            "| | `ssm:GetParameter`, `sqs:SendMessage` | `/<stack>/a`, `Queue` |",
            "",
            "| `G` | `events:PutEvents` | `EventBus` |",
        ]
    )
    assert documented_grants(document) == {
        "F": {
            ("dynamodb:GetItem", "SessionTable"),
            ("dynamodb:Query", "SessionTable"),
            ("ssm:GetParameter", "/<stack>/a"),
            ("ssm:GetParameter", "Queue"),
            ("sqs:SendMessage", "/<stack>/a"),
            ("sqs:SendMessage", "Queue"),
        }
    }

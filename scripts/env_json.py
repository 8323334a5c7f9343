"""env.json for `sam local invoke --env-vars env.json`: the variables of each function
that name a resource of the stack (which SAM cannot resolve locally), with their values.

`python scripts/env_json.py` prints them as the local run names the resources (the file
committed as env.json); `python scripts/env_json.py --stack NAME` asks CloudFormation for
a deployed stack's physical ids, to invoke a function locally against that stack."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from local_run.expansion import deployed_template  # noqa: E402
from local_run.template import Template  # noqa: E402


def resource_variables(template: Template) -> dict[str, dict[str, Any]]:
    """Per function, the variables whose value is not a parameter's: a resource's id."""
    parameters = set(template.document.get("Parameters", {}))
    found: dict[str, dict[str, Any]] = {}
    for name, function in template.functions().items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        found[name] = {
            key: value
            for key, value in variables.items()
            if isinstance(value, dict)
            and not (set(value) == {"Ref"} and value["Ref"] in parameters)
        }
    return found


# The local run's emulator (moto's server), where its queues' URLs point.
EMULATOR = "http://127.0.0.1:5000"


def local_values(template: Template) -> dict[str, dict[str, str]]:
    """As `make run` names the resources (a queue's Ref is its URL, as in AWS)."""
    resources = template.document["Resources"]

    def local(value: Any) -> str:
        resolved = str(template.resolve(value))
        kind = resources.get(value.get("Ref", ""), {}).get("Type")
        return (
            f"{EMULATOR}/{template.account_id}/{resolved}"
            if kind == "AWS::SQS::Queue"
            else resolved
        )

    return {
        name: {key: local(value) for key, value in variables.items()}
        for name, variables in resource_variables(template).items()
    }


def stack_values(template: Template, stack: str) -> dict[str, dict[str, str]]:
    import boto3  # noqa: PLC0415

    cloudformation = boto3.client("cloudformation")
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    values: dict[str, dict[str, str]] = {}
    for name, variables in resource_variables(template).items():
        values[name] = {}
        for key, value in variables.items():
            if set(value) == {"Ref"}:
                values[name][key] = physical[value["Ref"]]
            else:
                values[name][key] = str(template.resolve(value)).replace(template.stack_name, stack)
    return values


def render(values: dict[str, dict[str, str]]) -> str:
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--stack"] and len(arguments) == 2:
        template = deployed_template(stack_name=arguments[1])
        sys.stdout.write(render(stack_values(template, arguments[1])))
    else:
        sys.stdout.write(render(local_values(deployed_template())))

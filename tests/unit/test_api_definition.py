"""The local run reads the HTTP API and the rules' delivery as API Gateway and EventBridge
do, from the expanded template; what it cannot run as AWS would, it refuses at start."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local_run.api_definition import http_api
from local_run.expansion import deployed_template, expanded_template
from local_run.provision import UnsupportedTrigger, _function_named, _may_invoke
from local_run.template import Template, UnsupportedTemplate

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/bus/session-service-Rule"


def _with_body(change: Any) -> Template:
    document = expanded_template()
    (api,) = (r for r in document["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api")
    change(api["Properties"]["Body"])
    return Template(document)


def test_a_route_that_opts_out_of_a_default_authorizer_has_none() -> None:
    def opt_out(body: dict[str, Any]) -> None:
        body["paths"]["/auth/session"]["get"]["security"] = [{"NONE": []}]

    routes = {(r.method, r.path): r for r in http_api(_with_body(opt_out)).routes}
    assert routes[("GET", "/auth/session")].authorizer is None


def test_a_route_naming_an_unknown_authorizer_stops_the_run() -> None:
    def unknown(body: dict[str, Any]) -> None:
        body["paths"]["/auth/session"]["get"]["security"] = [{"Elsewhere": []}]

    with pytest.raises(UnsupportedTemplate, match="names no authorizer Elsewhere"):
        http_api(_with_body(unknown))


def test_an_authorizer_without_simple_responses_stops_the_run() -> None:
    def iam_policies(body: dict[str, Any]) -> None:
        scheme = body["components"]["securitySchemes"]["SessionAuthorizer"]
        scheme["x-amazon-apigateway-authorizer"]["enableSimpleResponses"] = False

    with pytest.raises(UnsupportedTemplate, match="simple responses only"):
        http_api(_with_body(iam_policies))


def _permission(**properties: Any) -> Template:
    """The deployed template with the rule's permission replaced by one with these."""
    template = deployed_template()
    document = copy.deepcopy(template.document)
    resources = document["Resources"]
    resources["PasswordChangedFunctionPasswordChangedPermission"]["Properties"] = {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "PasswordChangedFunction"},
        "Principal": "events.amazonaws.com",
        **properties,
    }
    return Template(document)


@pytest.mark.parametrize(
    ("properties", "permitted"),
    [
        ({"SourceArn": RULE_ARN}, True),
        ({}, True),  # no SourceArn: any rule may invoke
        ({"SourceArn": RULE_ARN.replace("-Rule", "-Other")}, False),
        ({"SourceArn": RULE_ARN, "Action": "lambda:GetFunction"}, False),
        ({"SourceArn": RULE_ARN, "Principal": "sns.amazonaws.com"}, False),
        ({"SourceArn": RULE_ARN, "FunctionName": {"Ref": "ApiFunction"}}, False),
        (
            {
                "SourceArn": RULE_ARN,
                "FunctionName": {"Fn::GetAtt": ["PasswordChangedFunction", "Arn"]},
            },
            True,
        ),
    ],
)
def test_a_rule_may_invoke_a_function_as_lambda_decides_it(
    properties: dict[str, Any], permitted: bool
) -> None:
    template = _permission(**properties)
    assert _may_invoke(template, "PasswordChangedFunction", RULE_ARN) is permitted


def test_a_target_the_local_run_cannot_invoke_stops_it() -> None:
    template = deployed_template()
    alias = "arn:aws:lambda:us-east-1:123456789012:function:session-service-ApiFunction:live"
    with pytest.raises(UnsupportedTrigger, match="alias or version"):
        _function_named(template, template.functions(), alias)
    arn = alias.removesuffix(":live")
    assert _function_named(template, template.functions(), arn) == "ApiFunction"

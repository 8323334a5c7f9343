"""examples/importer/template.yaml, the template docs/deploy.md gives other teams for
attaching the exported authorizer, deploys what it says: expanded as `sam deploy` expands
it (aws-sam-translator), its authorizer's result TTL reaches API Gateway as an integer,
it imports only what template.yaml exports, and deploy.md quotes it whole."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import botocore.session

from local_run.expansion import expand_documents
from local_run.template import ROOT, load_template

EXAMPLE = ROOT / "examples" / "importer" / "template.yaml"
DEPLOY = ROOT / "docs" / "deploy.md"
# The session service's stack name the example is written for.
STACK = "session-service"
TTL_PARAMETER = "SessionAuthorizerCacheSeconds"


def expand(document: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` creates from this SAM template."""
    (expanded,) = expand_documents(document, [{}])
    return expanded


@functools.cache
def expanded_example() -> dict[str, Any]:
    """The example as deployed (one expansion for every test: none changes it)."""
    return expand(load_template(EXAMPLE))


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of every mapping within node."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def openapi_ttls(template: dict[str, Any]) -> list[Any]:
    """authorizerResultTtlInSeconds as written in every API's OpenAPI body: CloudFormation
    substitutes a Ref there with the parameter's value, a string, and converts nothing in a
    free-form JSON property."""
    return [
        value
        for resource in template["Resources"].values()
        for key, value in walk(resource.get("Properties", {}).get("Body", {}))
        if key == "authorizerResultTtlInSeconds"
    ]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def exported_names() -> set[str]:
    """The Export names of template.yaml's Outputs, for a stack named STACK."""
    names = set()
    for output in load_template()["Outputs"].values():
        if "Export" in output:
            (template,) = output["Export"]["Name"].values()  # {"Fn::Sub": "..."}
            names.add(template.replace("${AWS::StackName}", STACK))
    return names


def test_the_result_ttl_is_an_integer_property_read_from_the_services_parameter() -> None:
    template = expanded_example()
    assert openapi_ttls(template) == []  # no OpenAPI body carries it
    (authorizer,) = of_type(template, "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["AuthorizerResultTtlInSeconds"] == {"Ref": TTL_PARAMETER}
    assert template["Parameters"][TTL_PARAMETER] == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": f"/{STACK}/authorizer-cache-seconds",
    }
    # The property is API Gateway's integer, so CloudFormation converts the parameter's
    # string to it (as it does for any typed property), within API Gateway's bounds.
    model = botocore.session.get_session().get_service_model("apigatewayv2")
    member = model.operation_model("CreateAuthorizer").input_shape.members[
        "AuthorizerResultTtlInSeconds"
    ]
    assert (member.type_name, member.metadata) == ("integer", {"min": 0, "max": 3600})
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]


def test_a_reauthorize_every_from_a_parameter_stays_a_string_in_sams_openapi_body() -> None:
    """Why the example declares the authorizer itself: SAM's HttpApi writes ReauthorizeEvery
    into the OpenAPI body as given, so a parameter there reaches API Gateway as "0"."""
    sam_form = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {TTL_PARAMETER: {"Type": "AWS::SSM::Parameter::Value<String>"}},
        "Resources": {
            "OrdersApi": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {
                    "Auth": {
                        "DefaultAuthorizer": "Sessions",
                        "Authorizers": {
                            "Sessions": {
                                "FunctionArn": {"Fn::ImportValue": "x-AuthorizerAliasArn"},
                                "AuthorizerPayloadFormatVersion": "2.0",
                                "EnableSimpleResponses": True,
                                "Identity": {
                                    "Headers": ["Authorization"],
                                    "ReauthorizeEvery": {"Ref": TTL_PARAMETER},
                                },
                            }
                        },
                    }
                },
            }
        },
    }
    assert openapi_ttls(expand(sam_form)) == [{"Ref": TTL_PARAMETER}]


def test_every_route_is_behind_the_authorizer_and_the_api_may_invoke_it() -> None:
    template = expanded_example()
    (authorizer_name,) = of_type(template, "AWS::ApiGatewayV2::Authorizer")
    routes = of_type(template, "AWS::ApiGatewayV2::Route").values()
    assert sorted(route["RouteKey"] for route in routes) == ["GET /orders", "POST /transfers"]
    for route in routes:
        assert route["AuthorizationType"] == "CUSTOM"
        assert route["AuthorizerId"] == {"Ref": authorizer_name}
    alias = {"Fn::ImportValue": f"{STACK}-AuthorizerAliasArn"}
    authorizer = template["Resources"][authorizer_name]["Properties"]
    assert authorizer["AuthorizerUri"]["Fn::Sub"][1] == {"Authorizer": alias}
    permissions = of_type(template, "AWS::Lambda::Permission").values()
    (invokes_authorizer,) = (p for p in permissions if p["FunctionName"] == alias)
    assert invokes_authorizer["Principal"] == "apigateway.amazonaws.com"
    assert invokes_authorizer["SourceArn"]["Fn::Sub"].endswith(
        f"/authorizers/${{{authorizer_name}}}"
    )


def test_the_example_reads_only_what_template_yaml_exports_and_publishes() -> None:
    example = expanded_example()
    imported = {value for key, value in walk(example) if key == "Fn::ImportValue"}
    assert imported == {f"{STACK}-AuthorizerAliasArn"}
    assert imported <= exported_names()
    service = load_template()
    (name,) = service["Resources"]["AuthorizerCacheSecondsParameter"]["Properties"]["Name"].values()
    read = example["Parameters"][TTL_PARAMETER]["Default"]
    assert read == name.replace("${AWS::StackName}", STACK)
    assert service["Outputs"]["AuthorizerCacheSecondsParameter"]["Value"] == {
        "Ref": "AuthorizerCacheSecondsParameter"
    }


def test_deploy_md_quotes_the_example_whole() -> None:
    assert f"```yaml\n{EXAMPLE.read_text()}```\n" in DEPLOY.read_text()


def test_the_example_runs_the_downstream_function() -> None:
    properties = load_template(EXAMPLE)["Resources"]["OrdersFunction"]["Properties"]
    code = (EXAMPLE.parent / properties["CodeUri"]).resolve()
    module, handler = properties["Handler"].split(".")
    assert code == ROOT / "examples" / "downstream_lambda"
    assert f"def {handler}(" in (code / f"{module}.py").read_text()

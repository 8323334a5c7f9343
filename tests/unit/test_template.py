"""template.yaml holds what the deployment relies on; the layer pins what pyproject pins."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_run.api_definition import http_api
from local_run.expansion import artifact_path, deployed_template
from local_run.template import ROOT, Template, load_template, parameter_overrides

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def test_every_function_runs_python_313_on_one_architecture_with_the_layer() -> None:
    template = deployed_template()
    functions = template.functions()
    assert len(functions) == len(Template(TEMPLATE).of_type("AWS::Serverless::Function"))
    layer = RESOURCES["CoreLayer"]
    (layer_version,) = template.of_type("AWS::Lambda::LayerVersion")
    for properties in (function["Properties"] for function in functions.values()):
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == layer["Properties"]["CompatibleArchitectures"]
        assert properties["Layers"] == [{"Ref": layer_version}]
        assert (artifact_path(properties["Code"]) / "app.py").is_file()
    assert layer["Metadata"] == {
        "BuildMethod": "python3.13",
        "BuildArchitecture": layer["Properties"]["CompatibleArchitectures"][0],
    }


def test_table_is_on_demand_with_ttl_point_in_time_recovery_and_a_stream() -> None:
    table = RESOURCES["SessionTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_bearer_routes_carry_the_uncached_authorizer() -> None:
    routes = {(route.method, route.path): route for route in http_api(deployed_template()).routes}
    assert routes[("GET", "/auth/session")].authorizer == "SessionAuthorizer"
    for public in ("/auth/login", "/auth/register", "/auth/refresh", "/auth/logout"):
        assert routes[("POST", public)].authorizer is None
    assert ("ANY", "$default") in routes
    authorizer = RESOURCES["HttpApi"]["Properties"]["Auth"]["Authorizers"]["SessionAuthorizer"]
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["Identity"]["ReauthorizeEvery"] == 0


def test_outputs_name_the_api_the_authorizer_and_the_jwks() -> None:
    assert {"ApiUrl", "AuthorizerArn", "JwksUrl"} <= set(TEMPLATE["Outputs"])


def test_every_contract_setting_is_a_parameter_passed_to_the_functions() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    contract = [
        "ACCESS_TOKEN_TTL_SECONDS",
        "SESSION_IDLE_TIMEOUT_SECONDS",
        "SESSION_ABSOLUTE_TIMEOUT_SECONDS",
        "MAX_SESSIONS_PER_USER",
        "SESSION_LIMIT_POLICY",
        "REFRESH_REUSE_GRACE_SECONDS",
        "SESSION_MAX_REFRESHES",
        "BIND_SESSION_TO_IP",
        "REFRESH_TOKEN_TRANSPORT",
        "ALLOWED_ORIGINS",
    ]
    for name in contract:
        reference = variables[name]
        assert reference["Ref"] in TEMPLATE["Parameters"], name


def test_deploy_docs_name_every_parameter_and_output() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    for name in [*TEMPLATE["Parameters"], *TEMPLATE["Outputs"]]:
        assert f"`{name}`" in deploy, f"docs/deploy.md does not mention {name}"


def test_alarms_watch_errors_throttles_reuse_and_dead_letters() -> None:
    alarms = {
        name: resource["Properties"]
        for name, resource in RESOURCES.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    watched = {(a.get("Namespace"), a.get("MetricName")) for a in alarms.values()}
    assert {("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles")} <= watched
    assert ("SessionService", "RefreshTokenReuseDetected") in watched
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in watched
    assert "ApiServerErrorRateAlarm" in alarms
    functions = Template(TEMPLATE).of_type("AWS::Serverless::Function")
    for function in functions:
        assert f"{function}ErrorsAlarm" in alarms
        assert f"{function}ThrottlesAlarm" in alarms
        assert RESOURCES[f"{function}LogGroup"]["Properties"]["RetentionInDays"] == {
            "Ref": "LogRetentionDays"
        }


def test_no_function_role_grants_wildcard_actions_on_data() -> None:
    for name, function in Template(TEMPLATE).of_type("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            assert not isinstance(policy, str), f"{name} uses a managed policy"
            assert "DynamoDBCrudPolicy" not in policy
            for statement in policy.get("Statement", []):
                actions = statement["Action"]
                for action in [actions] if isinstance(actions, str) else actions:
                    assert "*" not in action, f"{name}: {action}"


def test_the_local_runs_translator_is_the_one_sam_cli_uses() -> None:
    pinned = (ROOT / "scripts" / "translator-requirements.txt").read_text()
    (version,) = re.findall(r"^aws-sam-translator==(\S+)$", pinned, re.MULTILINE)
    # sam-cli's own copy, where `make tools` installed it (`make test` does)
    installed = sorted((ROOT / ".tools").glob("lib/python*/site-packages/aws_sam_translator-*"))
    if not installed:
        pytest.skip("the tools venv is not installed: `make tools`")
    assert installed[0].name == f"aws_sam_translator-{version}.dist-info"


@pytest.mark.parametrize(("level", "lambda_level"), [("DEBUG", "DEBUG"), ("WARNING", "WARN")])
def test_lambdas_log_filter_follows_log_level(level: str, lambda_level: str) -> None:
    # With LogFormat JSON, Lambda drops application lines below ApplicationLogLevel:
    # LogLevel=DEBUG must reach both Powertools and that filter.
    template = deployed_template(parameter_overrides(TEMPLATE, {}) | {"LogLevel": level})
    for name, function in template.functions().items():
        properties = template.resolve(function["Properties"])
        logging_config = properties["LoggingConfig"]
        assert logging_config["LogFormat"] == "JSON", name
        assert logging_config["ApplicationLogLevel"] == lambda_level, name
        assert properties["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == level, name


def test_a_custom_domain_serves_the_api_and_names_the_issuer() -> None:
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    with_domain = deployed_template(
        parameter_overrides(TEMPLATE, {})
        | {"DomainName": "api.example.com", "CertificateArn": certificate}
    )
    without = deployed_template()
    assert with_domain.condition("HasDomainName")
    assert not without.condition("HasDomainName")
    issuer = RESOURCES["TokenIssuerParameter"]["Properties"]["Value"]
    assert with_domain.resolve(issuer) == "https://api.example.com"
    assert without.resolve(issuer).endswith(".execute-api.us-east-1.amazonaws.com")
    domain = with_domain.resolve(RESOURCES["ApiDomain"]["Properties"])
    assert domain["DomainNameConfigurations"] == [
        {"CertificateArn": certificate, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
    ]
    mapping = RESOURCES["ApiDomainMapping"]
    assert mapping["Condition"] == "HasDomainName"
    assert mapping["Properties"]["Stage"] == "$default"


def execute_api_endpoint_disabled(template: Template) -> bool:
    """Whether the deployed HTTP API refuses its default execute-api endpoint: SAM writes
    DisableExecuteApiEndpoint into the OpenAPI body's server object, where API Gateway
    reads it."""
    (api,) = template.of_type("AWS::ApiGatewayV2::Api").values()
    (server,) = template.resolve(api["Properties"]["Body"]["servers"])
    disabled = server["x-amazon-apigateway-endpoint-configuration"]["disableExecuteApiEndpoint"]
    assert isinstance(disabled, bool)
    return disabled


def test_a_custom_domain_turns_the_execute_api_endpoint_off_and_only_then() -> None:
    # With a domain, whatever stands in front of it (CloudFront, a WAF) is the only way
    # in; without one, the execute-api endpoint is the API's address and must answer
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    with_domain = deployed_template(
        parameter_overrides(TEMPLATE, {})
        | {"DomainName": "api.example.com", "CertificateArn": certificate}
    )
    assert execute_api_endpoint_disabled(with_domain) is True
    assert execute_api_endpoint_disabled(deployed_template()) is False


def test_the_access_log_names_the_iam_caller_and_no_header() -> None:
    template = deployed_template()
    (stage,) = template.of_type("AWS::ApiGatewayV2::Stage").values()
    line = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    assert line["caller"] == "$context.identity.userArn"
    assert line["callerAccount"] == "$context.identity.accountId"
    assert not [value for value in line.values() if "header" in value]


def test_only_the_admin_function_is_told_the_admin_principals() -> None:
    listed = "arn:aws:iam::123456789012:role/support"
    template = deployed_template({"AdminPrincipals": listed})
    told = {
        name
        for name, function in template.functions().items()
        if "ADMIN_PRINCIPALS" in function["Properties"]["Environment"]["Variables"]
    }
    assert told == {"AdminFunction"}
    admin = template.functions()["AdminFunction"]["Properties"]["Environment"]["Variables"]
    assert template.resolve(admin["ADMIN_PRINCIPALS"]) == listed


def test_the_dashboard_shows_every_metric_the_functions_write_and_attacks_alarm() -> None:
    from session_service.domain.activity import signals  # noqa: PLC0415
    from session_service.domain.keys.published_keys import UNTRUSTED_KEY_DOCUMENTS  # noqa: PLC0415

    template = deployed_template()
    body = template.resolve(RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"])
    widgets = json.loads(body)["widgets"]
    shown: set[str] = set()
    for widget in widgets:
        for metric in widget["properties"]["metrics"]:
            names = [part for part in metric if isinstance(part, str)]
            if names and names[0] == "SessionService":
                shown.add(names[1])
            for part in metric:
                if isinstance(part, dict) and "expression" in part:
                    shown.update(re.findall(r'MetricName=\\?"(\w+)\\?"', part["expression"]))
    written = {
        *signals.ACTIVITY_METRICS.values(),
        *signals.EVENT_METRICS.values(),
        signals.REVOKED,
        "Refreshes",
        "AuthorizerAllows",
        "AuthorizerDenies",
        "ColdStart",
        UNTRUSTED_KEY_DOCUMENTS,
    }
    assert written <= shown
    alarmed = {
        resource["Properties"].get("MetricName")
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert {"LoginsThrottled", "RefreshTokenReuseDetected", UNTRUSTED_KEY_DOCUMENTS} <= alarmed


def test_the_authorizers_bill_levers_are_parameters_that_default_to_todays_behaviour() -> None:
    defaults = deployed_template()
    authorizer = defaults.functions()["AuthorizerFunction"]["Properties"]
    variables = defaults.resolve(authorizer["Environment"]["Variables"])
    assert str(defaults.resolve(authorizer["MemorySize"])) == "512"
    assert variables["AUTHORIZER_CONSISTENT_READ"] == "true"
    assert str(variables["AUTHORIZER_ALLOW_LOG_PERCENT"]) == "100"
    # off is not sent at all (test_versions.py)
    assert defaults.resolve(authorizer["SnapStart"]) is None
    # the cache is the protected APIs', through a parameter they read (an export could
    # never change once imported); this API's own stays off
    cache = RESOURCES["AuthorizerCacheSecondsParameter"]["Properties"]
    assert cache["Value"] == {"Ref": "AuthorizerCacheSeconds"}
    assert TEMPLATE["Outputs"]["AuthorizerCacheSecondsParameter"]["Value"] == {
        "Ref": "AuthorizerCacheSecondsParameter"
    }
    assert TEMPLATE["Parameters"]["AuthorizerCacheSeconds"]["Default"] == 0
    assert TEMPLATE["Parameters"]["AuthorizerCacheSeconds"]["MaxValue"] == 3600
    # each lever, set
    levers = deployed_template(
        {
            "AuthorizerMemorySize": "256",
            "AuthorizerConsistentRead": "false",
            "AuthorizerAllowLogPercent": "1",
            "AuthorizerSnapStart": "true",
        }
    )
    authorizer = levers.functions()["AuthorizerFunction"]["Properties"]
    variables = levers.resolve(authorizer["Environment"]["Variables"])
    assert str(levers.resolve(authorizer["MemorySize"])) == "256"
    assert variables["AUTHORIZER_CONSISTENT_READ"] == "false"
    assert str(variables["AUTHORIZER_ALLOW_LOG_PERCENT"]) == "1"
    assert levers.resolve(authorizer["SnapStart"]) == {"ApplyOn": "PublishedVersions"}


def test_the_authorizer_is_invoked_through_its_alias() -> None:
    template = deployed_template()
    (alias_id,) = template.of_type("AWS::Lambda::Alias")
    assert template.resources[alias_id]["Properties"]["FunctionName"] == {
        "Ref": "AuthorizerFunction"
    }
    outputs = TEMPLATE["Outputs"]
    assert outputs["AuthorizerAliasArn"]["Value"] == {"Ref": "AuthorizerFunction.Alias"}
    # the export other stacks already import keeps its value: CloudFormation refuses to
    # change an imported export, which would fail every upgrade
    assert outputs["AuthorizerArn"]["Value"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    permissions = [
        p["Properties"]
        for p in template.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and "authorizers" in json.dumps(p["Properties"]["SourceArn"])
    ]
    assert [p["FunctionName"] for p in permissions] == [{"Ref": alias_id}]

"""The HTTP API as API Gateway imports it: the OpenAPI body SAM writes into the expanded
template's AWS::ApiGatewayV2::Api (routes with their integrations and authorizers, the
authorizers, CORS) and its stage's variables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from local_run.template import Template, UnsupportedTemplate

_ANY = "x-amazon-apigateway-any-method"
_INTEGRATION = "x-amazon-apigateway-integration"
# A Lambda integration's URI names its function as ${Function.Arn} (routes) or as
# {"Fn::GetAtt": [Function, "Arn"]} in the Sub's variables (authorizers).
_FUNCTION_ARN = re.compile(r"\$\{([A-Za-z0-9]+)\.Arn\}")


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, or ANY
    path: str  # /auth/login, /auth/sessions/{session_id}, or $default
    function: str
    authorizer: str | None

    def matches(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", pattern)
        match = re.fullmatch(pattern, path)
        return match.groupdict() if match else None


@dataclass(frozen=True)
class Authorizer:
    function: str
    identity_sources: tuple[str, ...]
    simple_responses: bool
    # "lambda" (a REQUEST authorizer function) or "iam" (SigV4, API Gateway's own).
    kind: str = "lambda"


@dataclass(frozen=True)
class HttpApi:
    routes: list[HttpRoute]
    authorizers: dict[str, Authorizer]
    stage_variables: dict[str, str]
    # API Gateway's CORS configuration (allowOrigins, allowMethods...), or None.
    cors: dict[str, Any] | None


def http_api(template: Template) -> HttpApi:
    """The template's one HTTP API."""
    ((api_id, api),) = template.of_type("AWS::ApiGatewayV2::Api").items()
    body = api["Properties"]["Body"]
    stage_variables: dict[str, str] = {}
    for stage in template.of_type("AWS::ApiGatewayV2::Stage").values():
        if stage["Properties"].get("ApiId") == {"Ref": api_id}:
            variables = template.resolve(stage["Properties"].get("StageVariables", {}))
            stage_variables = {key: str(value) for key, value in variables.items()}
    cors = template.resolve({"cors": body.get("x-amazon-apigateway-cors")}).get("cors")
    # An integration may name a function's alias (AutoPublishAlias): locally, the alias
    # runs the function's own code, which is what its version was published from.
    aliases = {
        logical_id: str(alias["Properties"]["FunctionName"]["Ref"])
        for logical_id, alias in template.of_type("AWS::Lambda::Alias").items()
    }
    routes, authorizers = _routes(body, aliases), _authorizers(body, aliases)
    for route in routes:
        if route.authorizer is not None and route.authorizer not in authorizers:
            raise UnsupportedTemplate(
                f"{route.method} {route.path} names no authorizer {route.authorizer}"
            )
    return HttpApi(
        routes=routes,
        authorizers=authorizers,
        stage_variables=stage_variables,
        cors=cors,
    )


def _routes(body: dict[str, Any], aliases: dict[str, str]) -> list[HttpRoute]:
    routes = []
    for path, operations in body.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or _INTEGRATION not in operation:
                continue
            security = operation.get("security") or [{}]
            # SAM writes NONE for a route that opts out of a default authorizer.
            authorizers = [name for scheme in security for name in scheme if name != "NONE"]
            routes.append(
                HttpRoute(
                    method="ANY" if method == _ANY else method.upper(),
                    path=path,
                    function=_integrated_function(operation[_INTEGRATION]["uri"], aliases),
                    authorizer=authorizers[0] if authorizers else None,
                )
            )
    # Most specific first: literal paths before parameterised ones, $default last.
    return sorted(routes, key=lambda r: (r.path == "$default", "{" in r.path, -len(r.path)))


def _integrated_function(uri: Any, aliases: dict[str, str]) -> str:
    text, variables = uri["Fn::Sub"] if isinstance(uri["Fn::Sub"], list) else (uri["Fn::Sub"], {})
    match = _FUNCTION_ARN.search(text)
    if match:
        return match.group(1)
    for value in variables.values():
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if isinstance(value, dict) and value.get("Ref") in aliases:
            return aliases[value["Ref"]]
    raise UnsupportedTemplate(f"not a Lambda integration: {uri}")


def _authorizers(body: dict[str, Any], aliases: dict[str, str]) -> dict[str, Authorizer]:
    schemes = body.get("components", {}).get("securitySchemes", {})
    authorizers = {}
    for name, scheme in schemes.items():
        if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
            authorizers[name] = Authorizer("", (), simple_responses=False, kind="iam")
            continue
        spec = scheme["x-amazon-apigateway-authorizer"]
        if spec.get("type") != "request" or not spec.get("enableSimpleResponses"):
            # What the local gateway runs; a JWT authorizer or IAM policy answers is not.
            raise UnsupportedTemplate(
                f"authorizer {name}: the local gateway runs Lambda REQUEST authorizers with "
                "simple responses only"
            )
        authorizers[name] = Authorizer(
            function=_integrated_function(spec["authorizerUri"], aliases),
            identity_sources=tuple(spec.get("identitySource", [])),
            simple_responses=bool(spec.get("enableSimpleResponses")),
        )
    return authorizers

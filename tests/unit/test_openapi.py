"""docs/openapi.json is what the code generates, and it describes every route."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from local_run.api_definition import http_api
from local_run.expansion import deployed_template
from local_run.template import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"


def test_the_committed_document_matches_the_code() -> None:
    generated = subprocess.run(
        [sys.executable, "scripts/openapi.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(generated) == json.loads(DOCUMENT.read_text()), (
        "docs/openapi.json is stale: run `make openapi`"
    )


def test_every_route_of_the_template_is_documented_with_its_errors() -> None:
    document = json.loads(DOCUMENT.read_text())
    for route in http_api(deployed_template()).routes:
        # The catch-all and the CORS preflights are plumbing, not operations of the API
        if route.path == "$default" or route.method == "OPTIONS":
            continue
        operation = document["paths"][route.path][route.method.lower()]
        responses = operation["responses"]
        assert {"413", "503"} <= set(responses), route
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert _error_shape(route.path, status, response["content"]) == "documented"
        if route.authorizer == "AWS_IAM":
            # The admin API: signed requests, authorised by IAM (refused: 403)
            assert operation["security"] == [{"sigv4": []}]
            assert "403" in responses
        elif route.authorizer:
            assert operation["security"] == [{"bearerAuth": []}]
            assert "401" in responses


# The contract's error codes (v1 and the v2 additions).
def _error_shape(path: str, status: str, content: dict[str, Any]) -> str:
    """The contract's error shape everywhere; OAuth's (RFC 6749 §5.2: no description
    required) on the provider's routes; the page again on the sign-in page; 413 and 503
    are the contract's on every route (the resolver answers them before any route)."""
    json_schema = content.get("application/json", {}).get("schema")
    if json_schema == {"$ref": "#/components/schemas/ErrorResponse"}:
        return "documented"
    if status in ("413", "503"):
        return "not the contract's"
    if path.startswith("/oauth2/") and json_schema == {"$ref": "#/components/schemas/OAuthError"}:
        return "documented"
    if path.startswith("/signin") and set(content) == {"text/html"}:
        return "documented"
    return "undocumented"


# OAuth's own, on the /oauth2/ routes only (contract v3, "Single sign-on").
OAUTH_ERROR_CODES = {
    "access_denied",
    "invalid_client",
    "invalid_scope",
    "login_required",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_response_type",
    "unsupported_token_type",
}
CONTRACT_ERROR_CODES = {
    "invalid_request",
    "invalid_grant",
    "invalid_token",
    "not_found",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "session_limit",
    "unavailable",
    "forbidden",
    "mfa_required",
    "insufficient_user_authentication",
    "mfa_enrollment_required",
}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    document = json.loads(DOCUMENT.read_text())
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_operation_has_a_readable_unique_id_and_one_tag() -> None:
    ids = [operation["operationId"] for _, _, operation in _operations()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z]*(?:[A-Z][a-z]+)*", found) for found in ids), ids
    assert {"login", "refresh", "signInWithPasskey", "findUser"} <= set(ids)
    tags = {tag for _, _, operation in _operations() for tag in operation["tags"]}
    assert tags == {
        "Sign-in",
        "Sessions",
        "Two-step verification",
        "Passkeys",
        "Activity",
        "Discovery",
        "Single sign-on",
        "Admin",
    }
    assert all(len(operation["tags"]) == 1 for _, _, operation in _operations())


def test_error_codes_are_an_enum_and_meaningful_headers_are_declared() -> None:
    document = json.loads(DOCUMENT.read_text())
    error = document["components"]["schemas"]["ErrorResponse"]["properties"]["error"]
    assert set(error["enum"]) == CONTRACT_ERROR_CODES | OAUTH_ERROR_CODES
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            headers = set(response.get("headers", {}))
            if status in ("429", "503"):
                assert "Retry-After" in headers, (method, path, status)
            if status == "401":
                assert "WWW-Authenticate" in headers, (method, path)
    login = document["paths"]["/auth/login"]["post"]["responses"]["200"]
    assert "Set-Cookie" in login["headers"]

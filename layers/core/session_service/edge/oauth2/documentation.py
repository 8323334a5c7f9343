"""How the OpenAPI document describes the provider's routes: their answers (the route
decorators take these) and their form bodies (application/x-www-form-urlencoded, RFC
6749), which Authlib parses, so that no framework parses them first; the resolver adds
the bodies to the document (`form_bodies`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from session_service.edge.schemas import error_responses

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


def redirect(description: str) -> OpenAPIResponse:
    return {"description": description}


def json_object(description: str) -> OpenAPIResponse:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def html(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def answers(*errors: int, **success: OpenAPIResponse) -> dict[int, OpenAPIResponse]:
    """`success` by status (`_200`, `_302`, `_303`), then the contract's errors."""
    found = {int(status.lstrip("_")): response for status, response in success.items()}
    return {**found, **error_responses(*errors)}


def _form(required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    properties = {name: {"type": "string"} for name in (*required, *optional)}
    schema = {"type": "object", "properties": properties, "required": list(required)}
    return {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": schema}},
    }


FORM_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/oauth2/token", "post"): _form(
        ("grant_type",),
        ("code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret"),
    ),
    ("/oauth2/introspect", "post"): _form(
        ("token",), ("token_type_hint", "client_id", "client_secret")
    ),
    ("/oauth2/revoke", "post"): _form(
        ("token",), ("token_type_hint", "client_id", "client_secret")
    ),
    ("/oauth2/logout", "post"): _form((), ("post_logout_redirect_uri", "client_id", "state")),
    ("/signin", "post"): _form(("request",), ("username", "password", "mfa_token", "code")),
}


def form_bodies(paths: dict[str, Any]) -> None:
    """Add the form bodies to the document's operations (Powertools' models)."""
    from aws_lambda_powertools.event_handler.openapi.models import RequestBody  # noqa: PLC0415

    for (path, method), body in FORM_BODIES.items():
        operation = getattr(paths.get(path), method, None)
        if operation is not None:
            operation.requestBody = RequestBody.model_validate(body)

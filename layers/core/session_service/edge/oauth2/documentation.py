"""How the OpenAPI document describes the provider's routes: their answers (the route
decorators take these) and their form bodies (application/x-www-form-urlencoded, RFC
6749), which Authlib parses, so that no framework parses them first; the resolver adds
the bodies to the document (`form_bodies`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

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


class OAuthError(BaseModel):
    """OAuth's own error (RFC 6749 §5.2): `error`, with `error_description` where there is
    one to give. The codes are OAuth's and the extensions' (RFC 7009, OpenID Connect)."""

    model_config = ConfigDict(frozen=True)
    error: str
    error_description: str | None = Field(default=None, exclude_if=lambda value: value is None)


_OAUTH_ERROR_MEANINGS = {
    400: "OAuth's error (invalid_request, invalid_grant, unsupported_grant_type, ...)",
    401: "invalid_client (the client's authentication failed), or invalid_token",
}


def answers(*errors: int, **success: OpenAPIResponse) -> dict[int, OpenAPIResponse]:
    """`success` by status (`_200`, `_302`, `_303`), then OAuth's errors; every route may
    also answer the contract's 413 and 503."""
    found = {int(status.lstrip("_")): response for status, response in success.items()}
    oauth: dict[int, OpenAPIResponse] = {
        status: {
            "description": _OAUTH_ERROR_MEANINGS[status],
            "content": {"application/json": {"model": OAuthError}},
        }
        for status in errors
    }
    return {**found, **error_responses(), **oauth}


def page_answers(*errors: int, **success: OpenAPIResponse) -> dict[int, OpenAPIResponse]:
    """A page's answers: its errors are the page again, saying what went wrong."""
    found = {int(status.lstrip("_")): response for status, response in success.items()}
    pages = {status: html("The page again, saying what went wrong") for status in errors}
    return {**found, **error_responses(), **pages}


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
    ("/signin/passkey", "post"): _form(("request", "ceremony_id", "credential"), ()),
    ("/auth/federation/{provider_id}/start", "post"): _form(("link",), ()),
}


def form_bodies(paths: dict[str, Any]) -> None:
    """Add the form bodies to the document's operations (Powertools' models)."""
    from aws_lambda_powertools.event_handler.openapi.models import RequestBody  # noqa: PLC0415

    for (path, method), body in FORM_BODIES.items():
        operation = getattr(paths.get(path), method, None)
        if operation is not None:
            operation.requestBody = RequestBody.model_validate(body)

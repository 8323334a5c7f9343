"""What the OpenAPI document says beyond what Powertools generates, for integrators:
readable operationIds (the handler's name, in lowerCamelCase), a tag per area, the error
codes as an enum (from the one error family), and the headers that carry meaning. Applied
by the API's resolver, so the live document (/docs) and docs/openapi.json are the same."""

from __future__ import annotations

import re
from typing import Any

from session_service.domain.errors import ServiceError

METHODS = ("get", "post", "put", "patch", "delete")
# Each route's tag, by the first prefix its path starts with.
# What the provider's /oauth2/ routes answer beside the service's own codes (RFC 6749
# §4.1.2.1 and §5.2, RFC 7009 §2.2.1, OpenID Connect Core §3.1.2.6), Authlib's errors.
OAUTH_ERROR_CODES = (
    "access_denied",
    "invalid_client",
    "invalid_scope",
    "login_required",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_response_type",
    "unsupported_token_type",
)
TAGS = (
    ("/auth/passkeys", "Passkeys"),
    ("/auth/mfa", "Two-step verification"),
    ("/auth/activity", "Activity"),
    ("/auth/session", "Sessions"),
    ("/auth/password", "Sessions"),
    ("/auth/", "Sign-in"),
    ("/signin", "Sign-in"),
    ("/.well-known/", "Discovery"),
    ("/oauth2/", "Single sign-on"),
    ("/admin/", "Admin"),
)
HEADERS = {
    "Retry-After": ("Seconds to wait before trying again", "integer"),
    "WWW-Authenticate": (
        'With insufficient_user_authentication: Bearer error="insufficient_user_'
        'authentication", max_age=<REAUTH_MAX_AGE_SECONDS> (RFC 9470)',
        "string",
    ),
    "Set-Cookie": (
        "In cookie mode (REFRESH_TOKEN_TRANSPORT=cookie or both): the refresh token as "
        "__Host-refresh_token (HttpOnly, Secure, SameSite=Strict), and the device token",
        "string",
    ),
}


def error_codes() -> list[str]:
    """Every code of the contract's error family (domain.errors)."""
    found: set[str] = set()
    pending: list[type[ServiceError]] = list(ServiceError.__subclasses__())
    while pending:
        error = pending.pop()
        pending += error.__subclasses__()
        found.add(error.code)
    return sorted(found | set(OAUTH_ERROR_CODES))


def for_integrators(schema: Any) -> None:
    """Enrich Powertools' OpenAPI model in place."""
    from aws_lambda_powertools.event_handler.openapi.models import (  # noqa: PLC0415
        Header,
        Schema,
    )

    def header(name: str) -> Header:
        description, kind = HEADERS[name]
        return Header.model_validate({"description": description, "schema": {"type": kind}})

    for path, item in (schema.paths or {}).items():
        for method in METHODS:
            operation = getattr(item, method, None)
            if operation is None:
                continue
            generated = operation.operationId or ""
            handler = generated.removesuffix(re.sub(r"\W", "_", path) + f"_{method}")
            first, *rest = handler.split("_")
            operation.operationId = first + "".join(word.title() for word in rest)
            operation.tags = [next(tag for prefix, tag in TAGS if path.startswith(prefix))]
            for status, response in (operation.responses or {}).items():
                names = _headers_of(str(status), response)
                if names:
                    response.headers = {**(response.headers or {})} | {
                        name: header(name) for name in names
                    }
    errors = (schema.components.schemas or {}).get("ErrorResponse") if schema.components else None
    if errors is not None and errors.properties:
        error = errors.properties["error"]
        errors.properties["error"] = Schema.model_validate(
            {**error.model_dump(by_alias=True, exclude_none=True), "enum": error_codes()}
        )


def _headers_of(status: str, response: Any) -> list[str]:
    if status in ("429", "503"):
        return ["Retry-After"]
    if status == "401":
        return ["WWW-Authenticate"]
    if status == "200" and _is_token_response(response):
        return ["Set-Cookie"]
    return []


def _is_token_response(response: Any) -> bool:
    content = response.content or {}
    media = content.get("application/json")
    reference = getattr(getattr(media, "schema_", None), "ref", None) or ""
    return bool(str(reference).endswith("/TokenResponse"))

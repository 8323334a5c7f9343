"""HTTP edges: request facts, error responses and security headers (resolver.py builds the
API's resolver from them).

Nothing else builds an HTTP response. The API function installs this on its resolver;
the authorizer uses the request facts, which import nothing heavy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from session_service.domain.errors import (
    ServiceError,
)
from session_service.domain.models import ClientInfo, Session, rfc3339

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.shared.cookies import Cookie


MAX_BODY_BYTES = 16 * 1024
# No request of ours nests deeper than 2; a generous bound keeps every later parse (the
# resolver's, pydantic's) far from Python's recursion limit.
MAX_JSON_DEPTH = 32

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
# RFC 6749 §5.1: responses carrying tokens must not be cached.
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header value; API Gateway lower-cases names, direct invocations may not."""
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def bearer_token(headers: Mapping[str, str] | None) -> str | None:
    value = header(headers, "authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_info(event: Mapping[str, Any]) -> ClientInfo:
    http = event.get("requestContext", {}).get("http", {})
    user_agent = header(event.get("headers"), "user-agent") or http.get("userAgent") or ""
    return ClientInfo(ip=str(http.get("sourceIp") or "unknown"), user_agent=str(user_agent))


# -- the authorizer's answer and the handler's reading of it ------------------------------


def session_view(session: Session, current_session_id: str | None = None) -> dict[str, Any]:
    """A session as the contract shows it: no token material."""
    return {
        "session_id": session.session_id,
        "created_at": rfc3339(session.created_at),
        "last_used_at": rfc3339(session.last_used_at),
        "expires_at": rfc3339(session.expires_at),
        "ip": session.ip,
        "user_agent": session.user_agent,
        "current": session.session_id == current_session_id,
        "auth_time": rfc3339(session.auth_time or session.created_at),
        "amr": list(session.amr),
    }


def json_response(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    cookies: list[Cookie] | None = None,
) -> Response[Any]:
    from aws_lambda_powertools.event_handler import Response  # noqa: PLC0415

    if body is None:
        # 204: no body, hence no content type.
        return Response(status_code=status, headers={**(headers or {})}, cookies=cookies)
    return Response(
        status_code=status,
        content_type="application/json",
        body=body,
        headers={**(headers or {})},
        cookies=cookies,
    )


def error_response(error: ServiceError) -> Response[Any]:
    return json_response(error.status, error.body, headers=error.headers)


def is_preflight(event: Mapping[str, Any]) -> bool:
    """A browser's CORS preflight: OPTIONS, naming the method it asks about."""
    method = str(event.get("requestContext", {}).get("http", {}).get("method", ""))
    headers = {str(name).lower() for name in (event.get("headers") or {})}
    return method == "OPTIONS" and "access-control-request-method" in headers


# The routes that take the refresh token (body or cookie) as their credential.
REFRESH_TOKEN_ROUTES = frozenset({"/auth/refresh", "/auth/logout"})
# The OpenAPI name of the Bearer scheme, and the security requirement of Bearer routes.
BEARER = "bearerAuth"
BEARER_SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]
SIGV4 = "sigv4"

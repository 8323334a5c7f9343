"""HTTP edges: request facts, authorizer context, error responses and security headers.

Nothing else builds an HTTP response. The API function installs this on its resolver;
the authorizer uses the context helpers, which import nothing heavy."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from session_service.errors import (
    Forbidden,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    PayloadTooLarge,
    ServiceError,
    Unavailable,
)
from session_service.models import ClientInfo, Millis, Session, rfc3339

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
    from aws_lambda_powertools.shared.cookies import Cookie

    from session_service.sessions import AuthorizedSession

MAX_BODY_BYTES = 16 * 1024
# No request of ours nests deeper than 2; a generous bound keeps every later parse (the
# resolver's, pydantic's) far from Python's recursion limit.
MAX_JSON_DEPTH = 32
# Stage variable by which our own API asks the authorizer to report its verdict in the
# context instead of denying: HTTP APIs answer a denial with a fixed 403 body that the
# contract's error shape cannot replace, so our handlers render the 401 themselves.
VERDICT_STAGE_VARIABLE = "authorizerVerdict"
VERDICT_IN_CONTEXT = "context"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
# RFC 6749 §5.1: responses carrying tokens must not be cached.
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Cookie mode: the refresh token lives where scripts cannot read it. __Host- makes the
# browser insist on Secure, Path=/ and no Domain.
REFRESH_COOKIE = "__Host-refresh_token"
# Cookie mode's device token (devices): a known device, for the login throttle.
DEVICE_COOKIE = "__Host-device_token"
# A request authenticated by that cookie must carry this header: a page of another origin
# can only add it after a CORS preflight that our allow-list refuses.
CSRF_HEADER = "X-Requested-With"


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
    }


def authorizer_allow(authorized: AuthorizedSession) -> dict[str, Any]:
    session = authorized.session
    context: dict[str, Any] = {
        "verdict": "allow",
        "sub": session.user_id,
        "username": authorized.username,
        "sid": session.session_id,
        "createdAt": session.created_at,
        "lastUsedAt": session.last_used_at,
        "expiresAt": session.expires_at,
        "ip": session.ip,
        "userAgent": session.user_agent,
    }
    return {"isAuthorized": True, "context": context}


def authorizer_refusal(error: ServiceError, event: Mapping[str, Any]) -> dict[str, Any]:
    """Deny; or, for our own API, allow with the verdict for the handler to render."""
    if (event.get("stageVariables") or {}).get(VERDICT_STAGE_VARIABLE) != VERDICT_IN_CONTEXT:
        if isinstance(error, Unavailable):
            # A 5xx from API Gateway, not a 403 that would make clients drop the session.
            raise error
        return {"isAuthorized": False}
    context = {"verdict": error.code, "description": error.description}
    return {"isAuthorized": True, "context": context}


def authorizer_answer(
    event: Mapping[str, Any], authorize: Callable[[str], AuthorizedSession]
) -> dict[str, Any]:
    """The authorizer's simple response for this request."""
    try:
        token = bearer_token(event.get("headers"))
        if token is None:
            raise InvalidToken("A Bearer access token is required.")
        authorized = authorize(token)
    except ServiceError as refusal:
        return authorizer_refusal(refusal, event)
    return authorizer_allow(authorized)


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of a Bearer route, as the authorizer found them."""

    user_id: str
    session_id: str
    username: str
    view: dict[str, Any]


def caller(event: Mapping[str, Any]) -> Caller:
    """The authorizer's verdict for this request, or the contract error it stands for.

    A request without a verdict never passed our authorizer and is refused."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    context = authorizer.get("lambda") or {}
    verdict = context.get("verdict")
    if verdict == "allow":
        session = Session(
            user_id=str(context["sub"]),
            session_id=str(context["sid"]),
            created_at=_millis(context["createdAt"]),
            last_used_at=_millis(context["lastUsedAt"]),
            idle_expires_at=_millis(context["expiresAt"]),
            absolute_expires_at=_millis(context["expiresAt"]),
            ip=str(context.get("ip", "")),
            user_agent=str(context.get("userAgent", "")),
        )
        view = {**session_view(session, session.session_id), "user_id": session.user_id}
        return Caller(
            user_id=session.user_id,
            session_id=session.session_id,
            username=str(context.get("username", "")),
            view=view,
        )
    if verdict == Unavailable.code:
        raise Unavailable(retry_after=1)
    raise InvalidToken(str(context.get("description") or InvalidToken.default_description))


def _millis(value: Any) -> Millis:
    return int(value)


# -- refresh-token transport (body, cookie or both) ----------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshTransport:
    mode: str  # body, cookie or both
    allowed_origins: tuple[str, ...]

    @property
    def uses_cookie(self) -> bool:
        return self.mode in ("cookie", "both")

    @property
    def uses_body(self) -> bool:
        return self.mode in ("body", "both")


def request_cookie(event: Mapping[str, Any], name: str) -> str | None:
    for cookie in event.get("cookies") or ():
        key, _, value = str(cookie).partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def presented_refresh_token(
    event: Mapping[str, Any], body_token: str | None, transport: RefreshTransport
) -> str | None:
    """The refresh token of this request: from the body where the body may carry it, else
    from the cookie, which is only believed from an allowed origin with the CSRF header."""
    if body_token and transport.uses_body:
        return body_token
    cookie = request_cookie(event, REFRESH_COOKIE) if transport.uses_cookie else None
    if not cookie:
        return None
    headers = event.get("headers")
    if header(headers, "origin") not in transport.allowed_origins:
        raise Forbidden("A cookie-authenticated request must come from an allowed origin.")
    if not header(headers, CSRF_HEADER):
        raise Forbidden(f"A cookie-authenticated request must carry the {CSRF_HEADER} header.")
    return cookie


def presented_device_token(
    event: Mapping[str, Any], body_token: str | None, transport: RefreshTransport
) -> str | None:
    """The device token of a login: from the body where the body carries tokens, else the
    device cookie. (It authenticates nothing; it only lets a device count on its own.)"""
    if body_token and transport.uses_body:
        return body_token
    return request_cookie(event, DEVICE_COOKIE) if transport.uses_cookie else None


def check_browser_origin(event: Mapping[str, Any], transport: RefreshTransport) -> None:
    """Before setting the refresh cookie (login): a browser's request must come from an
    allowed origin with the CSRF header, or a page elsewhere could post a login form and
    plant its own account's session in the victim's browser (login CSRF). Requests without
    an Origin are not a browser's and set nothing a browser keeps."""
    if not transport.uses_cookie:
        return
    headers = event.get("headers")
    origin = header(headers, "origin")
    if origin is None:
        return
    if origin not in transport.allowed_origins or not header(headers, CSRF_HEADER):
        raise Forbidden(
            f"A browser login must come from an allowed origin with the {CSRF_HEADER} header."
        )


def refresh_cookie(token: str, max_age: int, name: str = REFRESH_COOKIE) -> Cookie:
    from aws_lambda_powertools.shared.cookies import Cookie, SameSite  # noqa: PLC0415

    return Cookie(
        name=name,
        value=token,
        path="/",
        secure=True,
        http_only=True,
        max_age=max_age,
        same_site=SameSite.STRICT_MODE,
    )


def cleared_refresh_cookie() -> Cookie:
    return refresh_cookie("", 0)


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    value: str
    max_age: int


def token_response(
    body: dict[str, Any],
    refresh_expires_in: int,
    transport: RefreshTransport,
    device: DeviceCredential | None = None,
) -> Response[Any]:
    """A token response: in cookie mode the refresh token (and the device token) leave
    the body for cookies."""
    cookies = None
    if transport.uses_cookie:
        cookies = [refresh_cookie(str(body["refresh_token"]), refresh_expires_in)]
        if device is not None:
            cookies.append(refresh_cookie(device.value, device.max_age, DEVICE_COOKIE))
    if device is not None and transport.uses_body:
        body = {**body, "device_token": device.value}
    if not transport.uses_body:
        body = {key: value for key, value in body.items() if key != "refresh_token"}
    return json_response(200, body, cookies=cookies)


def logged_out_response(transport: RefreshTransport) -> Response[Any]:
    cookies = [cleared_refresh_cookie()] if transport.uses_cookie else None
    return json_response(204, None, cookies=cookies)


# -- responses ----------------------------------------------------------------------------


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
    body = {"error": error.code, "error_description": error.description}
    return json_response(error.status, body, headers=error.headers)


def _validation_description(errors: Any) -> str:
    """Where and what, never the offending value (it may be a password)."""
    parts: list[str] = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return "The body is not valid JSON."
        location = ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"
        parts.append(f"{location}: {error.get('msg', 'is invalid')}")
    return "; ".join(parts[:5]) or "The request is invalid."


def _body_size(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    return len(body) * 3 // 4 if event.get("isBase64Encoded") else len(str(body).encode())


def _body_problem(event: Mapping[str, Any]) -> str | None:
    """Why a body cannot be a request of ours, if it cannot: every body is a JSON object."""
    body = event.get("body")
    if not body:
        return None
    try:
        text = (
            base64.b64decode(body, validate=True).decode() if event.get("isBase64Encoded") else body
        )
        document = json.loads(text)
    except RecursionError:
        return f"The body nests deeper than {MAX_JSON_DEPTH} levels."
    except (ValueError, UnicodeDecodeError):
        return "The body is not valid UTF-8 JSON."
    if _depth(document) > MAX_JSON_DEPTH:
        return f"The body nests deeper than {MAX_JSON_DEPTH} levels."
    if document is not None and not isinstance(document, dict):
        return "The body must be a JSON object."
    return None


def _depth(document: Any) -> int:
    """How deeply a parsed JSON value nests, found without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _lambda_response(error: ServiceError) -> dict[str, Any]:
    """An error answered before the resolver runs (it would parse the body first)."""
    body = {"error": error.code, "error_description": error.description}
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": "application/json", **error.headers},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def api_resolver() -> APIGatewayHttpResolver:
    """The API's resolver: validation on, errors in the contract's shape, body limit, and
    security headers on every response, errors and 404s included."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver  # noqa: PLC0415

    class SessionApiResolver(APIGatewayHttpResolver):
        def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
            # The API speaks JSON whatever Content-Type a client sends (curl -d says
            # form): a body is parsed as JSON or refused as such, never as a form.
            headers = {
                name: value
                for name, value in (event.get("headers") or {}).items()
                if name.lower() != "content-type"
            }
            event = {**event, "headers": {**headers, "content-type": "application/json"}}
            if _body_size(event) > MAX_BODY_BYTES:
                response = _lambda_response(PayloadTooLarge())
            elif (problem := _body_problem(event)) is not None:
                response = _lambda_response(InvalidRequest(problem))
            else:
                response = super().resolve(event, context)
            headers = dict(SECURITY_HEADERS)
            if str(event.get("rawPath", "")).startswith("/auth/"):
                headers.update(NO_STORE_HEADERS)
            response["headers"] = {**headers, **(response.get("headers") or {})}
            return response

        def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
            # Validation errors are answered 400 in the contract's shape, never 422.
            schema = super().get_openapi_schema(*args, **kwargs)
            for path_item in (schema.paths or {}).values():
                for method in ("get", "post", "put", "patch", "delete"):
                    operation = getattr(path_item, method, None)
                    if operation is not None and operation.responses:
                        operation.responses.pop(422, None)
                        operation.responses.pop("422", None)
                        # A 204 has no body, whatever the handler's annotation says.
                        for status in (204, "204"):
                            if status in operation.responses:
                                operation.responses[status].content = None
            if schema.components is not None and schema.components.schemas:
                for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
                    schema.components.schemas.pop(name, None)
            return schema

    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: PLC0415

    app = SessionApiResolver(enable_validation=True)
    app.configure_openapi(
        title="Session service",
        version="1.0.0",
        description=(
            "Short-lived JWT access tokens, rotating single-use refresh tokens, session "
            "limits and immediate revocation. Errors are always "
            '{"error": CODE, "error_description": TEXT}.'
        ),
        security_schemes={BEARER: HTTPBearer(bearerFormat="JWT")},
    )
    _install(app)
    return app


# The OpenAPI name of the Bearer scheme, and the security requirement of Bearer routes.
BEARER = "bearerAuth"
BEARER_SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]


def _install(app: APIGatewayHttpResolver) -> None:
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError  # noqa: PLC0415
    from aws_lambda_powertools.event_handler.openapi.exceptions import (  # noqa: PLC0415
        RequestValidationError,
    )

    from session_service.errors import NotFound  # noqa: PLC0415
    from session_service.observability import logger  # noqa: PLC0415

    @app.exception_handler(ServiceError)  # type: ignore[untyped-decorator]
    def _service_error(error: ServiceError) -> Response[Any]:
        response = error_response(error)
        # A refused refresh token is of no more use: the browser may drop its cookie.
        event = app.current_event.raw_event
        if isinstance(error, InvalidGrant) and request_cookie(event, REFRESH_COOKIE):
            response.cookies.append(cleared_refresh_cookie())
        return response

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(error: RequestValidationError) -> Response[Any]:
        return error_response(InvalidRequest(_validation_description(error.errors())))

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[Any]:
        return error_response(NotFound())

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(error: Exception) -> Response[Any]:
        # Our bug, not the client's: log it, say nothing of it, invite a retry.
        logger.exception("unhandled error", error_type=type(error).__name__)
        return error_response(Unavailable(retry_after=1))

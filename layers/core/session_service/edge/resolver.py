"""The API's resolver, and the one place that maps errors to HTTP: validation on, errors in
the contract's shape (a ServiceError, a validation error, a 404), the body limit, and
security headers on every response, errors and 404s included."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from session_service.domain.errors import (
    InvalidGrant,
    InvalidRequest,
    PayloadTooLarge,
    ServiceError,
    Unavailable,
)
from session_service.edge.http import (
    BEARER,
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    NO_STORE_HEADERS,
    REFRESH_TOKEN_ROUTES,
    SECURITY_HEADERS,
    SIGV4,
    error_response,
    is_preflight,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver


# Paths whose bodies are application/x-www-form-urlencoded (RFC 6749, and the pages' own
# forms), not JSON.
FORM_PATHS = ("/oauth2/", "/signin")


def is_form(path: str, method: str) -> bool:
    """A route that takes a form: OAuth's, the sign-in page's, and linking's page."""
    linking = method == "POST" and path.startswith("/auth/federation/") and path.endswith("/start")
    return path.startswith(FORM_PATHS) or linking


def api_resolver(title: str = "Session service") -> APIGatewayHttpResolver:
    """The API's resolver: validation on, errors in the contract's shape, body limit, and
    security headers on every response, errors and 404s included."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver  # noqa: PLC0415

    from session_service.edge.oauth2.documentation import form_bodies  # noqa: PLC0415
    from session_service.edge.openapi_document import for_integrators  # noqa: PLC0415

    class SessionApiResolver(APIGatewayHttpResolver):
        def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
            # The API speaks JSON whatever Content-Type a client sends (curl -d says
            # form): a body is parsed as JSON or refused as such, never as a form. OAuth's
            # endpoints alone take forms (RFC 6749), which Authlib parses.
            method = str(event.get("requestContext", {}).get("http", {}).get("method", ""))
            form = is_form(str(event.get("rawPath", "")), method)
            if not form:
                headers = {
                    name: value
                    for name, value in (event.get("headers") or {}).items()
                    if name.lower() != "content-type"
                }
                event = {**event, "headers": {**headers, "content-type": "application/json"}}
            if _body_size(event) > MAX_BODY_BYTES:
                response = _lambda_response(PayloadTooLarge())
            elif not form and (problem := _body_problem(event)) is not None:
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
            form_bodies(schema.paths or {})
            for_integrators(schema)
            return schema

    from aws_lambda_powertools.event_handler.openapi.models import (  # noqa: PLC0415
        APIKey,
        APIKeyIn,
        HTTPBearer,
    )

    app = SessionApiResolver(enable_validation=True)
    # The admin API's scheme: AWS SigV4 in the Authorization header (API Gateway's IAM).
    sigv4 = APIKey.model_validate(
        {
            "name": "Authorization",
            "in": APIKeyIn.header,
            "description": "AWS Signature Version 4 (service execute-api), authorised by IAM",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    )
    app.configure_openapi(
        title=title,
        version="1.0.0",
        description=(
            "Short-lived JWT access tokens, rotating single-use refresh tokens, session "
            "limits and immediate revocation. Errors are always "
            '{"error": CODE, "error_description": TEXT}.'
        ),
        security_schemes={BEARER: HTTPBearer(bearerFormat="JWT"), SIGV4: sigv4},
    )
    _install(app)
    return app


def _validation_description(errors: Any) -> str:
    """Where and what, never the offending value (it may be a password)."""
    parts: list[str] = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return "The body is not valid JSON."
        # (a body of one of several shapes names its shape in the location: a class name,
        # which no field's name is)
        names = [str(part) for part in error.get("loc", ())[1:]]
        location = ".".join(name for name in names if not name[:1].isupper()) or "body"
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
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": "application/json", **error.headers},
        "body": json.dumps(error.body),
        "isBase64Encoded": False,
    }


def _install(app: APIGatewayHttpResolver) -> None:
    from aws_lambda_powertools.event_handler import Response  # noqa: PLC0415
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError  # noqa: PLC0415
    from aws_lambda_powertools.event_handler.openapi.exceptions import (  # noqa: PLC0415
        RequestValidationError,
    )

    from session_service.domain.errors import NotFound  # noqa: PLC0415
    from session_service.edge.transport import (  # noqa: PLC0415
        REFRESH_COOKIE,
        cleared_refresh_cookie,
        request_cookie,
    )
    from session_service.observability import logger  # noqa: PLC0415

    @app.exception_handler(ServiceError)  # type: ignore[untyped-decorator]
    def _service_error(error: ServiceError) -> Response[Any]:
        response = error_response(error)
        # A refused refresh token is of no more use: the browser may drop its cookie. Only
        # where the cookie was the credential: a mistyped password or code elsewhere (a
        # step-up, an enrollment) must not sign the browser out.
        event = app.current_event.raw_event
        presented = str(event.get("rawPath", "")) in REFRESH_TOKEN_ROUTES
        if isinstance(error, InvalidGrant) and presented and request_cookie(event, REFRESH_COOKIE):
            response.cookies.append(cleared_refresh_cookie())
        return response

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(error: RequestValidationError) -> Response[Any]:
        return error_response(InvalidRequest(_validation_description(error.errors())))

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[Any]:
        if is_preflight(app.current_event.raw_event):
            # API Gateway routes a CORS preflight here (the OPTIONS route, or $default) and
            # adds the CORS headers it is configured with to whatever we answer: a 2xx lets
            # the browser go on, and only for the origins it allows.
            return Response(status_code=204, content_type=None, body=None)
        return error_response(NotFound())

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(error: Exception) -> Response[Any]:
        # Our bug, not the client's: log it, say nothing of it, invite a retry.
        logger.exception("unhandled error", error_type=type(error).__name__)
        return error_response(Unavailable(retry_after=1))

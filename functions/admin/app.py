"""The admin API, behind API Gateway's IAM authorization: support staff look a user up,
end their sessions, disable or enable the account, and lift its login lock. Every call is
checked (the signer's account, ADMIN_PRINCIPALS) before any route and audited after."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.domain.errors import NotFound
from session_service.domain.models import is_issued_id, rfc3339
from session_service.edge import authorization, http
from session_service.edge.admin_audit import audited
from session_service.edge.schemas import (
    AdminSessionsResponse,
    AdminUserResponse,
    SessionResponse,
    responses,
)
from session_service.observability import logger

get_settings()
app = http.api_resolver(title="Session service admin API")
SIGV4: list[dict[str, list[str]]] = [{http.SIGV4: []}]


def _administrators_only(
    resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware
) -> Response[Any]:
    """Before every route: the signer is an administrator of this account, or 403."""
    authorization.admin_caller(
        resolver.current_event.raw_event,
        authorization.function_account(resolver.lambda_context.invoked_function_arn),
        get_settings().admin_principals,
    )
    return next_middleware(resolver)


app.use(middlewares=[_administrators_only])


def _user(user_id: str) -> str:
    """The user id of the path: a value that cannot be one of ours names no user."""
    if not is_issued_id(user_id):
        raise NotFound("No such user.")
    return user_id


@app.get("/admin/users", security=SIGV4, responses=responses(AdminUserResponse, 400, 403, 404))
def find_user(username: Annotated[str, Query(min_length=3, max_length=64)]) -> AdminUserResponse:
    found = wiring.administration().find_user(username)
    return AdminUserResponse(
        user_id=found.user_id,
        username=found.username,
        created_at=rfc3339(found.created_at),
        disabled=found.disabled,
        mfa=found.mfa,
        passkeys=found.passkeys,
    )


@app.get(
    "/admin/users/<user_id>/sessions",
    security=SIGV4,
    responses=responses(AdminSessionsResponse, 403, 404),
)
def user_sessions(user_id: str) -> AdminSessionsResponse:
    sessions = wiring.administration().sessions(_user(user_id))
    views = [SessionResponse(**http.session_view(session)) for session in sessions]
    return AdminSessionsResponse(sessions=views)


@app.delete(
    "/admin/users/<user_id>/sessions",
    security=SIGV4,
    responses=responses(None, 403, 404, status=204, description="Every session ended"),
)
def end_user_sessions(user_id: str) -> Response[None]:
    wiring.administration().end_sessions(_user(user_id))
    return http.json_response(204, None)


@app.delete(
    "/admin/users/<user_id>/sessions/<session_id>",
    security=SIGV4,
    responses=responses(None, 403, 404, status=204, description="The session ended"),
)
def end_user_session(user_id: str, session_id: str) -> Response[None]:
    user = _user(user_id)
    if not is_issued_id(session_id):
        raise NotFound("No such session.")
    wiring.administration().end_session(user, session_id)
    return http.json_response(204, None)


@app.post(
    "/admin/users/<user_id>/disable",
    security=SIGV4,
    responses=responses(None, 403, 404, status=204, description="Disabled; sessions ended"),
)
def disable_user(user_id: str) -> Response[None]:
    wiring.administration().disable(_user(user_id))
    return http.json_response(204, None)


@app.post(
    "/admin/users/<user_id>/enable",
    security=SIGV4,
    responses=responses(None, 403, 404, status=204, description="Enabled; login works again"),
)
def enable_user(user_id: str) -> Response[None]:
    wiring.administration().enable(_user(user_id))
    return http.json_response(204, None)


@app.delete(
    "/admin/users/<user_id>/login-lock",
    security=SIGV4,
    responses=responses(None, 403, 404, status=204, description="The login lock is lifted"),
)
def lift_login_lock(user_id: str) -> Response[None]:
    wiring.administration().lift_login_lock(_user(user_id))
    return http.json_response(204, None)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@audited
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

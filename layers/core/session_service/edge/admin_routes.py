"""The admin API's routes (behind IAM; functions/admin/app.py checks the signer and audits
every call): look a user up, see and end their sessions, disable or enable the account,
lift its login lock. Parse, call one domain function, shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import InvalidRequest, NotFound
from session_service.domain.models import is_issued_id, rfc3339
from session_service.edge import http
from session_service.edge.schemas import (
    AdminSessionsResponse,
    AdminUserResponse,
    SessionResponse,
    responses,
)

if TYPE_CHECKING:
    from session_service.domain.administration.admin_actions import Administration

SIGV4: list[dict[str, list[str]]] = [{http.SIGV4: []}]


def _user(user_id: str) -> str:
    """The user id of the path: a value that cannot be one of ours names no user."""
    if not is_issued_id(user_id):
        raise NotFound("No such user.")
    return user_id


def admin_router(administration: Callable[[], Administration]) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.get(
        "/admin/users", security=SIGV4, responses=responses(AdminUserResponse, 400, 403, 404)
    )
    def find_user(
        username: Annotated[str | None, Query(min_length=3, max_length=64)] = None,
        email: Annotated[str | None, Query(min_length=3, max_length=320)] = None,
    ) -> AdminUserResponse:
        if (username is None) == (email is None):
            raise InvalidRequest("Give username or email, one of them.")
        found = (
            administration().find_user(username)
            if username is not None
            else administration().find_user_by_email(email or "")
        )
        return AdminUserResponse(
            user_id=found.user_id,
            username=found.username,
            created_at=rfc3339(found.created_at),
            disabled=found.disabled,
            mfa=found.mfa,
            passkeys=found.passkeys,
            email=found.email,
        )

    @router.get(
        "/admin/users/<user_id>/sessions",
        security=SIGV4,
        responses=responses(AdminSessionsResponse, 403, 404),
    )
    def user_sessions(user_id: str) -> AdminSessionsResponse:
        sessions = administration().sessions(_user(user_id))
        views = [SessionResponse(**http.session_view(session)) for session in sessions]
        return AdminSessionsResponse(sessions=views)

    @router.delete(
        "/admin/users/<user_id>/sessions",
        security=SIGV4,
        responses=responses(None, 403, 404, status=204, description="Every session ended"),
    )
    def end_user_sessions(user_id: str) -> Response[None]:
        administration().end_sessions(_user(user_id))
        return http.json_response(204, None)

    @router.delete(
        "/admin/users/<user_id>/sessions/<session_id>",
        security=SIGV4,
        responses=responses(None, 403, 404, status=204, description="The session ended"),
    )
    def end_user_session(user_id: str, session_id: str) -> Response[None]:
        user = _user(user_id)
        if not is_issued_id(session_id):
            raise NotFound("No such session.")
        administration().end_session(user, session_id)
        return http.json_response(204, None)

    @router.post(
        "/admin/users/<user_id>/disable",
        security=SIGV4,
        responses=responses(None, 403, 404, status=204, description="Disabled; sessions ended"),
    )
    def disable_user(user_id: str) -> Response[None]:
        administration().disable(_user(user_id))
        return http.json_response(204, None)

    @router.post(
        "/admin/users/<user_id>/enable",
        security=SIGV4,
        responses=responses(None, 403, 404, status=204, description="Enabled; login works again"),
    )
    def enable_user(user_id: str) -> Response[None]:
        administration().enable(_user(user_id))
        return http.json_response(204, None)

    @router.post(
        "/admin/users/<user_id>/factors/reset",
        security=SIGV4,
        responses=responses(
            None, 403, 404, status=204, description="TOTP and passkeys removed; sessions ended"
        ),
    )
    def reset_factors(user_id: str) -> Response[None]:
        administration().reset_factors(_user(user_id))
        return http.json_response(204, None)

    @router.delete(
        "/admin/users/<user_id>/login-lock",
        security=SIGV4,
        responses=responses(None, 403, 404, status=204, description="The login lock is lifted"),
    )
    def lift_login_lock(user_id: str) -> Response[None]:
        administration().lift_login_lock(_user(user_id))
        return http.json_response(204, None)

    return router

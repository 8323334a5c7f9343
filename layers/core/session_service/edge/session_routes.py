"""The caller's sessions: refresh, logout, the current session, listing and signing out
sessions: parse, call one domain function, shape the answer. A router the API's resolver
includes (functions/api/app.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from session_service.domain.errors import InvalidGrant
from session_service.domain.sessions.session_records import IssuedTokens
from session_service.edge import http, transport
from session_service.edge.api_context import ApiContext
from session_service.edge.schemas import (
    CurrentSessionResponse,
    LogoutRequest,
    RefreshRequest,
    SessionResponse,
    SessionsResponse,
    TokenResponse,
    responses,
)
from session_service.observability import metrics


def session_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    rules, services, mode = context.rules, context.services, context.refresh_transport

    def tokens(issued: IssuedTokens) -> Response[TokenResponse]:
        return transport.issued_response(issued, mode)

    @router.post("/auth/refresh", responses=responses(TokenResponse, 400, 401, 403))
    def refresh(body: Annotated[RefreshRequest | None, Body()] = None) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        token = transport.presented_refresh_token(event, body.refresh_token if body else None, mode)
        if token is None:
            raise InvalidGrant("No refresh token was presented.")
        issued = services.sessions().refresh(token, http.client_info(event))
        metrics.add_metric(name="Refreshes", unit=MetricUnit.Count, value=1)
        return tokens(issued)

    @router.post(
        "/auth/logout",
        responses=responses(None, 400, 401, 403, status=204, description="Logged out"),
    )
    def logout(body: Annotated[LogoutRequest | None, Body()] = None) -> Response[None]:
        event = router.current_event.raw_event
        access_token = http.bearer_token(router.current_event.headers)
        refresh_token = None
        if not access_token:
            body_token = body.refresh_token if body else None
            refresh_token = transport.presented_refresh_token(event, body_token, mode)
        services.session_ending().logout_with(access_token, refresh_token)
        return transport.logged_out_response(mode)

    @router.get(
        "/auth/session",
        security=http.BEARER_SECURITY,
        responses=responses(CurrentSessionResponse, 401, 403),
    )
    def current_session() -> CurrentSessionResponse:
        return CurrentSessionResponse(**rules.caller(router.current_event.raw_event).view)

    @router.get(
        "/auth/sessions",
        security=http.BEARER_SECURITY,
        responses=responses(SessionsResponse, 401, 403),
    )
    def list_sessions() -> SessionsResponse:
        caller = rules.caller(router.current_event.raw_event)
        sessions = services.sessions().list_sessions(caller.user_id)
        views = [http.session_view(session, caller.session_id) for session in sessions]
        return SessionsResponse(sessions=[SessionResponse(**view) for view in views])

    @router.delete(
        "/auth/sessions/<session_id>",
        security=http.BEARER_SECURITY,
        responses=responses(None, 401, 403, 404, status=204, description="Signed out"),
    )
    def revoke_session(session_id: str) -> Response[None]:
        caller = rules.caller(router.current_event.raw_event)
        services.session_ending().revoke_session(caller.user_id, session_id)
        return http.json_response(204, None)

    @router.delete(
        "/auth/sessions",
        security=http.BEARER_SECURITY,
        responses=responses(None, 401, 403, status=204, description="Signed out elsewhere"),
    )
    def revoke_other_sessions() -> Response[None]:
        caller = rules.caller(router.current_event.raw_event, recent=True)
        services.session_ending().revoke_other_sessions(caller.user_id, caller.session_id)
        return http.json_response(204, None)

    return router

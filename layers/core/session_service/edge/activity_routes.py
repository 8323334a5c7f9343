"""The caller's security activity, newest first, a page at a time: parse, call one domain
function, shape the answer. A router the API's resolver includes (functions/api/app.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.models import rfc3339
from session_service.edge import http
from session_service.edge.api_context import ApiContext
from session_service.edge.schemas import (
    ActivityResponse,
    ActivityView,
    responses,
)


def activity_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    rules, services = context.rules, context.services

    @router.get(
        "/auth/activity",
        security=http.BEARER_SECURITY,
        responses=responses(ActivityResponse, 400, 401, 403),
    )
    def list_activity(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> ActivityResponse:
        """The caller's security events, newest first, a page at a time."""
        caller = rules.caller(router.current_event.raw_event)
        page = services.activity().page(caller.user_id, limit, cursor)
        views = [
            ActivityView(
                type=entry.type,
                at=rfc3339(entry.at),
                ip=entry.ip,
                user_agent=entry.user_agent,
                session_id=entry.session_id,
                reason=entry.reason,
                provider=entry.provider,
            )
            for entry in page.entries
        ]
        return ActivityResponse(events=views, next_cursor=page.next_cursor)

    return router

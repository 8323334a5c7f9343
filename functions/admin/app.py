"""The admin API, behind API Gateway's IAM authorization: support staff look a user up,
end their sessions, disable or enable the account, and lift its login lock. Every call is
checked (the signer's account, ADMIN_PRINCIPALS) before any route and audited after."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.edge import authorization, resolver
from session_service.edge.admin_audit import audited
from session_service.edge.admin_routes import admin_router
from session_service.observability import logger

get_settings()
app = resolver.api_resolver(title="Session service admin API")


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
app.include_router(admin_router(wiring.administration))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@audited
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""The admin API, behind API Gateway's IAM authorization: support staff look a user up,
end their sessions, disable or enable the account, and lift its login lock; the apps of
single sign-on are registered and managed (OAuth clients), and so are the upstream
identity providers of federation. Every call is checked (the signer's account,
ADMIN_PRINCIPALS) before anything else, its body's validation included, and audited
after."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import federation_wiring, sso_wiring, wiring
from session_service.config import get_settings
from session_service.domain.errors import Forbidden
from session_service.edge import authorization, resolver
from session_service.edge.admin_audit import audited
from session_service.edge.admin_routes import admin_router
from session_service.edge.client_admin_routes import client_admin_router
from session_service.edge.http import SECURITY_HEADERS
from session_service.edge.provider_admin_routes import provider_admin_router
from session_service.observability import logger

get_settings()
app = resolver.api_resolver(title="Session service admin API")
app.include_router(admin_router(wiring.administration))
app.include_router(client_admin_router(sso_wiring.client_registry))
app.include_router(provider_admin_router(federation_wiring.provider_registry))


def refusal(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    """403 unless the signer is an administrator of this account. Checked before the
    resolver runs: its validation of a body comes before any middleware, and would tell a
    caller who is nobody what a registration takes."""
    try:
        authorization.admin_caller(
            event,
            authorization.function_account(context.invoked_function_arn),
            get_settings().admin_principals,
        )
    except Forbidden as error:
        return {
            "statusCode": error.status,
            "headers": {**SECURITY_HEADERS, "Content-Type": "application/json"},
            "body": json.dumps(error.body),
            "isBase64Encoded": False,
        }
    return None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@audited
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return refusal(event, context) or app.resolve(event, context)

"""Lambda REQUEST authorizer (payload 2.0, simple responses) for this API and others."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.edge import authorization
from session_service.observability import logger

settings = get_settings()


def _authorize(access_token: str) -> Any:
    return wiring.session_service().authorize(access_token)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorization.authorizer_answer(
        event, _authorize, mfa_required=settings.mfa_policy == "required"
    )

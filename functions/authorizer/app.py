"""Lambda REQUEST authorizer (payload 2.0, simple responses) for this API and others."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.edge import authorization
from session_service.observability import logger, metrics

settings = get_settings()


def _authorize(access_token: str) -> Any:
    return wiring.authorizer_sessions().authorize(access_token)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = authorization.authorizer_answer(
        event, _authorize, mfa_required=settings.mfa_policy == "required"
    )
    # (our own API hears every verdict as an allow carrying it: count the verdict)
    allowed = answer["isAuthorized"] and answer.get("context", {}).get("verdict") == "allow"
    metrics.add_metric(
        name="AuthorizerAllows" if allowed else "AuthorizerDenies", unit=MetricUnit.Count, value=1
    )
    return answer

"""Lambda REQUEST authorizer (payload 2.0, simple responses) for this API and others."""

from __future__ import annotations

import random
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.edge import authorization
from session_service.observability import logger, metrics

settings = get_settings()
# Picks which allows are written (sampling, not security); tests replace it.
sample_draw = random.random


def _authorize(access_token: str) -> Any:
    return wiring.authorizer_sessions().authorize(
        access_token, consistent=settings.authorizer_consistent_read
    )


def count_verdict(answer: dict[str, Any], draw: float) -> None:
    """One metric line per denial, with its verdict; allows only for the configured share
    (`draw` in [0, 1) picks), each standing for 100/percent of them, so the sum stays true
    on average while the log volume, half the authorizer's bill, falls."""
    # (our own API hears every verdict as an allow carrying it: count the verdict)
    verdict = answer.get("context", {}).get("verdict") if answer["isAuthorized"] else "deny"
    if verdict == "allow":
        percent = settings.authorizer_allow_log_percent
        if draw * 100 >= percent:
            return
        metrics.add_metric(name="AuthorizerAllows", unit=MetricUnit.Count, value=100 / percent)
        return
    metrics.add_metadata(key="verdict", value=str(verdict))
    metrics.add_metric(name="AuthorizerDenies", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = authorization.authorizer_answer(
        event, _authorize, mfa_required=settings.mfa_policy == "required"
    )
    count_verdict(answer, sample_draw())
    return answer

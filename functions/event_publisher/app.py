"""Table stream → EventBridge: publishes what each change of state means."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.adapters.store_items import decode_stream_record
from session_service.config import get_settings
from session_service.domain import events
from session_service.observability import logger, metrics

get_settings()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    published = events.publish_stream_batch(
        event,
        wiring.event_publisher(),
        decode_stream_record,
        also=wiring.activity_recorder().record,
    )
    return {"published": len(published)}

"""Table stream → apps: a central session's item removed (whatever ended it: a logout, an
admin, a password change, reuse, eviction, its TTL) sends each app that took part its
logout token (domain/sso/backchannel.py). An app that never takes it is parked in the
dead-letter queue and announced (BackchannelLogoutFailed); the record still succeeds, so
that one app that is down holds back no other session."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import sso_wiring, wiring
from session_service.config import get_settings
from session_service.domain.activity.events import ServiceEvent
from session_service.observability import logger, metrics

get_settings()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
SESSION_PREFIX = "SESSION#"
USER_PREFIX = "USER#"


def notify_record(record: DynamoDBRecord) -> int:
    """The apps of one ended central session told; raises (the stream retries) only if
    the service itself failed (reading the grants, a client)."""
    keys = record.raw_event["dynamodb"]["Keys"]
    partition, sort_key = keys["pk"]["S"], keys["sk"]["S"]
    if not (partition.startswith(USER_PREFIX) and sort_key.startswith(SESSION_PREFIX)):
        return 0
    user_id = partition.removeprefix(USER_PREFIX)
    session_id = sort_key.removeprefix(SESSION_PREFIX)
    undelivered = sso_wiring.backchannel_logout().session_ended(user_id, session_id)
    for failed in undelivered:
        logger.warning(
            "back-channel logout undelivered", client_id=failed.client_id, reason=failed.reason
        )
        metrics.add_metric(name="BackchannelLogoutFailed", unit=MetricUnit.Count, value=1)
        sso_wiring.undelivered_logouts()(asdict(failed), "back-channel logout undelivered")
        detail = {k: v for k, v in asdict(failed).items() if k != "uri"}
        wiring.event_publisher().publish([ServiceEvent("BackchannelLogoutFailed", detail)])
    return len(undelivered)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = process_partial_response(
        event=event, record_handler=notify_record, processor=processor, context=context
    )
    return dict(answer)

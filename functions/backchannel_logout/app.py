"""Table stream → apps: a central session's item removed (whatever ended it: a logout, an
admin, a password change, reuse, eviction, its TTL) sends each app that took part its
logout token (domain/sso/backchannel.py). The batch's sessions are told together: every
delivery at once, all by one deadline (the contract's 5 s, sooner if the invocation's
remaining time asks). An app that has not taken its token by its last try or the deadline
is parked in the dead-letter queue and announced (BackchannelLogoutFailed); its record
still succeeds, as a stream retry would hold back every later record of the shard. A
loopback URI is told only where BACKCHANNEL_LOOPBACK is on (the local run). Only a failure
of the service itself fails a record (ReportBatchItemFailures): the stream retries it,
then parks it in the same queue."""

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
from session_service.domain.sso.backchannel import EndedSession, SessionLogout, Undelivered
from session_service.observability import logger, metrics

get_settings()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
SESSION_PREFIX = "SESSION#"
USER_PREFIX = "USER#"


def ended_session(record: dict[str, Any]) -> EndedSession | None:
    """The central session whose removal the record carries; None for any other record
    (the mapping's filter passes only these: an unfiltered stream, as in tests, has the
    session's writes too)."""
    keys = record["dynamodb"]["Keys"]
    partition, sort_key = keys["pk"]["S"], keys["sk"]["S"]
    old_image = record["dynamodb"].get("OldImage", {})
    if record.get("eventName") != "REMOVE" or not (
        partition.startswith(USER_PREFIX) and sort_key.startswith(SESSION_PREFIX)
    ):
        return None
    if old_image.get("central", {}).get("BOOL") is not True:
        return None  # an API session: it has no grants, so nothing is read for it
    return EndedSession(partition.removeprefix(USER_PREFIX), sort_key.removeprefix(SESSION_PREFIX))


def without_uri(failed: Undelivered) -> dict[str, str]:
    """The event's detail: who was not told and why; not the app's URI."""
    return {name: value for name, value in asdict(failed).items() if name != "uri"}


def settle(outcome: SessionLogout | None) -> None:
    """What one session's logout came to, told; raises (the stream retries that record)
    only if the service itself failed."""
    if outcome is None:
        return
    if outcome.failure is not None:
        raise outcome.failure
    for client_id in outcome.skipped:
        logger.warning(
            "back-channel logout to a loopback URI skipped: only the local run delivers there",
            client_id=client_id,
        )
        metrics.add_metric(name="BackchannelLogoutSkipped", unit=MetricUnit.Count, value=1)
    for failed in outcome.undelivered:
        logger.warning(
            "back-channel logout undelivered", client_id=failed.client_id, reason=failed.reason
        )
        metrics.add_metric(name="BackchannelLogoutFailed", unit=MetricUnit.Count, value=1)
        sso_wiring.undelivered_logouts()(asdict(failed), "back-channel logout undelivered")
    if outcome.undelivered:
        wiring.event_publisher().publish(
            ServiceEvent("BackchannelLogoutFailed", without_uri(failed))
            for failed in outcome.undelivered
        )


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ended = {
        record["dynamodb"]["SequenceNumber"]: session
        for record in event["Records"]
        if (session := ended_session(record)) is not None
    }
    told = sso_wiring.backchannel_logout().sessions_ended(
        list(ended.values()), context.get_remaining_time_in_millis() / 1000
    )
    outcomes = dict(zip(ended, told, strict=True))

    def record_handler(record: DynamoDBRecord) -> None:
        settle(outcomes.get(record.raw_event["dynamodb"]["SequenceNumber"]))

    answer = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(answer)

"""Table stream → EventBridge: publishes what each change of state means, record by record
(Powertools' batch processing): a record that fails is reported (ReportBatchItemFailures)
and the stream retries from it, so one bad record does not replay the whole batch."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.adapters.stream_records import (
    decode_stream_record,
)
from session_service.config import get_settings
from session_service.domain.activity import stream_consumer
from session_service.observability import logger, metrics

get_settings()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def publish_record(record: DynamoDBRecord) -> int:
    """The events and activity of one change, published; raises to report it failed."""
    published = stream_consumer.publish_stream_batch(
        {"Records": [record.raw_event]},
        wiring.event_publisher(),
        decode_stream_record,
        also=wiring.activity_recorder().record,
    )
    return len(published)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # {"batchItemFailures": [{"itemIdentifier": <sequence number>}, ...]}
    answer = process_partial_response(
        event=event, record_handler=publish_record, processor=processor, context=context
    )
    return dict(answer)

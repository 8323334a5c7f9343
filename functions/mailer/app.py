"""The mailer: sends what the service mails, each message once. Two sources invoke it: the
table's stream, with the mail requests the routes recorded (a batch, record by record:
a record that fails is reported, ReportBatchItemFailures, and the stream retries from it),
and the bus, with one of our events that means a security notice (an asynchronous
invocation: a failure raises, and Lambda retries it). Retries exhausted, either goes to
MailerDeadLetterQueue. A message already sent is not sent again (mail_delivery)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import mail_wiring
from session_service.adapters.dynamo import dynamodb_client
from session_service.adapters.mail_delivery import (
    OncePerMessage,
    mail_request_of,
    notice_of,
    sent_messages,
)
from session_service.config import get_settings
from session_service.domain.email.mail import Undeliverable
from session_service.observability import logger, metrics

get_settings()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@functools.cache
def once() -> OncePerMessage:
    return OncePerMessage(sent_messages(get_settings().table_name, dynamodb_client()))


def unless_undeliverable(send: Callable[[], None]) -> None:
    """Send; a message that can never be sent is logged (never its address), counted and
    dropped, not retried: a retry would hold up every message behind it on the shard."""
    try:
        send()
    except Undeliverable as reason:
        logger.warning("a message that can never be sent was dropped", reason=str(reason))
        metrics.add_metric(name="UndeliverableMail", unit=MetricUnit.Count, value=1)


def send_requested(record: DynamoDBRecord) -> None:
    """The message one stream record asks for, sent; raises to report the record failed."""
    request = mail_request_of(record.raw_event)
    if request is not None:
        dispatch = mail_wiring.mail_dispatch().dispatch
        once()(
            f"request:{request.request_id}",
            lambda: unless_undeliverable(lambda: dispatch(request)),
        )


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    once().register_lambda_context(context)
    if "Records" in event:
        # {"batchItemFailures": [{"itemIdentifier": <sequence number>}, ...]}
        answer = process_partial_response(
            event=event, record_handler=send_requested, processor=processor, context=context
        )
        return dict(answer)
    notice = notice_of(event)
    if notice is None:
        return {"status": "dropped"}
    send = mail_wiring.mail_dispatch().notice
    once()(
        f"notice:{notice.mail_id}",
        lambda: unless_undeliverable(
            lambda: send(notice.detail_type, notice.detail, notice.mail_id)
        ),
    )
    return {"status": "processed"}

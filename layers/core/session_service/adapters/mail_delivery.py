"""The mailer's plumbing: what it is invoked with (the table stream's mail requests, the
bus's events) decoded, and each message sent at most once per id, however often it is
delivered (Powertools' idempotency, its records in the service's own table).

Items (pk / sk), written by Powertools' DynamoDBPersistenceLayer:
  MAILSENT / mailer#<hash of the message id>   a message being sent (status INPROGRESS) or
                                               sent (COMPLETED); no `kind`, so no stream
                                               filter of ours matches it. DynamoDB's TTL
                                               (`ttl`) deletes it a day on; Powertools
                                               reads an expired one as absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service.adapters.mail_items import mail_request_from_item
from session_service.domain.email.mail import MailRequest
from session_service.observability import logger

SENT_PARTITION = "MAILSENT"
KEY_PREFIX = "mailer"
# A message is not sent again for a day: longer than the stream keeps a record (24 h) and
# than an event's asynchronous retries last (6 h at most).
SENT_RECORD_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Notice:
    """One of our events that may mean a security notice; `mail_id` names the message."""

    detail_type: str
    detail: Mapping[str, Any]
    mail_id: str


def mail_request_of(record: Mapping[str, Any]) -> MailRequest | None:
    """The request a stream record's new image holds, or None for a record that holds
    none (logged by the record's id: nothing of the image, which may hold an address)."""
    try:
        return mail_request_from_item(record["dynamodb"]["NewImage"])
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning("dropped a stream record that is no mail request", record=_id(record))
        return None


def notice_of(event: Mapping[str, Any]) -> Notice | None:
    """The notice an EventBridge event may mean, or None for an event that is malformed.
    The message is named by the event's own id (`detail.event_id`, the stream record it
    came from), which a republished event keeps; else by EventBridge's `id`."""
    detail_type, detail = event.get("detail-type"), event.get("detail")
    event_id = detail.get("event_id") if isinstance(detail, Mapping) else None
    event_id = event_id or event.get("id")
    if not isinstance(detail_type, str) or not isinstance(detail, Mapping):
        logger.warning("dropped an event without a detail-type and a detail", id=_id(event))
        return None
    if not isinstance(event_id, str) or not event_id:
        logger.warning("dropped an event without an id", detail_type=detail_type)
        return None
    return Notice(detail_type, detail, f"{detail_type}:{event_id}")


def _id(event: Mapping[str, Any]) -> str:
    value = event.get("eventID", event.get("id", ""))
    return value if isinstance(value, str) else ""


def sent_messages(table_name: str, client: Any) -> DynamoDBPersistenceLayer:
    """Powertools' idempotency records in the service's table: one partition, the
    message's hash as the sort key, `ttl` as their expiry (DynamoDB's TTL attribute)."""
    return DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=SENT_PARTITION,
        expiry_attr="ttl",
        boto3_client=client,
    )


def _already_sent(response: Any, idempotent_data: DataRecord) -> Any:
    logger.info("not sent again: this message was sent before", status=idempotent_data.status)
    return response


class OncePerMessage:
    """Runs a message's sending at most once per message id: a second delivery of a
    message that was sent does nothing; one whose sending failed (it raised) is tried
    again; one still being sent elsewhere raises (the caller's retry comes back later)."""

    def __init__(self, persistence: DynamoDBPersistenceLayer) -> None:
        self._config = IdempotencyConfig(
            expires_after_seconds=SENT_RECORD_SECONDS,
            raise_on_no_idempotency_key=True,
            response_hook=_already_sent,
        )

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="message_id",
            persistence_store=persistence,
            config=self._config,
            key_prefix=KEY_PREFIX,
        )
        def once(send: Callable[[], None], *, message_id: str) -> None:  # noqa: ARG001 (hashed by Powertools)
            send()

        self._once = once

    def register_lambda_context(self, context: LambdaContext) -> None:
        """An invocation cut short by its timeout leaves its message in progress until
        then only: a retry after it sends the message."""
        self._config.register_lambda_context(context)

    def __call__(self, message_id: str, send: Callable[[], None]) -> None:
        self._once(send, message_id=message_id)

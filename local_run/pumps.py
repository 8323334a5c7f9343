"""The triggers AWS runs for us, run locally: the table's stream into its function, and the
queues that stand in for EventBridge rules' Lambda targets into theirs.

As on AWS, a failing batch is retried, bisected to isolate the record that fails, and once
its retries are spent its coordinates go to the trigger's OnFailure queue; a failing
asynchronous event goes to its function's OnFailure queue. Each of these is logged at
ERROR, and a stream reader that stops seeing records the stream holds says so and
recovers: a pipeline that stalls or fails is never silent."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from local_run.filters import passes
from local_run.functions import FunctionPool, InvocationError
from local_run.provision import RuleRoute, StreamTrigger

POLL_INTERVAL = 0.1
# An idle pump slows down to this: the test suite keeps a dozen local runs alive on two
# cores, and their pollers at full pace were most of its load.
IDLE_POLL_INTERVAL = 0.5
# How often an idle stream reader checks that its iterator still sees the stream.
STALL_CHECK_INTERVAL = 2.0
# How often the stream's shards are described again (a stream adds shards over hours).
DESCRIBE_INTERVAL = 2.0
STALE_ITERATOR_ERRORS = ("ExpiredIteratorException", "TrimmedDataAccessException")
# Local retries of one batch before it is bisected (AWS retries up to the mapping's
# MaximumRetryAttempts, for hours; locally a failure must show in seconds).
LOCAL_BATCH_ATTEMPTS = 3
RETRY_DELAY = 0.2


def log(level: str, message: str, **fields: Any) -> None:
    """A line in the functions' own format (Powertools JSON) on the local run's console."""
    line = {"level": level, "service": "local-run", "message": message, **fields}
    print(json.dumps(line, default=str), file=sys.stderr, flush=True)


def _invoke(
    function: FunctionPool,
    event: dict[str, Any],
    attempts: int,
    what: str,
    unfinished: Callable[[Any], dict[str, Any] | None] = lambda _: None,
) -> bool:
    """Invoke until it works, `attempts` times at most. With `unfinished`, an answer that
    names failed records (ReportBatchItemFailures) leaves the event `unfinished` gives
    to try again."""
    for attempt in range(attempts):
        try:
            # Lambda queues an event or a stream batch beyond reserved concurrency.
            result = function.invoke(event, queued=True)
            rest = unfinished(result)
            if rest is None:
                return True
            log(
                "WARNING",
                f"{function.name} reported failed records of {what}",
                attempt=attempt + 1,
                retrying=len(rest["Records"]),
            )
            event = rest
            time.sleep(RETRY_DELAY * 2**attempt)
        except (InvocationError, OSError) as error:
            log(
                "WARNING",
                f"{function.name} failed on {what}",
                attempt=attempt + 1,
                error=str(error),
            )
            time.sleep(RETRY_DELAY * 2**attempt)
    return False


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as Lambda delivers it: JSON-safe, with its source ARN."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


class PollPace:
    """The wait before the next poll: POLL_INTERVAL after work, doubling while idle up to
    IDLE_POLL_INTERVAL (so the first change after a quiet spell waits at most that)."""

    def __init__(self) -> None:
        self.interval = POLL_INTERVAL

    def after(self, worked: bool) -> float:
        self.interval = POLL_INTERVAL if worked else min(self.interval * 2, IDLE_POLL_INTERVAL)
        return self.interval


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StreamPump(threading.Thread):
    """Reads the table's stream shard by shard and invokes the function with each batch."""

    def __init__(
        self,
        trigger: StreamTrigger,
        function: FunctionPool,
        client: Any,
        stop: threading.Event,
        sqs: Any = None,
    ) -> None:
        super().__init__(daemon=True, name=f"stream-{trigger.function}")
        self.trigger, self.function, self.client, self.stop_event = trigger, function, client, stop
        self.sqs = sqs
        # Per shard: the iterator to read with, and the last sequence number delivered.
        self.iterators: dict[str, str | None] = {}
        self.positions: dict[str, str] = {}
        self._checked_at: dict[str, float] = {}
        self._shard_ids: list[str] = []
        self._described_at = float("-inf")

    def run(self) -> None:
        pace = PollPace()
        while not self.stop_event.is_set():
            delivered = 0
            try:
                delivered = self.poll()
            except Exception as error:
                log("ERROR", f"stream pump for {self.function.name} failed", error=str(error))
                self.stop_event.wait(1)
            self.stop_event.wait(pace.after(delivered > 0))

    def poll(self) -> int:
        """One read of every shard; the number of records handed to the function."""
        return sum(self._poll_shard(shard_id) for shard_id in self._shards())

    def _shards(self) -> list[str]:
        """The stream's shards, described again now and then (they change over hours)."""
        now = time.monotonic()
        if now - self._described_at >= DESCRIBE_INTERVAL:
            description = self.client.describe_stream(StreamArn=self.trigger.stream_arn)
            shards = description["StreamDescription"]["Shards"]
            self._shard_ids = [shard["ShardId"] for shard in shards]
            self._described_at = now
        return self._shard_ids

    def _poll_shard(self, shard_id: str) -> int:
        if shard_id not in self.iterators:
            self.iterators[shard_id] = self._iterator(shard_id)
        iterator = self.iterators[shard_id]
        if iterator is None:
            return 0
        try:
            page = self.client.get_records(ShardIterator=iterator, Limit=self.trigger.batch_size)
        except ClientError as error:
            if error.response["Error"]["Code"] not in STALE_ITERATOR_ERRORS:
                raise
            # An iterator lives 15 minutes (a paused run's, or one idle that long): the
            # next poll reads on from the last record delivered with a fresh one.
            del self.iterators[shard_id]
            return 0
        records = page.get("Records", [])
        self.iterators[shard_id] = page.get("NextShardIterator")
        if not records:
            self._check_not_stalled(shard_id)
            return 0
        # As Lambda does: records the mapping's filters drop never reach the function.
        delivered = [_lambda_record(r, self.trigger.stream_arn) for r in records]
        wanted = [r for r in delivered if passes(self.trigger.filters, r)]
        if wanted:
            self._deliver(shard_id, wanted)
        self.positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._checked_at[shard_id] = time.monotonic()
        return len(records)

    def _iterator(self, shard_id: str) -> str | None:
        position = self.positions.get(shard_id)
        request: dict[str, Any] = {"StreamArn": self.trigger.stream_arn, "ShardId": shard_id}
        if position is None:
            request["ShardIteratorType"] = self.trigger.starting_position
        else:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position)
        iterator: str | None = self.client.get_shard_iterator(**request)["ShardIterator"]
        return iterator

    def _check_not_stalled(self, shard_id: str) -> None:
        """An idle iterator should mean an idle stream: now and then, read from where we
        are with a fresh iterator; records there mean ours went stale."""
        now = time.monotonic()
        if now - self._checked_at.get(shard_id, 0.0) < STALL_CHECK_INTERVAL:
            return
        self._checked_at[shard_id] = now
        fresh = self._iterator(shard_id)
        if fresh is None:
            return
        probe = self.client.get_records(ShardIterator=fresh, Limit=1)
        if probe.get("Records"):
            log(
                "ERROR",
                f"the stream reader of {self.function.name} stopped seeing new records; "
                "reading again from its last position",
                shard_id=shard_id,
                after_sequence_number=self.positions.get(shard_id),
            )
            self.iterators[shard_id] = fresh

    @property
    def _attempts(self) -> int:
        """Tries of one batch: the mapping's MaximumRetryAttempts plus one, at most
        LOCAL_BATCH_ATTEMPTS (-1, AWS's default, retries until the records expire)."""
        retries = self.trigger.maximum_retry_attempts
        return LOCAL_BATCH_ATTEMPTS if retries < 0 else min(LOCAL_BATCH_ATTEMPTS, retries + 1)

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Invoke with the batch (records as Lambda delivers them); on failure, bisect
        (where the mapping says so) until the failing records are alone, and send each
        one's coordinates to the OnFailure queue."""
        event = {"Records": records}
        what = f"{len(records)} stream records"
        left: list[dict[str, Any]] = records

        def unfinished(result: Any) -> dict[str, Any] | None:
            """As Lambda: from the first record the function says failed, on."""
            nonlocal left
            failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
            if not self.trigger.reports_item_failures or not failures:
                return None
            failed = {str(item.get("itemIdentifier")) for item in failures}
            first = next(
                (i for i, r in enumerate(left) if r["dynamodb"]["SequenceNumber"] in failed), 0
            )
            left = left[first:]
            return {"Records": left}

        if _invoke(self.function, event, self._attempts, what, unfinished):
            return
        records = left
        if self.trigger.bisect_on_error and len(records) > 1:
            middle = len(records) // 2
            self._deliver(shard_id, records[:middle])
            self._deliver(shard_id, records[middle:])
            return
        self._discard(shard_id, records)

    def _discard(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        info = {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "batchSize": len(records),
            "streamArn": self.trigger.stream_arn,
        }
        log(
            "ERROR",
            f"{self.function.name} failed on a stream batch after its retries; "
            "its coordinates go to the OnFailure queue",
            **info,
        )
        if self.sqs is None or self.trigger.on_failure_queue_url is None:
            return
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function.name,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self._attempts,
            },
            "responseContext": {"functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": _now(),
            "DDBStreamBatchInfo": info,
        }
        self.sqs.send_message(
            QueueUrl=self.trigger.on_failure_queue_url, MessageBody=json.dumps(message)
        )


class QueuePump(threading.Thread):
    """Drains a rule's stand-in queue into its function, as an asynchronous invocation."""

    def __init__(
        self,
        route: RuleRoute,
        function: FunctionPool,
        client: Any,
        stop: threading.Event,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        super().__init__(daemon=True, name=f"rule-{route.function}")
        self.route, self.function, self.client, self.stop_event = route, function, client, stop
        self._sleep = sleep or stop.wait

    def run(self) -> None:
        pace = PollPace()
        while not self.stop_event.is_set():
            drained = 0
            try:
                drained = self.drain()
            except Exception as error:
                log("ERROR", f"rule pump for {self.function.name} failed", error=str(error))
                self._sleep(1)
            self._sleep(pace.after(drained > 0))

    def drain(self) -> int:
        # Short polls: a long poll would hold the emulator's one-request-at-a-time lock.
        messages = self.client.receive_message(
            QueueUrl=self.route.queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        for message in messages:
            event = json.loads(message["Body"])
            event.setdefault("account", "123456789012")
            attempts = 1 + self.route.maximum_retry_attempts
            if not self.route.delivery_permitted:
                self._undeliverable(event)
            elif not _invoke(self.function, event, attempts, f"event {event.get('id')}"):
                self._discard(event)
            self.client.delete_message(
                QueueUrl=self.route.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return len(messages)

    def _undeliverable(self, event: dict[str, Any]) -> None:
        """No Lambda permission lets the rule invoke the function: EventBridge sends the
        event to the target's dead-letter queue, with what went wrong as attributes."""
        log(
            "ERROR",
            f"the rule may not invoke {self.function.name} (no Lambda permission); "
            "the event goes to the rule's dead-letter queue",
            event_id=event.get("id"),
        )
        if self.route.dead_letter_queue_url is None:
            return
        attributes = {
            "RULE_ARN": self.route.rule_arn,
            "TARGET_ARN": self.route.target_arn,
            "ERROR_CODE": "NO_PERMISSIONS",
            "ERROR_MESSAGE": f"no permission lets the rule invoke {self.route.target_arn}",
        }
        self.client.send_message(
            QueueUrl=self.route.dead_letter_queue_url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )

    def _discard(self, event: dict[str, Any]) -> None:
        log(
            "ERROR",
            f"{self.function.name} failed on an event after its retries; "
            "it goes to the OnFailure queue",
            event_id=event.get("id"),
        )
        if self.route.on_failure_queue_url is None:
            return
        message = {
            "version": "1.0",
            "timestamp": _now(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function.name,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1 + self.route.maximum_retry_attempts,
            },
            "requestPayload": event,
            "responseContext": {"functionError": "Unhandled"},
        }
        self.client.send_message(
            QueueUrl=self.route.on_failure_queue_url, MessageBody=json.dumps(message)
        )

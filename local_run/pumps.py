"""The triggers AWS runs for us, run locally: the table's stream into its function, and the
queues that stand in for EventBridge rules' Lambda targets into theirs."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime
from typing import Any

from local_run.functions import FunctionPool, InvocationError
from local_run.provision import RuleRoute, StreamTrigger

POLL_INTERVAL = 0.1
MAX_ATTEMPTS = 3


def _log(message: str) -> None:
    print(
        json.dumps({"level": "WARNING", "service": "local-run", "message": message}),
        file=sys.stderr,
        flush=True,
    )


def _invoke_with_retries(function: FunctionPool, event: dict[str, Any], what: str) -> bool:
    for attempt in range(MAX_ATTEMPTS):
        try:
            function.invoke(event)
            return True
        except (InvocationError, OSError) as error:
            _log(f"{function.name} failed on {what} (attempt {attempt + 1}): {error}")
            time.sleep(0.2 * 2**attempt)
    return False


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as Lambda delivers it: JSON-safe, with its source ARN."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


class StreamPump(threading.Thread):
    def __init__(
        self, trigger: StreamTrigger, function: FunctionPool, client: Any, stop: threading.Event
    ) -> None:
        super().__init__(daemon=True, name=f"stream-{trigger.function}")
        self.trigger, self.function, self.client, self.stop_event = trigger, function, client, stop

    def run(self) -> None:
        iterators: dict[str, str | None] = {}
        while not self.stop_event.is_set():
            try:
                self._poll(iterators)
            except Exception as error:
                _log(f"stream pump for {self.function.name}: {error}")
                time.sleep(1)
            self.stop_event.wait(POLL_INTERVAL)

    def _poll(self, iterators: dict[str, str | None]) -> None:
        description = self.client.describe_stream(StreamArn=self.trigger.stream_arn)
        for shard in description["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in iterators:
                iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.trigger.stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]
            iterator = iterators[shard_id]
            if iterator is None:
                continue
            page = self.client.get_records(ShardIterator=iterator, Limit=self.trigger.batch_size)
            records = page.get("Records", [])
            if records:
                event = {"Records": [_lambda_record(r, self.trigger.stream_arn) for r in records]}
                _invoke_with_retries(self.function, event, f"{len(records)} stream records")
            iterators[shard_id] = page.get("NextShardIterator")


class QueuePump(threading.Thread):
    def __init__(
        self, route: RuleRoute, function: FunctionPool, client: Any, stop: threading.Event
    ) -> None:
        super().__init__(daemon=True, name=f"rule-{route.function}")
        self.route, self.function, self.client, self.stop_event = route, function, client, stop

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._drain()
            except Exception as error:
                _log(f"rule pump for {self.function.name}: {error}")
                time.sleep(1)
            self.stop_event.wait(POLL_INTERVAL)

    def _drain(self) -> None:
        # Short polls: a long poll would hold the emulator's one-request-at-a-time lock.
        messages = self.client.receive_message(
            QueueUrl=self.route.queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        for message in messages:
            event = json.loads(message["Body"])
            event.setdefault("account", "123456789012")
            # Asynchronous invocation: retried, then dropped (its DLQ in AWS).
            _invoke_with_retries(self.function, event, f"event {event.get('id')}")
            self.client.delete_message(
                QueueUrl=self.route.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )

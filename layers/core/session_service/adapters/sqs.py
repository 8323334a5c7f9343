"""SQS: parks an event the service cannot act on in a dead-letter queue, with why."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def dead_letter_sender(client: Any, queue_url: str | None) -> Callable[[dict[str, Any], str], None]:
    def send(event: dict[str, Any], reason: str) -> None:
        client.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(event),
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason}},
        )

    return send

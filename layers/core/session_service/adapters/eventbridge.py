"""EventBridge: puts the service's events on its bus, resending what PutEvents refused."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from session_service.domain.activity.events import ServiceEvent

_MAX_ENTRIES_PER_PUT = 10


class PublishFailed(RuntimeError):
    """Some entries were not accepted after retries; the batch must be retried."""


class EventPublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        source: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus = bus_name
        self._source = source
        self._sleep = sleep

    def publish(self, events: Iterable[ServiceEvent]) -> int:
        entries = [
            {
                "Source": self._source,
                "DetailType": event.detail_type,
                "Detail": json.dumps(event.detail, separators=(",", ":")),
                "EventBusName": self._bus,
            }
            for event in events
        ]
        for start in range(0, len(entries), _MAX_ENTRIES_PER_PUT):
            self._put(entries[start : start + _MAX_ENTRIES_PER_PUT])
        return len(entries)

    def _put(self, entries: Sequence[dict[str, str]]) -> None:
        pending = list(entries)
        for attempt in range(3):
            response = self._client.put_events(Entries=pending)
            if not response.get("FailedEntryCount"):
                return
            # PutEvents is not atomic: resend only the entries that failed.
            pending = [
                entry
                for entry, result in zip(pending, response["Entries"], strict=True)
                if result.get("ErrorCode")
            ]
            self._sleep(0.1 * 2**attempt)
        raise PublishFailed(f"{len(pending)} events were not accepted by EventBridge")

"""The stream's consumer: a batch of the table's changes becomes the events on the bus
(events), the users' activity (activity_log) and the operators' signals (signals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from session_service.domain.activity import signals
from session_service.domain.activity.activity_log import activity_of
from session_service.domain.activity.events import ServiceEvent, StreamChange, events_for


class EventSink(Protocol):
    """Where events go (EventBridge, in adapters.eventbridge)."""

    def publish(self, events: Iterable[ServiceEvent]) -> int: ...


def publish_stream_batch(
    stream_event: dict[str, Any],
    publisher: EventSink,
    decode: Callable[..., Any],
    also: Callable[[list[StreamChange]], list[ServiceEvent]] | None = None,
) -> list[ServiceEvent]:
    """Publish what a batch of table changes means, with what `also` makes of it (the
    users' activity, and its new-device events); raise so Lambda retries on failure."""
    changes = [change for record in stream_event.get("Records", []) if (change := decode(record))]
    events = [event for change in changes for event in events_for(change)]
    if also is not None:
        events += also(changes)
    publisher.publish(events)
    signals.emit([entry for change in changes for entry in activity_of(change)], events)
    return events

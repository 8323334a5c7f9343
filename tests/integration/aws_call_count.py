"""AWS calls counted at botocore's edge, and what DynamoDB reads among them read: what
the tests of bounded reads and of each operation's calls assert on (fixture aws_calls)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from harness.round_trips import round_trips

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


# The time a round trip takes when `AwsCalls.latency` is on: long enough that calls sent
# at once overlap whatever the machine's scheduling, as a network round trip makes them.
ROUND_TRIP_SECONDS = 0.03


class AwsCalls:
    """AWS calls counted at botocore's edge (every client, every service), and what the
    DynamoDB reads among them read: items, and read units by DynamoDB's own arithmetic
    (strongly consistent: 4 KB units, a Query's items summed before rounding; moto's
    ConsumedCapacity is a constant, so it is computed from the items instead).

    With `latency` on, each call takes ROUND_TRIP_SECONDS more before it is made (outside
    the lock that applies moto's calls one at a time), so that `round_trips` counts the
    calls made one after another."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_read = 0
        self.read_units = 0
        self.latency = False
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    @property
    def round_trips(self) -> int:
        """The round trips a client waits, one after another (harness/round_trips.py)."""
        return round_trips(self.spans)

    def by_service(self) -> dict[str, int]:
        services: Counter[str] = Counter()
        for call, count in self.calls.items():
            services[call.split(".")[0]] += count
        return dict(services)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def clear(self) -> None:
        self.calls.clear()
        self.items_read = 0
        self.read_units = 0
        self.spans.clear()

    def record_read(self, operation: str, response: dict[str, Any]) -> None:
        if operation == "GetItem":
            items = [response["Item"]] if "Item" in response else []
        elif operation == "BatchGetItem":
            items = [i for found in response.get("Responses", {}).values() for i in found]
        else:
            items = list(response.get("Items", []))
        self.items_read += len(items)
        sizes = [item_size(item) for item in items]
        if operation in ("Query", "Scan"):
            self.read_units += max(1, -(-sum(sizes) // 4096))
        else:
            self.read_units += sum(max(1, -(-size // 4096)) for size in sizes) or 1


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names plus values (numbers approximated)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return len(str(content)) // 2 + 1
    if kind == "SS":
        return sum(len(str(part).encode()) for part in content)
    if kind == "M":
        return 3 + item_size(content)
    if kind == "L":
        return 3 + sum(1 + _value_size(part) for part in content)
    return 1
